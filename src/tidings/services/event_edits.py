"""Updating and deleting events, each change recorded as a revision in the same transaction."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require
from tidings.domain.clock import Clock
from tidings.domain.errors import FieldProblem, InvalidInput, NotFound
from tidings.domain.events import Event
from tidings.domain.json import JSONObject, JSONValue
from tidings.domain.revisions import (
    LIST_FIELDS,
    SCALAR_FIELDS,
    EventPatch,
    FieldChange,
    RevisionKind,
    plan_update,
)
from tidings.services.database import Database
from tidings.services.event_queries import visible_event
from tidings.storage import event_edits as edit_store


def _current(event: Event) -> dict[str, JSONValue]:
    """The present values of the fields an update may change."""
    values: dict[str, JSONValue] = {
        "type": event.type,
        "title": event.title,
        "message": event.message,
        "source_ref": event.source_ref,
        "related_id": event.related_id,
        "started_at": event.started_at,
        "ended_at": event.ended_at,
        "stakeholders": list(event.stakeholders) or None,
    }
    for name in SCALAR_FIELDS | LIST_FIELDS:
        if name not in values:
            values[name] = event.dimensions.get(name)
    return values


def snapshot(event: Event) -> JSONObject:
    """The whole event as JSON, as a delete's revision keeps it."""
    record = asdict(event)
    record["stakeholders"] = list(event.stakeholders)
    record["allowed_groups"] = list(event.allowed_groups)
    record["allowed_roles"] = list(event.allowed_roles)
    return record


class EventEditor:
    """Changes to stored events."""

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def update(self, *, principal: Principal, event_id: int, patch: EventPatch) -> Event:
        """Apply a partial update and record what changed; an empty change records nothing."""
        require(principal, Permission.EVENTS_WRITE)
        problems = [FieldProblem(name, reason) for name, reason in patch.problems()]
        if problems:
            raise InvalidInput.of(*problems)
        async with self._db.transaction() as conn:
            # Lock, then read: planning from a copy read before the lock would lose a
            # concurrent update of the same event on PostgreSQL.
            await edit_store.lock_event(conn, tenant_id=principal.tenant_id, event_id=event_id)
            event = await visible_event(conn, principal=principal, event_id=event_id)
            values, changes = plan_update(_current(event), event.links, event.payload, patch)
            if not changes:
                return event
            now = self._clock.now_ns()
            await edit_store.update_event(
                conn, tenant_id=principal.tenant_id, event_id=event_id, values=values, now=now
            )
            await self._record(conn, principal, event_id, RevisionKind.UPDATE, changes, now)
            return await visible_event(conn, principal=principal, event_id=event_id)

    async def delete(self, *, principal: Principal, event_id: int) -> None:
        """Remove an event, keeping a final revision that holds it whole."""
        require(principal, Permission.EVENTS_DELETE)
        async with self._db.transaction() as conn:
            await edit_store.lock_event(conn, tenant_id=principal.tenant_id, event_id=event_id)
            event = await visible_event(conn, principal=principal, event_id=event_id)
            now = self._clock.now_ns()
            if not await edit_store.delete_event(
                conn, tenant_id=principal.tenant_id, event_id=event_id
            ):
                raise NotFound(f"Event with ID {event_id} not found")
            change = FieldChange("event", snapshot(event), None)
            await self._record(conn, principal, event_id, RevisionKind.DELETE, [change], now)

    async def _record(
        self,
        conn: AsyncConnection,
        principal: Principal,
        event_id: int,
        kind: RevisionKind,
        changes: list[FieldChange],
        now: int,
    ) -> None:
        await edit_store.add_revision(
            conn,
            tenant_id=principal.tenant_id,
            event_id=event_id,
            kind=kind,
            actor_id=principal.id,
            actor_locator=principal.locator,
            actor_name=principal.name,
            changed_at=now,
            changes=changes,
        )
