"""The Rule Management API (`seeds/001_…txt`): every documented request, envelope and status.

The document's curl examples are replayed as written (their bodies sent byte for byte, plus a
bearer header). Its timestamps are reproduced exactly by pinning the services' clock at
2024-01-13T10:00:00Z and moving it to 12:00 before the updates, as the examples show.
Validation, permissions and tenancy are in test_rules_validation.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clocks import SettableClock
from tidings.services.runtime import Services
from tidings.storage import catalogue as catalogue_store

PACKS = ("mypack", "security", "slack", "pagerduty", "core", "system", "auth")
TRIGGERS = ("core.error_event", "system.cpu_monitor", "auth.login_failure")
ACTIONS = ("slack.send_message", "pagerduty.create_incident")
SUMMARY_KEYS = {
    "id",
    "ref",
    "pack_ref",
    "label",
    "description",
    "action_ref",
    "trigger_ref",
    "enabled",
    "created",
    "updated",
}
T10 = "2024-01-13T10:00:00Z"
T12 = "2024-01-13T12:00:00Z"

# 001_…txt, "Create Rule": the request body.
CREATE_BODY: dict[str, Any] = {
    "ref": "mypack.notify_on_error",
    "pack_ref": "mypack",
    "label": "Notify on Error",
    "description": "Send notification when error event is detected",
    "action_ref": "slack.send_message",
    "trigger_ref": "core.error_event",
    "conditions": {
        "and": [
            {"var": "event.severity", ">=": 3},
            {"var": "event.status", "==": "error"},
        ]
    },
    "action_params": {
        "channel": "#alerts",
        "message": "Error detected: {{ event.payload.message }}",
        "severity": "{{ event.payload.severity }}",
    },
    "enabled": True,
}

# 001_…txt, "Examples": the two create bodies, exactly as the curl commands send them.
SIMPLE_RULE = """{
    "ref": "mypack.alert_on_high_cpu",
    "pack_ref": "mypack",
    "label": "Alert on High CPU",
    "description": "Send alert when CPU usage exceeds 90%",
    "action_ref": "slack.send_message",
    "trigger_ref": "system.cpu_monitor",
    "conditions": {
      "var": "cpu_percent",
      ">": 90
    },
    "enabled": true
  }"""
COMPLEX_RULE = """{
    "ref": "security.failed_login_alert",
    "pack_ref": "security",
    "label": "Failed Login Alert",
    "description": "Alert on multiple failed login attempts",
    "action_ref": "pagerduty.create_incident",
    "trigger_ref": "auth.login_failure",
    "conditions": {
      "and": [
        {"var": "failed_attempts", ">=": 5},
        {"var": "time_window_minutes", "<=": 10},
        {"var": "user.is_admin", "==": true}
      ]
    }
  }"""
UPDATE_CONDITIONS = """{
    "conditions": {
      "var": "cpu_percent",
      ">": 95
    }
  }"""


async def install_catalogue(services: Services, tenant_id: int = 1) -> dict[str, int]:
    """The packs, triggers and actions the document's examples name; their ids by ref."""
    now = services.clock.now_ns()
    ids: dict[str, int] = {}
    async with services.db.transaction() as conn:
        for ref in PACKS:
            pack = await catalogue_store.find_pack(conn, tenant_id=tenant_id, ref=ref)
            if pack is None:
                values: dict[str, object] = {"ref": ref, "label": ref.title(), "config": {}}
                pack = await catalogue_store.insert_pack(
                    conn, tenant_id=tenant_id, values=values, now=now
                )
            ids[ref] = pack.id
        for ref in TRIGGERS:
            trigger = await catalogue_store.find_trigger(conn, tenant_id=tenant_id, ref=ref)
            values = {"pack_id": ids[ref.split(".")[0]], "ref": ref, "label": ref}
            if trigger is None:
                ids[ref] = await catalogue_store.insert_trigger(
                    conn, tenant_id=tenant_id, values=values, now=now
                )
            else:
                ids[ref] = trigger.id
        for ref in ACTIONS:
            action = await catalogue_store.find_action(conn, tenant_id=tenant_id, ref=ref)
            values = {"pack_id": ids[ref.split(".")[0]], "ref": ref, "label": ref, "runner": "echo"}
            if action is None:
                ids[ref] = await catalogue_store.insert_action(
                    conn, tenant_id=tenant_id, values=values, now=now
                )
            else:
                ids[ref] = action.id
    return ids


