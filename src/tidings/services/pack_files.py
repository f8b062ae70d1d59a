"""Reading a pack from a directory of YAML files.

A pack directory holds `pack.yaml` and, optionally, `triggers/*.yaml`, `actions/*.yaml` and
`rules/*.yaml`, one object per file. Reading it yields a `PackBundle` of plain values, or
`InvalidPackDirectory` listing every problem with the file and the field at fault: first each
field's type, then the checks every definition passes (pack_definitions), as the API applies them.

YAML is read with PyYAML's `safe_load` (no object construction); values YAML has and JSON lacks
(dates, binary, non-string keys, NaN) are refused. Messages never quote a value from the files:
a pack's `config` may hold a secret.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import yaml

from tidings.domain.errors import FieldProblem
from tidings.domain.json import JSONObject, JSONValue
from tidings.services.pack_definitions import (
    ActionSpec,
    PackBundle,
    PackSpec,
    RuleSpec,
    TriggerSpec,
    action_problems,
    pack_problems,
    rule_problems,
    trigger_problems,
)

MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class PackFileProblem:
    """One thing wrong in a pack directory: which file, which field, what."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class InvalidPackDirectory(Exception):
    """A pack directory that cannot be installed; `problems` names each fault."""

    def __init__(self, problems: list[PackFileProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


# --- reading a directory ----------------------------------------------------------------------


def read_pack_dir(directory: Path) -> PackBundle:
    """The pack defined in `directory`, or InvalidPackDirectory naming every problem."""
    problems: list[PackFileProblem] = []
    pack_file = next((p for p in _named(directory, "pack") if p.is_file()), None)
    if pack_file is None:
        raise InvalidPackDirectory([PackFileProblem(str(directory), "pack.yaml", "is missing")])
    reader = _reader(directory, pack_file, problems)
    pack = _pack_spec(reader) if reader else None
    if pack is None:
        raise InvalidPackDirectory(problems)
    bundle = PackBundle(
        pack=pack,
        triggers=_read_kind(directory, "triggers", _trigger_spec, pack.ref, problems),
        actions=_read_kind(directory, "actions", _action_spec, pack.ref, problems),
        rules=_read_kind(directory, "rules", _rule_spec, pack.ref, problems),
    )
    if problems:
        raise InvalidPackDirectory(problems)
    return bundle


S = TypeVar("S", TriggerSpec, ActionSpec, RuleSpec)


def _read_kind(
    directory: Path,
    kind: str,
    read: Callable[[_Reader, str], S | None],
    pack_ref: str,
    problems: list[PackFileProblem],
) -> tuple[S, ...]:
    specs: list[S] = []
    seen: dict[str, str] = {}
    for path in _yaml_files(directory / kind):
        reader = _reader(directory, path, problems)
        spec = read(reader, pack_ref) if reader else None
        if reader is None or spec is None:
            continue
        if spec.ref in seen:
            reader.problem("ref", f"is also defined in {seen[spec.ref]}")
            continue
        seen[spec.ref] = reader.file
        specs.append(spec)
    return tuple(specs)


def _named(directory: Path, stem: str) -> list[Path]:
    return [directory / f"{stem}.yaml", directory / f"{stem}.yml"]


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


class _Reader:
    """The fields of one YAML object, each read once with its type checked."""

    def __init__(
        self, file: str, data: dict[str, JSONValue], problems: list[PackFileProblem]
    ) -> None:
        self.file = file
        self.data = data
        self.problems = problems
        self.count = len(problems)

    def problem(self, field: str, message: str) -> None:
        self.problems.append(PackFileProblem(self.file, field, message))

    @property
    def ok(self) -> bool:
        return len(self.problems) == self.count

    def text(self, key: str, *, required: bool = False, max_length: int = 255) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float) else ""
            self.problem(key, f"must be a string{hint}")
            return None
        if (required and not value) or len(value) > max_length:
            self.problem(key, f"must be 1 to {max_length} characters")
        return value

    def object(self, key: str) -> JSONObject | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            self.problem(key, "must be a mapping (a JSON object)")
            return None
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if value is not None:
            self.problem(key, "must be a number")
        return None

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if value is not None:
            self.problem(key, "must be an integer")
        return None

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return default
        return value

    def only(self, *allowed: str) -> None:
        for key in self.data:
            if key not in allowed:
                self.problem(key, f"is not a known field (known: {', '.join(allowed)})")

    def report(self, found: Iterable[FieldProblem]) -> None:
        for p in found:
            self.problem(p.field, p.message)


def _reader(directory: Path, path: Path, problems: list[PackFileProblem]) -> _Reader | None:
    file = str(path.relative_to(directory))
    if path.stat().st_size > MAX_FILE_BYTES:
        problems.append(PackFileProblem(file, "(file)", f"is over {MAX_FILE_BYTES} bytes"))
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problems.append(PackFileProblem(file, "(file)", "is not UTF-8 text"))
        return None
    except yaml.YAMLError as error:
        # Only the problem and its place: the error's text quotes the line, which may be a secret.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(error, "problem", None) or "malformed"
        problems.append(PackFileProblem(file, "(file)", f"is not valid YAML{where}: {what}"))
        return None
    if not isinstance(data, dict):
        problems.append(PackFileProblem(file, "(file)", "must hold one mapping (a JSON object)"))
        return None
    if (fault := _not_json(data, "")) is not None:
        problems.append(PackFileProblem(file, *fault))
        return None
    return _Reader(file, cast(dict[str, JSONValue], data), problems)


def _not_json(value: object, path: str) -> tuple[str, str] | None:
    """The first place where a YAML value is not JSON, and why."""
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    return where or "(file)", "has a key that is not a string (quote it)"
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            return where, "must be a finite number"
        elif node is not None and not isinstance(node, str | int | float | bool):
            return where, f"is a YAML {type(node).__name__}, which JSON lacks (quote it)"
    return None


def _pack_spec(r: _Reader) -> PackSpec | None:
    r.only("ref", "label", "description", "version", "config_schema", "config")
    spec = PackSpec(
        ref=r.text("ref", required=True, max_length=100) or "",
        label=r.text("label", required=True) or "",
        description=r.text("description", max_length=10_000),
        version=r.text("version", max_length=50),
        config_schema=r.object("config_schema"),
        config=r.object("config"),
    )
    if r.ok:
        r.report(pack_problems(spec))
    return spec if r.ok else None


def _trigger_spec(r: _Reader, pack_ref: str) -> TriggerSpec | None:
    r.only("ref", "label", "description", "payload_schema")
    spec = TriggerSpec(
        ref=r.text("ref", required=True) or "",
        label=r.text("label", required=True) or "",
        description=r.text("description", max_length=10_000),
        payload_schema=r.object("payload_schema"),
    )
    if r.ok:
        r.report(trigger_problems(spec, pack_ref=pack_ref))
    return spec if r.ok else None


def _action_spec(r: _Reader, pack_ref: str) -> ActionSpec | None:
    r.only(
        "ref",
        "label",
        "description",
        "runner",
        "entry_point",
        "parameters_schema",
        "timeout_seconds",
        "max_attempts",
    )
    spec = ActionSpec(
        ref=r.text("ref", required=True) or "",
        label=r.text("label", required=True) or "",
        runner=r.text("runner", required=True, max_length=100) or "",
        description=r.text("description", max_length=10_000),
        entry_point=r.text("entry_point"),
        parameters_schema=r.object("parameters_schema"),
        timeout_seconds=r.number("timeout_seconds"),
        max_attempts=r.integer("max_attempts"),
    )
    if r.ok:
        r.report(action_problems(spec, pack_ref=pack_ref))
    return spec if r.ok else None


def _rule_spec(r: _Reader, pack_ref: str) -> RuleSpec | None:
    r.only(
        "ref",
        "label",
        "description",
        "trigger_ref",
        "action_ref",
        "conditions",
        "action_params",
        "enabled",
        "strict_params",
    )
    spec = RuleSpec(
        ref=r.text("ref", required=True) or "",
        label=r.text("label", required=True) or "",
        description=r.text("description", required=True, max_length=10_000) or "",
        trigger_ref=r.text("trigger_ref", required=True) or "",
        action_ref=r.text("action_ref", required=True) or "",
        conditions=r.object("conditions") or {},
        action_params=r.object("action_params") or {},
        enabled=r.boolean("enabled", True),
        strict_params=r.boolean("strict_params", False),
    )
    if r.ok:
        r.report(rule_problems(spec, pack_ref=pack_ref))
    return spec if r.ok else None
