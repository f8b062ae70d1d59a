"""Sealing secrets at rest: pack config secrets, webhook HMAC secrets, secret-bearing parameters.

AES-256-GCM from `cryptography` with a key derived from the instance secret
(`TIDINGS_SECRET_KEY`, or the one generated into the data dir). Each value gets a fresh 96-bit
nonce; the purpose and the tenant are bound in as associated data, so a sealed value copied to
another tenant's row, or to another column, does not open.
"""

from __future__ import annotations

import os

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tidings.domain.json import JSONValue

_VERSION = b"\x01"
_NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A sealed value that this instance's key cannot open (wrong key, or tampered with)."""


class SecretBox:
    """Seals and opens JSON values under one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, value: JSONValue, *, purpose: str, tenant_id: int) -> bytes:
        """Encrypt `value`; the result is safe to store."""
        nonce = os.urandom(_NONCE_BYTES)
        data = orjson.dumps(value)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, _aad(purpose, tenant_id))

    def open(self, sealed: bytes, *, purpose: str, tenant_id: int) -> JSONValue:
        """Decrypt what `seal` produced for the same purpose and tenant."""
        if not sealed.startswith(_VERSION) or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SecretUnreadable("not a sealed value")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            data = self._aead.decrypt(nonce, body, _aad(purpose, tenant_id))
        except InvalidTag:
            raise SecretUnreadable("the sealed value does not open with this key") from None
        value: JSONValue = orjson.loads(data)
        return value


def _aad(purpose: str, tenant_id: int) -> bytes:
    return f"tidings:{purpose}:{tenant_id}".encode()
