"""The subscriptions API without deliveries: validation, secrets, permissions, tenants, and
EscapeKit's per-project list (seeds/004)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, create_service_account

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK = "https://hooks.example.com/tidings"
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"


async def _create(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/api/v1/subscriptions", headers=auth, json=body)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"target": "pager"}, "target", "must be one of webhook, slack, email"),
        ({"target": "webhook"}, "url", "a webhook subscription needs a URL"),
        ({"target": "webhook", "url": "ftp://x.example"}, "url", "must be an absolute http"),
        (
            {"target": "webhook", "url": "https://u:p@x.example/"},
            "url",
            "must not carry credentials",
        ),
        ({"target": "email"}, "addresses", "an email target needs at least one address"),
        ({"target": "email", "addresses": ["not an address"]}, "addresses", ""),
        (
            {"target": "webhook", "url": HOOK, "slack_username": "bot"},
            "slack_username",
            "only a slack subscription",
        ),
        ({"target": "webhook", "url": HOOK, "secret": "hunter2"}, "secret", "whsec_"),
        (
            {"target": "slack", "url": SLACK, "secret": SECRET},
            "secret",
            "only a webhook subscription signs",
        ),
        (
            {"target": "webhook", "url": HOOK, "filter": {"types": ["not a type!"]}},
            "filter.types[0]",
            "is not an event type",
        ),
        (
            {"target": "webhook", "url": HOOK, "filter": {"scope": {"colour": ["red"]}}},
            "filter.scope.colour",
            "unknown scope field",
        ),
        (
            {"target": "webhook", "url": HOOK, "filter": {"condition": {"nope": [1]}}},
            "filter.condition",
            "",
        ),
        (
            {"target": "webhook", "url": HOOK, "retry_schedule": []},
            "retry_schedule",
            "list 1 to 20 delays",
        ),
        (
            {"target": "webhook", "url": HOOK, "retry_schedule": [0, -1]},
            "retry_schedule[1]",
            "a delay is 0 to",
        ),
        (
            {"target": "webhook", "url": HOOK, "disable_after_seconds": 5},
            "disable_after_seconds",
            "between 3600 and",
        ),
        (
            {"target": "webhook", "url": HOOK, "notification_channel": "slack"},
            "notification_channel",
            "for a webhook subscription it is null",
        ),
        ({"target": "webhook", "url": HOOK, "colour": "red"}, "colour", ""),
    ],
)
async def test_bad_subscriptions_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = await _create(client, admin, **body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["status"] == 400
    fields = {d["field"]: d["message"] for d in error["details"]}
    assert field in fields, error
    assert message in fields[field]
    listed = await client.get("/api/v1/subscriptions", headers=admin)
    assert listed.json()["pagination"]["total"] == 0


async def test_a_generated_secret_is_shown_once_and_a_slack_url_masked(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await _create(client, admin, target="webhook", url=HOOK, name="ops")
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["secret"].startswith("whsec_")
    assert (data["signed"], data["enabled"], data["name"]) == (True, True, "ops")
    again = await client.get(f"/api/v1/subscriptions/{data['id']}", headers=admin)
    assert "secret" not in again.json()["data"]
    assert data["secret"] not in again.text
    own = await _create(client, admin, target="webhook", url=HOOK, secret=SECRET)
    assert "secret" not in own.json()["data"]  # the caller's own secret is never echoed
    slack = await _create(client, admin, target="slack", url=SLACK, slack_icon=":bell:")
    shown = slack.json()["data"]
    assert shown["url"] == "https://hooks.slack.com/services/T000/B000/********"
    assert "XXXXSECRETXXXX" not in slack.text
    listed = await client.get("/api/v1/subscriptions?target=slack", headers=admin)
    assert [s["id"] for s in listed.json()["data"]] == [shown["id"]]
    assert "XXXXSECRETXXXX" not in listed.text
    # Sent back masked, as reads show it, the URL stays what it was.
    put = await client.put(
        f"/api/v1/subscriptions/{shown['id']}",
        headers=admin,
        json={"target": "slack", "url": shown["url"], "slack_username": "bot"},
    )
    assert put.status_code == 200, put.text
    assert put.json()["data"]["slack_username"] == "bot"
    assert put.json()["data"]["slack_icon"] is None  # PUT replaces every setting


async def test_rotation_keeps_the_old_secret_signing_for_the_overlap(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sub = (await _create(client, admin, target="webhook", url=HOOK, secret=SECRET)).json()["data"]
    assert sub["previous_secret_until"] is None
    rotated = await client.post(
        f"/api/v1/subscriptions/{sub['id']}/secret/rotate",
        headers=admin,
        json={"overlap_seconds": 3600},
    )
    assert rotated.status_code == 200, rotated.text
    data = rotated.json()["data"]
    assert data["secret"].startswith("whsec_")
    assert data["secret"] != SECRET
    assert data["previous_secret_until"] is not None
    slack = (await _create(client, admin, target="slack", url=SLACK)).json()["data"]
    refused = await client.post(
        f"/api/v1/subscriptions/{slack['id']}/secret/rotate", headers=admin, json={}
    )
    assert refused.status_code == 400, refused.text
    bad = await client.post(
        f"/api/v1/subscriptions/{sub['id']}/secret/rotate",
        headers=admin,
        json={"overlap_seconds": -1},
    )
    assert bad.status_code == 400, bad.text
    assert bad.json()["details"][0]["field"] == "overlap_seconds"


async def test_reading_and_writing_need_their_permissions_and_tenants_are_apart(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    reader = bearer(await create_service_account(client, admin, "reader", roles=["reader"]))
    writer = bearer(await create_service_account(client, admin, "writer", roles=["operator"]))
    refused = await _create(client, reader, target="webhook", url=HOOK)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "Permission 'subscriptions:write' is required"
    made = await _create(client, writer, target="webhook", url=HOOK)
    assert made.status_code == 201, made.text
    sub_id = made.json()["data"]["id"]
    assert (await client.get(f"/api/v1/subscriptions/{sub_id}", headers=reader)).status_code == 200
    gone = await client.delete(f"/api/v1/subscriptions/{sub_id}", headers=reader)
    assert gone.status_code == 403
    tenant = await client.post("/api/v1/tenants", headers=admin, json={"name": "other"})
    assert tenant.status_code == 201, tenant.text
    other = bearer(tenant.json()["data"]["admin_token"]["token"])
    assert (await client.get(f"/api/v1/subscriptions/{sub_id}", headers=other)).status_code == 404
    assert (
        await client.delete(f"/api/v1/subscriptions/{sub_id}", headers=other)
    ).status_code == 404
    assert (await client.get("/api/v1/subscriptions", headers=other)).json()["data"] == []
    deleted = await client.delete(f"/api/v1/subscriptions/{sub_id}", headers=writer)
    assert deleted.json() == {
        "success": True,
        "message": f"Subscription with ID {sub_id} deleted successfully",
    }
    assert (await client.get(f"/api/v1/subscriptions/{sub_id}", headers=admin)).status_code == 404


async def test_escapekit_project_subscriptions_are_replaced_as_a_whole(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    path = "/api/v1/events/subscriptions/project/shop/"
    empty = await client.get(path, headers=admin)
    assert (empty.status_code, empty.json()) == (200, {})
    put = await client.put(
        path,
        headers=admin,
        json={
            "a": {"type": "webhook", "url": HOOK},
            "b": {"type": "slack", "url": SLACK, "slack_icon": ":ship:", "slack_username": "ek"},
        },
    )
    assert put.status_code == 200, put.text
    answer = put.json()
    hook_id, slack_id = sorted(answer, key=int)
    assert answer[hook_id] == {"id": hook_id, "type": "webhook", "url": HOOK}
    assert answer[slack_id] == {
        "id": slack_id,
        "slack_icon": ":ship:",
        "slack_username": "ek",
        "type": "slack",
        "url": "https://hooks.slack.com/services/T000/B000/********",
    }
    assert (await client.get(path.rstrip("/"), headers=admin)).json() == answer
    # The same rows in the native API, scoped to the project.
    native = (await client.get(f"/api/v1/subscriptions/{hook_id}", headers=admin)).json()["data"]
    assert native["escapekit_project"] == "shop"
    assert native["filter"] == {"scope": {"project": ["shop"]}}
    # Keep the Slack one (sent back masked), drop the webhook, add another.
    again = await client.put(
        path,
        headers=admin,
        json={
            slack_id: answer[slack_id],
            "new": {"type": "webhook", "url": HOOK + "/2"},
        },
    )
    assert again.status_code == 200, again.text
    kept = again.json()
    assert slack_id in kept
    assert hook_id not in kept
    assert len(kept) == 2
    assert (await client.get(f"/api/v1/subscriptions/{hook_id}", headers=admin)).status_code == 404
    other_project = await client.get("/api/v1/events/subscriptions/project/other/", headers=admin)
    assert other_project.json() == {}
    bad = await client.put(path, headers=admin, json={"x": {"type": "email", "url": HOOK}})
    assert bad.status_code == 400, bad.text
    worse = await client.put(path, headers=admin, json={"x": {"type": "webhook", "url": "nope"}})
    assert worse.status_code == 400, worse.text
    assert worse.json()["details"][0]["field"] == "x.url"
    assert (await client.get(path, headers=admin)).json() == kept
