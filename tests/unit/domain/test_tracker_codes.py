"""Tracker's code tables: every documented code maps to one name and back."""

from __future__ import annotations

import pytest

from tidings.domain.tracker import (
    ENVIRONMENTS,
    EVENT_TYPES,
    IMPACTS,
    PRIORITIES,
    STATUSES,
    CodeTable,
)

# The tables exactly as `003_…txt` prints them.
DOCUMENTED = [
    (EVENT_TYPES, {1: "deployment", 2: "operation", 3: "drift", 4: "incident", 5: "rpa_usage"}),
    (
        STATUSES,
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
    ),
    (
        ENVIRONMENTS,
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
    ),
]


@pytest.mark.parametrize(("table", "codes"), DOCUMENTED, ids=lambda t: getattr(t, "field", ""))
def test_every_documented_code_round_trips(table: CodeTable, codes: dict[int, str]) -> None:
    assert table.codes == codes
    for code, name in codes.items():
        assert table.name_of(code) == name
        assert table.code_of(name) == code


@pytest.mark.parametrize(
    ("table", "code"),
    [
        (EVENT_TYPES, 0),
        (EVENT_TYPES, 6),
        (STATUSES, 2),  # the document skips 2
        (STATUSES, 10),
        (ENVIRONMENTS, 9),
        (PRIORITIES, 6),
        (IMPACTS, 4),
        (IMPACTS, 0),
    ],
)
def test_codes_outside_a_table_have_no_name(table: CodeTable, code: int) -> None:
    assert table.name_of(code) is None


def test_names_outside_a_table_have_no_code() -> None:
    assert EVENT_TYPES.code_of("CREATE_STATE_PROJECT") is None
    assert ENVIRONMENTS.code_of("staging") is None
    assert STATUSES.code_of(None) is None


def test_the_problem_lists_every_allowed_value() -> None:
    assert STATUSES.problem(2) == (
        "must be one of 1 (start), 3 (success), 4 (failure), 5 (warning), 6 (error), 7 (open), "
        "8 (close), 9 (done); got 2"
    )
    assert IMPACTS.problem("4") == "must be one of 1 (low), 2 (medium), 3 (high); got '4'"
