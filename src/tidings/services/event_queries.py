"""Reading the event log: one event, or a filtered page with an exact total or a keyset cursor.

Every read applies the tenant and the reader's visibility in SQL, so pages and totals only ever
count what the reader may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, Visibility, require, visibility_of
from tidings.domain.cursors import CursorCodec, CursorError, query_scope
from tidings.domain.errors import FieldProblem, InvalidInput, NotFound
from tidings.domain.events import Event, EventFilter, EventSummary
from tidings.domain.json import JSONValue
from tidings.domain.revisions import Revision
from tidings.services.database import Database
from tidings.storage import event_edits as edit_store
from tidings.storage import events as event_store

# One API request records at most one batch; this bounds the answer of "events of a request".
MAX_EVENTS_PER_REQUEST = 10_000


class _Positioned(Protocol):
    """What a page is keyed by: newest first by (occurred_at, id)."""

    @property
    def occurred_at(self) -> int: ...

    @property
    def id(self) -> int: ...


_Item = TypeVar("_Item", bound=_Positioned)


class _Fetch(Protocol[_Item]):
    """A storage function that reads one page of items."""

    async def __call__(
        self,
        conn: AsyncConnection,
        *,
        tenant_id: int,
        flt: EventFilter,
        visibility: Visibility,
        limit: int,
        offset: int = 0,
        after: tuple[int, int] | None = None,
    ) -> list[_Item]: ...


_Listed = TypeVar("_Listed")


@dataclass(frozen=True)
class Page(Generic[_Listed]):
    """A page with its exact total, or with the cursor of the next page."""

    items: list[_Listed]
    total: int | None
    next_cursor: str | None


SummaryPage = Page[EventSummary]
EventPage = Page[Event]


async def visible_event(conn: AsyncConnection, *, principal: Principal, event_id: int) -> Event:
    """The event if the principal may see it; NotFound alike when absent, hidden or elsewhere."""
    event = await event_store.get_event(
        conn, tenant_id=principal.tenant_id, event_id=event_id, visibility=visibility_of(principal)
    )
    if event is None:
        raise NotFound(f"Event with ID {event_id} not found")
    return event


class EventQueries:
    """Read paths over the event log."""

    def __init__(self, db: Database, *, cursors: CursorCodec) -> None:
        self._db = db
        self._cursors = cursors

    async def get(self, *, principal: Principal, event_id: int) -> Event:
        """One event the principal may see, or NotFound (also for other tenants' events)."""
        require(principal, Permission.EVENTS_READ)
        async with self._db.read() as conn:
            return await visible_event(conn, principal=principal, event_id=event_id)

    async def summaries(
        self,
        *,
        principal: Principal,
        flt: EventFilter,
        page: int,
        per_page: int,
        cursor: str | None,
    ) -> Page[EventSummary]:
        """Summaries by page number (with an exact total), or after a cursor (no total)."""
        return await self._page(
            event_store.list_event_summaries, principal, flt, page, per_page, cursor, True
        )

    async def page(
        self,
        *,
        principal: Principal,
        flt: EventFilter,
        page: int,
        per_page: int,
        cursor: str | None = None,
        with_total: bool = True,
    ) -> Page[Event]:
        """Whole events, newest first: by page number (exact total) or after a cursor."""
        return await self._page(
            event_store.list_events, principal, flt, page, per_page, cursor, with_total
        )

    async def _page(
        self,
        fetch: _Fetch[_Item],
        principal: Principal,
        flt: EventFilter,
        page: int,
        per_page: int,
        cursor: str | None,
        with_total: bool,
    ) -> Page[_Item]:
        """One page, reading one item past it to know whether another follows.

        The total is exact for numbered pages; the last page gives it without a COUNT.
        """
        require(principal, Permission.EVENTS_LIST)
        visibility = visibility_of(principal)
        scope = query_scope(principal.tenant_id, "events", _filter_fingerprint(flt))
        after = self._position(cursor, scope) if cursor else None
        offset = 0 if after else (page - 1) * per_page
        async with self._db.read() as conn:
            items = await fetch(
                conn,
                tenant_id=principal.tenant_id,
                flt=flt,
                visibility=visibility,
                limit=per_page + 1,
                offset=offset,
                after=after,
            )
            more = len(items) > per_page
            items = items[:per_page]
            total: int | None
            if after or not with_total:
                total = None
            elif not more and (items or offset == 0):
                total = offset + len(items)
            else:
                total = await event_store.count_events(
                    conn, tenant_id=principal.tenant_id, flt=flt, visibility=visibility
                )
        next_cursor = None
        if more:
            last = items[-1]
            next_cursor = self._cursors.encode(scope=scope, position=[last.occurred_at, last.id])
        return Page(items=items, total=total, next_cursor=next_cursor)

    async def of_request(self, *, principal: Principal, request_id: str) -> list[Event]:
        """The events one API request recorded, oldest first (empty when there are none)."""
        require(principal, Permission.EVENTS_READ)
        async with self._db.read() as conn:
            return await event_store.list_by_request(
                conn,
                tenant_id=principal.tenant_id,
                request_id=request_id,
                visibility=visibility_of(principal),
                limit=MAX_EVENTS_PER_REQUEST,
            )

    async def revisions(
        self, *, principal: Principal, event_ids: list[int]
    ) -> dict[int, list[Revision]]:
        """The recorded changes of events the caller has already been allowed to read."""
        require(principal, Permission.EVENTS_READ)
        async with self._db.read() as conn:
            return await edit_store.list_revisions(
                conn, tenant_id=principal.tenant_id, event_ids=event_ids
            )

    def _position(self, cursor: str, scope: str) -> tuple[int, int]:
        try:
            position = self._cursors.decode(cursor, scope=scope)
        except CursorError as exc:
            raise InvalidInput.of(
                FieldProblem("cursor", str(exc)), location="query parameters"
            ) from None
        if len(position) != 2:
            raise InvalidInput.of(FieldProblem("cursor", "malformed"), location="query parameters")
        occurred_at, event_id = position
        if not isinstance(occurred_at, int) or not isinstance(event_id, int):
            raise InvalidInput.of(FieldProblem("cursor", "malformed"), location="query parameters")
        return occurred_at, event_id


def _filter_fingerprint(flt: EventFilter) -> dict[str, JSONValue]:
    return {
        "type": flt.type,
        "trigger": flt.trigger_id,
        "source": flt.source_id,
        "start": flt.start,
        "end": flt.end,
        "request": flt.request_id,
        "dimensions": [[name, value] for name, value in flt.dimensions],
        "present": list(flt.present),
    }
