"""EscapeKit's event service (`seeds/004_…txt`): the audit-trail queries and `create-event`.

The subscription endpoints of the document are a later issue and are not tested here.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.api.helpers import bearer, create_group, create_service_account, post_event
from tidings.services.runtime import Services

CREATE = "/internal/create-event"
QUERY = "/api/v1/events/query"

# The document's `Event` example, and its `Events` example (two events).
DOC_EVENT: dict[str, Any] = {
    "allowed_groups": ["my-group", "your-group"],
    "id": "123",
    "inventory_project": "test",
    "timestamp": 12343434343434,
    "type": "CREATE_INVENTORY_PROJECT",
    "username": "user",
}
DOC_EVENTS: list[dict[str, Any]] = [
    {
        "id": "123",
        "inventory_project": "test",
        "timestamp": 12343434343434,
        "type": "CREATE_INVENTORY_PROJECT",
        "username": "user",
    },
    {
        "allowed_groups": ["my-group", "your-group"],
        "id": "124",
        "state_project": "state-test",
        "timestamp": 12343434343435,
        "type": "CREATE_STATE_PROJECT",
        "username": "user",
    },
]

# A small platform: two inventory projects, two applications, two versions; two state projects,
# two environments, two deployments. Each row: label, type, timestamp, scope path.
# The scene is posted in label order, which is not timestamp order.
SCENE: list[tuple[str, str, int, str]] = [
    ("inv-alpha", "CREATE_INVENTORY_PROJECT", 1_000, "inventory:alpha"),
    ("app-alpha-web", "NEW_INVENTORY_APPLICATION", 2_000, "inventory:alpha/web"),
    ("rel-alpha-web-1", "UPLOAD_INVENTORY_APPLICATION", 3_000, "inventory:alpha/web/1.0"),
    ("rel-alpha-web-2", "UPLOAD_INVENTORY_APPLICATION", 4_000, "inventory:alpha/web/2.0"),
    ("rel-alpha-api-1", "UPLOAD_INVENTORY_APPLICATION", 5_000, "inventory:alpha/api/1.0"),
    ("inv-beta", "CREATE_INVENTORY_PROJECT", 6_000, "inventory:beta"),
    ("rel-beta-web-1", "UPLOAD_INVENTORY_APPLICATION", 7_000, "inventory:beta/web/1.0"),
    ("state-alpha", "CREATE_STATE_PROJECT", 8_000, "state:alpha"),
    ("env-alpha-prod", "CREATE_STATE_ENVIRONMENT", 9_000, "state:alpha/prod"),
    ("dep-alpha-prod-d1", "CREATE_STATE_DEPLOYMENT", 10_000, "state:alpha/prod/d1"),
    ("dep-alpha-prod-d2", "UPDATE_STATE_DEPLOYMENT", 11_000, "state:alpha/prod/d2"),
    ("env-alpha-staging", "CREATE_STATE_ENVIRONMENT", 12_000, "state:alpha/staging"),
    ("dep-alpha-staging-d1", "CREATE_STATE_DEPLOYMENT", 13_000, "state:alpha/staging/d1"),
    ("state-beta", "CREATE_STATE_PROJECT", 14_000, "state:beta"),
    # The same instant as signup; posted first, so it has the lower id and comes after it.
    ("confirm", "USER_CONFIRMED", 15_000, ""),
    ("signup", "USER_SIGNUP", 15_000, ""),
    ("dep-beta-prod-d1", "CREATE_STATE_DEPLOYMENT", 16_000, "state:beta/prod/d1"),
]
# Who may see what (unrestricted unless listed), and who the scene's events name.
EXTRA: dict[str, dict[str, Any]] = {
    "rel-alpha-web-2": {"allowed_groups": ["my-group"]},
    "rel-alpha-api-1": {"allowed_groups": ["other-group"]},
    "dep-alpha-prod-d1": {"allowed_groups": ["my-group", "your-group"]},
    "dep-alpha-staging-d1": {"allowed_groups": ["other-group"]},
    "confirm": {"username": "alice"},
    "signup": {"username": "alice"},
    "dep-beta-prod-d1": {"allowed_roles": ["auditor"]},
}
SCOPE_FIELDS = {
    "inventory": ("inventory_project", "inventory_application", "inventory_version"),
    "state": ("state_project", "state_environment", "state_deployment"),
}
# What an admin sees on each endpoint, newest first.
ENDPOINTS: list[tuple[str, str]] = [
    (
        f"{QUERY}/",
        "dep-beta-prod-d1 signup confirm state-beta dep-alpha-staging-d1 env-alpha-staging "
        "dep-alpha-prod-d2 dep-alpha-prod-d1 env-alpha-prod state-alpha rel-beta-web-1 inv-beta "
        "rel-alpha-api-1 rel-alpha-web-2 rel-alpha-web-1 app-alpha-web inv-alpha",
    ),
    (
        f"{QUERY}/inventory/",
        "rel-beta-web-1 inv-beta rel-alpha-api-1 rel-alpha-web-2 rel-alpha-web-1 app-alpha-web "
        "inv-alpha",
    ),
    (
        f"{QUERY}/inventory/alpha/",
        "rel-alpha-api-1 rel-alpha-web-2 rel-alpha-web-1 app-alpha-web inv-alpha",
    ),
    (f"{QUERY}/inventory/alpha/web/", "rel-alpha-web-2 rel-alpha-web-1 app-alpha-web"),
    (f"{QUERY}/inventory/alpha/web/1.0/", "rel-alpha-web-1"),
    (f"{QUERY}/inventory/alpha/api/1.0/", "rel-alpha-api-1"),
    (f"{QUERY}/inventory/beta/web/1.0/", "rel-beta-web-1"),
    (f"{QUERY}/inventory/gamma/", ""),
    (
        f"{QUERY}/project/",
        "dep-beta-prod-d1 state-beta dep-alpha-staging-d1 env-alpha-staging dep-alpha-prod-d2 "
        "dep-alpha-prod-d1 env-alpha-prod state-alpha",
    ),
    (
        f"{QUERY}/project/alpha/",
        "dep-alpha-staging-d1 env-alpha-staging dep-alpha-prod-d2 dep-alpha-prod-d1 "
        "env-alpha-prod state-alpha",
    ),
    (f"{QUERY}/project/alpha/prod/", "dep-alpha-prod-d2 dep-alpha-prod-d1 env-alpha-prod"),
    (f"{QUERY}/project/alpha/prod/deployment", "dep-alpha-prod-d2 dep-alpha-prod-d1"),
    (f"{QUERY}/project/alpha/prod/deployment?deployment=d1", "dep-alpha-prod-d1"),
    (f"{QUERY}/project/alpha/staging/deployment", "dep-alpha-staging-d1"),
    (f"{QUERY}/project/alpha/staging/deployment?deployment=d2", ""),
    (f"{QUERY}/project/beta/prod/deployment", "dep-beta-prod-d1"),
]
# Restricted to groups or roles other than the reader's (my-group) and the auditor's (role).
HIDDEN_FROM_MY_GROUP = {"rel-alpha-api-1", "dep-alpha-staging-d1", "dep-beta-prod-d1"}
HIDDEN_FROM_AUDITOR = {
    "rel-alpha-api-1",
    "dep-alpha-staging-d1",
    "rel-alpha-web-2",
    "dep-alpha-prod-d1",
}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """Record one event through create-event and return the answer."""
    response = await client.post(CREATE, headers=headers, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def build_scene(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """Record the scene; returns each label's event id."""
    ids: dict[str, str] = {}
    for label, type_, timestamp, scope in sorted(SCENE):
        kind, _, path = scope.partition(":")
        fields = dict(zip(SCOPE_FIELDS[kind], path.split("/"), strict=False)) if kind else {}
        body = {"type": type_, "timestamp": timestamp, **fields, **EXTRA.get(label, {})}
        ids[label] = (await create(client, admin, body))["id"]
    return ids


