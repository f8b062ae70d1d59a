"""Event rows: insert, fetch, filter, count and page. Every query is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility
from tidings.domain.events import (
    INT_DIMENSIONS,
    TEXT_DIMENSIONS,
    Event,
    EventFilter,
    EventSummary,
    NewEvent,
)
from tidings.storage.bulk_insert import BulkInsert
from tidings.storage.tables import event_access, events, principals

_DIMENSION_COLUMNS = TEXT_DIMENSIONS + INT_DIMENSIONS
# `commit_tx` is left to the column default: the writing transaction's id on PostgreSQL.
_INSERT_COLUMNS = tuple(c.name for c in events.c if c.name not in ("id", "commit_tx"))
_EVENT_INSERT = BulkInsert(events, _INSERT_COLUMNS)


def _values(
    tenant_id: int, new: NewEvent, actor_id: int | None, request_id: str | None, now: int
) -> tuple[Any, ...]:
    """The row of `new` as values in `_INSERT_COLUMNS` order."""
    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "type": new.type,
        "trigger_id": new.trigger_id,
        "source_id": new.source_id,
        "source_ref": new.source_ref,
        "title": new.title,
        "message": new.message,
        "payload": new.payload,
        "payload_keys": len(new.payload),
        "config": new.config,
        "links": new.links or None,
        "related_id": new.related_id,
        "stakeholders": list(new.stakeholders) or None,
        "allowed_groups": list(new.allowed_groups) or None,
        "allowed_roles": list(new.allowed_roles) or None,
        "restricted": new.restricted,
        "username": new.username,
        "actor_id": actor_id,
        "request_id": request_id,
        "occurred_at": new.occurred_at if new.occurred_at is not None else now,
        "recorded_at": now,
        "updated_at": now,
        "started_at": new.started_at,
        "ended_at": new.ended_at,
    }
    dims = new.dimensions
    return tuple(fields[c] if c in fields else dims.get(c) for c in _INSERT_COLUMNS)


@dataclass(frozen=True)
class Origin:
    """Who recorded an event and through which request."""

    tenant_id: int
    actor_id: int | None
    request_id: str | None


async def insert_events(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    new_events: Sequence[NewEvent],
    actor_id: int | None,
    request_id: str | None,
    now: int,
) -> list[int]:
    """Insert events of one origin in order and return their ids in the same order."""
    origin = Origin(tenant_id, actor_id, request_id)
    return await insert_from(conn, entries=[(origin, new) for new in new_events], now=now)


async def insert_from(
    conn: AsyncConnection, *, entries: Sequence[tuple[Origin, NewEvent]], now: int
) -> list[int]:
    """Insert events of any origins in one statement; ids come back in the order given."""
    rows = [
        _values(origin.tenant_id, new, origin.actor_id, origin.request_id, now)
        for origin, new in entries
    ]
    new_events = [new for _, new in entries]
    ids = await _EVENT_INSERT.run(conn, rows)
    access_rows = [
        {"event_id": event_id, "kind": kind, "name": name}
        for event_id, new in zip(ids, new_events, strict=True)
        if new.restricted
        for kind, names in (("g", new.allowed_groups), ("r", new.allowed_roles))
        for name in dict.fromkeys(names)
    ]
    if access_rows:
        await conn.execute(event_access.insert(), access_rows)
    return ids


def visibility_clause(visibility: Visibility) -> ColumnElement[bool] | None:
    """The SQL form of `access.can_see`, or None when the reader sees everything."""
    if visibility.sees_all:
        return None
    named = []
    if visibility.groups:
        named.append(
            and_(event_access.c.kind == "g", event_access.c.name.in_(sorted(visibility.groups)))
        )
    if visibility.roles:
        named.append(
            and_(event_access.c.kind == "r", event_access.c.name.in_(sorted(visibility.roles)))
        )
    if not named:
        return events.c.restricted == false()
    return or_(
        events.c.restricted == false(),
        exists().where(event_access.c.event_id == events.c.id, or_(*named)),
    )


def _where(tenant_id: int, flt: EventFilter, visibility: Visibility) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [events.c.tenant_id == tenant_id]
    if flt.type is not None:
        clauses.append(events.c.type == flt.type)
    if flt.trigger_id is not None:
        clauses.append(events.c.trigger_id == flt.trigger_id)
    if flt.source_id is not None:
        clauses.append(events.c.source_id == flt.source_id)
    if flt.start is not None:
        clauses.append(events.c.occurred_at >= flt.start)
    if flt.end is not None:
        clauses.append(events.c.occurred_at <= flt.end)
    if flt.request_id is not None:
        clauses.append(events.c.request_id == flt.request_id)
    for name, value in flt.dimensions:
        assert name in _DIMENSION_COLUMNS, name
        clauses.append(events.c[name] == value)
    for name in flt.present:
        assert name in _DIMENSION_COLUMNS, name
        clauses.append(events.c[name].is_not(None))
    seen = visibility_clause(visibility)
    if seen is not None:
        clauses.append(seen)
    return clauses


async def count_events(
    conn: AsyncConnection, *, tenant_id: int, flt: EventFilter, visibility: Visibility
) -> int:
    """Exact number of events matching the filter that the reader may see."""
    query = select(func.count()).select_from(events).where(*_where(tenant_id, flt, visibility))
    return int((await conn.execute(query)).scalar_one())


def _page_of_ids(
    tenant_id: int,
    flt: EventFilter,
    visibility: Visibility,
    *,
    limit: int,
    offset: int,
    after: tuple[int, int] | None,
) -> Select[tuple[int]]:
    """Newest first by (occurred_at, id); the index answers it without touching event rows."""
    clauses = _where(tenant_id, flt, visibility)
    if after is not None:
        clauses.append(tuple_(events.c.occurred_at, events.c.id) < tuple_(*after))
    return (
        select(events.c.id)
        .where(*clauses)
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
        .limit(limit)
        .offset(offset)
    )


async def list_event_summaries(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    flt: EventFilter,
    visibility: Visibility,
    limit: int,
    offset: int = 0,
    after: tuple[int, int] | None = None,
) -> list[EventSummary]:
    """One page of summaries. Deep offsets skip index entries only, then rows are fetched by id."""
    ids = _page_of_ids(tenant_id, flt, visibility, limit=limit, offset=offset, after=after)
    page = ids.subquery()
    query = (
        select(
            events.c.id,
            events.c.type,
            events.c.trigger_id,
            events.c.source_id,
            events.c.source_ref,
            events.c.payload_keys,
            events.c.occurred_at,
            events.c.recorded_at,
        )
        .join(page, page.c.id == events.c.id)
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
    )
    return [
        EventSummary(
            id=r.id,
            type=r.type,
            trigger_id=r.trigger_id,
            source_id=r.source_id,
            source_ref=r.source_ref,
            has_payload=r.payload_keys > 0,
            occurred_at=r.occurred_at,
            recorded_at=r.recorded_at,
        )
        for r in await conn.execute(query)
    ]


async def list_events(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    flt: EventFilter,
    visibility: Visibility,
    limit: int,
    offset: int = 0,
    after: tuple[int, int] | None = None,
) -> list[Event]:
    """One page of whole events, newest first, for the dialects whose lists show every field."""
    ids = _page_of_ids(tenant_id, flt, visibility, limit=limit, offset=offset, after=after)
    page = ids.subquery()
    query = (
        full_select()
        .join(page, page.c.id == events.c.id)
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
    )
    return [to_event(row) for row in await conn.execute(query)]


async def list_by_request(
    conn: AsyncConnection, *, tenant_id: int, request_id: str, visibility: Visibility, limit: int
) -> list[Event]:
    """The events one API request recorded, in the order it recorded them."""
    clauses = _where(tenant_id, EventFilter(request_id=request_id), visibility)
    query = full_select().where(*clauses).order_by(events.c.id).limit(limit)
    return [to_event(row) for row in await conn.execute(query)]


def full_select() -> Select[Any]:
    """Every column of an event plus its actor's locator."""
    return select(events, principals.c.locator.label("actor_locator")).outerjoin(
        principals, principals.c.id == events.c.actor_id
    )


