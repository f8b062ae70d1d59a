"""The built-in actions against real parts: HTTP and Slack against a loopback receiver, events
through ingest (local commands and plugins are in test_process_actions.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import orjson
import pytest

from tests.action_contexts import context
from tests.conftest import ADMIN_TOKEN
from tests.execution_rows import enqueue, new_execution
from tests.receivers import Answer, Receiver, running_receiver
from tidings.actions.builtin import run_echo, run_noop
from tidings.actions.emit_event import run_emit_event
from tidings.actions.guarded_http import GuardedClient, HttpPolicy
from tidings.actions.http_actions import run_http_request, run_slack
from tidings.actions.runner import ActionFailed
from tidings.domain.json import JSONObject
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.runtime import Services
from tidings.workers.emitter import Emitter


@pytest.fixture
async def http() -> AsyncIterator[GuardedClient]:
    """The guarded client, allowed to reach loopback (as tests and local development set it)."""
    async with GuardedClient(HttpPolicy(allow_private=True)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP server answering 200 with a JSON body."""
    with running_receiver() as started:
        yield started


async def test_noop_and_echo(http: GuardedClient) -> None:
    assert await run_noop(context(http, {"a": 1})) is None
    assert await run_echo(context(http, {"a": [1, {"b": None}]})) == {"a": [1, {"b": None}]}


async def test_http_request_sends_the_execution_id_and_reports_the_response(
    http: GuardedClient, receiver: Receiver
) -> None:
    params: JSONObject = {
        "method": "POST",
        "url": receiver.url + "/hook?x=1",
        "headers": {"X-Custom": "yes"},
        "body": {"n": 1},
    }
    result = await run_http_request(context(http, params))
    [seen] = receiver.received()
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook?x=1", b'{"n":1}')
    assert seen.headers["idempotency-key"] == "7-42"
    assert seen.headers["x-tidings-execution-id"] == "42"
    assert seen.headers["x-custom"] == "yes"
    assert seen.headers["content-type"] == "application/json"
    assert isinstance(result, dict)
    assert (result["status"], result["body"], result["json"], result["truncated"]) == (
        200,
        '{"ok": true}',
        {"ok": True},
        False,
    )


async def test_a_callers_idempotency_key_wins(http: GuardedClient, receiver: Receiver) -> None:
    params: JSONObject = {"url": receiver.url, "headers": {"idempotency-key": "mine"}}
    await run_http_request(context(http, params))
    [seen] = receiver.received()
    assert (seen.method, seen.headers["idempotency-key"]) == ("GET", "mine")


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (503, True),
        (429, True),  # rate limited: later may work
        (404, False),
        (400, False),
        (302, False),  # redirects are not followed; the request needs another URL
    ],
)
async def test_http_request_judges_statuses(
    http: GuardedClient, status: int, retryable: bool
) -> None:
    answer = Answer(status=status, body=b"nope", content_type="text/plain")
    with running_receiver(lambda _r: answer) as r, pytest.raises(ActionFailed) as caught:
        await run_http_request(context(http, {"url": r.url}))
    assert caught.value.message == f"127.0.0.1 answered HTTP {status}"
    assert caught.value.retryable is retryable
    assert isinstance(caught.value.result, dict)
    assert (caught.value.result["status"], caught.value.result["body"]) == (status, "nope")


async def test_http_request_network_failures(http: GuardedClient, receiver: Receiver) -> None:
    closed = receiver.url.rsplit(":", 1)[0] + ":1"  # nothing listens on port 1
    with pytest.raises(ActionFailed) as refused_connection:
        await run_http_request(context(http, {"url": closed}))
    assert refused_connection.value.retryable is True
    async with GuardedClient(HttpPolicy(allow_private=False)) as guarded:
        with pytest.raises(ActionFailed) as refused_target:
            await run_http_request(context(guarded, {"url": receiver.url}))
    assert refused_target.value.retryable is False
    assert refused_target.value.message.startswith("refusing to connect to 127.0.0.1:")
    with pytest.raises(ActionFailed) as no_url:
        await run_http_request(context(http, {}))
    assert (no_url.value.message, no_url.value.retryable) == ("parameter 'url' is required", False)


async def test_slack_posts_an_incoming_webhook_message(
    http: GuardedClient, receiver: Receiver
) -> None:
    params: JSONObject = {
        "webhook_url": receiver.url + "/services/T0/B0/secret",
        "text": "Deploy failed",
        "channel": "#ops",
        "username": "tidings",
        "icon_emoji": ":warning:",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*failed*"}}],
    }
    result = await run_slack(context(http, params))
    [seen] = receiver.received()
    assert (seen.method, seen.path) == ("POST", "/services/T0/B0/secret")
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "7-42"
    assert orjson.loads(seen.body) == {
        "text": "Deploy failed",
        "channel": "#ops",
        "username": "tidings",
        "icon_emoji": ":warning:",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*failed*"}}],
    }
    assert isinstance(result, dict)
    assert result["status"] == 200


