"""Shapes of packs, triggers and actions, in the style of Attune's rule document (001_…txt).

A pack's rendering carries its non-secret `config` and, in `secret_fields`, the names of the
secret fields that hold a value; a secret value is never rendered. Updates change only the fields
they name; for the nullable ones, an explicit null clears the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tidings.domain.automation import Action, Trigger
from tidings.domain.pagination import total_pages
from tidings.domain.timestamps import format_rfc3339
from tidings.services.catalogue import PackView
from tidings.services.pack_definitions import (
    MAX_ATTEMPTS,
    MAX_TIMEOUT_SECONDS,
    ActionChanges,
    ActionSpec,
    PackChanges,
    PackSpec,
    TriggerChanges,
    TriggerSpec,
)

Ref = Annotated[str, StringConstraints(min_length=1, max_length=255)]
PackRef = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
Version = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Runner = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_SECONDS)]
Attempts = Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)]
Schema = dict[str, Any]


class Strict(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class Update(Strict):
    """An update: only the fields sent change; `label` and `runner` cannot be null."""

    @field_validator("label", "runner", mode="before", check_fields=False)
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null")
        return value

    def given(self) -> dict[str, Any]:
        """The fields the request named, with their values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class PackCreate(Strict):
    """A new pack. Config properties its `config_schema` marks `"secret": true` are sealed."""

    ref: PackRef = Field(description="Letters, digits, underscores and hyphens.")
    label: Label
    description: Description | None = None
    version: Version | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    config_schema: Schema | None = None

    def to_spec(self) -> PackSpec:
        """The definition this request asks for."""
        return PackSpec(
            ref=self.ref,
            label=self.label,
            description=self.description,
            version=self.version,
            config_schema=self.config_schema,
            config=self.config,
        )


class PackUpdate(Update):
    """Pack fields to change. `config` is a merge patch: a secret left out keeps its value."""

    label: Label | None = None
    description: Description | None = None
    version: Version | None = None
    config: dict[str, Any] | None = None
    config_schema: Schema | None = None

    def to_changes(self) -> PackChanges:
        """The change this request asks for."""
        return PackChanges(**self.given())


class TriggerCreate(Strict):
    """A new trigger; `pack_ref` defaults to the first segment of `ref`."""

    ref: Ref
    pack_ref: PackRef | None = None
    label: Label
    description: Description | None = None
    payload_schema: Schema | None = None

    def to_spec(self) -> TriggerSpec:
        """The definition this request asks for."""
        return TriggerSpec(self.ref, self.label, self.description, self.payload_schema)


class TriggerUpdate(Update):
    """Trigger fields to change."""

    label: Label | None = None
    description: Description | None = None
    payload_schema: Schema | None = None

    def to_changes(self) -> TriggerChanges:
        """The change this request asks for."""
        return TriggerChanges(**self.given())


class ActionCreate(Strict):
    """A new action; `pack_ref` defaults to the first segment of `ref`."""

    ref: Ref
    pack_ref: PackRef | None = None
    label: Label
    description: Description | None = None
    runner: Runner
    entry_point: Ref | None = None
    parameters_schema: Schema | None = None
    timeout_seconds: Timeout | None = None
    max_attempts: Attempts | None = None

    def to_spec(self) -> ActionSpec:
        """The definition this request asks for."""
        return ActionSpec(
            ref=self.ref,
            label=self.label,
            runner=self.runner,
            description=self.description,
            entry_point=self.entry_point,
            parameters_schema=self.parameters_schema,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
        )


class ActionUpdate(Update):
    """Action fields to change."""

    label: Label | None = None
    description: Description | None = None
    runner: Runner | None = None
    entry_point: Ref | None = None
    parameters_schema: Schema | None = None
    timeout_seconds: Timeout | None = None
    max_attempts: Attempts | None = None

    def to_changes(self) -> ActionChanges:
        """The change this request asks for."""
        return ActionChanges(**self.given())


def pagination(*, page: int, per_page: int, total: int) -> dict[str, int]:
    """The rule document's pagination object."""
    pages = total_pages(total, per_page)
    return {"page": page, "per_page": per_page, "total": total, "total_pages": pages}


def pack_json(view: PackView) -> dict[str, Any]:
    """A pack, without any secret value."""
    pack = view.pack
    return {
        "id": pack.id,
        "ref": pack.ref,
        "label": pack.label,
        "description": pack.description,
        "version": pack.version,
        "config": pack.config,
        "secret_fields": list(view.secret_fields),
        "config_schema": pack.config_schema,
        "builtin": pack.builtin,
        "created": format_rfc3339(pack.created_at),
        "updated": format_rfc3339(pack.updated_at),
    }


def trigger_json(trigger: Trigger) -> dict[str, Any]:
    """A trigger."""
    return {
        "id": trigger.id,
        "ref": trigger.ref,
        "pack": trigger.pack_id,
        "pack_ref": trigger.pack_ref,
        "label": trigger.label,
        "description": trigger.description,
        "payload_schema": trigger.payload_schema,
        "created": format_rfc3339(trigger.created_at),
        "updated": format_rfc3339(trigger.updated_at),
    }


def action_json(action: Action) -> dict[str, Any]:
    """An action."""
    return {
        "id": action.id,
        "ref": action.ref,
        "pack": action.pack_id,
        "pack_ref": action.pack_ref,
        "label": action.label,
        "description": action.description,
        "runner": action.runner,
        "entry_point": action.entry_point,
        "parameters_schema": action.parameters_schema,
        "timeout_seconds": action.timeout_seconds,
        "max_attempts": action.max_attempts,
        "created": format_rfc3339(action.created_at),
        "updated": format_rfc3339(action.updated_at),
    }
