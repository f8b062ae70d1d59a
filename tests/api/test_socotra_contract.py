"""Socotra's event stream (`seeds/002_…txt`): every request shape of the document, sent as written.

Fetch an event, fetch the events of an API request, and follow the stream with `pagingToken`.
The schedule and failed-job endpoints of the document are tested in test_schedules_socotra.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.api.helpers import bearer, create_group, create_service_account, post_event, settle
from tests.clocks import SettableClock
from tidings.domain.timestamps import format_rfc3339, parse_rfc3339
from tidings.services.runtime import Services

EVENT_KEYS = {"locator", "userLocator", "requestId", "timestamp", "type", "data"}
STREAM_KEYS = {"pagingToken", "events"}
MINUTE = 60 * 1_000_000_000


@pytest.fixture
def clock() -> SettableClock:
    """Starts at 2024-01-15T10:00:00Z."""
    return SettableClock("2024-01-15T10:00:00Z")


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    me: dict[str, Any] = response.json()["data"]
    return me


async def _base(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """`/event/{tenantLocator}/events` for the caller's tenant."""
    return f"/event/{(await _me(client, headers))['tenant']}/events"


async def _record(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> tuple[dict[str, Any], str]:
    """Record one event natively; return it and the request id the response carried."""
    response = await client.post("/api/v1/events", headers=headers, json=fields)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data, response.headers["X-Request-ID"]


async def _list(
    services: Services, client: httpx.AsyncClient, headers: dict[str, str], base: str, **params: Any
) -> dict[str, Any]:
    await settle(services)
    response = await client.get(f"{base}/list", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == STREAM_KEYS
    assert isinstance(body["pagingToken"], str)
    return body


def _locators(body: dict[str, Any]) -> list[str]:
    return [event["locator"] for event in body["events"]]


async def _follow(
    services: Services,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    base: str,
    token: str,
    page_size: int,
) -> tuple[list[list[str]], str]:
    """Follow a token alone until a page comes back empty: the pages and the final token."""
    pages: list[list[str]] = []
    while True:
        body = await _list(services, client, headers, base, pagingToken=token, pageSize=page_size)
        token = body["pagingToken"]
        if not body["events"]:
            return pages, token
        pages.append(_locators(body))


def _expected(event: dict[str, Any]) -> dict[str, Any]:
    """The EventResponse of a natively recorded event."""
    return {
        "locator": str(event["id"]),
        "userLocator": event["actor"],
        "requestId": event["request_id"],
        "timestamp": event["recorded_at"],
        "type": event["type"],
        "data": event["payload"],
    }


async def test_fetch_an_event(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    # GET /event/{tenantLocator}/events/{locator}
    me = await _me(client, admin)
    stored, request_id = await _record(
        client, admin, type="policy.issued", payload={"policy": "P-1", "premium": {"amount": 12.5}}
    )
    response = await client.get(f"/event/{me['tenant']}/events/{stored['id']}", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == EVENT_KEYS
    assert body == {
        "locator": str(stored["id"]),
        "userLocator": me["locator"],
        "requestId": request_id,
        "timestamp": stored["recorded_at"],
        "type": "policy.issued",
        "data": {"policy": "P-1", "premium": {"amount": 12.5}},
    }


async def test_timestamp_is_the_recording_time_not_the_occurrence(
    client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    # The document: stream time is the completion time of the call that recorded the event.
    base = await _base(client, admin)
    stored, _ = await _record(client, admin, type="t", occurred_at="2020-05-01T00:00:00Z")
    body = (await client.get(f"{base}/{stored['id']}", headers=admin)).json()
    assert body["timestamp"] == "2024-01-15T10:00:00Z"
    assert body["timestamp"] == format_rfc3339(clock.ns)


async def test_fetch_events_for_an_api_request(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # GET /event/{tenantLocator}/events/request/{locator}
    base = await _base(client, admin)
    batch = await client.post(
        "/api/v1/events/batch",
        headers=admin,
        json={"events": [{"type": "a", "payload": {"n": n}} for n in range(3)]},
    )
    assert batch.status_code == 201
    batch_request = batch.headers["X-Request-ID"]
    single, single_request = await _record(client, admin, type="b", payload={"n": 9})

    response = await client.get(f"{base}/request/{batch_request}", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert [set(event) for event in body] == [EVENT_KEYS] * 3
    assert [event["data"] for event in body] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [event["requestId"] for event in body] == [batch_request] * 3
    assert [event["locator"] for event in body] == [
        str(item["id"]) for item in batch.json()["data"]
    ]

    response = await client.get(f"{base}/request/{single_request}", headers=admin)
    assert response.json() == [_expected(single)]
    # No request of that id recorded anything the caller can see: an empty list, not a 404.
    for unknown in ("0123456789abcdef0123456789abcdef", "x" * 300):
        response = await client.get(f"{base}/request/{unknown}", headers=admin)
        assert (response.status_code, response.json()) == (200, [])


async def test_list_shape_and_native_events_in_stream_order(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # GET /event/{tenantLocator}/events/list, with no parameter at all.
    base = await _base(client, admin)
    empty = await _list(services, client, admin, base)
    assert empty["events"] == []  # the token is there even when there is nothing to read

    first, _ = await _record(client, admin, type="a", payload={"k": 1})
    batch = await client.post(
        "/api/v1/events/batch", headers=admin, json={"events": [{"type": "b"}, {"type": "c"}]}
    )
    assert batch.status_code == 201
    ids = [first["id"], *(item["id"] for item in batch.json()["data"])]
    body = await _list(services, client, admin, base)
    assert [set(event) for event in body["events"]] == [EVENT_KEYS] * 3
    assert _locators(body) == [str(i) for i in ids]
    assert body["events"][0] == _expected(first)
    assert [event["type"] for event in body["events"]] == ["a", "b", "c"]
    # The token of the empty stream, polled now, returns the three events that arrived since.
    assert _locators(
        await _list(services, client, admin, base, pagingToken=empty["pagingToken"])
    ) == [str(i) for i in ids]


async def test_token_pages_without_duplicates_or_gaps(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = await _base(client, admin)
    ids = [
        str((await post_event(client, admin, type="t", payload={"n": n}))["id"]) for n in range(7)
    ]
    first = await _list(services, client, admin, base, pageSize=3)
    pages, _ = await _follow(services, client, admin, base, first["pagingToken"], page_size=3)
    assert [_locators(first), *pages] == [ids[0:3], ids[3:6], ids[6:7]]


async def test_default_page_size_is_100(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = await _base(client, admin)
    batch = await client.post(
        "/api/v1/events/batch", headers=admin, json={"events": [{"type": "t"}] * 101}
    )
    assert batch.status_code == 201
    first = await _list(services, client, admin, base)
    assert len(first["events"]) == 100
    rest = await _list(services, client, admin, base, pagingToken=first["pagingToken"])
    assert _locators(rest) == [str(batch.json()["data"][100]["id"])]


async def test_token_carries_the_type_filter(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = await _base(client, admin)
    types = ["deploy", "build", "deploy", "build", "deploy", "deploy", "build"]
    ids = [str((await post_event(client, admin, type=t))["id"]) for t in types]
    deploys = [i for i, t in zip(ids, types, strict=True) if t == "deploy"]
    first = await _list(services, client, admin, base, type="deploy", pageSize=2)
    assert _locators(first) == deploys[:2]
    # The token alone keeps the filter; sending the same filter with it is accepted too.
    same = await _list(
        services, client, admin, base, type="deploy", pagingToken=first["pagingToken"]
    )
    assert _locators(same) == deploys[2:]
    pages, end = await _follow(services, client, admin, base, first["pagingToken"], page_size=2)
    assert pages == [deploys[2:4]]
    later = [str((await post_event(client, admin, type=t))["id"]) for t in ("build", "deploy")]
    assert _locators(await _list(services, client, admin, base, pagingToken=end)) == later[1:]
    # Other filters with a token are a contradiction, not a silent choice of one of them.
    clash = await client.get(
        f"{base}/list", headers=admin, params={"type": "build", "pagingToken": end}
    )
    assert clash.status_code == 400
    assert clash.json()["details"][0]["field"] == "pagingToken"


async def test_token_carries_the_time_window(
    services: Services,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: SettableClock,
) -> None:
    base = await _base(client, admin)
    recorded: list[str] = []
    for minute in range(6):  # 10:00 .. 10:05
        clock.ns = parse_rfc3339("2024-01-15T10:00:00Z") + minute * MINUTE
        recorded.append(str((await post_event(client, admin, type="t"))["id"]))
    window = {"startTimestamp": "2024-01-15T10:01:00Z", "endTimestamp": "2024-01-15T11:03:00+01:00"}
    first = await _list(services, client, admin, base, pageSize=1, **window)
    assert _locators(first) == recorded[1:2]
    assert first["events"][0]["timestamp"] == "2024-01-15T10:01:00Z"
    pages, end = await _follow(services, client, admin, base, first["pagingToken"], page_size=1)
    assert pages == [recorded[2:3], recorded[3:4]]
    # Later events are outside the window: just after its end, or past the clock margin.
    for late in ("2024-01-15T10:03:00.000000001Z", "2024-01-15T10:20:00Z"):
        clock.ns = parse_rfc3339(late)
        await post_event(client, admin, type="t")
    assert (await _list(services, client, admin, base, pagingToken=end))["events"] == []


async def test_dates_bound_whole_days(
    services: Services,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: SettableClock,
) -> None:
    base = await _base(client, admin)
    ids: dict[str, str] = {}
    for moment in (
        "2024-01-14T23:59:59.999999999Z",
        "2024-01-15T00:00:00Z",
        "2024-01-15T23:59:59.999999999Z",
        "2024-01-16T00:00:00Z",
    ):
        clock.ns = parse_rfc3339(moment)
        ids[moment] = str((await post_event(client, admin, type="t"))["id"])
    body = await _list(
        services, client, admin, base, startTimestamp="2024-01-15", endTimestamp="2024-01-15"
    )
    assert _locators(body) == [ids["2024-01-15T00:00:00Z"], ids["2024-01-15T23:59:59.999999999Z"]]
    assert _locators(await _list(services, client, admin, base, startTimestamp="2024-01-16")) == [
        ids["2024-01-16T00:00:00Z"]
    ]
    assert _locators(await _list(services, client, admin, base, endTimestamp="2024-01-14")) == [
        ids["2024-01-14T23:59:59.999999999Z"]
    ]


async def test_token_at_end_of_stream_returns_exactly_the_new_events(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = await _base(client, admin)
    for _ in range(3):
        await post_event(client, admin, type="t")
    pages, end = await _follow(
        services,
        client,
        admin,
        base,
        (await _list(services, client, admin, base, pageSize=2))["pagingToken"],
        2,
    )
    assert len(pages) == 1
    assert (await _list(services, client, admin, base, pagingToken=end))["events"] == []
    new = [
        str((await post_event(client, admin, type="t", payload={"n": n}))["id"]) for n in range(2)
    ]
    polled = await _list(services, client, admin, base, pagingToken=end)
    assert _locators(polled) == new
    # Reading does not consume: the saved token still answers the same, and the next is empty.
    assert _locators(await _list(services, client, admin, base, pagingToken=end)) == new
    assert (await _list(services, client, admin, base, pagingToken=polled["pagingToken"]))[
        "events"
    ] == []


async def test_tampered_or_garbage_tokens_are_400(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = await _base(client, admin)
    await post_event(client, admin, type="t")
    token = (await _list(services, client, admin, base, pageSize=1))["pagingToken"]
    body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    forged_body = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{body}.{flipped}", f"{forged_body}.{signature}", "garbage", "a.b.c"):
        response = await client.get(f"{base}/list", headers=admin, params={"pagingToken": bad})
        assert response.status_code == 400, bad
        assert response.json()["details"][0]["field"] == "pagingToken"


async def test_other_tenants_tokens_and_paths(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    assert created.status_code == 201, created.text
    acme = bearer(created.json()["data"]["admin_token"]["token"])
    ours_base, acme_base = await _base(client, admin), await _base(client, acme)
    ours = await post_event(client, admin, type="t")
    theirs = await post_event(client, acme, type="t")
    acme_page = await _list(services, client, acme, acme_base)
    assert _locators(acme_page) == [str(theirs["id"])]
    assert _locators(await _list(services, client, admin, ours_base)) == [str(ours["id"])]
    # Their token in our tenant: refused, never read against our stream.
    response = await client.get(
        f"{ours_base}/list", headers=admin, params={"pagingToken": acme_page["pagingToken"]}
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "pagingToken"
    # Their tenant's path: not found, for every endpoint, even for our system admin.
    for path in (f"{acme_base}/list", f"{acme_base}/{theirs['id']}", f"{acme_base}/request/x"):
        response = await client.get(path, headers=admin)
        assert response.status_code == 404, path
        assert response.json() == {
            "error": f"Tenant {acme_base.split('/')[2]} not found",
            "status": 404,
        }
    # Our own path never reaches their events.
    assert (await client.get(f"{ours_base}/{theirs['id']}", headers=admin)).status_code == 404


async def test_restricted_events_are_hidden_from_outsiders(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create_group(client, admin, "ops")
    insider = bearer(
        await create_service_account(client, admin, "ops-bot", roles=["reader"], groups=["ops"])
    )
    outsider = bearer(await create_service_account(client, admin, "other-bot", roles=["reader"]))
    base = await _base(client, admin)
    public, _ = await _record(client, admin, type="t")
    secret, secret_request = await _record(client, admin, type="t", allowed_groups=["ops"])
    expected = {
        "insider": (insider, [str(public["id"]), str(secret["id"])], 200, 1),
        "outsider": (outsider, [str(public["id"])], 404, 0),
    }
    for who, (headers, listed, get_status, of_request) in expected.items():
        assert _locators(await _list(services, client, headers, base)) == listed, who
        got = await client.get(f"{base}/{secret['id']}", headers=headers)
        assert got.status_code == get_status, who
        by_request = await client.get(f"{base}/request/{secret_request}", headers=headers)
        assert len(by_request.json()) == of_request, who
    assert (await client.get(f"{base}/{secret['id']}", headers=insider)).json() == _expected(secret)


async def test_permissions(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    base = await _base(client, admin)
    stored, request_id = await _record(client, admin, type="t")
    paths = {
        "get": f"{base}/{stored['id']}",
        "request": f"{base}/request/{request_id}",
        "list": f"{base}/list",
    }
    role = await client.post(
        "/api/v1/roles", headers=admin, json={"name": "peeker", "permissions": ["events:read"]}
    )
    assert role.status_code == 201, role.text
    reader_only = bearer(await create_service_account(client, admin, "peek", roles=["peeker"]))
    nobody = bearer(await create_service_account(client, admin, "nobody"))
    expected = {
        "anonymous": ({}, {"get": 401, "request": 401, "list": 401}),
        "events:read only": (reader_only, {"get": 200, "request": 200, "list": 403}),
        "no permission": (nobody, {"get": 403, "request": 403, "list": 403}),
    }
    for who, (headers, statuses) in expected.items():
        got = {
            name: (await client.get(path, headers=headers)).status_code
            for name, path in paths.items()
        }
        assert got == statuses, who
    denied = await client.get(paths["list"], headers=reader_only)
    assert denied.json() == {"error": "Permission 'events:list' is required", "status": 403}


@pytest.mark.parametrize("path", ["/list", "/1", "/request/abc"])
async def test_tenant_locator_must_be_a_uuid(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    await post_event(client, admin, type="t")
    tenant = (await _me(client, admin))["tenant"]
    for malformed in ("not-a-uuid", tenant.replace("-", ""), f"{tenant}0", f"{tenant}%0A"):
        response = await client.get(f"/event/{malformed}/events{path}", headers=admin)
        assert response.status_code == 400, malformed
        assert response.json()["details"] == [
            {"field": "tenantLocator", "message": "must be a UUID (8-4-4-4-12 hexadecimal digits)"}
        ]
    stranger = "00000000-0000-4000-8000-000000000000"
    response = await client.get(f"/event/{stranger}/events{path}", headers=admin)
    assert response.json() == {"error": f"Tenant {stranger} not found", "status": 404}
    # Case does not matter in a UUID.
    response = await client.get(f"/event/{tenant.upper()}/events{path}", headers=admin)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "locator",
    [
        "abc",
        "0",
        "-1",
        "007",  # not how the event 7 is written: locators are compared as strings
        "1.5",
        "1_0",
        "1%0A",  # "1" and a newline: a regular expression's `$` would have let it through
        "9223372036854775807",  # the largest id: well formed, but there is no such event
        "9223372036854775808",  # past int64
        "99999999999999999999999999",
    ],
)
async def test_unknown_or_malformed_locators_are_404(
    client: httpx.AsyncClient, admin: dict[str, str], locator: str
) -> None:
    for _ in range(10):
        await post_event(client, admin, type="t")
    base = await _base(client, admin)
    response = await client.get(f"{base}/{locator}", headers=admin)
    assert response.json() == {
        "error": f"Event with ID {unquote(locator)} not found",
        "status": 404,
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "1001"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"startTimestamp": "yesterday"}, "startTimestamp"),
        ({"endTimestamp": "2024-01-15T10:00:00"}, "endTimestamp"),  # no time zone
        ({"endTimestamp": "2024-02-30"}, "endTimestamp"),
        ({"startTimestamp": "2024-01-16", "endTimestamp": "2024-01-15"}, "startTimestamp"),
        (
            {"startTimestamp": "2024-01-15T10:00:01Z", "endTimestamp": "2024-01-15T10:00:00Z"},
            "startTimestamp",
        ),
        ({"type": ""}, "type"),
    ],
)
async def test_list_parameters_are_checked(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], field: str
) -> None:
    base = await _base(client, admin)
    response = await client.get(f"{base}/list", headers=admin, params=params)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field


async def test_the_largest_page_size_is_accepted(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = await _base(client, admin)
    stored = await post_event(client, admin, type="t")
    body = await _list(services, client, admin, base, pageSize=1000)
    assert _locators(body) == [str(stored["id"])]
