"""Signed, opaque keyset cursors.

A cursor is the position after the last item a client saw, plus what it is bound to (the tenant
and the filters of the query that produced it). It is signed with HMAC-SHA256 so a client can
neither forge a position in another tenant nor splice one query's position into another query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from tidings.domain.json import JSONValue

_SIG_BYTES = 16


class CursorError(ValueError):
    """A cursor that is malformed, tampered with, or used against a different query."""


@dataclass(frozen=True)
class CursorCodec:
    """Encodes and verifies cursors with one secret key."""

    key: bytes

    def encode(self, *, scope: str, position: list[JSONValue]) -> str:
        """Sign `position` for `scope` (tenant + query fingerprint) into an opaque string."""
        body = json.dumps({"s": scope, "p": position}, separators=(",", ":")).encode()
        return _b64(body) + "." + _b64(self._sign(body))

    def decode(self, token: str, *, scope: str) -> list[JSONValue]:
        """Return the position inside `token`, or raise CursorError."""
        try:
            body_text, sig_text = token.split(".", 1)
            body = _unb64(body_text)
            sig = _unb64(sig_text)
        except ValueError:
            raise CursorError("cursor is malformed") from None
        if not hmac.compare_digest(sig, self._sign(body)):
            raise CursorError("cursor is not valid")
        try:
            data = json.loads(body)
        except ValueError:
            raise CursorError("cursor is malformed") from None
        if not isinstance(data, dict) or not isinstance(data.get("p"), list):
            raise CursorError("cursor is malformed")
        if data.get("s") != scope:
            raise CursorError("cursor belongs to a different query")
        position: list[JSONValue] = data["p"]
        return position

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self.key, body, hashlib.sha256).digest()[:_SIG_BYTES]


def query_scope(tenant_id: int, kind: str, filters: dict[str, JSONValue]) -> str:
    """A stable fingerprint of a query: its tenant, its kind and its filters."""
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return f"{tenant_id}:{kind}:{digest}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("bad base64") from None
