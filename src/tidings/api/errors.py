"""The error body of the native and Attune APIs, built in one place.

`{"error": "Event with ID 999 not found", "status": 404}` is Attune's documented shape; Tidings
adds `details` (one entry per problem, naming the field, and the index inside a batch) when there
is more to say.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from tidings.domain.errors import FieldProblem, TidingsError, describe

log = structlog.get_logger(__name__)

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


_HEADERS_FOR = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}


def error_body(status: int, message: str, details: Sequence[FieldProblem] = ()) -> bytes:
    """Serialise the error shape."""
    body: dict[str, object] = {"error": message, "status": status}
    if details:
        body["details"] = [d.as_dict() for d in details]
    return orjson.dumps(body)


def error_response(
    status: int,
    message: str,
    details: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    """An error as a response."""
    return Response(
        error_body(status, message, details),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def problems_from_validation(exc: RequestValidationError) -> list[FieldProblem]:
    """Turn pydantic's errors into field problems, with the item index for batch bodies."""
    problems = []
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        index = None
        if len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
            index = loc[1]
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "body"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            field, message = "body", "request body is not valid JSON"
        elif err.get("type") == "missing" and field == "body":
            message = "a JSON object is required"
        elif err.get("type") == "extra_forbidden":
            message = "unknown field"
        problems.append(FieldProblem(field, message, index))
    return problems


def install_error_handlers(app: FastAPI) -> None:
    """Render every failure in the documented shape; a 5xx is logged with its request id."""

    @app.exception_handler(TidingsError)
    async def _tidings(request: Request, exc: TidingsError) -> Response:
        headers = _HEADERS_FOR.get(exc.status)
        return error_response(exc.status, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = problems_from_validation(exc)
        where = {err.get("loc", ("",))[0] for err in exc.errors()}
        location = (
            "path parameters"
            if "path" in where
            else "query parameters"
            if "query" in where
            else "request data"
        )
        return error_response(400, describe(problems, location), problems)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else _REASONS.get(exc.status_code, "")
        return error_response(exc.status_code, message, (), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "request.failed",
            request_id=request.scope.get("state", {}).get("request_id"),
            path=request.url.path,
            exc_info=exc,
        )
        return error_response(500, "Internal server error")
