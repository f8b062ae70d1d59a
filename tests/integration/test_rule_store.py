"""Rule storage: refs joined in, filters, the enabled set, and the catalogue version per change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import Rule
from tidings.services.runtime import Services
from tidings.storage import catalogue as catalogue_store
from tidings.storage import rules as rule_store


async def _catalogue(conn: AsyncConnection) -> dict[str, int]:
    pack = await catalogue_store.insert_pack(
        conn, tenant_id=1, values={"ref": "p", "label": "P", "config": {}}, now=1
    )
    ids = {"p": pack.id}
    for ref in ("p.t1", "p.t2"):
        ids[ref] = await catalogue_store.insert_trigger(
            conn, tenant_id=1, values={"pack_id": pack.id, "ref": ref, "label": ref}, now=1
        )
    ids["p.a"] = await catalogue_store.insert_action(
        conn,
        tenant_id=1,
        values={"pack_id": pack.id, "ref": "p.a", "label": "a", "runner": "echo"},
        now=1,
    )
    return ids


async def _insert(conn: AsyncConnection, ids: dict[str, int], ref: str, **values: object) -> Rule:
    row: dict[str, object] = {
        "ref": ref,
        "pack_id": ids["p"],
        "action_id": ids["p.a"],
        "trigger_id": ids["p.t1"],
        "label": ref,
        "description": "d",
        "conditions": {},
        "action_params": {},
        **values,
    }
    return await rule_store.insert_rule(conn, tenant_id=1, values=row, now=5)


async def test_rules_round_trip_with_their_refs(services: Services) -> None:
    async with services.db.transaction() as conn:
        ids = await _catalogue(conn)
        before = await catalogue_store.current_version(conn, tenant_id=1)
        stored = await _insert(
            conn,
            ids,
            "p.r",
            conditions={"and": [{"var": "x", ">": 1.5}, {"in": ["a", ["a", None]]}]},
            action_params={"m": "{{ event.payload.x }}", "n": [1, {"k": True}]},
            strict_params=True,
        )
        assert await catalogue_store.current_version(conn, tenant_id=1) == before + 1
    async with services.db.read() as conn:
        found = await rule_store.find_rule(conn, tenant_id=1, ref="p.r")
        elsewhere = await rule_store.find_rule(conn, tenant_id=2, ref="p.r")
    assert found == stored
    assert elsewhere is None
    assert (found.pack_ref, found.action_ref, found.trigger_ref) == ("p", "p.a", "p.t1")
    assert (found.enabled, found.strict_params, found.created_at, found.updated_at) == (
        True,
        True,
        5,
        5,
    )
    assert found.conditions == {"and": [{"var": "x", ">": 1.5}, {"in": ["a", ["a", None]]}]}
    assert found.action_params == {"m": "{{ event.payload.x }}", "n": [1, {"k": True}]}


async def test_enabled_rules_and_filters(services: Services) -> None:
    async with services.db.transaction() as conn:
        ids = await _catalogue(conn)
        one = await _insert(conn, ids, "p.one")
        two = await _insert(conn, ids, "p.two", enabled=False)
        three = await _insert(conn, ids, "p.three", trigger_id=ids["p.t2"])
        await rule_store.update_rule(
            conn, tenant_id=1, rule_id=two.id, values={"enabled": True}, now=9
        )
        await rule_store.update_rule(
            conn, tenant_id=1, rule_id=one.id, values={"enabled": False}, now=9
        )
    async with services.db.read() as conn:
        enabled = await rule_store.enabled_rules(conn, tenant_id=1)
        of_t2 = await rule_store.enabled_rules(conn, tenant_id=1, trigger_id=ids["p.t2"])
        page, total = await rule_store.list_rules(
            conn, tenant_id=1, offset=1, limit=1, trigger_id=ids["p.t1"]
        )
    assert [r.ref for r in enabled] == ["p.two", "p.three"]
    assert [r.id for r in of_t2] == [three.id]
    assert ([r.ref for r in page], total) == (["p.two"], 2)
    assert (page[0].created_at, page[0].updated_at) == (5, 9)


async def test_delete_removes_only_that_rule(services: Services) -> None:
    async with services.db.transaction() as conn:
        ids = await _catalogue(conn)
        gone = await _insert(conn, ids, "p.gone")
        await _insert(conn, ids, "p.kept")
        before = await catalogue_store.current_version(conn, tenant_id=1)
        await rule_store.delete_rule(conn, tenant_id=1, rule_id=gone.id)
        assert await catalogue_store.current_version(conn, tenant_id=1) == before + 1
    async with services.db.read() as conn:
        rules, total = await rule_store.list_rules(conn, tenant_id=1, offset=0, limit=10)
    assert ([r.ref for r in rules], total) == (["p.kept"], 1)
