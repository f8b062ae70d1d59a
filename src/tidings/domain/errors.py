"""Errors that the core and services raise; the API layer renders each dialect's shape from them.

They carry the HTTP status they stand for because every dialect maps them the same way
(a missing object is a 404 in all five documents); only the body differs per dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with the input: where (a dotted path, with list indexes) and what."""

    field: str
    message: str
    index: int | None = None

    def as_dict(self) -> dict[str, object]:
        """Render for an error body's `details` list."""
        out: dict[str, object] = {"field": self.field, "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        return out


@dataclass
class TidingsError(Exception):
    """Base of every expected failure; `message` is safe to show to the caller."""

    message: str
    status: int = 500
    details: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def describe(problems: list[FieldProblem], location: str = "request data") -> str:
    """One line naming the first problem, for an error body's `error` field."""
    if not problems:
        return f"Invalid {location}"
    first = problems[0]
    where = f"events[{first.index}]." if first.index is not None else ""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"Invalid {location}: {where}{first.field}: {first.message}{more}"


class InvalidInput(TidingsError):
    """The request is malformed or breaks a documented limit (400)."""

    def __init__(self, message: str, details: list[FieldProblem] | None = None) -> None:
        super().__init__(message, 400, details or [])

    @classmethod
    def of(cls, *problems: FieldProblem, location: str = "request data") -> InvalidInput:
        """An error whose message names the first of `problems`."""
        return cls(describe(list(problems), location), list(problems))


class Unauthenticated(TidingsError):
    """No credential, or one that is not valid (401)."""

    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(message, 401)


class Forbidden(TidingsError):
    """The caller is known but lacks the permission (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 403)


class NotFound(TidingsError):
    """No such object in the caller's tenant, or not visible to the caller (404)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class Conflict(TidingsError):
    """The object exists already, or the request contradicts stored state (409)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


class IdempotencyMismatch(TidingsError):
    """An `Idempotency-Key` was reused for a different request (422, as the IETF draft says)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 422)


class Unavailable(TidingsError):
    """The database cannot be reached or stayed busy past its timeout (503, retryable)."""

    def __init__(self, message: str = "Database unavailable, retry later") -> None:
        super().__init__(message, 503)
