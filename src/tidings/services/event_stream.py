"""Socotra's event stream: follow the log with a paging token that never expires or skips.

The token is signed, bound to the tenant, and carries the position and the filters of the first
call, so a client can save it and poll it forever: at the end of the stream it returns what was
added since. Positions are in commit order (see `storage.event_stream`).

A time window is found by the time each event was recorded. The stream is in commit order, and
commit order and recording time agree up to the time between a write taking the clock and
writing its row (plus any clock difference between nodes); `CLOCK_MARGIN` bounds that, so the
window's first and last positions are found by index instead of by scanning from the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require, visibility_of
from tidings.domain.cursors import CursorCodec, CursorError, query_scope
from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.events import Event
from tidings.domain.json import JSONValue
from tidings.domain.timestamps import MAX_NS, NS_PER_SECOND
from tidings.services.database import Database
from tidings.storage import event_stream as stream_store

CLOCK_MARGIN = 300 * NS_PER_SECOND
_LOCATION = "query parameters"


@dataclass(frozen=True)
class StreamFilters:
    """The filters a stream is opened with; the token carries them afterwards."""

    type: str | None = None
    start: int | None = None
    end: int | None = None

    def as_list(self) -> list[JSONValue]:
        """The token's form of the filters."""
        return [self.type, self.start, self.end]


@dataclass(frozen=True)
class StreamPage:
    """Events in commit order and the token to continue from."""

    events: list[Event]
    token: str


def _problem(message: str) -> InvalidInput:
    return InvalidInput.of(FieldProblem("pagingToken", message), location=_LOCATION)


class EventStream:
    """Reads the log in commit order for followers."""

    def __init__(self, db: Database, *, cursors: CursorCodec) -> None:
        self._db = db
        self._cursors = cursors

    async def read(
        self,
        *,
        principal: Principal,
        filters: StreamFilters | None,
        token: str | None,
        page_size: int,
    ) -> StreamPage:
        """One page after the token's position (or from the window's start, on the first call)."""
        require(principal, Permission.EVENTS_READ)
        require(principal, Permission.EVENTS_LIST)
        scope = query_scope(principal.tenant_id, "stream", {})
        async with self._db.read() as conn:
            if token is not None:
                position, carried = self._decode(token, scope)
                if filters is not None and filters != carried:
                    raise _problem(
                        "was issued for other filters; send the token alone, or new filters "
                        "without a token"
                    )
                filters = carried
            else:
                filters = filters or StreamFilters()
                position = await self._start(conn, principal.tenant_id, filters)
            before = None
            if filters.end is not None:
                before = await stream_store.first_recorded_at_or_after(
                    conn,
                    tenant_id=principal.tenant_id,
                    recorded_at=min(filters.end + CLOCK_MARGIN + 1, MAX_NS),
                )
            window = stream_store.StreamWindow(
                after=position,
                before=before,
                type=filters.type,
                recorded_from=filters.start,
                recorded_to=filters.end,
            )
            rows = await stream_store.read_stream(
                conn,
                tenant_id=principal.tenant_id,
                window=window,
                visibility=visibility_of(principal),
                limit=page_size,
            )
            if rows:
                position = rows[-1][0]
            if len(rows) < page_size:
                # Nothing else matches up to the horizon: move past what was scanned, so the next
                # poll does not scan the same non-matching (or hidden) rows again.
                scanned = await stream_store.last_position(
                    conn, tenant_id=principal.tenant_id, before=before
                )
                position = max(position, scanned)
        token_out = self._cursors.encode(
            scope=scope, position=[position[0], position[1], *filters.as_list()]
        )
        return StreamPage(events=[event for _, event in rows], token=token_out)

    async def _start(
        self, conn: AsyncConnection, tenant_id: int, filters: StreamFilters
    ) -> stream_store.Position:
        """Where a window's first read starts: after the last event recorded well before it.

        An event recorded at or after `start` cannot be ordered before an event recorded more
        than `CLOCK_MARGIN` earlier (its transaction would have had to take its clock that much
        later than it wrote), so nothing of the window lies before that position.
        """
        if filters.start is None:
            return (0, 0)
        before = await stream_store.last_recorded_before(
            conn, tenant_id=tenant_id, recorded_at=filters.start - CLOCK_MARGIN
        )
        return (0, 0) if before is None else before

    def _decode(self, token: str, scope: str) -> tuple[stream_store.Position, StreamFilters]:
        try:
            values = self._cursors.decode(token, scope=scope)
        except CursorError as exc:
            raise _problem(str(exc).replace("cursor", "token")) from None
        if len(values) != 5:
            raise _problem("token is malformed")
        tx, event_id, event_type, start, end = values
        if not (isinstance(tx, int) and isinstance(event_id, int)):
            raise _problem("token is malformed")
        if not (event_type is None or isinstance(event_type, str)):
            raise _problem("token is malformed")
        if not (start is None or isinstance(start, int)) or not (
            end is None or isinstance(end, int)
        ):
            raise _problem("token is malformed")
        return (tx, event_id), StreamFilters(type=event_type, start=start, end=end)
