"""Webhook deliveries through faults, with a real `tidings serve` process on SQLite and on
PostgreSQL: a receiver that is down for a while, one that answers 500 until it recovers, and the
server SIGKILLed in the middle of a stream of deliveries.

The receiver is a real HTTP server on a fixed loopback port in the test process
(`tests.delivery_receivers`); every request it records is verified with the `standardwebhooks`
library. Retry schedules are short and, for the kill, so is the workers' lease, so each test
takes seconds.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import PG_ADMIN_DSN, _pg_dsn, _pg_execute
from tests.delivery_receivers import reopenable_receiver
from tests.receivers import Answer, Received
from tests.system.conftest import LiveServer

pytestmark = pytest.mark.system

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks docs' example key
EVENT_TYPE = "fault.probe"
# About 14 s of retries (±20%): longer than the receiver is kept down.
THROUGH_DOWNTIME = [0, 0.5, 1, 1, 1, 2, 2, 2, 2, 2]
QUICK = [0, 0.05, 0.05]
LEASE_SECONDS = 2


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the server's data dir), or a fresh PostgreSQL database for this test
    alone (the server is another process, so the suite's shared database cannot be used)."""
    if request.param == "sqlite":
        yield None
        return
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
    name = f"tidings_dfaults_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    yield _pg_dsn(name)
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def server(database_url: str | None, tmp_path: Path) -> Iterator[LiveServer]:
    """A started `tidings serve` that may deliver to loopback, with a short lease."""
    started = LiveServer(
        data_dir=tmp_path / "data",
        database_url=database_url,
        extra_env={
            "TIDINGS_ALLOW_PRIVATE_TARGETS": "true",
            "TIDINGS_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        },
    )
    started.start()
    try:
        yield started
    finally:
        started.stop()


def subscribe(server: LiveServer, url: str, schedule: list[float]) -> int:
    """A signed webhook subscription to every event of EVENT_TYPE; its id."""
    body = {
        "target": "webhook",
        "url": url,
        "secret": SECRET,
        "retry_schedule": schedule,
        "filter": {"types": [EVENT_TYPE]},
    }
    answer = httpx.post(
        server.url + "/api/v1/subscriptions", headers=server.headers, json=body, timeout=10
    )
    assert answer.status_code == 201, answer.text
    subscription_id: int = answer.json()["data"]["id"]
    return subscription_id


def post_event(http: httpx.Client, seq: int) -> int:
    """Record one event; its id."""
    answer = http.post("/api/v1/events", json={"trigger_ref": EVENT_TYPE, "payload": {"seq": seq}})
    assert answer.status_code == 201, answer.text
    event_id: int = answer.json()["data"]["id"]
    return event_id


def api(server: LiveServer) -> httpx.Client:
    """A client of the server's API as its admin."""
    return httpx.Client(base_url=server.url, headers=server.headers, timeout=30)


def deliveries(server: LiveServer, subscription: int) -> list[dict[str, Any]]:
    """Every delivery of the subscription, oldest first."""
    found: list[dict[str, Any]] = []
    with api(server) as http:
        for page in range(1, 1000):
            params = {"page": page, "per_page": 100}
            answer = http.get(f"/api/v1/subscriptions/{subscription}/deliveries", params=params)
            assert answer.status_code == 200, answer.text
            data = answer.json()["data"]
            found += data
            if len(data) < 100:
                break
    return sorted(found, key=lambda d: int(d["id"]))


def settled(
    server: LiveServer, subscription: int, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    """The subscription's deliveries once `count` exist and none is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        found = deliveries(server, subscription)
        if len(found) >= count and all(d["status"] not in ("queued", "running") for d in found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def attempt_log(server: LiveServer, delivery: int) -> list[dict[str, Any]]:
    """A delivery's attempts, as `GET /api/v1/deliveries/{id}` shows them."""
    answer = httpx.get(f"{server.url}/api/v1/deliveries/{delivery}", headers=server.headers)
    assert answer.status_code == 200, answer.text
    log: list[dict[str, Any]] = answer.json()["data"]["attempt_log"]
    return log


def verified_event(seen: Received) -> int:
    """The event id a request carries, after the library verified its signature (it raises
    otherwise) and checked that its webhook-id names that event."""
    body = Webhook(SECRET).verify(seen.body, seen.headers)
    event_id = int(body["data"]["id"])
    assert seen.headers["webhook-id"].startswith(f"msg_{event_id}_")
    return event_id


def message_ids(events: list[int], subscription: int) -> set[str]:
    """The webhook-ids of these events' deliveries to the subscription."""
    return {f"msg_{e}_{subscription}" for e in events}


def test_a_receiver_down_for_a_while_gets_every_delivery_once_it_returns(
    server: LiveServer,
) -> None:
    with reopenable_receiver() as receiver:
        subscription = subscribe(server, receiver.url + "/hook", THROUGH_DOWNTIME)
        with api(server) as http:
            before = [post_event(http, seq) for seq in range(5)]
            settled(server, subscription, 5)
            receiver.close()
            during = [post_event(http, seq) for seq in range(5, 15)]
            time.sleep(3)  # every delivery of `during` is refused, some several times
            receiver.open()
            found = settled(server, subscription, 15)
        seen = receiver.received()
    assert [d["status"] for d in found] == ["succeeded"] * 15
    assert [d["event"] for d in found] == before + during
    # Exactly one request per delivery: the closed port saw none, the open one answered each.
    assert Counter(s.headers["webhook-id"] for s in seen) == dict.fromkeys(
        message_ids(before + during, subscription), 1
    )
    assert sorted(verified_event(s) for s in seen) == before + during
    refused = f"could not connect to 127.0.0.1:{receiver.port}: connection refused"
    for delivery in found:
        log = attempt_log(server, delivery["id"])
        assert len(log) == delivery["attempts"]
        assert [a["detail"]["status_code"] for a in log] == [None] * (len(log) - 1) + [200]
        assert [a["error"] for a in log[:-1]] == [refused] * (len(log) - 1)
    attempts = {d["event"]: d["attempts"] for d in found}
    assert {e: attempts[e] for e in before} == dict.fromkeys(before, 1)
    assert [e for e in during if attempts[e] == 1] == []  # each was refused at least once


def test_a_receiver_answering_500_fails_the_delivery_and_a_resend_delivers_it(
    server: LiveServer,
) -> None:
    answer = {"now": Answer(status=500, body=b"broken")}
    with reopenable_receiver(lambda _r: answer["now"]) as receiver:
        subscription = subscribe(server, receiver.url + "/hook", QUICK)
        with api(server) as http:
            event = post_event(http, 0)
        [failed] = settled(server, subscription, 1)
        assert (failed["status"], failed["attempts"]) == ("failed", 3)
        assert failed["error"] == "HTTP 500: 3 attempts, none delivered"
        log = attempt_log(server, failed["id"])
        assert [a["detail"]["status_code"] for a in log] == [500, 500, 500]
        assert [a["detail"]["response"] for a in log] == ["broken"] * 3
        jobs = httpx.get(
            server.url + "/api/v1/failed-jobs",
            headers=server.headers,
            params={"kind": "delivery", "subscription": subscription},
        )
        assert jobs.status_code == 200, jobs.text
        assert [(j["id"], j["failure_count"], j["last_error"]) for j in jobs.json()["data"]] == [
            (failed["id"], 3, "HTTP 500: 3 attempts, none delivered")
        ]
        answer["now"] = Answer()  # the receiver recovers
        resent = httpx.post(
            f"{server.url}/api/v1/deliveries/{failed['id']}/resend", headers=server.headers
        )
        assert resent.status_code == 201, resent.text
        first, again = settled(server, subscription, 2)
        seen = receiver.received()
    assert (first["id"], first["status"]) == (failed["id"], "failed")
    assert (again["status"], again["attempts"], again["event"]) == ("succeeded", 1, event)
    assert [a["detail"]["status_code"] for a in attempt_log(server, again["id"])] == [200]
    # Four requests of one message: three answered 500, the resend answered 200.
    assert [s.headers["webhook-id"] for s in seen] == [f"msg_{event}_{subscription}"] * 4
    assert [verified_event(s) for s in seen] == [event] * 4


class Producer(threading.Thread):
    """Posts events one after another until told to stop; keeps the acknowledged ids."""

    def __init__(self, server: LiveServer) -> None:
        super().__init__(daemon=True)
        self.url = server.url
        self.headers = server.headers
        self.acked: list[int] = []
        self.unknown = 0  # requests that got no answer: stored or not, nobody knows
        self.stopping = threading.Event()

    def run(self) -> None:
        """Post until `stopping` is set."""
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as http:
            seq = 0
            while not self.stopping.is_set():
                body = {"trigger_ref": EVENT_TYPE, "payload": {"seq": seq}}
                seq += 1
                try:
                    answer = http.post("/api/v1/events", json=body)
                except httpx.HTTPError:
                    self.unknown += 1
                    time.sleep(0.05)
                    continue
                if answer.status_code == 201:
                    self.acked.append(int(answer.json()["data"]["id"]))


def query(server: LiveServer, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the server's database, read by this process."""
    if server.database_url is None:
        with sqlite3.connect(server.data_dir / "tidings.db") as db:
            return list(db.execute(sql))
    return asyncio.run(_pg_query(server.database_url, sql))


async def _pg_query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return [tuple(r.values()) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Until `check()` is true."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_server_killed_during_a_stream_of_deliveries_loses_none(
    server: LiveServer,
) -> None:
    slow = Answer(delay_seconds=0.05)  # deliveries are in flight when the kill lands
    with reopenable_receiver(lambda _r: slow) as receiver:
        subscription = subscribe(server, receiver.url + "/hook", THROUGH_DOWNTIME)
        producer = Producer(server)
        producer.start()
        wait_for(lambda: len(receiver.received()) >= 30, 60, "no deliveries arrived")
        server.kill()
        producer.stopping.set()
        producer.join(timeout=30)
        running = {
            int(r[0]) for r in query(server, "SELECT id FROM executions WHERE status = 'running'")
        }
        assert running, "the kill landed while no delivery was running"
        server.start()
        pending = "SELECT count(*) FROM executions WHERE status IN ('queued', 'running')"
        wait_for(lambda: query(server, pending) == [(0,)], 60, "deliveries still pending")
        seen = receiver.received()
    stored = [int(r[0]) for r in query(server, "SELECT id FROM events ORDER BY id")]
    rows = query(
        server,
        "SELECT e.id, e.status, a.outcome FROM executions e JOIN execution_attempts a "
        "ON a.execution_id = e.id AND a.number = 1 ORDER BY e.id",
    )
    # Every acknowledged event was stored, and every stored event's delivery arrived.
    assert set(producer.acked) <= set(stored)
    received = Counter(s.headers["webhook-id"] for s in seen)
    assert set(received) == message_ids(stored, subscription)
    assert sorted(set(verified_event(s) for s in seen)) == stored
    # A message arrived twice only if its delivery was in flight at the kill, and then with
    # the same webhook-id and the same body.
    by_event = {e: i for i, e in query(server, "SELECT id, event_id FROM executions")}
    twice = {w for w, n in received.items() if n > 1}
    assert {by_event[int(w.split("_")[1])] for w in twice} <= running
    bodies = {w: {s.body for s in seen if s.headers["webhook-id"] == w} for w in twice}
    assert [w for w, b in bodies.items() if len(b) != 1] == []
    assert [(i, status) for i, status, _ in rows if status != "succeeded"] == []
    assert {i: outcome for i, _, outcome in rows if i in running} == dict.fromkeys(
        running, "lease_expired"
    )