def to_event(r: Row[Any]) -> Event:
    """The domain event of a row selected with `full_select()`."""
    # Keyed access through the row's mapping costs about a third of attribute access by name,
    # which matters when a page renders a hundred whole events.
    m = r._mapping
    dims: dict[str, str | int] = {}
    for name in _DIMENSION_COLUMNS:
        value = m[name]
        if value is not None:
            dims[name] = value
    return Event(
        id=m["id"],
        tenant_id=m["tenant_id"],
        type=m["type"],
        payload=m["payload"],
        trigger_id=m["trigger_id"],
        source_id=m["source_id"],
        source_ref=m["source_ref"],
        config=m["config"],
        title=m["title"],
        message=m["message"],
        dimensions=dims,
        links=m["links"] or {},
        related_id=m["related_id"],
        stakeholders=tuple(m["stakeholders"] or ()),
        allowed_groups=tuple(m["allowed_groups"] or ()),
        allowed_roles=tuple(m["allowed_roles"] or ()),
        username=m["username"],
        actor_id=m["actor_id"],
        actor_locator=m["actor_locator"],
        request_id=m["request_id"],
        occurred_at=m["occurred_at"],
        recorded_at=m["recorded_at"],
        updated_at=m["updated_at"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
    )


async def get_event(
    conn: AsyncConnection, *, tenant_id: int, event_id: int, visibility: Visibility
) -> Event | None:
    """One event by id, or None when it is absent, in another tenant, or hidden from the reader."""
    clauses = [events.c.id == event_id, *_where(tenant_id, EventFilter(), visibility)]
    row = (await conn.execute(full_select().where(*clauses))).first()
    return None if row is None else to_event(row)
