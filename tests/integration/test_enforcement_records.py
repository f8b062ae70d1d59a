"""Enforcements of rules that did not pass, kept as one compact record an event and shown by the
enforcements API exactly like the rows of rules that passed: ids, order, filters, totals, pages,
cursors, details and visibility, across rule sets that change between events."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from tests.api.helpers import create_group, create_service_account, post_event
from tidings.domain.enforcement_ids import MAX_RULES_PER_TRIGGER
from tidings.services.runtime import Services
from tidings.storage.automation_tables import enforcements, rule_misses, rule_sets, rules

Json = dict[str, Any]


async def _setup(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Pack `ops`, trigger `ops.deploy`, and three rules in this order: `ops.hot` passes for
    env=prod, `ops.cold` for env=dev, `ops.off` is disabled (skipped)."""
    for path, body in (
        ("/api/v1/packs", {"ref": "ops", "label": "Ops"}),
        ("/api/v1/triggers", {"ref": "ops.deploy", "pack_ref": "ops", "label": "Deploy"}),
    ):
        response = await client.post(path, headers=admin, json=body)
        assert response.status_code == 201, response.text
    for ref, env, enabled in (("hot", "prod", True), ("cold", "dev", True), ("off", "prod", False)):
        await _add_rule(client, admin, ref, env, enabled=enabled)


async def _add_rule(
    client: httpx.AsyncClient, admin: dict[str, str], ref: str, env: str, *, enabled: bool = True
) -> None:
    rule = {
        "ref": f"ops.{ref}",
        "pack_ref": "ops",
        "label": ref,
        "description": ref,
        "action_ref": "core.noop",
        "trigger_ref": "ops.deploy",
        "conditions": {"==": [{"var": "env"}, env]},
        "action_params": {},
        "enabled": enabled,
    }
    response = await client.post("/api/v1/rules", headers=admin, json=rule)
    assert response.status_code == 201, response.text


async def _rule_id(client: httpx.AsyncClient, admin: dict[str, str], ref: str) -> int:
    response = await client.get(f"/api/v1/rules/ops.{ref}", headers=admin)
    return int(response.json()["data"]["id"])


async def _deploy(
    client: httpx.AsyncClient, headers: dict[str, str], env: str, **extra: Any
) -> int:
    event = await post_event(
        client, headers, trigger_ref="ops.deploy", payload={"env": env}, **extra
    )
    return int(event["id"])


