"""The automation catalogue and its history, as values: packs, triggers, actions, rules,
enforcements and executions (DESIGN.md, "The core model").

Refs are how users name things (`mypack.notify_on_error`); ids are how rows point at each other.
A trigger's ref is the `type` of the events it fires, so `core.webhook_received` events are
evaluated against the rules of the `core.webhook_received` trigger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from tidings.domain.json import JSONObject, JSONValue

# Rule refs as 001_…txt allows them: alphanumerics, dots, underscores and hyphens.
REF_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")
# Pack refs are the first segment of every ref in the pack, so they hold no dots.
PACK_REF_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+$")
CORE_PACK = "core"


def ref_problem(ref: str, *, pack: bool = False) -> str | None:
    """Why `ref` is not a valid reference, or None."""
    pattern = PACK_REF_PATTERN if pack else REF_PATTERN
    if not ref:
        return "must not be empty"
    if len(ref) > (100 if pack else 255):
        return f"must be at most {100 if pack else 255} characters"
    if not pattern.match(ref):
        allowed = "letters, digits, underscores and hyphens"
        return f"may contain only {allowed}" + ("" if pack else " and dots")
    return None


class EnforcementStatus(StrEnum):
    """Attune's enforcement lifecycle (000_…txt, "Enforcement Status")."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ConditionOutcome(StrEnum):
    """An enforcement's overall condition result."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class ExecutionStatus(StrEnum):
    """One run of an action. `queued` covers waiting for a retry's backoff too."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """No worker will touch an execution in this status again (unless retried by hand)."""
        return self in _FINISHED


_FINISHED = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.CANCELLED,
    }
)

# What an enforcement becomes when its execution ends.
ENFORCEMENT_FOR_EXECUTION: dict[ExecutionStatus, EnforcementStatus] = {
    ExecutionStatus.QUEUED: EnforcementStatus.SCHEDULED,
    ExecutionStatus.RUNNING: EnforcementStatus.RUNNING,
    ExecutionStatus.SUCCEEDED: EnforcementStatus.COMPLETED,
    ExecutionStatus.FAILED: EnforcementStatus.FAILED,
    ExecutionStatus.TIMED_OUT: EnforcementStatus.FAILED,
    ExecutionStatus.CANCELLED: EnforcementStatus.CANCELLED,
}


class EnforcementRecording(StrEnum):
    """A tenant setting: record every rule evaluation, or only those whose condition passed."""

    ALL = "all"
    MATCHES = "matches"


@dataclass(frozen=True)
class Pack:
    """A bundle of triggers, actions and rules, with a config (secrets kept apart)."""

    id: int
    ref: str
    label: str
    description: str | None
    version: str | None
    config: JSONObject
    secret_keys: tuple[str, ...]
    config_schema: JSONObject | None
    builtin: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Trigger:
    """A registered event type; events of type `ref` fire it."""

    id: int
    pack_id: int
    pack_ref: str
    ref: str
    label: str
    description: str | None
    payload_schema: JSONObject | None
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Action:
    """A named operation, run by a runner with parameters checked against its schema."""

    id: int
    pack_id: int
    pack_ref: str
    ref: str
    label: str
    description: str | None
    runner: str
    entry_point: str | None
    parameters_schema: JSONObject | None
    timeout_seconds: float | None
    max_attempts: int | None
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Rule:
    """Trigger + conditions + action + parameter templates (001_…txt, "Rule")."""

    id: int
    ref: str
    pack_id: int
    pack_ref: str
    label: str
    description: str
    action_id: int
    action_ref: str
    trigger_id: int
    trigger_ref: str
    conditions: JSONValue
    action_params: JSONValue
    enabled: bool
    strict_params: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Enforcement:
    """One rule's evaluation of one event."""

    id: int
    rule_id: int | None
    rule_ref: str
    trigger_ref: str
    event_id: int | None
    status: EnforcementStatus
    condition: ConditionOutcome
    conditions: dict[str, bool]
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Attempt:
    """One try of an execution by one worker."""

    number: int
    worker: str
    started_at: int
    finished_at: int | None
    outcome: str | None
    error: str | None
    detail: JSONObject | None = None  # what the attempt saw (a delivery's status and response)


@dataclass(frozen=True)
class Execution:
    """One run of an action, with its (redacted) parameters and its attempts."""

    id: int
    enforcement_id: int | None
    rule_id: int | None
    rule_ref: str | None
    event_id: int | None
    action_id: int | None
    action_ref: str
    runner: str
    parameters: JSONValue
    status: ExecutionStatus
    attempts: int
    max_attempts: int
    timeout_seconds: float
    available_at: int
    error: str | None
    result_size: int | None
    started_at: int | None
    finished_at: int | None
    created_at: int
    updated_at: int
    attempt_log: tuple[Attempt, ...] = field(default=())
    subscription_id: int | None = None  # a delivery's subscription


@dataclass(frozen=True)
class NewExecution:
    """An execution to enqueue: what the rule engine decides, before it has an id.

    `parameters` is what reads show (pack secrets replaced by ********); `sealed_parameters` holds
    the real ones, sealed, only when redaction changed something.
    """

    tenant_id: int
    enforcement_id: int | None
    rule_id: int | None
    rule_ref: str | None
    event_id: int | None
    action_id: int | None
    action_ref: str
    runner: str
    entry_point: str | None
    parameters: JSONValue
    sealed_parameters: bytes | None
    max_attempts: int
    timeout_seconds: float
    available_at: int
    # A delivery's subscription, and the delays between its attempts (None: exponential backoff).
    subscription_id: int | None = None
    retry_schedule: tuple[float, ...] | None = None
