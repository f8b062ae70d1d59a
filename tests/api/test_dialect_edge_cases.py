"""Edges found in review: NUL characters, the end of time, stream windows, concurrent updates."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.helpers import settle
from tests.clocks import SettableClock
from tests.conftest import ADMIN_TOKEN
from tidings.domain.cursors import query_scope
from tidings.domain.errors import NotFound
from tidings.domain.revisions import EventPatch
from tidings.services.runtime import Services


@pytest.fixture
def clock() -> SettableClock:
    """Stream windows are about recording times, which these tests set."""
    return SettableClock("2024-01-15T10:00:00Z")


async def _tenant(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    me = await client.get("/api/v1/auth/me", headers=admin)
    tenant: str = me.json()["data"]["tenant"]
    return tenant


NUL_BODIES = [
    # (path, body, the field the 400 names)
    ("/api/v1/events", {"type": "t", "payload": {"a\u0000b": 1}}, "payload.a\u0000b"),
    ("/api/v1/events", {"type": "t", "payload": {"list": ["ok", "x\u0000"]}}, "payload.list[1]"),
    (
        "/api/v1alpha1/event",
        {"title": "a\u0000", "attributes": {"type": 1, "service": "s"}},
        "title",
    ),
    ("/internal/create-event", {"type": "t", "data": {"k": "\u0000"}}, "data.k"),
]


@pytest.mark.parametrize(("path", "body", "field"), NUL_BODIES)
async def test_a_nul_character_in_a_body_is_a_400_naming_where(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, headers=admin, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["details"] == [
        {"field": field, "message": "must not contain the NUL character (\\u0000)"}
    ]


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/events", headers=admin, json={"type": "t", "payload": {"text": "\\u0000"}}
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["payload"] == {"text": "\\u0000"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1alpha1/events/search?service=a%00b",
        "/api/v1/events/query/inventory/a%00b/",
        "/api/v1/events?trigger_ref=a%00",
        "/event/{tenant}/events/list?type=a%00",
        "/event/{tenant}/events/request/a%00",
    ],
)
async def test_a_nul_character_in_a_url_is_a_400(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    response = await client.get(url.format(tenant=await _tenant(client, admin)), headers=admin)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "The URL must not contain the NUL character (\\u0000)",
        "status": 400,
    }


@pytest.mark.parametrize(
    "url",
    [
        "/event/{tenant}/events/list?endTimestamp=2262-04-11T23:47:16Z",
        "/event/{tenant}/events/list?endTimestamp=2262-04-11",
        "/api/v1alpha1/events/search?end_date=2262-04-11",
        "/api/v1/events?end=2262-04-11",
    ],
)
async def test_the_last_representable_day_is_a_valid_bound(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    await client.post("/api/v1/events", headers=admin, json={"type": "t"})
    response = await client.get(url.format(tenant=await _tenant(client, admin)), headers=admin)
    assert response.status_code == 200, response.text


async def test_a_window_keeps_an_event_committed_before_one_stamped_earlier(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: SettableClock,
    services: Services,
) -> None:
    """An event recorded just after the window's start commits before one whose clock read 2 s
    earlier (another node's skew): the window must still return it."""
    clock.set("2024-01-15T10:00:01Z")
    late = await client.post("/api/v1/events", headers=admin, json={"type": "w"})
    clock.set("2024-01-15T09:59:58Z")
    early = await client.post("/api/v1/events", headers=admin, json={"type": "w"})
    await settle(services)
    tenant = await _tenant(client, admin)
    response = await client.get(
        f"/event/{tenant}/events/list?type=w&startTimestamp=2024-01-15T10:00:00Z", headers=admin
    )
    assert [e["locator"] for e in response.json()["events"]] == [str(late.json()["data"]["id"])]
    assert early.status_code == 201


async def test_a_reader_who_sees_nothing_moves_past_hidden_events(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    """A partial page moves the token to the end of what was scanned; new visible events follow."""
    for _ in range(3):
        await client.post(
            "/api/v1/events", headers=admin, json={"type": "t", "allowed_groups": ["ops"]}
        )
    await settle(services)
    reader = await services.auth.authenticate(ADMIN_TOKEN)
    hidden_reader = type(reader)(
        id=reader.id,
        locator=reader.locator,
        tenant_id=reader.tenant_id,
        tenant_locator=reader.tenant_locator,
        name="reader",
        kind=reader.kind,
        permissions=frozenset({"events:read", "events:list"}),
    )
    first = await services.stream.read(
        principal=hidden_reader, filters=None, token=None, page_size=10
    )
    assert first.events == []
    visible = await client.post("/api/v1/events", headers=admin, json={"type": "t"})
    await settle(services)
    second = await services.stream.read(
        principal=hidden_reader, filters=None, token=first.token, page_size=10
    )
    assert [e.id for e in second.events] == [visible.json()["data"]["id"]]
    # The first token already pointed past the three hidden events (ids 1-3), so the second read
    # did not scan them again. (Tokens are opaque to clients; the test reads its own.)
    scope = query_scope(reader.tenant_id, "stream", {})
    position = services.stream._cursors.decode(first.token, scope=scope)
    assert position[1] == 3


async def test_concurrent_updates_of_one_event_all_land(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    created = await client.post("/api/v1/events", headers=admin, json={"type": "t"})
    event_id = created.json()["data"]["id"]
    principal = await services.auth.authenticate(ADMIN_TOKEN)
    await asyncio.gather(
        *(
            services.edits.update(
                principal=principal, event_id=event_id, patch=EventPatch(payload={f"k{i}": i})
            )
            for i in range(8)
        )
    )
    event = await services.events.get(principal=principal, event_id=event_id)
    assert event.payload == {f"k{i}": i for i in range(8)}
    history = await services.events.revisions(principal=principal, event_ids=[event_id])
    assert [r.number for r in history[event_id]] == list(range(1, 9))


async def test_concurrent_deletes_record_one_deletion(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    created = await client.post("/api/v1/events", headers=admin, json={"type": "t"})
    event_id = created.json()["data"]["id"]
    principal = await services.auth.authenticate(ADMIN_TOKEN)
    outcomes = await asyncio.gather(
        *(services.edits.delete(principal=principal, event_id=event_id) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(o is None for o in outcomes) == 1
    assert sum(isinstance(o, NotFound) for o in outcomes) == 3
    history = await services.events.revisions(principal=principal, event_ids=[event_id])
    assert [r.kind.value for r in history[event_id]] == ["delete"]