@pytest.fixture
def clock() -> SettableClock:
    """The document's clock: rules are created at 10:00 and updated at 12:00."""
    return SettableClock(T10)


@pytest.fixture
async def ids(services: Services) -> dict[str, int]:
    """The example catalogue in the default tenant."""
    return await install_catalogue(services)


def full_view(
    body: dict[str, Any], rule_id: int, ids: dict[str, int], updated: str = T10
) -> dict[str, Any]:
    """The documented full view of a rule created from `body` (defaults filled in)."""
    return {
        "id": rule_id,
        "ref": body["ref"],
        "pack": ids[body["pack_ref"]],
        "pack_ref": body["pack_ref"],
        "label": body["label"],
        "description": body["description"],
        "action": ids[body["action_ref"]],
        "action_ref": body["action_ref"],
        "trigger": ids[body["trigger_ref"]],
        "trigger_ref": body["trigger_ref"],
        "conditions": body.get("conditions", {}),
        "action_params": body.get("action_params", {}),
        "enabled": body.get("enabled", True),
        "strict_params": body.get("strict_params", False),
        "created": T10,
        "updated": updated,
    }


def summary(view: dict[str, Any]) -> dict[str, Any]:
    """The list view of a full view: exactly the documented summary fields."""
    return {k: view[k] for k in SUMMARY_KEYS}


def page_of(data: list[dict[str, Any]], total: int, page: int = 1, per_page: int = 20) -> Any:
    """A documented list envelope."""
    pages = (total + per_page - 1) // per_page
    pagination = {"page": page, "per_page": per_page, "total": total, "total_pages": pages}
    return {"data": data, "pagination": pagination}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> Any:
    """POST /api/v1/rules, asserting 201; the rule."""
    response = await client.post("/api/v1/rules", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def rule_body(n: int, **fields: Any) -> dict[str, Any]:
    """A minimal valid rule body number `n`."""
    body = {
        "ref": f"mypack.rule_{n:02d}",
        "pack_ref": "mypack",
        "label": f"Rule {n}",
        "description": "d",
        "action_ref": "slack.send_message",
        "trigger_ref": "core.error_event",
    }
    return body | fields


async def test_create_and_get_the_documented_rule(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    response = await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)
    assert response.status_code == 201
    expected = full_view(CREATE_BODY, 1, ids)
    assert response.json() == {"data": expected, "message": "Rule created successfully"}
    response = await client.get("/api/v1/rules/mypack.notify_on_error", headers=admin)
    assert response.status_code == 200
    assert response.json() == {"data": expected}


async def test_update_with_the_documented_body(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int], clock: SettableClock
) -> None:
    await create(client, admin, **CREATE_BODY)
    clock.set(T12)
    change = {
        "label": "Notify on Critical Errors",
        "description": "Enhanced error notification with filtering",
        "conditions": {
            "and": [
                {"var": "event.severity", ">=": 4},
                {"var": "event.status", "==": "error"},
            ]
        },
        "action_params": {
            "channel": "#critical-alerts",
            "message": "CRITICAL: {{ event.payload.service }} - {{ event.payload.message }}",
            "priority": "high",
        },
        "enabled": False,
    }
    response = await client.put("/api/v1/rules/mypack.notify_on_error", headers=admin, json=change)
    assert response.status_code == 200
    expected = full_view(CREATE_BODY | change, 1, ids, updated=T12)
    assert response.json() == {"data": expected, "message": "Rule updated successfully"}
    got = await client.get("/api/v1/rules/mypack.notify_on_error", headers=admin)
    assert got.json() == {"data": expected}


