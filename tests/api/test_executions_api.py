"""/api/v1/executions: list with filters and paging, get with attempts and result, cancel, retry,
and the errors (400, 403, 404, 409) in the Attune error shape."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import orjson
import pytest

from tests.api.helpers import bearer, create_service_account, post_event
from tests.clocks import SettableClock
from tests.execution_rows import add_enforcement, enqueue, new_execution
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.runtime import Services

T0 = "2026-03-01T12:00:00Z"
SUMMARY_KEYS = {
    "id",
    "enforcement",
    "rule",
    "rule_ref",
    "event",
    "action",
    "action_ref",
    "status",
    "attempts",
    "max_attempts",
    "error",
    "started",
    "finished",
    "created",
    "updated",
}


@pytest.fixture
def clock() -> SettableClock:
    """Creation times the test chooses."""
    return SettableClock(T0)


@pytest.fixture
def queue(services: Services) -> ExecutionQueue:
    """The workers' side of the queue, to move executions along."""
    return ExecutionQueue(services.db, clock=services.clock, box=services.box)


async def _get(client: httpx.AsyncClient, admin: dict[str, str], url: str) -> Any:
    response = await client.get(url, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def test_list_is_newest_first_in_attunes_envelope(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    ids = await enqueue(services, *(new_execution() for _ in range(3)))
    body = await _get(client, admin, "/api/v1/executions")
    assert [item["id"] for item in body["data"]] == ids[::-1]
    assert set(body["data"][0]) == SUMMARY_KEYS
    assert body["data"][0] == {
        "id": ids[2],
        "enforcement": None,
        "rule": None,
        "rule_ref": None,
        "event": None,
        "action": None,
        "action_ref": "core.noop",
        "status": "queued",
        "attempts": 0,
        "max_attempts": 3,
        "error": None,
        "started": None,
        "finished": None,
        "created": T0,
        "updated": T0,
    }
    assert body["pagination"] == {
        "page": 1,
        "page_size": 50,
        "total_items": 3,
        "total_pages": 1,
        "next_cursor": None,
    }


@pytest.fixture
async def mixed(services: Services, clock: SettableClock, queue: ExecutionQueue) -> dict[str, int]:
    """Executions across enforcements, actions, statuses and days."""
    enforcement = await add_enforcement(services)
    first, second = await enqueue(
        services,
        new_execution(runner="echo", enforcement_id=enforcement),
        new_execution(runner="noop"),
    )
    clock.set("2026-03-02T12:00:00Z")
    third, fourth = await enqueue(
        services, new_execution(runner="echo"), new_execution(runner="noop")
    )
    claimed = await queue.claim(worker="w", limit=1, lease_seconds=30)
    await queue.fail(claimed[0], worker="w", error="no", retryable=False)  # the first
    return {"enforcement": enforcement, "1": first, "2": second, "3": third, "4": fourth}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("enforcement={enforcement}", ["1"]),
        ("action_ref=core.echo", ["3", "1"]),
        ("status=failed", ["1"]),
        ("status=queued", ["4", "3", "2"]),
        ("start=2026-03-02", ["4", "3"]),
        ("end=2026-03-01", ["2", "1"]),  # a date as an end includes the whole day
        ("start=2026-03-02T12:00:00Z&end=2026-03-02T12:00:00Z", ["4", "3"]),
        ("action_ref=core.noop&start=2026-03-02", ["4"]),
        ("enforcement=999", []),
    ],
)
async def test_list_filters(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    mixed: dict[str, int],
    query: str,
    expected: list[str],
) -> None:
    url = "/api/v1/executions?" + query.format(enforcement=mixed["enforcement"])
    body = await _get(client, admin, url)
    assert [item["id"] for item in body["data"]] == [mixed[name] for name in expected]
    assert body["pagination"]["total_items"] == len(expected)


