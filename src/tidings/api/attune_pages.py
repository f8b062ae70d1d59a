"""Attune's list envelope (`000_…txt`), shared by its events, enforcements and executions lists.

`{"page", "page_size", "total_items", "total_pages"}` as the document shows it, plus Tidings'
`next_cursor`; a cursor-paged answer has no page number and no total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson

from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.pagination import total_pages
from tidings.services.event_queries import Page

T = TypeVar("T")


def list_body(
    result: Page[T],
    render: Callable[[T], Any],
    *,
    page: int,
    per_page: int,
    cursor: str | None,
) -> bytes:
    """`{"data": [...], "pagination": {...}}` for one page, as JSON."""
    total = result.total
    paging = {
        "page": None if cursor else page,
        "page_size": per_page,
        "total_items": total,
        "total_pages": None if total is None else total_pages(total, per_page),
        "next_cursor": result.next_cursor,
    }
    return orjson.dumps({"data": [render(item) for item in result.items], "pagination": paging})


def check_list_query(
    *, status: str | None, statuses: Iterable[str], page: int, cursor: str | None
) -> None:
    """Refuse an unknown status, or a page number beside a cursor, naming each problem."""
    problems = []
    allowed = list(statuses)
    if status is not None and status not in allowed:
        problems.append(FieldProblem("status", f"must be one of {', '.join(allowed)}"))
    if cursor is not None and page != 1:
        problems.append(FieldProblem("cursor", "use either page or cursor, not both"))
    if problems:
        raise InvalidInput.of(*problems, location="query parameters")
