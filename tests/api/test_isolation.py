"""Tenants never see each other; group and role visibility holds on get, list and totals."""

from __future__ import annotations

import httpx

from tests.api.helpers import bearer, create_group, create_service_account, post_event


async def _tenant(client: httpx.AsyncClient, admin: dict[str, str], name: str) -> dict[str, str]:
    response = await client.post("/api/v1/tenants", headers=admin, json={"name": name})
    assert response.status_code == 201, response.text
    return bearer(response.json()["data"]["admin_token"]["token"])


async def _listed(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[list[int], int]:
    body = (await client.get("/api/v1/events?per_page=100", headers=headers)).json()
    return [item["id"] for item in body["data"]], body["pagination"]["total_items"]


async def test_tenants_are_isolated(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    other = await _tenant(client, admin, "acme")
    ours = await post_event(client, admin, trigger_ref="t", payload={"who": "default"})
    theirs = await post_event(client, other, trigger_ref="t", payload={"who": "acme"})
    assert await _listed(client, admin) == ([ours["id"]], 1)
    assert await _listed(client, other) == ([theirs["id"]], 1)
    for headers, foreign in ((admin, theirs["id"]), (other, ours["id"])):
        response = await client.get(f"/api/v1/events/{foreign}", headers=headers)
        assert response.status_code == 404
        assert response.json() == {"error": f"Event with ID {foreign} not found", "status": 404}
    # The tenant admin is not a system admin: no tenant listing, and no peeking at the default.
    assert (await client.get("/api/v1/tenants", headers=other)).status_code == 403
    default_locator = (await client.get("/api/v1/auth/me", headers=admin)).json()["data"]["tenant"]
    peek = await client.get(f"/api/v1/tenants/{default_locator}", headers=other)
    assert peek.status_code == 404
    # Accounts, groups and keys are per tenant too.
    assert (await client.get("/api/v1/accounts/admin", headers=other)).json()["data"][
        "name"
    ] == "admin"
    await create_group(client, admin, "ops")
    assert (await client.get("/api/v1/groups/ops", headers=other)).status_code == 404
    keys = (await client.get("/api/v1/tokens", headers=other)).json()["data"]
    assert [k["account"] for k in keys] == ["admin"]
    assert (await client.delete(f"/api/v1/tokens/{1}", headers=other)).status_code == 404


async def test_group_visibility_on_get_list_and_totals(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for group in ("ops", "dev"):
        await create_group(client, admin, group)
    ops = bearer(
        await create_service_account(client, admin, "ops-bot", roles=["reader"], groups=["ops"])
    )
    dev = bearer(
        await create_service_account(client, admin, "dev-bot", roles=["reader"], groups=["dev"])
    )
    auditor_role = await client.post(
        "/api/v1/roles",
        headers=admin,
        json={"name": "auditor", "permissions": ["events:read", "events:list"]},
    )
    assert auditor_role.status_code == 201
    auditor = bearer(await create_service_account(client, admin, "auditor-bot", roles=["auditor"]))
    public = await post_event(client, admin, trigger_ref="t")
    ops_only = await post_event(client, admin, trigger_ref="t", allowed_groups=["ops"])
    both = await post_event(client, admin, trigger_ref="t", allowed_groups=["ops", "dev"])
    audit = await post_event(client, admin, trigger_ref="t", allowed_roles=["auditor"])
    ids = {"public": public["id"], "ops": ops_only["id"], "both": both["id"], "audit": audit["id"]}
    expected = {
        "admin": (admin, ["audit", "both", "ops", "public"]),
        "ops": (ops, ["both", "ops", "public"]),
        "dev": (dev, ["both", "public"]),
        "auditor": (auditor, ["audit", "public"]),
    }
    for who, (headers, visible) in expected.items():
        listed, total = await _listed(client, headers)
        assert listed == sorted((ids[v] for v in visible), reverse=True), who
        assert total == len(visible), who
        for name, event_id in ids.items():
            response = await client.get(f"/api/v1/events/{event_id}", headers=headers)
            assert response.status_code == (200 if name in visible else 404), (who, name)
    # Filters and pages stay exact under visibility: one per page, exact pages count.
    page = (await client.get("/api/v1/events?per_page=1&page=3", headers=dev)).json()
    assert page["data"] == []
    assert page["pagination"]["total_pages"] == 2
    # Leaving the group hides the events again at once.
    await client.patch("/api/v1/accounts/ops-bot", headers=admin, json={"groups": []})
    assert await _listed(client, ops) == ([public["id"]], 1)
