"""Event storage: filters, ordering, keyset paging, counts and visibility in SQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility
from tidings.domain.events import EventFilter, NewEvent
from tidings.services.runtime import Services
from tidings.storage import events as event_store
from tidings.storage import tenants as tenant_store

ALL = Visibility(sees_all=True, groups=frozenset(), roles=frozenset())
NOBODY = Visibility(sees_all=False, groups=frozenset(), roles=frozenset())
OPS = Visibility(sees_all=False, groups=frozenset({"ops"}), roles=frozenset())
AUDITOR = Visibility(sees_all=False, groups=frozenset(), roles=frozenset({"auditor"}))


async def _store(services: Services, new_events: list[NewEvent], tenant_id: int = 1) -> list[int]:
    async def work(conn: AsyncConnection) -> list[int]:
        return await event_store.insert_events(
            conn,
            tenant_id=tenant_id,
            new_events=new_events,
            actor_id=None,
            request_id="req-1",
            now=10_000,
        )

    return await services.db.write(work)


async def test_ids_follow_insert_order_and_fields_round_trip(services: Services) -> None:
    new = NewEvent(
        type="deployment",
        payload={"v": [1, {"x": None}]},
        trigger_id=4,
        source_id=5,
        source_ref="sensor",
        config={"c": True},
        title="Deploy",
        message="m",
        dimensions={"service": "api", "priority": 2, "state_project": "p"},
        links={"ticket": "T-1"},
        related_id="r",
        stakeholders=("a", "b"),
        allowed_groups=("ops",),
        allowed_roles=("auditor",),
        username="alice",
        occurred_at=5_000,
        started_at=4_000,
        ended_at=6_000,
    )
    ids = await _store(services, [new, NewEvent(type="x"), NewEvent(type="y")])
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    async with services.db.read() as conn:
        got = await event_store.get_event(conn, tenant_id=1, event_id=ids[0], visibility=ALL)
    assert got is not None
    assert (got.type, got.payload, got.trigger_id, got.source_id, got.source_ref) == (
        "deployment",
        {"v": [1, {"x": None}]},
        4,
        5,
        "sensor",
    )
    assert got.dimensions == {"service": "api", "priority": 2, "state_project": "p"}
    assert (got.links, got.related_id, got.stakeholders) == ({"ticket": "T-1"}, "r", ("a", "b"))
    assert (got.allowed_groups, got.allowed_roles, got.username) == (
        ("ops",),
        ("auditor",),
        "alice",
    )
    assert (got.occurred_at, got.recorded_at, got.started_at, got.ended_at) == (
        5_000,
        10_000,
        4_000,
        6_000,
    )
    assert got.request_id == "req-1"


async def test_filters_order_and_keyset(services: Services) -> None:
    await _store(
        services,
        [
            NewEvent(type="a" if i % 2 else "b", occurred_at=1_000 + i, trigger_id=i % 3 + 1)
            for i in range(10)
        ],
    )
    async with services.db.read() as conn:
        flt = EventFilter(type="a", start=1_002, end=1_008)
        page = await event_store.list_event_summaries(
            conn, tenant_id=1, flt=flt, visibility=ALL, limit=2
        )
        assert [s.occurred_at for s in page] == [1_007, 1_005]  # newest first, bounds inclusive
        rest = await event_store.list_event_summaries(
            conn,
            tenant_id=1,
            flt=flt,
            visibility=ALL,
            limit=10,
            after=(page[-1].occurred_at, page[-1].id),
        )
        assert [s.occurred_at for s in rest] == [1_003]
        assert await event_store.count_events(conn, tenant_id=1, flt=flt, visibility=ALL) == 3
        assert (
            await event_store.count_events(
                conn, tenant_id=1, flt=EventFilter(trigger_id=1), visibility=ALL
            )
            == 4
        )
        offset = await event_store.list_event_summaries(
            conn, tenant_id=1, flt=EventFilter(), visibility=ALL, limit=3, offset=8
        )
        assert [s.occurred_at for s in offset] == [1_001, 1_000]


async def test_equal_times_are_ordered_by_id(services: Services) -> None:
    ids = await _store(services, [NewEvent(type="t", occurred_at=7) for _ in range(5)])
    async with services.db.read() as conn:
        first = await event_store.list_event_summaries(
            conn, tenant_id=1, flt=EventFilter(), visibility=ALL, limit=2
        )
        after = (first[-1].occurred_at, first[-1].id)
        second = await event_store.list_event_summaries(
            conn, tenant_id=1, flt=EventFilter(), visibility=ALL, limit=10, after=after
        )
    assert [s.id for s in first + second] == list(reversed(ids))


async def test_visibility_applies_to_get_list_and_count(services: Services) -> None:
    ids = await _store(
        services,
        [
            NewEvent(type="t"),
            NewEvent(type="t", allowed_groups=("ops",)),
            NewEvent(type="t", allowed_roles=("auditor",)),
            NewEvent(type="t", allowed_groups=("dev",), allowed_roles=("auditor",)),
        ],
    )
    expected = {
        "all": [ids[0], ids[1], ids[2], ids[3]],
        "nobody": [ids[0]],
        "ops": [ids[0], ids[1]],
        "auditor": [ids[0], ids[2], ids[3]],
    }
    views = {"all": ALL, "nobody": NOBODY, "ops": OPS, "auditor": AUDITOR}
    async with services.db.read() as conn:
        for name, visibility in views.items():
            listed = await event_store.list_event_summaries(
                conn, tenant_id=1, flt=EventFilter(), visibility=visibility, limit=10
            )
            assert sorted(s.id for s in listed) == expected[name], name
            assert await event_store.count_events(
                conn, tenant_id=1, flt=EventFilter(), visibility=visibility
            ) == len(expected[name])
            for event_id in ids:
                got = await event_store.get_event(
                    conn, tenant_id=1, event_id=event_id, visibility=visibility
                )
                assert (got is not None) is (event_id in expected[name]), (name, event_id)


async def test_tenants_never_see_each_other(services: Services) -> None:
    async with services.db.transaction() as conn:
        other = await tenant_store.insert_tenant(
            conn, locator="00000000-0000-0000-0000-000000000002", name="other", now=1
        )
    [theirs] = await _store(services, [NewEvent(type="t")], tenant_id=other.id)
    [ours] = await _store(services, [NewEvent(type="t")])
    async with services.db.read() as conn:
        assert (
            await event_store.get_event(conn, tenant_id=1, event_id=theirs, visibility=ALL) is None
        )
        assert (
            await event_store.count_events(conn, tenant_id=1, flt=EventFilter(), visibility=ALL)
            == 1
        )
        listed = await event_store.list_event_summaries(
            conn, tenant_id=other.id, flt=EventFilter(), visibility=ALL, limit=5
        )
        assert [s.id for s in listed] == [theirs]
        assert ours != theirs