async def fetch(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> list[Any]:
    """One query answer's body, checked to be a 200 JSON array."""
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"] == "application/json"
    body: list[Any] = response.json()
    return body


async def walk(
    client: httpx.AsyncClient, headers: dict[str, str], url: str
) -> list[list[dict[str, Any]]]:
    """Every page of a query, following the Link header until it is absent."""
    pages: list[list[dict[str, Any]]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.headers.get("x-next-cursor")
        link = response.links.get("next")
        if link is None:
            assert cursor is None
            next_url = None
        else:
            assert cursor is not None
            next_url = link["url"]
            assert next_url.endswith(f"&cursor={cursor}")
        assert len(pages) <= 20, "the cursor does not advance"
    return pages


@pytest.fixture
async def filler(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Events 1..122, older than the document's examples, so those get ids 123 and 124."""
    events = [{"trigger_ref": "filler", "occurred_at": "1970-01-01T00:00:00Z"}] * 122
    response = await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    assert response.status_code == 201


async def test_document_event_example_round_trips(
    client: httpx.AsyncClient, admin: dict[str, str], filler: None
) -> None:
    body = {k: v for k, v in DOC_EVENT.items() if k != "id"}
    response = await client.post(CREATE, headers=admin, json=body)
    assert response.status_code == 201
    assert response.json() == DOC_EVENT
    assert b'"timestamp":12343434343434,' in response.content  # a JSON number, not a string
    assert await fetch(client, admin, f"{QUERY}/inventory/test/") == [DOC_EVENT]


async def test_document_events_example_reads_back_newest_first(
    client: httpx.AsyncClient, admin: dict[str, str], filler: None
) -> None:
    first = {k: v for k, v in DOC_EVENTS[0].items() if k != "id"}
    # The schema table types the timestamp as a string: a string of digits is accepted too.
    second = {k: v for k, v in DOC_EVENTS[1].items() if k != "id"}
    second["timestamp"] = str(second["timestamp"])
    assert await create(client, admin, first) == DOC_EVENTS[0]
    assert await create(client, admin, second) == DOC_EVENTS[1]
    assert await fetch(client, admin, f"{QUERY}/?limit=2") == [DOC_EVENTS[1], DOC_EVENTS[0]]
    assert await fetch(client, admin, f"{QUERY}/inventory/") == [DOC_EVENTS[0]]
    assert await fetch(client, admin, f"{QUERY}/project/") == [DOC_EVENTS[1]]
    assert await fetch(client, admin, f"{QUERY}/project/state-test/") == [DOC_EVENTS[1]]


async def test_every_query_endpoint_returns_its_subset_newest_first(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await build_scene(client, admin)
    for url, expected in ENDPOINTS:
        body = await fetch(client, admin, url)
        assert [event["id"] for event in body] == [ids[label] for label in expected.split()], url
    deployment = await fetch(client, admin, f"{QUERY}/project/alpha/prod/deployment?deployment=d1")
    assert deployment == [
        {
            "allowed_groups": ["my-group", "your-group"],
            "id": ids["dep-alpha-prod-d1"],
            "state_deployment": "d1",
            "state_environment": "prod",
            "state_project": "alpha",
            "timestamp": 10_000,
            "type": "CREATE_STATE_DEPLOYMENT",
        }
    ]


async def test_readers_see_their_groups_and_unrestricted_events_only(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await build_scene(client, admin)
    await create_group(client, admin, "my-group")
    role = {"name": "auditor", "permissions": ["events:list", "events:read"]}
    assert (await client.post("/api/v1/roles", headers=admin, json=role)).status_code == 201
    reader = bearer(
        await create_service_account(client, admin, "reader", roles=["reader"], groups=["my-group"])
    )
    auditor = bearer(await create_service_account(client, admin, "auditor", roles=["auditor"]))
    for headers, hidden in ((reader, HIDDEN_FROM_MY_GROUP), (auditor, HIDDEN_FROM_AUDITOR)):
        for url, expected in ENDPOINTS:
            visible = [ids[label] for label in expected.split() if label not in hidden]
            body = await fetch(client, headers, url)
            assert [event["id"] for event in body] == visible, url
    mine = await fetch(client, reader, f"{QUERY}/inventory/alpha/web/2.0/")
    assert [event["id"] for event in mine] == [ids["rel-alpha-web-2"]]
    assert await fetch(client, reader, f"{QUERY}/inventory/alpha/api/1.0/") == []


async def test_reading_needs_the_list_permission(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    nobody = bearer(await create_service_account(client, admin, "nobody"))
    response = await client.get(f"{QUERY}/", headers=nobody)
    assert response.status_code == 403
    assert response.json() == {"error": "Permission 'events:list' is required", "status": 403}
    assert (await client.get(f"{QUERY}/")).status_code == 401


async def test_pages_follow_the_link_header_without_gaps_or_duplicates(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await build_scene(client, admin)
    expected = dict(ENDPOINTS)
    pages = await walk(client, admin, f"{QUERY}/inventory/?limit=2")
    inventory = [ids[label] for label in expected[f"{QUERY}/inventory/"].split()]
    assert [[event["id"] for event in page] for page in pages] == [
        inventory[0:2],
        inventory[2:4],
        inventory[4:6],
        inventory[6:7],
    ]
    everything = await walk(client, admin, f"{QUERY}/?limit=2")
    seen = [event["id"] for page in everything for event in page]
    assert seen == [ids[label] for label in expected[f"{QUERY}/"].split()]
    assert [len(page) for page in everything] == [2, 2, 2, 2, 2, 2, 2, 2, 1]
    # A last page that ends exactly at the end has no link: the server looks one event ahead.
    state = await walk(client, admin, f"{QUERY}/project/alpha/?limit=3")
    assert [len(page) for page in state] == [3, 3]
    # Query parameters of the first call are kept in the link.
    response = await client.get(f"{QUERY}/project/alpha/prod/deployment?limit=1", headers=admin)
    cursor = response.headers["x-next-cursor"]
    assert response.headers["link"] == (
        f'<{QUERY}/project/alpha/prod/deployment?limit=1&cursor={cursor}>; rel="next"'
    )


async def test_default_page_size_is_100(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    events = [{"trigger_ref": "bulk", "inventory_project": "big"}] * 101
    response = await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    assert response.status_code == 201
    first = await client.get(f"{QUERY}/inventory/big/", headers=admin)
    assert len(first.json()) == 100
    rest = await client.get(first.links["next"]["url"], headers=admin)
    assert len(rest.json()) == 1
    assert "link" not in rest.headers
    assert "x-next-cursor" not in rest.headers


async def test_bad_cursors_and_limits_are_400(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await build_scene(client, admin)
    response = await client.get(f"{QUERY}/inventory/?limit=2", headers=admin)
    cursor = response.headers["x-next-cursor"]
    body, signature = cursor.split(".")
    tampered = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    cases = {
        f"{QUERY}/inventory/?cursor={tampered}": ("cursor", "cursor is not valid"),
        f"{QUERY}/project/?cursor={cursor}": ("cursor", "cursor belongs to a different query"),
        f"{QUERY}/inventory/?cursor=garbage": ("cursor", "cursor is malformed"),
        f"{QUERY}/?limit=0": ("limit", "Input should be greater than or equal to 1"),
        f"{QUERY}/?limit=1001": ("limit", "Input should be less than or equal to 1000"),
        f"{QUERY}/?limit=many": (
            "limit",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        f"{QUERY}/project/a/b/deployment?deployment=": (
            "deployment",
            "String should have at least 1 character",
        ),
    }
    for url, (field, message) in cases.items():
        response = await client.get(url, headers=admin)
        assert response.status_code == 400, url
        assert response.json()["details"] == [{"field": field, "message": message}], url
        assert response.json()["error"] == f"Invalid query parameters: {field}: {message}"
    assert (await client.get(f"{QUERY}/?limit=1000", headers=admin)).status_code == 200


async def test_documented_paths_answer_directly_in_both_slash_forms(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await build_scene(client, admin)
    for url, expected in ENDPOINTS:
        path, _, query = url.partition("?")
        other = path.removesuffix("/") if path.endswith("/") else path + "/"
        if other == QUERY:
            continue  # see test_query_without_slash_reaches_escapekit
        for form in (path, other):
            response = await client.get(f"{form}?{query}", headers=admin)
            assert response.status_code == 200, form  # no redirect: httpx does not follow them
            assert [e["id"] for e in response.json()] == [ids[x] for x in expected.split()], form
    native = await client.get(f"/api/v1/events/{ids['signup']}", headers=admin)
    assert native.status_code == 200
    assert native.json()["data"]["username"] == "alice"


async def test_query_without_slash_reaches_escapekit(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create(client, admin, {"type": "USER_SIGNUP", "timestamp": 5})
    response = await client.get(QUERY, headers=admin)
    assert response.status_code == 200
    assert [event["timestamp"] for event in response.json()] == [5]


async def test_only_service_accounts_with_write_may_create(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    me = await client.get("/api/v1/auth/me", headers=admin)
    assert me.json()["data"]["kind"] == "service"  # the bootstrap admin is a service account
    user = {"name": "alice", "password": "correct horse battery", "roles": ["admin"]}
    assert (await client.post("/api/v1/users", headers=admin, json=user)).status_code == 201
    login = await client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": "correct horse battery"}
    )
    alice = bearer(login.json()["data"]["access_token"])
    reader = bearer(await create_service_account(client, admin, "reader", roles=["reader"]))
    writer = bearer(await create_service_account(client, admin, "writer", roles=["writer"]))
    event = {"type": "USER_SIGNUP", "username": "alice", "timestamp": 7}

    refused = await client.post(CREATE, headers=alice, json=event)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "/internal/create-event is for service accounts only; 'alice' is a user "
        "(record events as a user with POST /api/v1/events)",
        "status": 403,
    }
    refused = await client.post(CREATE, headers=reader, json=event)
    assert refused.status_code == 403
    assert refused.json() == {"error": "Permission 'events:write' is required", "status": 403}
    assert await fetch(client, admin, f"{QUERY}/") == []
    assert await fetch(client, alice, f"{QUERY}/") == []  # users may read

    stored = await create(client, writer, event)
    assert stored == {
        "id": stored["id"],
        "timestamp": 7,
        "type": "USER_SIGNUP",
        "username": "alice",
    }
    assert await fetch(client, reader, f"{QUERY}/") == [stored]


async def test_create_stores_every_field_and_defaults_the_timestamp_to_now(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    full = {
        "type": "UPLOAD_INVENTORY_APPLICATION",
        "timestamp": 2**63 - 1,
        "username": "user",
        "allowed_groups": ["my-group", "my-group"],
        "allowed_roles": ["auditor"],
        "data": {"size": 3, "tags": ["a", {"b": None}]},
        "inventory_project": "p",
        "inventory_application": "a",
        "inventory_version": "v",
        "inventory_namespace": "n",
        "state_project": "sp",
        "state_environment": "se",
        "state_deployment": "sd",
    }
    stored = await create(client, admin, full)
    assert stored == {**full, "id": stored["id"], "allowed_groups": ["my-group"]}
    native = await client.get(f"/api/v1/events/{stored['id']}", headers=admin)
    data = native.json()["data"]
    assert (data["payload"], data["inventory_namespace"], data["state_deployment"]) == (
        full["data"],
        "n",
        "sd",
    )
    assert data["occurred_at"] == "2262-04-11T23:47:16.854775807Z"

    before = services.clock.now_ns()
    # A custom type outside the document's enum is accepted when it is a well-formed type.
    now = await create(client, admin, {"type": "custom.deploy-finished", "data": {}})
    after = services.clock.now_ns()
    assert before <= now["timestamp"] <= after
    assert now == {"id": now["id"], "timestamp": now["timestamp"], "type": "custom.deploy-finished"}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "bad type!"}, "type"),
        ({"type": ""}, "type"),
        ({"username": "user"}, "type"),  # type is required
        ({"type": "X", "timestamp": "abc"}, "timestamp"),
        ({"type": "X", "timestamp": "12.5"}, "timestamp"),
        ({"type": "X", "timestamp": 1.5}, "timestamp"),
        ({"type": "X", "timestamp": True}, "timestamp"),  # a JSON boolean is not a number here
        ({"type": "X", "timestamp": -1}, "timestamp"),
        ({"type": "X", "timestamp": 2**63}, "timestamp"),  # past int64 nanoseconds
        ({"type": "X", "timestamp": "9223372036854775808"}, "timestamp"),
        ({"type": "X", "timestamp": "1" * 400}, "timestamp"),
        ({"type": "X", "colour": "red"}, "colour"),
        ({"type": "X", "id": "123"}, "id"),  # ids are the server's to assign
        ({"type": "X", "data": [1]}, "data"),
        ({"type": "X", "data": _nested(33)}, "data"),  # deeper than max_payload_depth (32)
        ({"type": "X", "allowed_groups": ["bad group"]}, "allowed_groups.0"),
        ({"type": "X", "allowed_roles": "auditor"}, "allowed_roles"),
        ({"type": "X", "inventory_project": ""}, "inventory_project"),
        ({"type": "X", "state_deployment": "d" * 256}, "state_deployment"),
    ],
)
async def test_bad_events_are_400_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        CREATE, headers={**admin, "Content-Type": "application/json"}, content=orjson.dumps(body)
    )
    assert response.status_code == 400
    error = response.json()
    assert [d["field"] for d in error["details"]] == [field]
    assert error["error"].startswith(f"Invalid request data: {field}: ")
    assert await fetch(client, admin, f"{QUERY}/") == []


async def test_native_events_with_a_scope_show_up(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    native = await post_event(
        client,
        admin,
        trigger_ref="deployment",
        title="Not part of the EscapeKit shape",
        inventory_project="native",
        payload={"k": 1},
        occurred_at="2024-01-15T10:00:00Z",
    )
    expected = {
        "data": {"k": 1},
        "id": str(native["id"]),
        "inventory_project": "native",
        "timestamp": 1_705_312_800_000_000_000,
        "type": "deployment",
    }
    assert await fetch(client, admin, f"{QUERY}/inventory/") == [expected]
    assert await fetch(client, admin, f"{QUERY}/inventory/native/") == [expected]
    assert await fetch(client, admin, f"{QUERY}/project/") == []


async def test_openapi_lists_the_documented_paths_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/openapi.json", headers=admin)
    assert response.status_code == 200
    paths = response.json()["paths"]
    escapekit = sorted(p for p in paths if p.startswith((QUERY, "/internal/")))
    assert escapekit == [
        "/api/v1/events/query/",
        "/api/v1/events/query/inventory/",
        "/api/v1/events/query/inventory/{project}/",
        "/api/v1/events/query/inventory/{project}/{application}/",
        "/api/v1/events/query/inventory/{project}/{application}/{version}/",
        "/api/v1/events/query/project/",
        "/api/v1/events/query/project/{project}/",
        "/api/v1/events/query/project/{project}/{environment}/",
        "/api/v1/events/query/project/{project}/{environment}/deployment",
        "/internal/create-event",
    ]
    body = paths[CREATE]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/EscapeKitEventCreate"}
    schema = response.json()["components"]["schemas"]["EscapeKitEventCreate"]
    assert schema["required"] == ["type"]
    assert schema["additionalProperties"] is False
