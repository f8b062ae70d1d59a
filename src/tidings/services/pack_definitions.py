"""What a pack definition is: packs, triggers, actions and rules as values, and their checks.

A definition arrives from the HTTP API or from a pack directory (pack_files); either way it must
pass the same checks before it is stored: refs inside their pack, a known runner, JSON Schemas
that compile (offline: a remote `$ref` is refused, so no schema ever fetches anything), and
conditions and parameter templates that compile. JSON Schema is jsonschema-rs (compiled, in Rust),
the library ingest uses to enforce the payload schemas.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import jsonschema_rs

from tidings.domain.automation import ref_problem
from tidings.domain.conditions import ConditionError, compile_condition
from tidings.domain.errors import FieldProblem
from tidings.domain.json import JSONObject, JSONValue, depth_exceeds
from tidings.domain.templates import TemplateError, compile_params

BUILTIN_RUNNERS = ("noop", "echo", "http_request", "emit_event", "slack", "local_command")
PYTHON_RUNNER = "python"
RUNNERS = (*BUILTIN_RUNNERS, PYTHON_RUNNER)
MAX_TIMEOUT_SECONDS = 3600.0
MAX_ATTEMPTS = 20
MAX_RULE_DEPTH = 32
MAX_SCHEMA_DEPTH = 64


@dataclass(frozen=True)
class PackSpec:
    """A pack as defined; `config` None means the definition says nothing about its config."""

    ref: str
    label: str
    description: str | None = None
    version: str | None = None
    config_schema: JSONObject | None = None
    config: JSONObject | None = None


@dataclass(frozen=True)
class TriggerSpec:
    """A trigger as defined."""

    ref: str
    label: str
    description: str | None = None
    payload_schema: JSONObject | None = None


@dataclass(frozen=True)
class ActionSpec:
    """An action as defined."""

    ref: str
    label: str
    runner: str
    description: str | None = None
    entry_point: str | None = None
    parameters_schema: JSONObject | None = None
    timeout_seconds: float | None = None
    max_attempts: int | None = None


@dataclass(frozen=True)
class RuleSpec:
    """A rule as defined in a pack directory."""

    ref: str
    label: str
    description: str
    trigger_ref: str
    action_ref: str
    conditions: JSONObject
    action_params: JSONObject
    enabled: bool = True
    strict_params: bool = False


@dataclass(frozen=True)
class PackBundle:
    """A pack with everything it defines."""

    pack: PackSpec
    triggers: tuple[TriggerSpec, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()


# --- changes -------------------------------------------------------------------------------


class Keep(Enum):
    """The value of a field an update leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class PackChanges:
    """A pack update. `config` is a merge patch: keys given are set, null ones removed."""

    label: str | Keep = KEEP
    description: str | Keep | None = KEEP
    version: str | Keep | None = KEEP
    config_schema: JSONObject | Keep | None = KEEP
    config: JSONObject | None = None


@dataclass(frozen=True)
class TriggerChanges:
    """A trigger update."""

    label: str | Keep = KEEP
    description: str | Keep | None = KEEP
    payload_schema: JSONObject | Keep | None = KEEP


@dataclass(frozen=True)
class ActionChanges:
    """An action update."""

    label: str | Keep = KEEP
    description: str | Keep | None = KEEP
    runner: str | Keep = KEEP
    entry_point: str | Keep | None = KEEP
    parameters_schema: JSONObject | Keep | None = KEEP
    timeout_seconds: float | Keep | None = KEEP
    max_attempts: int | Keep | None = KEEP


D = TypeVar("D", PackSpec, TriggerSpec, ActionSpec)


def apply_changes(spec: D, changes: PackChanges | TriggerChanges | ActionChanges) -> D:
    """`spec` with the changed fields of `changes` (a pack's config patch aside)."""
    given = {
        f.name: getattr(changes, f.name)
        for f in dataclasses.fields(changes)
        if getattr(changes, f.name) is not KEEP and f.name != "config"
    }
    return dataclasses.replace(spec, **given)


# --- checks ----------------------------------------------------------------------------------


