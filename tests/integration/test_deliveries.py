"""Subscriptions end to end on both engines: events posted through the API, deliveries run by a
real worker pool, received by a real HTTP server on loopback that verifies every signature with
the `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from tests.api.helpers import bearer, create_group, create_service_account
from tests.api.helpers import post_event as post_event_json
from tests.conftest import ADMIN_TOKEN
from tests.receivers import Answer, Received, Receiver, running_receiver
from tidings.services.runtime import Services
from tidings.settings import Settings
from tidings.workers.factory import build_worker_pool
from tidings.workers.pool import PoolConfig, WorkerPool

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks docs' example key
QUICK = [0, 0.05, 0.05]  # three attempts, 50 ms apart (±20%)


@pytest.fixture
def settings(database_url: str | None, tmp_path: Path) -> Settings:
    """The suite's settings, letting deliveries reach the loopback receiver."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        secret_key="test-secret-key",
        sqlite_synchronous="NORMAL",
        allow_private_targets=True,
    )


@pytest.fixture
async def pool(services: Services) -> AsyncIterator[WorkerPool]:
    """A started worker pool in this process."""
    started = build_worker_pool(services, config=PoolConfig(concurrency=8, poll_seconds=0.05))
    await started.start()
    try:
        yield started
    finally:
        await started.stop(grace_seconds=1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback receiver answering 200."""
    with running_receiver() as started:
        yield started


async def _subscribe(
    client: httpx.AsyncClient, auth: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"target": "webhook", **fields}
    response = await client.post("/api/v1/subscriptions", headers=auth, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def _deliveries(
    client: httpx.AsyncClient, auth: dict[str, str], subscription: int
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/subscriptions/{subscription}/deliveries", headers=auth)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def _settled(
    client: httpx.AsyncClient, auth: dict[str, str], subscription: int, count: int = 1
) -> list[dict[str, Any]]:
    async def done() -> list[dict[str, Any]] | None:
        found = await _deliveries(client, auth, subscription)
        finished = [d for d in found if d["status"] not in ("queued", "running")]
        return found if len(found) >= count and len(finished) == len(found) else None

    settled: list[dict[str, Any]] = await _wait_for(done)
    return settled


async def post_event(client: httpx.AsyncClient, auth: dict[str, str], **fields: Any) -> int:
    """Record an event; its id."""
    event_id: int = (await post_event_json(client, auth, **fields))["id"]
    return event_id


def _verified(seen: Received, secret: str = SECRET) -> Any:
    """The body, after the library verified the signature (it raises otherwise)."""
    return Webhook(secret).verify(seen.body, seen.headers)


async def test_a_matching_event_is_delivered_signed_and_every_attempt_recorded(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool, receiver: Receiver
) -> None:
    sub = await _subscribe(
        client,
        admin,
        url=receiver.url + "/hook",
        secret=SECRET,
        filter={"types": ["deployment.*"], "scope": {"environment": ["production"]}},
    )
    assert "secret" not in sub
    assert sub["signed"] is True
    assert sub["retry_schedule"] == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    wanted = await post_event(
        client, admin, trigger_ref="deployment.started", environment="production", title="v2"
    )
    await post_event(client, admin, trigger_ref="deployment.started", environment="staging")
    await post_event(client, admin, trigger_ref="incident", environment="production")
    [delivery] = await _settled(client, admin, sub["id"])
    [seen] = receiver.received()
    body = _verified(seen)
    assert seen.path == "/hook"
    assert seen.headers["webhook-id"] == f"msg_{wanted}_{sub['id']}"
    assert body["type"] == "deployment.started"
    assert body["data"]["id"] == wanted
    assert body["data"]["title"] == "v2"
    assert (delivery["status"], delivery["event"], delivery["subscription"]) == (
        "succeeded",
        wanted,
        sub["id"],
    )
    detail = await client.get(f"/api/v1/deliveries/{delivery['id']}", headers=admin)
    assert detail.status_code == 200, detail.text
    [attempt] = detail.json()["data"]["attempt_log"]
    assert attempt["outcome"] == "succeeded"
    assert attempt["detail"]["status_code"] == 200
    assert attempt["detail"]["response"] == '{"ok": true}'
    assert attempt["detail"]["duration_ms"] >= 0


async def test_failures_are_retried_on_the_schedule_with_the_same_webhook_id(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool
) -> None:
    answers = iter([Answer(status=500, body=b"down"), Answer(status=502), Answer()])
    with running_receiver(lambda _r: next(answers)) as receiver:
        sub = await _subscribe(client, admin, url=receiver.url, secret=SECRET, retry_schedule=QUICK)
        event = await post_event(client, admin, trigger_ref="deploy")
        [delivery] = await _settled(client, admin, sub["id"])
        seen = receiver.received()
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 3
    assert {s.headers["webhook-id"] for s in seen} == {f"msg_{event}_{sub['id']}"}
    for one in seen:
        _verified(one)
    detail = (await client.get(f"/api/v1/deliveries/{delivery['id']}", headers=admin)).json()
    log = detail["data"]["attempt_log"]
    assert [a["detail"]["status_code"] for a in log] == [500, 502, 200]
    assert log[0]["detail"]["response"] == "down"
    assert log[0]["error"] == "HTTP 500"
    # The subscription's run of failures ended with the success.
    again = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=admin)).json()
    assert again["data"]["failing_since"] is None


async def test_retry_after_is_honoured(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool
) -> None:
    answers = iter([Answer(status=429, headers={"Retry-After": "1"}), Answer()])
    with running_receiver(lambda _r: next(answers)) as receiver:
        sub = await _subscribe(client, admin, url=receiver.url, secret=SECRET, retry_schedule=QUICK)
        await post_event(client, admin, trigger_ref="deploy")
        await _settled(client, admin, sub["id"])
        first, second = receiver.received()
    gap = second.at - first.at
    assert 0.95 <= gap < 3.0, gap  # the schedule said 50 ms; the receiver asked for 1 s


async def test_redirects_are_failures_and_exhausted_deliveries_can_be_resent(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool
) -> None:
    answer = {"now": Answer(status=301, headers={"Location": "http://elsewhere.test/"})}
    with running_receiver(lambda _r: answer["now"]) as receiver:
        sub = await _subscribe(client, admin, url=receiver.url, secret=SECRET, retry_schedule=QUICK)
        await post_event(client, admin, trigger_ref="deploy")
        [failed] = await _settled(client, admin, sub["id"])
        assert (failed["status"], failed["attempts"]) == ("failed", 3)
        assert (
            failed["error"] == "HTTP 301 (redirects are not followed): 3 attempts, none delivered"
        )
        assert len(receiver.received()) == 3
        answer["now"] = Answer()
        resent = await client.post(f"/api/v1/deliveries/{failed['id']}/resend", headers=admin)
        assert resent.status_code == 201, resent.text
        assert resent.json()["data"]["status"] in ("queued", "running", "succeeded")
        found = await _settled(client, admin, sub["id"], count=2)
        seen = receiver.received()
    assert sorted(d["status"] for d in found) == ["failed", "succeeded"]
    assert len({s.headers["webhook-id"] for s in seen}) == 1  # a resend is the same message
    _verified(seen[-1])


async def test_410_disables_the_subscription_and_records_an_event(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool
) -> None:
    with running_receiver(lambda _r: Answer(status=410, body=b"gone")) as receiver:
        sub = await _subscribe(client, admin, url=receiver.url, secret=SECRET, name="old-hook")
        await post_event(client, admin, trigger_ref="deploy")
        [delivery] = await _settled(client, admin, sub["id"])
        assert len(receiver.received()) == 1  # no retries after a 410
    assert delivery["status"] == "failed"
    assert delivery["error"] == "HTTP 410: the endpoint is gone; the subscription was disabled"
    now = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=admin)).json()["data"]
    assert now["enabled"] is False
    assert now["disabled_reason"] == "HTTP 410: the endpoint is gone"
    events = await client.get(
        "/api/v1/events?trigger_ref=tidings.subscription_disabled", headers=admin
    )
    [recorded] = events.json()["data"]
    full = (await client.get(f"/api/v1/events/{recorded['id']}", headers=admin)).json()["data"]
    assert full["payload"]["subscription"] == sub["id"]
    assert full["payload"]["name"] == "old-hook"
    assert full["payload"]["reason"] == "HTTP 410: the endpoint is gone"
    # A disabled subscription receives nothing more, and a resend says why not.
    await post_event(client, admin, trigger_ref="deploy")
    await asyncio.sleep(0.3)
    assert len(await _deliveries(client, admin, sub["id"])) == 1
    refused = await client.post(f"/api/v1/deliveries/{delivery['id']}/resend", headers=admin)
    assert refused.status_code == 409, refused.text


async def test_a_subscription_receives_only_what_its_owner_may_see(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool, receiver: Receiver
) -> None:
    await create_group(client, admin, "ops")
    key = await create_service_account(client, admin, "ops-bot", roles=["operator"], groups=["ops"])
    sub = await _subscribe(client, bearer(key), url=receiver.url, secret=SECRET)
    mine = await post_event(client, admin, trigger_ref="deploy", allowed_groups=["ops"])
    await post_event(client, admin, trigger_ref="deploy", allowed_groups=["finance"])
    public = await post_event(client, admin, trigger_ref="deploy")
    found = await _settled(client, admin, sub["id"], count=2)
    await asyncio.sleep(0.3)
    assert sorted(d["event"] for d in found) == sorted([mine, public])
    assert sorted(_verified(s)["data"]["id"] for s in receiver.received()) == sorted([mine, public])


async def test_tracker_notifications_go_to_the_channel_targets_that_asked(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool, receiver: Receiver
) -> None:
    slack = await _subscribe(
        client, admin, target="slack", url=receiver.url + "/slack", notification_channel="slack"
    )
    assert slack["url"] == receiver.url + "/********"
    base: dict[str, Any] = {"type": 1, "service": "api"}
    attribute_sets: list[dict[str, Any]] = [
        {"notification": True, "notifications": ["slack", "email"]},
        {"notification": True, "notifications": ["email"]},
        {"notification": False, "notifications": ["slack"]},
        {},
    ]
    for attributes in attribute_sets:
        body = {"title": "Deploy", "attributes": {**base, **attributes}}
        posted = await client.post("/api/v1alpha1/event", headers=admin, json=body)
        assert posted.status_code in (200, 201), posted.text
    [delivery] = await _settled(client, admin, slack["id"])
    await asyncio.sleep(0.3)
    [seen] = receiver.received()
    message = orjson.loads(seen.body)
    assert seen.path == "/slack"
    assert message["text"].startswith("Deploy")
    assert message["blocks"][0]["type"] == "header"
    assert "webhook-signature" not in seen.headers  # Slack checks its own URL, not our signature
    assert delivery["status"] == "succeeded"


async def test_slack_messages_to_one_url_are_paced_one_a_second(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool, receiver: Receiver
) -> None:
    sub = await _subscribe(client, admin, target="slack", url=receiver.url, slack_username="bot")
    for n in range(3):
        await post_event(client, admin, trigger_ref="deploy", title=f"deploy {n}")
    found = await _settled(client, admin, sub["id"], count=3)
    assert [d["status"] for d in found] == ["succeeded"] * 3
    times = sorted(s.at for s in receiver.received())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # queued, not dropped, not bunched
    assert {orjson.loads(s.body)["username"] for s in receiver.received()} == {"bot"}
    # A deferral is no attempt: each delivery took exactly one.
    assert [d["attempts"] for d in found] == [1, 1, 1]
