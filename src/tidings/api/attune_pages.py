"""Attune's list envelope (`000_…txt`), shared by its events, enforcements and executions lists.

`{"page", "page_size", "total_items", "total_pages"}` as the document shows it, plus Tidings'
`next_cursor`; a cursor-paged answer has no page number and no total.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.pagination import total_pages


def pagination(
    *, page: int, per_page: int, cursor: str | None, total: int | None, next_cursor: str | None
) -> dict[str, Any]:
    """The `pagination` object of one answer."""
    return {
        "page": None if cursor else page,
        "page_size": per_page,
        "total_items": total,
        "total_pages": None if total is None else total_pages(total, per_page),
        "next_cursor": next_cursor,
    }


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
