"""Email through a real SMTP server (aiosmtpd on loopback), secret rotation verified by a real
receiver on both secrets, and the failed-jobs list worked through: resume and dismiss."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from standardwebhooks.webhooks import Webhook

from tests.conftest import ADMIN_TOKEN
from tests.integration.test_deliveries import (
    QUICK,
    SECRET,
    _settled,
    _subscribe,
    _wait_for,
    post_event,
)
from tests.receivers import Answer, running_receiver
from tidings.services.runtime import Services
from tidings.settings import Settings
from tidings.workers.factory import build_worker_pool
from tidings.workers.pool import PoolConfig, WorkerPool


class _Mailbox:
    """What the SMTP server accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd's hook: keep the message."""
        with self.lock:
            content = envelope.content if isinstance(envelope.content, bytes) else b""
            self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    """A real SMTP server on loopback."""
    mailbox = _Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.fixture
def settings(database_url: str | None, tmp_path: Path, smtp: tuple[int, _Mailbox]) -> Settings:
    """Loopback targets allowed, email through the test's SMTP server."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        secret_key="test-secret-key",
        sqlite_synchronous="NORMAL",
        allow_private_targets=True,
        smtp_host="127.0.0.1",
        smtp_port=smtp[0],
        smtp_security="none",
        smtp_from="alerts@tidings.example",
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


async def test_an_email_subscription_sends_through_the_relay(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: WorkerPool,
    smtp: tuple[int, _Mailbox],
) -> None:
    _, mailbox = smtp
    sub = await _subscribe(
        client, admin, target="email", addresses=["ops@example.com", "dev@example.com"]
    )
    event = await post_event(
        client, admin, trigger_ref="incident", title="DB <down>", message="primary lost"
    )
    [delivery] = await _settled(client, admin, sub["id"])
    assert delivery["status"] == "succeeded"
    [(sender, recipients, raw)] = mailbox.messages
    assert sender == "alerts@tidings.example"
    assert sorted(recipients) == ["dev@example.com", "ops@example.com"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "[incident] DB <down>"
    assert message["Message-ID"] == f"<delivery-{delivery['id']}@tidings.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "primary lost" in text.get_content()
    assert "DB &lt;down&gt;" in html.get_content()
    assert f"event {event}" in text.get_content()


async def test_during_a_rotation_both_secrets_verify(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool
) -> None:
    with running_receiver() as receiver:
        sub = await _subscribe(client, admin, url=receiver.url, secret=SECRET)
        rotated = await client.post(
            f"/api/v1/subscriptions/{sub['id']}/secret/rotate",
            headers=admin,
            json={"overlap_seconds": 600},
        )
        new_secret = rotated.json()["data"]["secret"]
        await post_event(client, admin, trigger_ref="deploy")
        await _settled(client, admin, sub["id"])
        [seen] = receiver.received()
    assert len(seen.headers["webhook-signature"].split()) == 2
    for secret in (SECRET, new_secret):  # a receiver on either secret accepts it
        Webhook(secret).verify(seen.body, seen.headers)
    with running_receiver() as receiver:
        done = await client.post(
            f"/api/v1/subscriptions/{sub['id']}/secret/rotate",
            headers=admin,
            json={"overlap_seconds": 0},
        )
        newest = done.json()["data"]["secret"]
        await client.put(
            f"/api/v1/subscriptions/{sub['id']}",
            headers=admin,
            json={"target": "webhook", "url": receiver.url},
        )
        await post_event(client, admin, trigger_ref="deploy")
        await _settled(client, admin, sub["id"], count=2)
        [seen] = receiver.received()
    assert len(seen.headers["webhook-signature"].split()) == 1
    Webhook(newest).verify(seen.body, seen.headers)


async def _failed_jobs(
    client: httpx.AsyncClient, admin: dict[str, str], query: str = ""
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/failed-jobs{query}", headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_failed_deliveries_are_listed_resumed_and_dismissed(
    client: httpx.AsyncClient, admin: dict[str, str], pool: WorkerPool
) -> None:
    state = {"answer": Answer(status=500, body=b"broken")}
    with running_receiver(lambda _r: state["answer"]) as receiver:
        sub = await _subscribe(client, admin, url=receiver.url, secret=SECRET, retry_schedule=QUICK)
        first = await post_event(client, admin, trigger_ref="deploy")
        second = await post_event(client, admin, trigger_ref="deploy")
        await _settled(client, admin, sub["id"], count=2)
        listed = await _failed_jobs(client, admin, "?kind=delivery")
        assert listed["pagination"]["total"] == 2
        jobs = {job["event"]: job for job in listed["data"]}
        assert set(jobs) == {first, second}
        job = jobs[first]
        assert (job["kind"], job["status"], job["failure_count"]) == ("delivery", "failed", 3)
        assert job["last_error"] == "HTTP 500: 3 attempts, none delivered"
        assert job["subscription"] == sub["id"]
        assert (await _failed_jobs(client, admin, "?kind=execution"))["data"] == []
        # The receiver recovers; resuming one delivers it, dismissing the other drops it.
        state["answer"] = Answer()
        resumed = await client.post(
            "/api/v1/failed-jobs/resume",
            headers=admin,
            json={"jobs": [{"kind": "delivery", "id": job["id"]}]},
        )
        assert resumed.json() == {"resumed": 1}

        async def delivered() -> bool:
            detail = await client.get(f"/api/v1/deliveries/{job['id']}", headers=admin)
            return bool(detail.json()["data"]["status"] == "succeeded")

        await _wait_for(delivered)
        dismissed = await client.request(
            "DELETE",
            "/api/v1/failed-jobs",
            headers=admin,
            json={"filter": {"kind": "delivery", "subscription": sub["id"]}},
        )
        assert dismissed.json() == {"dismissed": 1}
        seen = receiver.received()
    assert (await _failed_jobs(client, admin))["data"] == []
    other = (await client.get(f"/api/v1/deliveries/{jobs[second]['id']}", headers=admin)).json()
    assert other["data"]["status"] == "cancelled"
    assert other["data"]["error"] == (
        "dismissed from the failed jobs by admin; it had failed: "
        "HTTP 500: 3 attempts, none delivered"
    )
    assert [s.headers["webhook-id"] for s in seen].count(f"msg_{first}_{sub['id']}") == 4
    # Naming a job that is not failed, or of another kind, acts on nothing.
    wrong = await client.post(
        "/api/v1/failed-jobs/resume",
        headers=admin,
        json={"jobs": [{"kind": "execution", "id": job["id"]}]},
    )
    assert wrong.status_code == 404, wrong.text
    both = await client.post(
        "/api/v1/failed-jobs/resume", headers=admin, json={"jobs": [], "filter": {}}
    )
    assert both.status_code == 400, both.text
