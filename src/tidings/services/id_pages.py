"""Newest-first pages of history rows keyed by id (enforcements, executions).

Numbered pages carry an exact total, counted only when the page itself cannot tell it; a signed
cursor continues below the last id at constant cost and carries no total. Both read one row past
the page to know whether another follows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.cursors import CursorCodec, CursorError
from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.services.database import Database
from tidings.services.event_queries import Page


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


_Row = TypeVar("_Row", bound=_Identified)

# fetch(conn, limit, offset, before_id) -> rows newest first; count(conn) -> every matching row.
Fetch = Callable[[AsyncConnection, int, int, int | None], Awaitable[list[_Row]]]
Count = Callable[[AsyncConnection], Awaitable[int]]


async def page_by_id(
    db: Database,
    cursors: CursorCodec,
    *,
    scope: str,
    page: int,
    per_page: int,
    cursor: str | None,
    fetch: Fetch[_Row],
    count: Count,
) -> Page[_Row]:
    """One page: by number (exact total) or below a cursor's id (no total)."""
    before = _position(cursors, cursor, scope) if cursor else None
    offset = 0 if before else (page - 1) * per_page
    async with db.read() as conn:
        items = await fetch(conn, per_page + 1, offset, before)
        more = len(items) > per_page
        items = items[:per_page]
        total: int | None
        if before:
            total = None
        elif not more and (items or offset == 0):
            total = offset + len(items)
        else:
            total = await count(conn)
    next_cursor = cursors.encode(scope=scope, position=[items[-1].id]) if more else None
    return Page(items=items, total=total, next_cursor=next_cursor)


def _position(cursors: CursorCodec, cursor: str, scope: str) -> int:
    try:
        position = cursors.decode(cursor, scope=scope)
    except CursorError as exc:
        raise InvalidInput.of(
            FieldProblem("cursor", str(exc)), location="query parameters"
        ) from None
    if len(position) != 1 or not isinstance(position[0], int):
        raise InvalidInput.of(FieldProblem("cursor", "malformed"), location="query parameters")
    return position[0]