async def _list(client: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> Json:
    response = await client.get(f"/api/v1/enforcements?per_page=100&{query}", headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def _summary(e: Json) -> tuple[int, str, int, str]:
    return (e["id"], e["rule_ref"], e["event"], e["condition"])


async def test_every_evaluation_is_listed_with_computed_ids(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _setup(client, admin)
    prod, dev = await _deploy(client, admin, "prod"), await _deploy(client, admin, "dev")
    listed = await _list(client, admin)
    assert [_summary(e) for e in listed["data"]] == [
        ((dev << 16) | 2, "ops.off", dev, "skipped"),
        ((dev << 16) | 1, "ops.cold", dev, "passed"),
        ((dev << 16) | 0, "ops.hot", dev, "failed"),
        ((prod << 16) | 2, "ops.off", prod, "skipped"),
        ((prod << 16) | 1, "ops.cold", prod, "failed"),
        ((prod << 16) | 0, "ops.hot", prod, "passed"),
    ]
    assert listed["pagination"]["total_items"] == 6
    missed = [e for e in listed["data"] if e["condition"] != "passed"]
    assert {e["status"] for e in missed} == {"completed"}
    assert {e["trigger_ref"] for e in listed["data"]} == {"ops.deploy"}
    # Two enforcement rows (the passes) and two compact records (one an event) hold them.
    async with services.db.read() as conn:
        stored = (await conn.execute(select(func.count()).select_from(enforcements))).scalar()
        records = (await conn.execute(select(rule_misses.c.outcomes))).scalars().all()
    assert (stored, sorted(records)) == (2, ["FPS", "PFS"])


async def test_filters_totals_and_details_treat_both_kinds_alike(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _setup(client, admin)
    events = [await _deploy(client, admin, env) for env in ("prod", "dev", "prod")]
    hot = await _rule_id(client, admin, "hot")
    by_rule = await _list(client, admin, f"rule={hot}")
    assert [(e["event"], e["condition"]) for e in by_rule["data"]] == [
        (events[2], "passed"),
        (events[1], "failed"),
        (events[0], "passed"),
    ]
    assert by_rule["pagination"]["total_items"] == 3
    by_event = await _list(client, admin, f"event={events[1]}")
    assert [e["rule_ref"] for e in by_event["data"]] == ["ops.off", "ops.cold", "ops.hot"]
    completed = await _list(client, admin, "status=completed")
    assert all(e["condition"] != "passed" for e in completed["data"])
    assert completed["pagination"]["total_items"] == 6
    assert (await _list(client, admin, "status=running"))["data"] == [
        e for e in (await _list(client, admin))["data"] if e["status"] == "running"
    ]
    assert (await _list(client, admin, "trigger_ref=core.event"))["pagination"]["total_items"] == 0
    both = await _list(client, admin, f"rule={hot}&event={events[1]}&status=completed")
    assert [(e["id"], e["condition"]) for e in both["data"]] == [(events[1] << 16, "failed")]

    detail = (await client.get(f"/api/v1/enforcements/{events[1] << 16}", headers=admin)).json()
    assert detail["data"] | {"created": None, "updated": None} == {
        "id": events[1] << 16,
        "rule": hot,
        "rule_ref": "ops.hot",
        "trigger_ref": "ops.deploy",
        "config": None,
        "event": events[1],
        "status": "completed",
        "payload": {"env": "dev"},
        "condition": "failed",
        "conditions": {"$": False},
        "execution": None,
        "created": None,
        "updated": None,
    }
    passed = (await client.get(f"/api/v1/enforcements/{events[0] << 16}", headers=admin)).json()
    assert (passed["data"]["condition"], passed["data"]["execution"] is not None) == (
        "passed",
        True,
    )
    for absent in ((events[1] << 16) | 3, (events[1] << 16) | 1 + 2**15, (events[2] + 99) << 16):
        response = await client.get(f"/api/v1/enforcements/{absent}", headers=admin)
        assert response.status_code == 404, absent
        assert response.json() == {
            "error": f"Enforcement with ID {absent} not found",
            "status": 404,
        }


async def test_pages_and_cursors_walk_the_merged_history(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _setup(client, admin)
    for env in ("prod", "dev", "test", "prod", "dev"):
        await _deploy(client, admin, env)
    everything = [e["id"] for e in (await _list(client, admin))["data"]]
    assert len(everything) == 15
    assert everything == sorted(everything, reverse=True)
    for per_page in (1, 2, 4, 7):
        paged: list[int] = []
        for page in range(1, 20):
            body = (
                await client.get(
                    f"/api/v1/enforcements?per_page={per_page}&page={page}", headers=admin
                )
            ).json()
            assert body["pagination"]["total_items"] == 15
            paged += [e["id"] for e in body["data"]]
        assert paged == everything, per_page
        walked: list[int] = []
        query = f"/api/v1/enforcements?per_page={per_page}"
        while True:
            body = (await client.get(query, headers=admin)).json()
            walked += [e["id"] for e in body["data"]]
            cursor = body["pagination"]["next_cursor"]
            if cursor is None:
                break
            query = f"/api/v1/enforcements?per_page={per_page}&cursor={cursor}"
        assert walked == everything, per_page


async def test_rule_sets_follow_the_catalogue_and_history_keeps_its_rules(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _setup(client, admin)
    before = await _deploy(client, admin, "qa")
    cold = await _rule_id(client, admin, "cold")
    assert (await client.delete("/api/v1/rules/ops.hot", headers=admin)).status_code == 200
    await _add_rule(client, admin, "new", "qa")
    after = await _deploy(client, admin, "qa")
    listed = await _list(client, admin)
    assert [(e["event"], e["rule_ref"], e["condition"]) for e in listed["data"]] == [
        (after, "ops.new", "passed"),
        (after, "ops.off", "skipped"),
        (after, "ops.cold", "failed"),
        (before, "ops.off", "skipped"),
        (before, "ops.cold", "failed"),
        (before, "ops.hot", "failed"),  # the rule is gone; its evaluation is not
    ]
    # `ops.cold` sits at position 1 before and 0 after: its filter spans both rule sets.
    by_rule = await _list(client, admin, f"rule={cold}")
    assert [e["id"] for e in by_rule["data"]] == [after << 16, (before << 16) | 1]
    assert by_rule["pagination"]["total_items"] == 2
    async with services.db.read() as conn:
        sets = (await conn.execute(select(rule_sets.c.rules))).scalars().all()
    assert sorted(len(s) for s in sets) == [3, 3]


async def test_hidden_events_hide_their_compact_enforcements(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _setup(client, admin)
    await create_group(client, admin, "ops")
    outsider = {
        "Authorization": "Bearer "
        + await create_service_account(client, admin, "eve", roles=["reader"])
    }
    hidden = await _deploy(client, admin, "dev", allowed_groups=["ops"])
    public = await _deploy(client, admin, "dev")
    seen = await _list(client, outsider)
    assert {e["event"] for e in seen["data"]} == {public}
    assert seen["pagination"]["total_items"] == 3
    hot = await _rule_id(client, admin, "hot")
    assert (await _list(client, outsider, f"rule={hot}"))["pagination"]["total_items"] == 1
    response = await client.get(f"/api/v1/enforcements/{hidden << 16}", headers=outsider)
    assert response.status_code == 404
    assert (await client.get(f"/api/v1/enforcements/{hidden << 16}", headers=admin)).is_success


async def test_a_rolled_back_rule_set_is_stored_again(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The engine caches a rule set's id only once it has seen it committed."""
    await _setup(client, admin)
    tenant_id = await _tenant(services)
    async with services.db.transaction() as conn:
        await services.engine.catalogue(conn, tenant_id)
        await conn.rollback()
    event = await _deploy(client, admin, "prod")
    assert [e["condition"] for e in (await _list(client, admin, f"event={event}"))["data"]] == [
        "skipped",
        "failed",
        "passed",
    ]


async def test_a_trigger_holds_at_most_the_rules_enforcement_ids_can_number(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _setup(client, admin)
    async with services.db.read() as conn:
        template = (await conn.execute(select(rules).where(rules.c.ref == "ops.hot"))).one()
    filler = [
        {**template._asdict(), "ref": f"ops.fill_{i}"} | {"id": None}
        for i in range(MAX_RULES_PER_TRIGGER - 3)
    ]
    for row in filler:
        del row["id"]

    async def fill(conn: Any) -> None:
        await conn.execute(rules.insert(), filler)

    await services.db.write(fill)
    rule = {
        "ref": "ops.one_too_many",
        "pack_ref": "ops",
        "label": "x",
        "description": "x",
        "action_ref": "core.noop",
        "trigger_ref": "ops.deploy",
        "conditions": {},
        "action_params": {},
    }
    response = await client.post("/api/v1/rules", headers=admin, json=rule)
    assert response.status_code == 409
    assert response.json()["error"] == (
        "Trigger 'ops.deploy' already has 65536 rules, the most one trigger can have"
    )


async def _tenant(services: Services) -> int:
    async with services.db.read() as conn:
        query = select(rules.c.tenant_id).limit(1)
        return int((await conn.execute(query)).scalar_one())
