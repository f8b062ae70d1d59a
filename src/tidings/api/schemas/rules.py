"""Request and response shapes of the rule API (001_…txt, "Data Model" and "Create Rule").

Unknown fields are refused (400) rather than dropped, so a typo never saves a rule that differs
from what its author wrote. An update refuses `ref`, `pack_ref`, `action_ref` and `trigger_ref`
with the document's advice instead of calling them unknown. `strict_params` is a Tidings
extension: render `action_params` strictly (a missing path fails the execution).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from tidings.domain.automation import Rule
from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.json import depth_exceeds
from tidings.domain.pagination import total_pages
from tidings.domain.timestamps import format_rfc3339
from tidings.services.rules import NewRule, RuleChanges, RulePage, RuleTrial, SampleEvent

Label = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(min_length=1)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=255)]

_CONDITIONS_DOC = "JSON Logic conditions, evaluated against the event; {} always matches."
_PARAMS_DOC = "Action parameters; strings may be Jinja templates ({{ event.payload.x }})."
_STRICT_DOC = "Tidings extension: fail the execution when a template names a missing path."
_IMMUTABLE = ("ref", "pack_ref", "action_ref", "trigger_ref")


def _object(value: Any, what: str) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object ({what})")
    return value


class RuleCreate(BaseModel):
    """A rule to create (001_…txt, "Required Fields" and "Optional Fields")."""

    model_config = ConfigDict(extra="forbid")

    ref: Ref = Field(
        description="Unique reference: letters, digits, dots, underscores and hyphens.",
        examples=["mypack.notify_on_error"],
    )
    pack_ref: Ref = Field(description="The parent pack (must exist).", examples=["mypack"])
    label: Label = Field(description="Human-readable name, 1-255 characters.")
    description: Description = Field(description="What the rule is for (at least 1 character).")
    action_ref: Ref = Field(description="The action to execute (must exist).")
    trigger_ref: Ref = Field(description="The trigger that activates the rule (must exist).")
    conditions: dict[str, Any] = Field(default_factory=dict, description=_CONDITIONS_DOC)
    action_params: dict[str, Any] = Field(default_factory=dict, description=_PARAMS_DOC)
    enabled: StrictBool = True
    strict_params: StrictBool = Field(default=False, description=_STRICT_DOC)

    @field_validator("conditions", mode="before")
    @classmethod
    def _conditions_object(cls, value: Any) -> Any:
        return _object(value, "{} means always")

    @field_validator("action_params", mode="before")
    @classmethod
    def _params_object(cls, value: Any) -> Any:
        return _object(value, "parameter name to value")

    def to_new_rule(self) -> NewRule:
        """The service's input."""
        return NewRule(**self.model_dump())


class RuleUpdate(BaseModel):
    """Changes to a rule: only the fields given change (001_…txt, "Update Rule")."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    description: Description | None = None
    conditions: dict[str, Any] | None = Field(default=None, description=_CONDITIONS_DOC)
    action_params: dict[str, Any] | None = Field(default=None, description=_PARAMS_DOC)
    enabled: StrictBool | None = None
    strict_params: StrictBool | None = Field(default=None, description=_STRICT_DOC)
    # Present only to be refused with the document's advice (see the validator).
    ref: Any = Field(default=None, description="Cannot be changed.")
    pack_ref: Any = Field(default=None, description="Cannot be changed.")
    action_ref: Any = Field(default=None, description="Cannot be changed.")
    trigger_ref: Any = Field(default=None, description="Cannot be changed.")

    @field_validator(*_IMMUTABLE, mode="before")
    @classmethod
    def _immutable(cls, value: Any) -> Any:
        raise ValueError("cannot be changed via update; create a new rule instead")

    @field_validator("label", "description", "enabled", "strict_params", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave the field out to keep it)")
        return value

    @field_validator("conditions", mode="before")
    @classmethod
    def _conditions_object(cls, value: Any) -> Any:
        return _object(value, "{} means always")

    @field_validator("action_params", mode="before")
    @classmethod
    def _params_object(cls, value: Any) -> Any:
        return _object(value, "parameter name to value")

    def to_changes(self) -> RuleChanges:
        """The service's input: the fields the caller gave."""
        given = self.model_dump(include=self.model_fields_set - set(_IMMUTABLE))
        return RuleChanges(**given)