async def test_pages_and_cursors(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    ids = await enqueue(services, *(new_execution() for _ in range(5)))
    newest = ids[::-1]
    second = await _get(client, admin, "/api/v1/executions?per_page=2&page=2")
    assert [item["id"] for item in second["data"]] == newest[2:4]
    assert second["pagination"] == {
        "page": 2,
        "page_size": 2,
        "total_items": 5,
        "total_pages": 3,
        "next_cursor": second["pagination"]["next_cursor"],
    }
    first = await _get(client, admin, "/api/v1/executions?per_page=2")
    cursor = first["pagination"]["next_cursor"]
    assert isinstance(cursor, str)
    followed = await _get(client, admin, f"/api/v1/executions?per_page=2&cursor={cursor}")
    assert [item["id"] for item in followed["data"]] == newest[2:4]
    assert followed["pagination"]["total_items"] is None
    other_query = await client.get(
        f"/api/v1/executions?per_page=2&status=queued&cursor={cursor}", headers=admin
    )
    assert other_query.status_code == 400
    assert other_query.json()["details"] == [
        {"field": "cursor", "message": "cursor belongs to a different query"}
    ]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            "status=done",
            "status",
            "must be one of queued, running, succeeded, failed, timed_out, cancelled",
        ),
        ("page=2&cursor=abc", "cursor", "use either page or cursor, not both"),
        ("start=yesterday", "start", None),  # the time parser's own wording
    ],
)
async def test_bad_list_queries_name_the_parameter(
    client: httpx.AsyncClient, admin: dict[str, str], query: str, field: str, message: str | None
) -> None:
    response = await client.get(f"/api/v1/executions?{query}", headers=admin)
    assert response.status_code == 400
    [detail] = response.json()["details"]
    assert detail["field"] == field
    if message is not None:
        assert detail["message"] == message


async def test_get_shows_attempts_timings_and_result(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    services: Services,
    clock: SettableClock,
    queue: ExecutionQueue,
) -> None:
    [execution_id] = await enqueue(
        services, new_execution(runner="echo", parameters={"say": "hi"}, max_attempts=2)
    )
    clock.ns += 2 * NS_PER_SECOND
    [first] = await queue.claim(worker="w1", limit=1, lease_seconds=30)
    clock.ns += NS_PER_SECOND // 2
    await queue.fail(first, worker="w1", error="flaked", retryable=True)
    clock.ns += 10 * NS_PER_SECOND  # past any backoff
    [second] = await queue.claim(worker="w2", limit=1, lease_seconds=30)
    clock.ns += NS_PER_SECOND // 4
    await queue.succeed(second, worker="w2", result=orjson.dumps({"say": "hi"}))
    data = (await _get(client, admin, f"/api/v1/executions/{execution_id}"))["data"]
    assert {k: data[k] for k in ("status", "attempts", "max_attempts", "error", "parameters")} == {
        "status": "succeeded",
        "attempts": 2,
        "max_attempts": 2,
        "error": None,
        "parameters": {"say": "hi"},
    }
    assert data["result"] == {"say": "hi"}
    assert data["result_size"] == len(b'{"say":"hi"}')
    assert (data["created"], data["started"]) == (T0, "2026-03-01T12:00:02Z")
    assert data["timings"]["queued_ms"] == 2000.0
    assert (
        data["timings"]["total_ms"] == data["timings"]["queued_ms"] + data["timings"]["running_ms"]
    )
    assert [
        {k: a[k] for k in ("number", "worker", "outcome", "error", "duration_ms")}
        for a in data["attempt_log"]
    ] == [
        {"number": 1, "worker": "w1", "outcome": "failed", "error": "flaked", "duration_ms": 500.0},
        {"number": 2, "worker": "w2", "outcome": "succeeded", "error": None, "duration_ms": 250.0},
    ]


