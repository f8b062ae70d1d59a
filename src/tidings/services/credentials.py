"""Secrets that prove identity: passwords (argon2), API keys and refresh tokens (random, SHA-256
hashed at rest), and JWT access tokens (HS256, signed with the instance's secret key).

API keys are hashed with plain SHA-256 rather than argon2 on purpose: they are 240 bits of
randomness, so a slow hash adds nothing against guessing and would cost tens of milliseconds on
every request. Passwords are chosen by people and get argon2id.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tidings.domain.errors import Unauthenticated

API_KEY_PREFIX = "tdg_"
REFRESH_PREFIX = "tdr_"
_HASHER = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user equal to a wrong password.
_DUMMY_HASH = _HASHER.hash("tidings-timing-equaliser")


def new_api_key() -> str:
    """A fresh API key: a recognisable prefix and 240 random bits."""
    return API_KEY_PREFIX + secrets.token_urlsafe(30)


def new_refresh_token() -> str:
    """A fresh opaque refresh token."""
    return REFRESH_PREFIX + secrets.token_urlsafe(30)


def digest(secret: str) -> str:
    """The stored form of a high-entropy secret (API key, refresh token)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters of a key, safe to list so people can tell keys apart."""
    return key[:10]


async def hash_password(password: str) -> str:
    """argon2id hash of a password (off the event loop: it takes tens of milliseconds)."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; spends the same time when there is no stored hash."""

    def _verify() -> bool:
        try:
            return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


def load_or_create_secret(configured: str | None, data_dir: Path) -> bytes:
    """The instance secret: the configured one, or one generated once into the data dir (0600)."""
    if configured:
        return configured.encode()
    path = data_dir / "secret-key"
    if path.exists():
        return path.read_text().strip().encode()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    write_private_file(path, value + "\n")
    return value.encode()


def write_private_file(path: Path, content: str) -> None:
    """Write a file only its owner can read, never briefly readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A sub-key for one purpose, so a leak of one use does not forge another."""
    return hashlib.sha256(b"tidings:" + purpose.encode() + b":" + secret).digest()


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says."""

    account_locator: str
    tenant_locator: str
    expires_at: int


class TokenSigner:
    """Issues and verifies JWT access tokens."""

    ISSUER = "tidings"

    def __init__(self, secret: bytes, *, ttl_seconds: int) -> None:
        self._key = derive_key(secret, "jwt")
        self.ttl_seconds = ttl_seconds

    def issue(self, *, account_locator: str, tenant_locator: str, now_s: int) -> str:
        """A signed access token for an account."""
        claims: dict[str, Any] = {
            "iss": self.ISSUER,
            "sub": account_locator,
            "tid": tenant_locator,
            "typ": "access",
            "iat": now_s,
            "exp": now_s + self.ttl_seconds,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token, or Unauthenticated."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=self.ISSUER,
                options={"require": ["exp", "sub", "tid", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Access token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("Invalid access token") from None
        if claims.get("typ") != "access":
            raise Unauthenticated("Invalid access token")
        return AccessClaims(
            account_locator=str(claims["sub"]),
            tenant_locator=str(claims["tid"]),
            expires_at=int(claims["exp"]),
        )


def looks_like_jwt(credential: str) -> bool:
    """JWTs have three dot-separated parts; our API keys and refresh tokens have none."""
    return credential.count(".") == 2
