"""Housekeeping purges exactly what has expired."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.maintenance import Purged, purge_expired
from tidings.services.runtime import Services
from tidings.storage import credentials as credential_store
from tidings.storage import idempotency as idempotency_store
from tidings.storage.tables import idempotency_keys, refresh_tokens

HOUR = 3600 * NS_PER_SECOND


@dataclass
class FixedClock:
    now: int

    def now_ns(self) -> int:
        return self.now


async def test_purge_removes_only_what_expired(services: Services) -> None:
    now = 1_000 * HOUR
    async with services.db.transaction() as conn:
        await idempotency_store.save_responses(
            conn,
            rows=[
                {
                    "tenant_id": 1,
                    "key": key,
                    "fingerprint": "f",
                    "status_code": 201,
                    "response": b"{}",
                    "created_at": now - age,
                }
                for key, age in (("old", 25 * HOUR), ("fresh", HOUR))
            ],
        )
        for name, expires in (("expired", now - 1), ("valid", now + HOUR)):
            await credential_store.insert_refresh_token(
                conn,
                tenant_id=1,
                principal_id=1,
                family=name,
                token_hash=name,
                expires_at=expires,
                now=0,
            )
    purged = await purge_expired(
        services.db, clock=FixedClock(now), idempotency_ttl_seconds=24 * 3600
    )
    assert purged == Purged(idempotency_keys=1, refresh_tokens=1)
    async with services.db.read() as conn:
        keys = [r.key for r in await conn.execute(select(idempotency_keys.c.key))]
        families = [r.family for r in await conn.execute(select(refresh_tokens.c.family))]
        assert (
            await conn.execute(select(func.count()).select_from(idempotency_keys))
        ).scalar_one() == 1
    assert keys == ["fresh"]
    assert families == ["valid"]