async def test_unknown_execution_is_a_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for method, url in (
        ("GET", "/api/v1/executions/9"),
        ("POST", "/api/v1/executions/9/cancel"),
        ("POST", "/api/v1/executions/9/retry"),
    ):
        response = await client.request(method, url, headers=admin)
        assert response.status_code == 404
        assert response.json() == {"error": "Execution with ID 9 not found", "status": 404}


async def test_cancel(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services, queue: ExecutionQueue
) -> None:
    running, queued = await enqueue(services, new_execution(), new_execution())
    await queue.claim(worker="w", limit=1, lease_seconds=30)
    response = await client.post(f"/api/v1/executions/{queued}/cancel", headers=admin)
    assert response.status_code == 200
    assert (response.json()["data"]["status"], response.json()["data"]["error"]) == (
        "cancelled",
        "cancelled by admin",
    )
    asked = await client.post(f"/api/v1/executions/{running}/cancel", headers=admin)
    assert (asked.status_code, asked.json()["data"]["status"]) == (200, "running")
    again = await client.post(f"/api/v1/executions/{queued}/cancel", headers=admin)
    assert again.status_code == 409
    assert again.json() == {
        "error": f"Execution with ID {queued} has already finished (cancelled)",
        "status": 409,
    }


async def test_retry(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services, queue: ExecutionQueue
) -> None:
    failed, succeeded, queued = await enqueue(
        services, new_execution(max_attempts=1), new_execution(), new_execution()
    )
    first, second = await queue.claim(worker="w", limit=2, lease_seconds=30)
    await queue.fail(first, worker="w", error="down", retryable=True)
    await queue.succeed(second, worker="w", result=None)
    response = await client.post(f"/api/v1/executions/{failed}/retry", headers=admin)
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["status"], data["attempts"], data["max_attempts"], data["error"]) == (
        "queued",
        1,
        4,
        None,
    )
    for execution_id, status in ((succeeded, "succeeded"), (queued, "queued")):
        refused = await client.post(f"/api/v1/executions/{execution_id}/retry", headers=admin)
        assert refused.status_code == 409
        assert refused.json() == {
            "error": f"Execution with ID {execution_id} is {status}; only failed, timed-out "
            "and cancelled executions can be retried",
            "status": 409,
        }


async def test_permissions(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    [execution_id] = await enqueue(services, new_execution())
    reader = bearer(await create_service_account(client, admin, "reader", roles=["reader"]))
    nobody = bearer(await create_service_account(client, admin, "nobody"))
    listed = await client.get("/api/v1/executions", headers=reader)
    assert [item["id"] for item in listed.json()["data"]] == [execution_id]
    for url in (
        f"/api/v1/executions/{execution_id}/cancel",
        f"/api/v1/executions/{execution_id}/retry",
    ):
        refused = await client.post(url, headers=reader)
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "Permission 'executions:write' is required",
            "status": 403,
        }
    for url in ("/api/v1/executions", f"/api/v1/executions/{execution_id}"):
        hidden = await client.get(url, headers=nobody)
        assert hidden.status_code == 403
        assert hidden.json() == {"error": "Permission 'automation:read' is required", "status": 403}


async def test_executions_of_a_restricted_event_follow_its_visibility(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    secret = await post_event(client, admin, trigger_ref="t", allowed_groups=["ops"])
    hidden, shown = await enqueue(
        services,
        dataclasses.replace(new_execution(), event_id=secret["id"]),
        new_execution(),
    )
    reader = bearer(await create_service_account(client, admin, "reader", roles=["reader"]))
    listed = await client.get("/api/v1/executions", headers=reader)
    assert [item["id"] for item in listed.json()["data"]] == [shown]
    assert listed.json()["pagination"]["total_items"] == 1
    response = await client.get(f"/api/v1/executions/{hidden}", headers=reader)
    assert response.status_code == 404
    admin_view = await client.get(f"/api/v1/executions/{hidden}", headers=admin)
    assert admin_view.json()["data"]["event"] == secret["id"]
