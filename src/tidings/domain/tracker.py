"""Tracker's integer code tables (`003_…txt`), mapped onto the core's canonical names.

Tracker speaks in small integers (type 1 = deployment, environment 7 = production, …); the core
stores the names, so a Tracker deployment is the same event as a native `deployment` and filters
the same way in every dialect. Priority (1-5) and impact (1-3) are plain integers in both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeTable:
    """One of Tracker's int ↔ name tables."""

    field: str
    codes: dict[int, str]

    def allowed(self) -> str:
        """The allowed values, as an error message lists them."""
        return ", ".join(f"{code} ({name})" for code, name in self.codes.items())

    def name_of(self, code: int) -> str | None:
        """The canonical name of `code`, or None when the table has no such code."""
        return self.codes.get(code)

    def code_of(self, name: str | None) -> int | None:
        """The code of a canonical name, or None for a name outside the table."""
        if name is None:
            return None
        for code, known in self.codes.items():
            if known == name:
                return code
        return None

    def problem(self, code: object) -> str:
        """The message for a code outside the table."""
        return f"must be one of {self.allowed()}; got {code!r}"


EVENT_TYPES = CodeTable(
    "type",
    {1: "deployment", 2: "operation", 3: "drift", 4: "incident", 5: "rpa_usage"},
)
STATUSES = CodeTable(
    "status",
    {
        1: "start",
        3: "success",
        4: "failure",
        5: "warning",
        6: "error",
        7: "open",
        8: "close",
        9: "done",
    },
)
ENVIRONMENTS = CodeTable(
    "environment",
    {
        1: "development",
        2: "integration",
        3: "tnr",
        4: "uat",
        5: "recette",
        6: "preproduction",
        7: "production",
        8: "mco",
    },
)
PRIORITIES = CodeTable("priority", {1: "P1", 2: "P2", 3: "P3", 4: "P4", 5: "P5"})
IMPACTS = CodeTable("impact", {1: "low", 2: "medium", 3: "high"})

# The tables whose names (not codes) the core stores, keyed by Tracker's attribute name.
NAMED_TABLES: dict[str, CodeTable] = {
    "type": EVENT_TYPES,
    "status": STATUSES,
    "environment": ENVIRONMENTS,
}
# Integer attributes the core stores as integers, with their allowed values.
NUMBERED_TABLES: dict[str, CodeTable] = {"priority": PRIORITIES, "impact": IMPACTS}