async def test_the_documented_curl_examples(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int], clock: SettableClock
) -> None:
    json_headers = admin | {"Content-Type": "application/json"}
    # Creating a Simple Rule, then Creating a Rule with Complex Conditions.
    simple = await client.post("/api/v1/rules", headers=json_headers, content=SIMPLE_RULE)
    assert simple.status_code == 201
    simple_body = {
        "ref": "mypack.alert_on_high_cpu",
        "pack_ref": "mypack",
        "label": "Alert on High CPU",
        "description": "Send alert when CPU usage exceeds 90%",
        "action_ref": "slack.send_message",
        "trigger_ref": "system.cpu_monitor",
        "conditions": {"var": "cpu_percent", ">": 90},
    }
    cpu = full_view(simple_body, 1, ids)
    assert simple.json() == {"data": cpu, "message": "Rule created successfully"}
    complex_ = await client.post("/api/v1/rules", headers=json_headers, content=COMPLEX_RULE)
    assert complex_.status_code == 201
    login = complex_.json()["data"]
    assert (login["id"], login["enabled"], login["action_params"]) == (2, True, {})
    assert login["conditions"] == {
        "and": [
            {"var": "failed_attempts", ">=": 5},
            {"var": "time_window_minutes", "<=": 10},
            {"var": "user.is_admin", "==": True},
        ]
    }
    # Listing Enabled Rules; Listing Rules by Pack.
    enabled = await client.get("/api/v1/rules/enabled", headers=admin)
    assert enabled.json() == page_of([summary(cpu), summary(login)], total=2)
    by_pack = await client.get("/api/v1/packs/mypack/rules", headers=admin)
    assert by_pack.json() == page_of([summary(cpu)], total=1)
    # Updating Rule Conditions, two hours later: only the conditions and `updated` change.
    clock.set(T12)
    updated = await client.put(
        "/api/v1/rules/mypack.alert_on_high_cpu", headers=json_headers, content=UPDATE_CONDITIONS
    )
    assert updated.status_code == 200
    cpu = cpu | {"conditions": {"var": "cpu_percent", ">": 95}, "updated": T12}
    assert updated.json() == {"data": cpu, "message": "Rule updated successfully"}
    # Disabling a Rule: it leaves the enabled list. Enabling a Rule: it comes back.
    disabled = await client.post("/api/v1/rules/mypack.alert_on_high_cpu/disable", headers=admin)
    assert disabled.status_code == 200
    cpu = cpu | {"enabled": False}
    assert disabled.json() == {"data": cpu, "message": "Rule disabled successfully"}
    enabled = await client.get("/api/v1/rules/enabled", headers=admin)
    assert enabled.json() == page_of([summary(login)], total=1)
    reenabled = await client.post("/api/v1/rules/mypack.alert_on_high_cpu/enable", headers=admin)
    assert reenabled.status_code == 200
    cpu = cpu | {"enabled": True}
    assert reenabled.json() == {"data": cpu, "message": "Rule enabled successfully"}
    # Deleting a Rule.
    deleted = await client.delete("/api/v1/rules/mypack.alert_on_high_cpu", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json() == {
        "success": True,
        "message": "Rule 'mypack.alert_on_high_cpu' deleted successfully",
    }
    gone = await client.get("/api/v1/rules/mypack.alert_on_high_cpu", headers=admin)
    assert gone.status_code == 404
    assert gone.json() == {"error": "Rule 'mypack.alert_on_high_cpu' not found", "status": 404}
    remaining = await client.get("/api/v1/rules", headers=admin)
    assert remaining.json() == page_of([summary(login)], total=1)


async def test_pages_by_id_with_exact_totals(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    for n in range(1, 26):
        await create(client, admin, **rule_body(n, enabled=n % 2 == 1))
    first = (await client.get("/api/v1/rules", headers=admin)).json()
    assert first["pagination"] == {"page": 1, "per_page": 20, "total": 25, "total_pages": 2}
    assert [r["id"] for r in first["data"]] == list(range(1, 21))
    assert {frozenset(r) for r in first["data"]} == {frozenset(SUMMARY_KEYS)}
    second = (await client.get("/api/v1/rules?page=2", headers=admin)).json()
    assert [r["ref"] for r in second["data"]] == [f"mypack.rule_{n}" for n in range(21, 26)]
    # A page beyond the end is empty, with the totals of the whole list.
    beyond = (await client.get("/api/v1/rules?page=9&per_page=10", headers=admin)).json()
    assert beyond == page_of([], total=25, page=9, per_page=10)
    # 13 of the 25 (the odd ones) are enabled.
    enabled = (await client.get("/api/v1/rules/enabled?per_page=5&page=3", headers=admin)).json()
    assert [r["id"] for r in enabled["data"]] == [21, 23, 25]
    assert enabled["pagination"] == {"page": 3, "per_page": 5, "total": 13, "total_pages": 3}
    everything = (await client.get("/api/v1/rules?per_page=100", headers=admin)).json()
    assert [r["id"] for r in everything["data"]] == list(range(1, 26))


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("per_page=0", "per_page", "Input should be greater than or equal to 1"),
        ("per_page=101", "per_page", "Input should be less than or equal to 100"),
        (
            "per_page=ten",
            "per_page",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ("page=0", "page", "Input should be greater than or equal to 1"),
        ("page=-1&per_page=5", "page", "Input should be greater than or equal to 1"),
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/rules",
        "/api/v1/rules/enabled",
        "/api/v1/packs/mypack/rules",
        "/api/v1/actions/slack.send_message/rules",
        "/api/v1/triggers/core.error_event/rules",
    ],
)
async def test_page_bounds_are_400(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    ids: dict[str, int],
    path: str,
    query: str,
    field: str,
    message: str,
) -> None:
    response = await client.get(f"{path}?{query}", headers=admin)
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Invalid query parameters: {field}: {message}",
        "status": 400,
        "details": [{"field": field, "message": message}],
    }


