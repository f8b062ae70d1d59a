"""Pure ASGI middleware: request ids, body size limits and authentication.

Written as raw ASGI rather than Starlette's `BaseHTTPMiddleware`, which copies every response
through a stream and costs measurable throughput. Authentication runs here, before routing, so a
route added later cannot forget it, and an unknown path answers 401 without revealing whether it
exists.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from tidings.api.errors import error_body
from tidings.domain.errors import Unauthenticated, Unavailable

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = structlog.get_logger(__name__)

# `POST /api/v1/webhooks/{name}` from a sender that signs its body instead of sending a token
# (GitHub, Standard Webhooks). The route verifies the signature; this only lets it reach it.
_WEBHOOK_DELIVERY = re.compile(r"/api/v1/webhooks/[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
_SIGNATURE_HEADERS = frozenset({b"x-hub-signature-256", b"webhook-signature"})


async def _send_error(
    send: Send, status: int, message: str, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(status, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Gives every request an id, returns it as `X-Request-Id`, and turns crashes into 500s."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error("request.crashed", request_id=request_id, path=scope["path"], exc_info=exc)
            if not started:
                await _send_error(send_with_id, 500, "Internal server error")


class BodyTooLarge(Exception):
    """Raised from `receive` once a body passes its limit."""


class BodyLimitMiddleware:
    """Refuses bodies over the limit before they are read into memory (413).

    A declared Content-Length over the limit is refused at once; a chunked body is counted as it
    arrives and refused when the count passes the limit.
    """

    def __init__(self, app: ASGIApp, *, default_limit: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"].rstrip("/"), self.default_limit)
        message = f"Request body exceeds the limit of {limit} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "Content-Length is not a number")
                    return
                if declared > limit:
                    await _send_error(send, 413, message)
                    return
        received = 0
        exceeded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return msg

        answered = False

        async def guarded_send(msg: Message) -> None:
            # Frameworks may turn a failed body read into their own 400; the 413 wins.
            nonlocal answered
            if exceeded:
                if not answered:
                    answered = True
                    await _send_error(send, 413, message)
                return
            answered = answered or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not answered:
                await _send_error(send, 413, message)


class AuthenticationMiddleware:
    """Resolves `Authorization: Bearer …` to a principal for every path but the public ones.

    A signed webhook delivery without an Authorization header passes with no principal; its
    route refuses it unless the signature verifies (`WebhookAdmin.admit`).
    """

    def __init__(self, app: ASGIApp, *, public_paths: frozenset[str]) -> None:
        self.app = app
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        challenge = [(b"www-authenticate", b"Bearer")]
        credential = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    credential = token.strip()
                break
        if credential is None:
            if _is_signed_delivery(scope):
                await self.app(scope, receive, send)
                return
            await _send_error(send, 401, "Missing bearer token", challenge)
            return
        try:
            principal = await scope["app"].state.services.auth.authenticate(credential)
        except Unauthenticated as exc:
            await _send_error(send, 401, exc.message, challenge)
            return
        except Unavailable as exc:
            await _send_error(send, 503, exc.message, [(b"retry-after", b"1")])
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _is_signed_delivery(scope: Scope) -> bool:
    """A webhook delivery with a signature header and no Authorization header at all."""
    if scope["method"] != "POST" or not _WEBHOOK_DELIVERY.fullmatch(scope["path"]):
        return False
    names = {name for name, _ in scope.get("headers", ())}
    return b"authorization" not in names and bool(names & _SIGNATURE_HEADERS)
