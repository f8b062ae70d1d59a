"""Time-window bounds given as query parameters, the same in every dialect.

A bound is an RFC 3339 date-time or a bare date; as an end a date means its last nanosecond, so a
window of dates includes both days. A bad bound is a 400 naming the parameter.
"""

from __future__ import annotations

from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.timestamps import TimestampError, parse_date_or_datetime


def bound_problem(name: str, text: str, *, end: bool) -> tuple[int | None, FieldProblem | None]:
    """The bound `text` stands for, or the problem with it (for callers reporting several)."""
    try:
        return parse_date_or_datetime(text, end_of_day=end), None
    except TimestampError as exc:
        return None, FieldProblem(name, str(exc))


def time_bound(name: str, text: str | None, *, end: bool) -> int | None:
    """The bound a query parameter gives (None when absent), or a 400 naming it."""
    if text is None:
        return None
    value, problem = bound_problem(name, text, end=end)
    if problem is not None:
        raise InvalidInput.of(problem, location="query parameters")
    return value
