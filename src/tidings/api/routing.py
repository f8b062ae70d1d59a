"""The route class every router uses: strict JSON bodies, parsed by orjson.

Python's `json` module accepts lone UTF-16 surrogates (`"\\ud800"`), which no database or encoder
downstream can store, so a request carrying one would fail late with a 500. orjson refuses them
while parsing (and parses faster), so the caller gets a 400 naming the body instead. A body sent
with another content type is refused with 415 rather than misread. This is FastAPI's documented
way to customise request parsing (a custom `Request` and `APIRoute`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from tidings.api.errors import error_response
from tidings.domain.errors import FieldProblem
from tidings.domain.json import NUL, nul_path


class OrjsonRequest(Request):
    """A request whose `json()` is orjson's strict parser."""

    async def json(self) -> Any:
        """The body as JSON; orjson's errors subclass `json.JSONDecodeError`."""
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


_NUL_MESSAGE = "{where} must not contain the NUL character (\\u0000)"


async def _nul_in_body(request: OrjsonRequest) -> Response | None:
    """A 400 naming where a NUL character sits in the body, or None (it was an escaped `\\`)."""
    try:
        body = await request.json()
    except orjson.JSONDecodeError:
        return None  # malformed JSON: FastAPI answers it as usual
    where = nul_path(body)
    if where is None:
        return None
    return error_response(
        400,
        "Invalid request data",
        [FieldProblem(where, "must not contain the NUL character (\\u0000)")],
    )


def _is_json(content_type: str | None) -> bool:
    """`application/json` or `application/*+json`, parameters ignored (RFC 9110 media type)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JSONRoute(APIRoute):
    """An API route that reads JSON bodies strictly."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler with the content-type check and the strict parser."""
        original = super().get_route_handler()
        takes_body = self.body_field is not None

        async def handler(request: Request) -> Response:
            strict = OrjsonRequest(request.scope, request.receive)
            wrong_type = takes_body and not _is_json(request.headers.get("content-type"))
            if wrong_type and await strict.body():
                return error_response(415, "Content-Type must be application/json")
            if takes_body and b"\\u0000" in await strict.body():
                refused = await _nul_in_body(strict)
                if refused is not None:
                    return refused
            if NUL in request.scope["path"] or b"%00" in request.scope["query_string"]:
                return error_response(400, _NUL_MESSAGE.format(where="The URL"))
            return await original(strict)

        return handler
