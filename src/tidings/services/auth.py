"""Authentication: turn a bearer credential into a `Principal`, log in, refresh, log out.

A resolved principal is cached for at most `cache_seconds` (one second by default), so a token
revoked or a role removed on any node takes effect everywhere within that bound while the hot path
costs no query per request. Concurrent misses for one credential share a single lookup, so the
moment after expiry under load costs one query, not one per waiting request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Principal
from tidings.domain.clock import Clock
from tidings.domain.errors import Unauthenticated
from tidings.domain.identity import Account
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services import credentials
from tidings.services.database import Database
from tidings.storage import accounts as account_store
from tidings.storage import credentials as credential_store
from tidings.storage import tenants as tenant_store

_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int


class Authenticator:
    """Resolves credentials to principals, with a short-lived cache."""

    def __init__(
        self,
        db: Database,
        *,
        signer: credentials.TokenSigner,
        clock: Clock,
        cache_seconds: float = 1.0,
        refresh_ttl_seconds: int = 30 * 24 * 3600,
    ) -> None:
        self._db = db
        self._signer = signer
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._refresh_ttl_ns = refresh_ttl_seconds * NS_PER_SECOND
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._inflight: dict[str, asyncio.Future[Principal]] = {}

    async def authenticate(self, credential: str) -> Principal:
        """The principal a bearer credential stands for, or Unauthenticated."""
        if not credential:
            raise Unauthenticated("Missing bearer token")
        if credentials.looks_like_jwt(credential):
            claims = self._signer.verify(credential)
            cache_key = "a:" + claims.account_locator
        else:
            cache_key = "k:" + credentials.digest(credential)
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        pending = self._inflight.get(cache_key)
        if pending is not None:  # single flight: concurrent misses share one lookup
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal] = asyncio.get_running_loop().create_future()
        self._inflight[cache_key] = future
        try:
            principal = await self._resolve(cache_key)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unshared failure is not reported twice
            raise
        finally:
            del self._inflight[cache_key]
        future.set_result(principal)
        if self._cache_seconds > 0:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[cache_key] = (time.monotonic() + self._cache_seconds, principal)
        return principal

    async def _resolve(self, cache_key: str) -> Principal:
        async with self._db.read() as conn:
            if cache_key.startswith("a:"):
                return await self._principal_by_locator(conn, cache_key[2:])
            return await self._principal_by_key(conn, cache_key[2:])

    def forget(self) -> None:
        """Drop cached principals (after an admin change made on this node)."""
        self._cache.clear()

    async def _principal_by_key(self, conn: AsyncConnection, key_hash: str) -> Principal:
        key = await credential_store.find_api_key(conn, key_hash=key_hash)
        if key is None or not key.is_usable(self._clock.now_ns()):
            raise Unauthenticated("Invalid or revoked API key")
        account = await account_store.find_account(conn, account_id=key.principal_id)
        return await self._principal(conn, account, "Invalid or revoked API key")

    async def _principal_by_locator(self, conn: AsyncConnection, locator: str) -> Principal:
        account = await account_store.find_account(conn, locator=locator)
        return await self._principal(conn, account, "Invalid access token")

    async def _principal(
        self, conn: AsyncConnection, account: Account | None, message: str
    ) -> Principal:
        if account is None or not account.is_active:
            raise Unauthenticated(message)
        tenant = await tenant_store.find_tenant(conn, tenant_id=account.tenant_id)
        if tenant is None:
            raise Unauthenticated(message)
        grants = await account_store.grants_of(conn, account_id=account.id)
        return Principal(
            id=account.id,
            locator=account.locator,
            tenant_id=tenant.id,
            tenant_locator=tenant.locator,
            name=account.name,
            kind=account.kind,
            permissions=grants.permissions,
            groups=grants.groups,
            roles=grants.roles,
        )

    async def login(self, *, tenant_name: str, username: str, password: str) -> TokenPair:
        """Check a password and issue a token pair; the same error for every failure."""
        failure = Unauthenticated("Invalid username or password")
        async with self._db.read() as conn:
            tenant = await tenant_store.find_tenant(conn, name=tenant_name)
            account = (
                None
                if tenant is None
                else await account_store.find_account(conn, tenant_id=tenant.id, name=username)
            )
            stored = (
                None
                if account is None
                else await account_store.password_hash_of(conn, account_id=account.id)
            )
        if not await credentials.verify_password(stored, password):
            raise failure
        if account is None or tenant is None or not account.is_active:
            raise failure
        async with self._db.transaction() as conn:
            return await self._issue(
                conn, account=account, tenant_locator=tenant.locator, family=str(uuid.uuid4())
            )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token. A token used twice revokes its whole family (theft signal)."""
        invalid = Unauthenticated("Invalid or expired refresh token")
        now = self._clock.now_ns()
        async with self._db.transaction() as conn:
            row = await credential_store.find_refresh_token(
                conn, token_hash=credentials.digest(refresh_token)
            )
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise invalid
            if not await credential_store.mark_refresh_token_used(conn, token_id=row.id, now=now):
                await credential_store.revoke_refresh_family(conn, family=row.family, now=now)
                replay = True
            else:
                replay = False
            account = await account_store.find_account(conn, account_id=row.principal_id)
            tenant = await tenant_store.find_tenant(conn, tenant_id=row.tenant_id)
            if not replay and account is not None and account.is_active and tenant is not None:
                return await self._issue(
                    conn, account=account, tenant_locator=tenant.locator, family=row.family
                )
        raise invalid

    async def logout(self, refresh_token: str) -> None:
        """Revoke the refresh token's family; unknown tokens are ignored (nothing to reveal)."""
        async with self._db.transaction() as conn:
            row = await credential_store.find_refresh_token(
                conn, token_hash=credentials.digest(refresh_token)
            )
            if row is not None:
                await credential_store.revoke_refresh_family(
                    conn, family=row.family, now=self._clock.now_ns()
                )

    async def _issue(
        self, conn: AsyncConnection, *, account: Account, tenant_locator: str, family: str
    ) -> TokenPair:
        now = self._clock.now_ns()
        refresh = credentials.new_refresh_token()
        await credential_store.insert_refresh_token(
            conn,
            tenant_id=account.tenant_id,
            principal_id=account.id,
            family=family,
            token_hash=credentials.digest(refresh),
            expires_at=now + self._refresh_ttl_ns,
            now=now,
        )
        access = self._signer.issue(
            account_locator=account.locator,
            tenant_locator=tenant_locator,
            now_s=now // NS_PER_SECOND,
        )
        return TokenPair(
            access_token=access, refresh_token=refresh, expires_in=self._signer.ttl_seconds
        )
