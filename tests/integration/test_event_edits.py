"""Updating and deleting events through the service: revisions, visibility, permissions."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, PrincipalKind
from tidings.domain.errors import Forbidden, InvalidInput, NotFound
from tidings.domain.events import NewEvent
from tidings.domain.revisions import EventPatch, FieldChange, RevisionKind
from tidings.services.runtime import Services
from tidings.storage import events as event_store


def _principal(*permissions: Permission, groups: frozenset[str] = frozenset()) -> Principal:
    return Principal(
        id=1,
        locator="00000000-0000-0000-0000-000000000001",
        tenant_id=1,
        tenant_locator="00000000-0000-0000-0000-00000000000a",
        name="editor",
        kind=PrincipalKind.SERVICE,
        permissions=frozenset(p.value for p in permissions),
        groups=groups,
    )


ADMIN = _principal(Permission.ADMIN)
WRITER = _principal(Permission.EVENTS_READ, Permission.EVENTS_LIST, Permission.EVENTS_WRITE)


async def _store(services: Services, *new_events: NewEvent) -> list[int]:
    async def work(conn: AsyncConnection) -> list[int]:
        return await event_store.insert_events(
            conn, tenant_id=1, new_events=new_events, actor_id=None, request_id="r", now=1_000
        )

    return await services.db.write(work)


async def test_an_update_changes_the_view_and_records_a_revision(services: Services) -> None:
    [event_id] = await _store(
        services,
        NewEvent(
            type="deployment",
            title="Deploy",
            dimensions={"status": "start", "service": "api"},
            links={"ticket": "T-1"},
        ),
    )
    patch = EventPatch(fields={"status": "success", "ended_at": 5_000}, links={"ticket": "T-2"})
    updated = await services.edits.update(principal=WRITER, event_id=event_id, patch=patch)
    assert updated.dimensions == {"status": "success", "service": "api"}
    assert updated.ended_at == 5_000
    assert updated.links == {"ticket": "T-2"}
    assert updated.updated_at > updated.recorded_at
    history = await services.events.revisions(principal=WRITER, event_ids=[event_id])
    [revision] = history[event_id]
    assert (revision.number, revision.kind, revision.actor_name) == (
        1,
        RevisionKind.UPDATE,
        "editor",
    )
    assert revision.changes == (
        FieldChange("status", "start", "success"),
        FieldChange("ended_at", None, 5_000),
        FieldChange("links.ticket", "T-1", "T-2"),
    )
    # The same values again change nothing and record nothing.
    await services.edits.update(principal=WRITER, event_id=event_id, patch=patch)
    again = await services.events.revisions(principal=WRITER, event_ids=[event_id])
    assert len(again[event_id]) == 1


async def test_a_delete_removes_the_event_and_keeps_it_in_a_revision(services: Services) -> None:
    [event_id] = await _store(services, NewEvent(type="incident", title="Outage"))
    with pytest.raises(Forbidden):
        await services.edits.delete(principal=WRITER, event_id=event_id)
    await services.edits.delete(principal=ADMIN, event_id=event_id)
    with pytest.raises(NotFound):
        await services.events.get(principal=ADMIN, event_id=event_id)
    history = await services.events.revisions(principal=ADMIN, event_ids=[event_id])
    [revision] = history[event_id]
    assert revision.kind is RevisionKind.DELETE
    [change] = revision.changes
    assert change.field == "event"
    assert change.new is None
    assert isinstance(change.old, dict)
    assert (change.old["id"], change.old["type"], change.old["title"]) == (
        event_id,
        "incident",
        "Outage",
    )
    with pytest.raises(NotFound):
        await services.edits.delete(principal=ADMIN, event_id=event_id)


async def test_hidden_events_cannot_be_edited(services: Services) -> None:
    [event_id] = await _store(services, NewEvent(type="x", allowed_groups=("ops",)))
    with pytest.raises(NotFound):
        await services.edits.update(
            principal=WRITER, event_id=event_id, patch=EventPatch(fields={"title": "t"})
        )
    ops_writer = _principal(
        Permission.EVENTS_READ, Permission.EVENTS_WRITE, groups=frozenset({"ops"})
    )
    updated = await services.edits.update(
        principal=ops_writer, event_id=event_id, patch=EventPatch(fields={"title": "t"})
    )
    assert updated.title == "t"


async def test_an_update_may_not_clear_the_type_or_touch_access(services: Services) -> None:
    [event_id] = await _store(services, NewEvent(type="x"))
    with pytest.raises(InvalidInput) as caught:
        await services.edits.update(
            principal=ADMIN,
            event_id=event_id,
            patch=EventPatch(fields={"type": None, "allowed_groups": ["ops"]}),
        )
    assert [(p.field, p.message) for p in caught.value.details or []] == [
        ("type", "is required and cannot be cleared"),
        ("allowed_groups", "cannot be changed by an update"),
    ]