class RuleTestRequest(BaseModel):
    """What to test a rule against: a sample event, or a stored one (Tidings extension)."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] | None = Field(
        default=None,
        description='A sample event payload (what `{"var": "cpu_percent"}` reads).',
        examples=[{"cpu_percent": 93}],
    )
    event: dict[str, Any] | None = Field(
        default=None,
        description="Other fields of the sample event (`type`, `source`, `service`, `title`, "
        "…), as `event.<field>` shows them; `type` defaults to the rule's trigger.",
    )
    event_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Test against this stored event instead."
    )

    def source(self, *, max_depth: int) -> tuple[SampleEvent | None, int | None]:
        """The sample event or the event id (exactly one), checked."""
        sample_given = self.payload is not None or self.event is not None
        if self.event_id is not None and sample_given:
            raise InvalidInput.of(
                FieldProblem("event_id", "give either event_id or a sample payload, not both")
            )
        if self.event_id is not None:
            return None, self.event_id
        if not sample_given:
            raise InvalidInput.of(
                FieldProblem("payload", "give a sample payload (and event fields) or an event_id")
            )
        payload, fields = self.payload or {}, self.event or {}
        problems = [
            FieldProblem(name, f"nests deeper than {max_depth} levels")
            for name, value in (("payload", payload), ("event", fields))
            if depth_exceeds(value, max_depth)
        ]
        if "payload" in fields:
            problems.append(FieldProblem("event.payload", "give the payload at the top level"))
        if problems:
            raise InvalidInput.of(*problems)
        return SampleEvent(payload, fields), None


def trial_json(trial: RuleTrial) -> dict[str, Any]:
    """A dry run's answer."""
    return {
        "rule": trial.rule,
        "enabled": trial.enabled,
        "condition": trial.condition.value,
        "matched": trial.matched,
        "conditions": trial.conditions,
        "action_ref": trial.action_ref,
        "parameters": trial.parameters,
        "errors": trial.errors,
    }


def rule_json(rule: Rule) -> dict[str, Any]:
    """The full view (001_…txt, "Rule"), with Tidings' `strict_params`."""
    return {
        "id": rule.id,
        "ref": rule.ref,
        "pack": rule.pack_id,
        "pack_ref": rule.pack_ref,
        "label": rule.label,
        "description": rule.description,
        "action": rule.action_id,
        "action_ref": rule.action_ref,
        "trigger": rule.trigger_id,
        "trigger_ref": rule.trigger_ref,
        "conditions": rule.conditions,
        "action_params": rule.action_params,
        "enabled": rule.enabled,
        "strict_params": rule.strict_params,
        "created": format_rfc3339(rule.created_at),
        "updated": format_rfc3339(rule.updated_at),
    }


def rule_summary_json(rule: Rule) -> dict[str, Any]:
    """The list view (001_…txt, "Rule Summary"): exactly the documented fields."""
    return {
        "id": rule.id,
        "ref": rule.ref,
        "pack_ref": rule.pack_ref,
        "label": rule.label,
        "description": rule.description,
        "action_ref": rule.action_ref,
        "trigger_ref": rule.trigger_ref,
        "enabled": rule.enabled,
        "created": format_rfc3339(rule.created_at),
        "updated": format_rfc3339(rule.updated_at),
    }


def rule_page_json(result: RulePage, *, page: int, per_page: int) -> dict[str, Any]:
    """`{"data": [summaries], "pagination": {page, per_page, total, total_pages}}`."""
    return {
        "data": [rule_summary_json(rule) for rule in result.items],
        "pagination": {
            "page": page,
            "per_page": per_page,
            "total": result.total,
            "total_pages": total_pages(result.total, per_page),
        },
    }
