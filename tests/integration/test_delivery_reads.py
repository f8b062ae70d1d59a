"""The delivery desk's reads on both engines: attempts that start together read their
subscriptions and events in one transaction (a read transaction on PostgreSQL, the writer's
group-committed one on SQLite), each subscription once, and each still gets its own event, its
subscription as it is now, or the reason it is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from tests.api.helpers import post_event
from tidings.domain.subscriptions import DeliveryJob, DeliveryRef
from tidings.services.deliveries import DeliveryDesk, DeliveryRefused
from tidings.services.runtime import Services

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def desk(services: Services) -> DeliveryDesk:
    """A desk as the worker factory builds one."""
    return DeliveryDesk(services.db, box=services.box, clock=services.clock, ingest=services.ingest)


class ReadCounts:
    """Transactions (reader checkouts and group commits) and SELECTs, on either engine."""

    def __init__(self, services: Services) -> None:
        self._committer = services.db.committer
        self._batches = self._committer.batches
        self._checkouts = 0
        self.selects = 0

    @property
    def transactions(self) -> int:
        """Read transactions plus group-committed transactions since the counts began."""
        return self._checkouts + self._committer.batches - self._batches

    def reset(self) -> None:
        """Count from now on."""
        self._batches = self._committer.batches
        self._checkouts = self.selects = 0

    def on_checkout(self, *_: Any) -> None:
        """A read transaction took a connection."""
        self._checkouts += 1

    def on_statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        """A statement ran (SQLite's BEGIN is not counted)."""
        if statement.lstrip().upper().startswith("SELECT"):
            self.selects += 1


@pytest.fixture
def reads(services: Services) -> Iterator[ReadCounts]:
    """Counts of what the database is asked from now on."""
    counts = ReadCounts(services)
    reader = services.db.engines.reader.sync_engine
    writer = services.db.engines.writer.sync_engine
    engines = [reader] if writer is reader else [reader, writer]  # PostgreSQL has one
    event.listen(reader.pool, "checkout", counts.on_checkout)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counts.on_statement)
    yield counts
    event.remove(reader.pool, "checkout", counts.on_checkout)
    for engine in engines:
        event.remove(engine, "before_cursor_execute", counts.on_statement)


async def default_tenant(services: Services) -> int:
    """The id of the bootstrapped tenant."""
    async with services.db.read() as conn:
        found = await conn.execute(text("SELECT id FROM tenants WHERE name = 'default'"))
        return int(found.scalar_one())


async def _subscribe(client: httpx.AsyncClient, admin: dict[str, str], url: str) -> int:
    body = {"target": "webhook", "url": url, "secret": SECRET}
    response = await client.post("/api/v1/subscriptions", headers=admin, json=body)
    assert response.status_code == 201, response.text
    subscription_id: int = response.json()["data"]["id"]
    return subscription_id


async def test_attempts_starting_together_share_one_read(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str], reads: ReadCounts
) -> None:
    first = await _subscribe(client, admin, "http://hooks.example/one")
    second = await _subscribe(client, admin, "http://hooks.example/two")
    titles = [f"deploy {n}" for n in range(16)]
    ids = [(await post_event(client, admin, trigger_ref="deploy", title=t))["id"] for t in titles]
    refs = [
        DeliveryRef(event_id=e, subscription_id=first if n % 4 else second)
        for n, e in enumerate(ids)
    ]
    tenant = await default_tenant(services)
    the_desk = desk(services)
    reads.reset()
    jobs: list[DeliveryJob] = await asyncio.gather(
        *(the_desk.job(tenant_id=tenant, ref=ref) for ref in refs)
    )
    # One read transaction: two subscription look-ups and sixteen events.
    assert (reads.transactions, reads.selects) == (1, 18)
    assert [j.event.id for j in jobs] == ids
    assert [j.event.title for j in jobs] == titles
    assert [j.url for j in jobs] == [
        "http://hooks.example/one" if n % 4 else "http://hooks.example/two" for n in range(16)
    ]
    assert {len(j.secrets) for j in jobs} == {1}


async def test_each_attempt_is_refused_for_its_own_reason(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str], reads: ReadCounts
) -> None:
    kept = await _subscribe(client, admin, "http://hooks.example/kept")
    gone = await _subscribe(client, admin, "http://hooks.example/gone")
    event_id = (await post_event(client, admin, trigger_ref="deploy"))["id"]
    deleted = await client.delete(f"/api/v1/subscriptions/{gone}", headers=admin)
    assert deleted.status_code in (200, 204), deleted.text
    the_desk = desk(services)
    refs = [
        DeliveryRef(event_id=event_id, subscription_id=kept),
        DeliveryRef(event_id=event_id, subscription_id=gone),
        DeliveryRef(event_id=event_id + 1000, subscription_id=kept),
    ]
    tenant = await default_tenant(services)
    reads.reset()
    outcomes = await asyncio.gather(
        *(the_desk.job(tenant_id=tenant, ref=ref) for ref in refs), return_exceptions=True
    )
    assert (reads.transactions, reads.selects) == (1, 4)
    delivered, no_subscription, no_event = outcomes
    assert isinstance(delivered, DeliveryJob)
    assert delivered.url == "http://hooks.example/kept"
    assert isinstance(no_subscription, DeliveryRefused)
    assert str(no_subscription) == f"subscription {gone} no longer exists"
    assert isinstance(no_event, DeliveryRefused)
    assert str(no_event) == f"event {event_id + 1000} no longer exists"


async def test_an_attempt_after_a_change_reads_the_change(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    subscription = await _subscribe(client, admin, "http://hooks.example/before")
    event_id = (await post_event(client, admin, trigger_ref="deploy"))["id"]
    the_desk = desk(services)
    ref = DeliveryRef(event_id=event_id, subscription_id=subscription)
    tenant = await default_tenant(services)
    before = await the_desk.job(tenant_id=tenant, ref=ref)
    body = {"target": "webhook", "url": "http://hooks.example/after", "secret": SECRET}
    changed = await client.put(f"/api/v1/subscriptions/{subscription}", headers=admin, json=body)
    assert changed.status_code == 200, changed.text
    after = await the_desk.job(tenant_id=tenant, ref=ref)
    assert (before.url, after.url) == ("http://hooks.example/before", "http://hooks.example/after")
