"""The native schedules API: the shapes it answers, the 400s naming the field at fault, 409 for a
taken name, 404 across tenants, pause and resume, and who may read and write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, create_service_account
from tests.clocks import SettableClock
from tidings.domain.clock import Clock

T0 = "2026-03-02T12:00:00Z"
BASE = "/api/v1/schedules"


@pytest.fixture
def clock() -> Clock:
    """Pinned at T0: next fire times are exact."""
    return SettableClock(T0)


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(BASE, headers=headers, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def view(**changes: Any) -> dict[str, Any]:
    """The answer for a schedule saved at T0 by the bootstrap admin, with `changes`."""
    base: dict[str, Any] = {
        "id": 1,
        "name": "nightly",
        "group": "DEFAULT",
        "description": None,
        "cron": None,
        "interval_seconds": None,
        "at": None,
        "start_at": None,
        "end_at": None,
        "time_zone": "UTC",
        "misfire": "fire_once",
        "concurrent": True,
        "policy_locator": None,
        "transaction_locator": None,
        "custom_event_id": None,
        "event": {"type": "core.cron_timer", "title": None, "message": None, "payload": {}},
        "state": "NORMAL",
        "next_fire_at": None,
        "last_fire_at": None,
        "failure_count": 0,
        "failed_job_state": None,
        "failed_job_created_at": None,
        "failed_job_updated_at": None,
        "last_error": None,
        "resumed_by": None,
        "resumed_at": None,
        "created_by": "ADMIN",
        "created": T0,
        "updated": T0,
    }
    return base | changes


async def admin_locator(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    me = (await client.get("/api/v1/auth/me", headers=admin)).json()["data"]
    locator: str = me["locator"]
    return locator


async def test_create_read_list_replace_delete(
    client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    me = await admin_locator(client, admin)
    body = {
        "name": "nightly",
        "cron": "30 2 * * *",
        "time_zone": "Europe/Paris",
        "policy_locator": "P-100",
        "event": {"title": "Nightly", "payload": {"job": "backup"}, "service": "db", "priority": 2},
    }
    created = await client.post(BASE, headers=admin, json=body)
    expected = view(
        cron="30 2 * * *",
        time_zone="Europe/Paris",
        policy_locator="P-100",
        # 02:30 in Paris (UTC+1 in March before the change) is 01:30Z, the next morning.
        next_fire_at="2026-03-03T01:30:00Z",
        event={
            "type": "core.cron_timer",
            "title": "Nightly",
            "message": None,
            "payload": {"job": "backup"},
            "service": "db",
            "priority": 2,
        },
        created_by=me,
    )
    assert (created.status_code, created.json()) == (
        201,
        {"data": expected, "message": "Schedule created successfully"},
    )
    assert (await client.get(f"{BASE}/1", headers=admin)).json() == {"data": expected}
    listed = (await client.get(BASE, headers=admin)).json()
    assert listed == {
        "data": [expected],
        "pagination": {"page": 1, "per_page": 20, "total": 1, "total_pages": 1},
    }
    clock.set("2026-03-02T13:00:00Z")
    replaced = await client.put(
        f"{BASE}/1",
        headers=admin,
        json={"name": "nightly", "interval_seconds": 90, "event": {"type": "ops.ping"}},
    )
    assert replaced.json() == {
        "data": view(
            interval_seconds=90,
            start_at="2026-03-02T13:00:00Z",
            next_fire_at="2026-03-02T13:01:30Z",
            event={"type": "ops.ping", "title": None, "message": None, "payload": {}},
            created_by=me,
            updated="2026-03-02T13:00:00Z",
        ),
        "message": "Schedule updated successfully",
    }
    deleted = await client.delete(f"{BASE}/1", headers=admin)
    assert deleted.json() == {"success": True, "message": "Schedule with ID 1 deleted successfully"}
    missing = await client.get(f"{BASE}/1", headers=admin)
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "Schedule with ID 1 not found", "status": 404},
    )


async def test_one_shot_and_list_filters(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    once = await create(client, admin, name="renewal", at="2030-01-01T09:00:00+01:00")
    assert (once["at"], once["next_fire_at"], once["event"]["type"]) == (
        "2030-01-01T08:00:00Z",
        "2030-01-01T08:00:00Z",
        "core.date_timer",
    )
    await create(client, admin, name="renewal", group="billing", interval_seconds=60)
    await create(
        client, admin, name="late", group="billing", cron="0 * * * *", end_at="2026-03-02T11:00:00Z"
    )
    by_group = (await client.get(f"{BASE}?group=billing", headers=admin)).json()
    assert [(s["id"], s["state"]) for s in by_group["data"]] == [(2, "NORMAL"), (3, "COMPLETE")]
    complete = (await client.get(f"{BASE}?state=COMPLETE", headers=admin)).json()
    assert [s["id"] for s in complete["data"]] == [3]
    page = (await client.get(f"{BASE}?per_page=2&page=2", headers=admin)).json()
    assert ([s["id"] for s in page["data"]], page["pagination"]) == (
        [3],
        {"page": 2, "per_page": 2, "total": 3, "total_pages": 2},
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "x"}, "timing", "give exactly one of cron, interval_seconds and at (none)"),
        (
            {"name": "x", "cron": "* * * * *", "interval_seconds": 5},
            "timing",
            "give exactly one of cron, interval_seconds and at (cron and interval_seconds)",
        ),
        (
            {"name": "x", "cron": "* * *"},
            "cron",
            "cron expression '* * *' has 3 fields; it needs 5 (minute hour day-of-month month "
            "day-of-week) or 6 (seconds first)",
        ),
        ({"name": "x", "cron": "61 * * * *"}, "cron", "cron expression '61 * * * *' is not valid"),
        (
            {"name": "x", "cron": "* * * * *", "time_zone": "Mars/Olympus"},
            "time_zone",
            "unknown time zone 'Mars/Olympus': use an IANA name like Europe/Paris",
        ),
        (
            {"name": "x", "interval_seconds": 0.5},
            "interval_seconds",
            "must be from 1 to 316224000 seconds",
        ),
        (
            {"name": "x", "interval_seconds": True},
            "interval_seconds",
            "Input should be a valid number",
        ),
        (
            {"name": "x", "at": "tomorrow"},
            "at",
            "'tomorrow' is not an RFC 3339 date-time with a time zone (for example "
            "2024-01-15T10:00:00Z)",
        ),
        (
            {"name": "x", "at": "2030-01-01T00:00:00Z", "end_at": "2031-01-01T00:00:00Z"},
            "end_at",
            "does not apply to a one-shot schedule (at)",
        ),
        (
            {
                "name": "x",
                "cron": "* * * * *",
                "start_at": "2030-01-02T00:00:00Z",
                "end_at": "2030-01-01T00:00:00Z",
            },
            "end_at",
            "must be later than start_at",
        ),
        (
            {"name": "x", "cron": "* * * * *", "misfire": "later"},
            "misfire",
            "Input should be 'fire_once', 'fire_all' or 'skip'",
        ),
        (
            {"name": " x", "cron": "* * * * *"},
            "name",
            "must be 1-200 characters, no control characters, no leading or trailing space",
        ),
        (
            {"name": "x", "cron": "* * * * *", "event": {"type": "no spaces"}},
            "event.type",
            "must be 1-200 characters: letters, digits and _ . : / -, starting with a letter or "
            "digit",
        ),
        (
            {"name": "x", "cron": "* * * * *", "event": {"colour": "red"}},
            "event.colour",
            "unknown field",
        ),
        (
            {"name": "x", "cron": "* * * * *", "concurrent": "no"},
            "concurrent",
            "Input should be a valid boolean",
        ),
    ],
)
async def test_validation_names_the_field(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = await client.post(BASE, headers=admin, json=body)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": f"Invalid request data: {field}: {message}",
        "status": 400,
        "details": [{"field": field, "message": message}],
    }


async def test_the_payload_is_checked_against_the_trigger_schema(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.post("/api/v1/packs", headers=admin, json={"ref": "mon", "label": "Mon"})
    trigger = {"ref": "mon.cpu", "label": "CPU", "payload_schema": {"required": ["cpu"]}}
    assert (await client.post("/api/v1/triggers", headers=admin, json=trigger)).status_code == 201
    body = {"name": "x", "cron": "* * * * *", "event": {"type": "mon.cpu", "payload": {}}}
    response = await client.post(BASE, headers=admin, json=body)
    message = '"cpu" is a required property'
    assert response.json() == {
        "error": f"Invalid request data: event.payload: {message}",
        "status": 400,
        "details": [{"field": "event.payload", "message": message}],
    }
    assert (await client.get(BASE, headers=admin)).json()["pagination"]["total"] == 0


async def test_a_taken_name_in_its_group_is_a_conflict(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create(client, admin, name="a", cron="* * * * *")
    await create(client, admin, name="a", group="other", cron="* * * * *")
    again = await client.post(BASE, headers=admin, json={"name": "a", "interval_seconds": 5})
    conflict = {"error": "A schedule named 'a' exists in group 'DEFAULT' already", "status": 409}
    assert (again.status_code, again.json()) == (409, conflict)
    renamed = await client.put(
        f"{BASE}/2", headers=admin, json={"name": "a", "interval_seconds": 5}
    )
    assert (renamed.status_code, renamed.json()) == (409, conflict)


async def test_pause_and_resume(
    client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    me = await admin_locator(client, admin)
    await create(client, admin, name="nightly", cron="0 * * * *")
    paused = await client.post(f"{BASE}/1/pause", headers=admin)
    assert paused.json() == {
        "data": view(
            cron="0 * * * *", state="PAUSED", next_fire_at="2026-03-02T13:00:00Z", created_by=me
        ),
        "message": "Schedule paused",
    }
    clock.set("2026-03-02T15:20:00Z")
    resumed = await client.post(f"{BASE}/1/resume", headers=admin)
    # The ticks missed while paused are skipped: the next is the first after now.
    assert resumed.json() == {
        "data": view(
            cron="0 * * * *",
            next_fire_at="2026-03-02T16:00:00Z",
            resumed_by=me,
            resumed_at="2026-03-02T15:20:00Z",
            created_by=me,
            updated="2026-03-02T15:20:00Z",
        ),
        "message": "Schedule resumed",
    }
    await create(client, admin, name="done", at="2026-03-01T00:00:00Z", misfire="skip")
    await client.put(
        f"{BASE}/2", headers=admin, json={"name": "done", "cron": "* * * * *", "end_at": T0}
    )
    complete = await client.post(f"{BASE}/2/pause", headers=admin)
    assert (complete.status_code, complete.json()) == (
        409,
        {"error": "Schedule 2 is complete: it has no fire left to pause", "status": 409},
    )


async def test_tenants_do_not_see_each_others_schedules(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create(client, admin, name="ours", cron="* * * * *")
    response = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    other = bearer(response.json()["data"]["admin_token"]["token"])
    assert (await client.get(BASE, headers=other)).json()["data"] == []
    for method, path in (
        ("GET", f"{BASE}/1"),
        ("PUT", f"{BASE}/1"),
        ("DELETE", f"{BASE}/1"),
        ("POST", f"{BASE}/1/pause"),
        ("POST", f"{BASE}/1/resume"),
    ):
        body = {"name": "theirs", "cron": "* * * * *"} if method == "PUT" else None
        answer = await client.request(method, path, headers=other, json=body)
        assert (answer.status_code, answer.json()) == (
            404,
            {"error": "Schedule with ID 1 not found", "status": 404},
        ), (method, path)
    # The same name is free in another tenant.
    await create(client, other, name="ours", cron="* * * * *")


async def test_reading_needs_events_read_and_writing_schedules_write(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create(client, admin, name="a", cron="* * * * *")
    reader = bearer(await create_service_account(client, admin, "r", roles=["reader"]))
    writer = bearer(await create_service_account(client, admin, "w", roles=["writer"]))
    operator = bearer(await create_service_account(client, admin, "o", roles=["operator"]))
    nobody = bearer(await create_service_account(client, admin, "n"))
    body = {"name": "b", "cron": "* * * * *"}
    assert (await client.get(f"{BASE}/1", headers=reader)).status_code == 200
    denied = await client.get(BASE, headers=nobody)
    assert (denied.status_code, denied.json()) == (
        403,
        {"error": "Permission 'events:read' is required", "status": 403},
    )
    for headers in (reader, writer):
        refused = await client.post(BASE, headers=headers, json=body)
        assert (refused.status_code, refused.json()) == (
            403,
            {"error": "Permission 'schedules:write' is required", "status": 403},
        )
        assert (await client.post(f"{BASE}/1/pause", headers=headers)).status_code == 403
        assert (await client.delete(f"{BASE}/1", headers=headers)).status_code == 403
    assert (await client.post(BASE, headers=operator, json=body)).status_code == 201