async def test_slack_takes_the_url_from_the_pack_config(
    http: GuardedClient, receiver: Receiver
) -> None:
    pack: JSONObject = {"webhook_url": receiver.url + "/from-pack"}
    await run_slack(context(http, {"message": "hi", "ignored": 1}, pack=pack))
    [seen] = receiver.received()
    assert (seen.path, orjson.loads(seen.body)) == ("/from-pack", {"text": "hi"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"text": "hi"},
            "no Slack webhook URL: set parameter 'webhook_url' or the pack config's 'webhook_url'",
        ),
        (
            {"webhook_url": "http://127.0.0.1:1/x"},
            "parameter 'text' (or 'message', 'blocks' or 'attachments') is required",
        ),
        (
            {"webhook_url": "http://127.0.0.1:1/x", "blocks": "no"},
            "parameter 'blocks' must be a list",
        ),
    ],
)
async def test_slack_refuses_incomplete_messages(
    http: GuardedClient, params: JSONObject, message: str
) -> None:
    with pytest.raises(ActionFailed) as caught:
        await run_slack(context(http, params))
    assert (caught.value.message, caught.value.retryable) == (message, False)


async def test_slack_rejection_is_not_retried(http: GuardedClient) -> None:
    answer = Answer(404, b"no_service", "text/plain")
    with running_receiver(lambda _r: answer) as r, pytest.raises(ActionFailed) as caught:
        await run_slack(context(http, {"webhook_url": r.url, "text": "x"}))
    assert (caught.value.message, caught.value.retryable) == ("Slack answered HTTP 404", False)


async def test_emit_event_records_an_event_once_per_execution(
    services: Services, http: GuardedClient
) -> None:
    queue = ExecutionQueue(services.db, clock=services.clock, box=services.box)
    await enqueue(services, new_execution(runner="emit_event"))
    [claimed] = await queue.claim(worker="w", limit=1, lease_seconds=30)
    emit = Emitter(services.ingest, queue).for_execution(claimed)
    params: JSONObject = {
        "trigger_ref": "deploy.finished",
        "payload": {"version": "1.2"},
        "title": "Deployed",
        "service": "api",
        "priority": 2,
        "allowed_groups": ["ops"],
        "occurred_at": "2026-01-02T03:04:05Z",
    }
    first = await run_emit_event(context(http, params, emit=emit))
    again = await run_emit_event(context(http, params, emit=emit))  # a re-run after a crash
    assert first == again
    assert isinstance(first, dict)
    event_id = first["event_id"]
    assert isinstance(event_id, int)
    admin = await services.auth.authenticate(ADMIN_TOKEN)
    event = await services.events.get(principal=admin, event_id=event_id)
    assert (event.type, event.payload, event.title) == (
        "deploy.finished",
        {"version": "1.2"},
        "Deployed",
    )
    assert event.dimensions == {"service": "api", "priority": 2}
    assert (event.allowed_groups, event.occurred_at) == (("ops",), 1_767_323_045 * NS_PER_SECOND)
    assert event.request_id == f"execution-{claimed.id}"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {},
            "parameter 'trigger_ref' must be 1-200 characters: letters, digits and _ . : / -, "
            "starting with a letter or digit",
        ),
        ({"type": "t", "payload": [1]}, "parameter 'payload' must be a JSON object"),
        ({"type": "t", "priority": 9}, "parameter 'priority' must be an integer from 1 to 5"),
        (
            {"type": "t", "allowed_groups": ["ops team"]},  # a space is not allowed in a name
            "parameter 'allowed_groups' must be a list of at most 100 names",
        ),
        (
            {"type": "t", "occurred_at": "yesterday"},
            "parameter 'occurred_at': 'yesterday' is not an RFC 3339 date-time with a time "
            "zone (for example 2024-01-15T10:00:00Z)",
        ),
        (
            {"type": "t", "colour": "red"},
            "unknown parameter 'colour': an event has no such field",
        ),
    ],
)
async def test_emit_event_refuses_bad_events(
    http: GuardedClient, params: JSONObject, message: str
) -> None:
    with pytest.raises(ActionFailed) as caught:
        await run_emit_event(context(http, params))
    assert (caught.value.message, caught.value.retryable) == (message, False)