async def test_lists_by_pack_action_and_trigger(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    a = await create(client, admin, **rule_body(1))
    b = await create(
        client, admin, **rule_body(2, action_ref="pagerduty.create_incident", enabled=False)
    )
    c = await create(client, admin, **rule_body(3, pack_ref="security", ref="security.r3"))
    d = await create(client, admin, **rule_body(4, trigger_ref="auth.login_failure"))
    expected = {
        "/api/v1/packs/mypack/rules": [a, b, d],
        "/api/v1/packs/security/rules": [c],
        "/api/v1/packs/slack/rules": [],  # the action's pack is not the rule's pack
        "/api/v1/actions/slack.send_message/rules": [a, c, d],
        "/api/v1/actions/pagerduty.create_incident/rules": [b],
        "/api/v1/triggers/core.error_event/rules": [a, b, c],
        "/api/v1/triggers/auth.login_failure/rules": [d],
        "/api/v1/triggers/system.cpu_monitor/rules": [],
    }
    for path, rules in expected.items():
        response = await client.get(path, headers=admin)
        assert response.status_code == 200, path
        assert response.json() == page_of([summary(r) for r in rules], len(rules)), path
    paged = await client.get("/api/v1/packs/mypack/rules?page=2&per_page=2", headers=admin)
    assert paged.json() == page_of([summary(d)], total=3, page=2, per_page=2)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/packs/nopack/rules", "Pack 'nopack' not found"),
        ("/api/v1/actions/slack.nothing/rules", "Action 'slack.nothing' not found"),
        ("/api/v1/triggers/core.nothing/rules", "Trigger 'core.nothing' not found"),
    ],
)
async def test_lists_of_a_missing_parent_are_404(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int], path: str, message: str
) -> None:
    response = await client.get(path, headers=admin)
    assert response.status_code == 404
    assert response.json() == {"error": message, "status": 404}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "", {"label": "x"}),
        ("PUT", "", {}),  # nothing to change still needs the rule
        ("DELETE", "", None),
        ("POST", "/enable", None),
        ("POST", "/disable", None),
    ],
)
async def test_a_missing_rule_is_404_everywhere(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    ids: dict[str, int],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    await create(client, admin, **rule_body(1))
    url = f"/api/v1/rules/mypack.nothing{suffix}"
    response = await client.request(method, url, headers=admin, json=body)
    assert response.status_code == 404
    assert response.json() == {"error": "Rule 'mypack.nothing' not found", "status": 404}


async def test_partial_updates_change_only_what_is_given(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int], clock: SettableClock
) -> None:
    created = await create(client, admin, **CREATE_BODY)
    clock.set(T12)
    url = "/api/v1/rules/mypack.notify_on_error"
    unchanged = await client.put(url, headers=admin, json={})
    assert unchanged.json() == {"data": created, "message": "Rule updated successfully"}
    steps: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"label": "New label"}, {"label": "New label"}),
        ({"conditions": {}}, {"conditions": {}}),  # {} means always
        ({"action_params": {}}, {"action_params": {}}),
        ({"strict_params": True}, {"strict_params": True}),
        ({"enabled": False, "description": "x"}, {"enabled": False, "description": "x"}),
    ]
    expected = created | {"updated": T12}
    for change, effect in steps:
        expected = expected | effect
        response = await client.put(url, headers=admin, json=change)
        assert response.status_code == 200, change
        assert response.json()["data"] == expected, change
    assert expected["created"] == T10


async def test_enable_and_disable_are_idempotent(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    created = await create(client, admin, **rule_body(1, enabled=False))
    for action, state in (("disable", False), ("enable", True), ("enable", True)):
        response = await client.post(f"/api/v1/rules/mypack.rule_01/{action}", headers=admin)
        assert response.status_code == 200
        assert response.json()["data"] == created | {"enabled": state}