def schema_problem(schema: JSONValue) -> str | None:
    """Why `schema` is not a usable JSON Schema object, or None. Remote `$ref`s are refused."""
    if not isinstance(schema, dict):
        return "must be a JSON Schema object"
    if depth_exceeds(schema, MAX_SCHEMA_DEPTH):
        return f"nests deeper than {MAX_SCHEMA_DEPTH} levels"
    try:
        jsonschema_rs.meta.validate(schema)
        jsonschema_rs.validator_for(schema, offline=True)
    except jsonschema_rs.ValidationError as error:
        where = "/".join(str(p) for p in error.instance_path)
        first_line = error.message.splitlines()[0] if error.message else "invalid"
        return f"is not a valid JSON Schema{f' at /{where}' if where else ''}: {first_line}"
    except (ValueError, jsonschema_rs.ReferencingError) as error:
        return f"is not a valid JSON Schema: {str(error).splitlines()[0]}"
    return None


def child_ref_problem(ref: str, pack_ref: str) -> str | None:
    """Why `ref` cannot name a trigger, action or rule of pack `pack_ref`, or None."""
    problem = ref_problem(ref)
    if problem is None and (not ref.startswith(f"{pack_ref}.") or ref == f"{pack_ref}."):
        problem = f"must start with the pack's ref and a dot ('{pack_ref}.')"
    return problem


def pack_problems(spec: PackSpec) -> list[FieldProblem]:
    """What is wrong with a pack definition (its config is checked against its schema later)."""
    problems = [FieldProblem("ref", p) for p in [ref_problem(spec.ref, pack=True)] if p]
    if spec.config_schema is not None and (p := schema_problem(spec.config_schema)):
        problems.append(FieldProblem("config_schema", p))
    return problems


def trigger_problems(spec: TriggerSpec, *, pack_ref: str) -> list[FieldProblem]:
    """What is wrong with a trigger definition."""
    problems = [FieldProblem("ref", p) for p in [child_ref_problem(spec.ref, pack_ref)] if p]
    if spec.payload_schema is not None and (p := schema_problem(spec.payload_schema)):
        problems.append(FieldProblem("payload_schema", p))
    return problems


def action_problems(spec: ActionSpec, *, pack_ref: str) -> list[FieldProblem]:
    """What is wrong with an action definition."""
    problems = [FieldProblem("ref", p) for p in [child_ref_problem(spec.ref, pack_ref)] if p]
    if spec.runner not in RUNNERS:
        problems.append(FieldProblem("runner", f"must be one of {', '.join(RUNNERS)}"))
    elif spec.runner == PYTHON_RUNNER and not spec.entry_point:
        problems.append(FieldProblem("entry_point", "is required by the python runner"))
    elif spec.runner != PYTHON_RUNNER and spec.entry_point is not None:
        problems.append(FieldProblem("entry_point", "is only for the python runner"))
    if spec.entry_point is not None and (p := ref_problem(spec.entry_point)):
        problems.append(FieldProblem("entry_point", p))
    if spec.parameters_schema is not None and (p := schema_problem(spec.parameters_schema)):
        problems.append(FieldProblem("parameters_schema", p))
    timeout = spec.timeout_seconds
    if timeout is not None and not (0 < timeout <= MAX_TIMEOUT_SECONDS):
        problems.append(
            FieldProblem("timeout_seconds", f"must be > 0 and <= {MAX_TIMEOUT_SECONDS:g}")
        )
    if spec.max_attempts is not None and not (1 <= spec.max_attempts <= MAX_ATTEMPTS):
        problems.append(FieldProblem("max_attempts", f"must be between 1 and {MAX_ATTEMPTS}"))
    return problems


def rule_problems(spec: RuleSpec, *, pack_ref: str) -> list[FieldProblem]:
    """What is wrong with a rule definition: its ref, condition and parameter templates."""
    problems = [FieldProblem("ref", p) for p in [child_ref_problem(spec.ref, pack_ref)] if p]
    for name, value in (("conditions", spec.conditions), ("action_params", spec.action_params)):
        if depth_exceeds(value, MAX_RULE_DEPTH):
            problems.append(FieldProblem(name, f"nests deeper than {MAX_RULE_DEPTH} levels"))
            return problems
    try:
        compile_condition(spec.conditions)
    except ConditionError as error:
        problems.append(FieldProblem("conditions", f"{error.path}: {error.message}"))
    try:
        compile_params(spec.action_params)
    except TemplateError as error:
        problems.append(FieldProblem("action_params", f"{error.path}: {error.message}"))
    return problems
