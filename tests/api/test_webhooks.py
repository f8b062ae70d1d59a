"""Inbound webhooks: the registry, and deliveries signed by GitHub or Standard Webhooks senders.

Signatures are made here the way each sender makes them: GitHub's with `hmac` (and checked
against the vector GitHub documents), Standard Webhooks' with the `standardwebhooks` library.
The services' clock is pinned, so the five-minute timestamp tolerance is tested to the second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.api.helpers import bearer, create_service_account
from tests.clocks import SettableClock
from tidings.domain.clock import Clock
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.runtime import Services
from tidings.services.webhooks import github_signature_valid
from tidings.storage.automation_tables import webhooks

T0 = "2024-01-15T10:00:00Z"
NOW = SettableClock(T0).ns // NS_PER_SECOND
GH_SECRET = "It's a Secret to Everybody"
GH_DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
BODY = b'{"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}'
PAYLOAD = {"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}
RECEIPT = {"data": {"id": 1, "trigger_ref": "core.webhook_received"}}
BAD_SIGNATURE = {"error": "Invalid webhook signature", "status": 401}
NO_TOKEN = {"error": "Missing bearer token", "status": 401}
UNSUPPORTED = (
    "Content-Type must be application/json, application/*+json or "
    "application/x-www-form-urlencoded (a payload field holding the JSON)"
)


@pytest.fixture
def clock() -> Clock:
    """Pinned at T0: Standard Webhooks timestamps are judged against it."""
    return SettableClock(T0)


def github(secret: str, body: bytes, **extra: str) -> dict[str, str]:
    """The headers GitHub sends, signed as GitHub signs."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": GH_DELIVERY,
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature-256": f"sha256={digest}",
        **extra,
    }


def standard(
    secret: str | bytes, body: bytes, *, at: int = NOW, msg_id: str = "msg_1"
) -> dict[str, str]:
    """The headers of a Standard Webhooks sender, signed by the reference library."""
    when = datetime.fromtimestamp(at, tz=UTC)
    signature = StandardWebhook(secret).sign(msg_id, when, body.decode())
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": signature,
        "User-Agent": "Svix-Webhooks/1.17.0",
    }


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "github", **fields: Any
) -> dict[str, Any]:
    """Register a webhook and return its create answer's data."""
    response = await client.post("/api/v1/webhooks", headers=headers, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def event_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[int]:
    """The ids of the tenant's webhook events, newest first."""
    url = "/api/v1/events?trigger_ref=core.webhook_received&per_page=100"
    return [e["id"] for e in (await client.get(url, headers=headers)).json()["data"]]


def test_github_signature_matches_githubs_documented_vector() -> None:
    # docs.github.com, "Validating webhook deliveries": this secret, this body, this signature.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert github_signature_valid(GH_SECRET, b"Hello, World!", expected) is True
    assert github_signature_valid(GH_SECRET, b"Hello, World?", expected) is False


async def test_registry_create_read_update_delete(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post(
        "/api/v1/webhooks", headers=admin, json={"name": "github", "secret": GH_SECRET}
    )
    view = {
        "id": 1,
        "name": "github",
        "endpoint": "/api/v1/webhooks/github",
        "enabled": True,
        "has_secret": True,
        "created": T0,
        "updated": T0,
    }
    assert created.status_code == 201
    assert created.json() == {"data": view, "message": "Webhook created successfully"}
    await register(client, admin, "alerts.v2")
    assert (await client.get("/api/v1/webhooks/github", headers=admin)).json() == {"data": view}
    listed = (await client.get("/api/v1/webhooks?per_page=1&page=2", headers=admin)).json()
    assert [w["name"] for w in listed["data"]] == ["github"]  # by name: alerts.v2, github
    assert listed["pagination"] == {"page": 2, "per_page": 1, "total": 2, "total_pages": 2}
    disabled = await client.put("/api/v1/webhooks/github", headers=admin, json={"enabled": False})
    assert disabled.json() == {
        "data": {**view, "enabled": False},
        "message": "Webhook updated successfully",
    }
    removed = await client.put("/api/v1/webhooks/github", headers=admin, json={"secret": None})
    assert removed.json()["data"]["has_secret"] is False
    deleted = await client.delete("/api/v1/webhooks/github", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "message": "Webhook 'github' deleted successfully"}
    gone = await client.get("/api/v1/webhooks/github", headers=admin)
    assert (gone.status_code, gone.json()) == (
        404,
        {"error": "Webhook 'github' not found", "status": 404},
    )


async def test_a_secret_is_never_returned_after_creation(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    created = await register(client, admin, "svix", generate_secret=True)
    secret = created["secret"]
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", secret)
    rotated = await client.put(
        "/api/v1/webhooks/svix", headers=admin, json={"generate_secret": True}
    )
    new_secret = rotated.json()["data"]["secret"]
    assert new_secret != secret
    own = await client.post(
        "/api/v1/webhooks", headers=admin, json={"name": "gh", "secret": GH_SECRET}
    )
    assert "secret" not in own.json()["data"]
    answers = [
        own,
        await client.get("/api/v1/webhooks", headers=admin),
        await client.get("/api/v1/webhooks/svix", headers=admin),
        await client.put("/api/v1/webhooks/svix", headers=admin, json={"enabled": True}),
        await client.put("/api/v1/webhooks/gh", headers=admin, json={"enabled": True}),
    ]
    for answer in answers:
        for shown in (secret, new_secret, GH_SECRET):
            assert shown.encode() not in answer.content
        assert b'"secret"' not in answer.content
    # The rotated secret is the one that verifies now.
    signed = await client.post(
        "/api/v1/webhooks/svix", content=BODY, headers=standard(new_secret, BODY)
    )
    assert signed.status_code == 201
    old = await client.post("/api/v1/webhooks/svix", content=BODY, headers=standard(secret, BODY))
    assert old.json() == BAD_SIGNATURE
    # At rest the secrets are sealed: no stored byte string contains one.
    async with services.db.read() as conn:
        stored = [bytes(r[0]) for r in await conn.execute(select(webhooks.c.sealed_secret))]
    assert len(stored) == 2
    assert not any(s.encode() in row for s in (new_secret, GH_SECRET) for row in stored)


async def test_an_unpadded_whsec_secret_is_accepted(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Senders write the base64 with or without padding; 25 bytes leave "=" off the end here.
    key = bytes(range(25))
    secret = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    await register(client, admin, "unpadded", secret=secret)
    signed = standard(key, BODY)
    answer = await client.post("/api/v1/webhooks/unpadded", content=BODY, headers=signed)
    assert answer.json() == RECEIPT


NAME_RULE = "must be 1-100 letters, digits and _ . -, starting with a letter or digit"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": ""}, f"name: {NAME_RULE}"),
        ({"name": ".hidden"}, f"name: {NAME_RULE}"),  # no leading dot: "." and ".." are paths
        ({"name": "a" * 101}, f"name: {NAME_RULE}"),
        ({"name": "a/b"}, f"name: {NAME_RULE}"),
        ({"name": 5}, "name: Input should be a valid string"),
        (
            {"name": "gh", "secret": "too short"},
            "secret: must be 16-255 printable ASCII characters",
        ),
        (
            {"name": "gh", "secret": "tab\tinside-the-secret"},
            "secret: must be 16-255 printable ASCII characters",
        ),
        # whsec_ promises base64 key bytes, so it must decode to a key of 24-64 bytes.
        (
            {"name": "gh", "secret": "whsec_not-base64-at-all!!"},
            "secret: a whsec_ secret must be followed by the base64 of 24-64 bytes",
        ),
        (
            {"name": "gh", "secret": GH_SECRET, "generate_secret": True},
            "generate_secret: give either secret or generate_secret",
        ),
        ({"name": "gh", "url": "x"}, "url: unknown field"),
    ],
)
async def test_registry_validation(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], message: str
) -> None:
    response = await client.post("/api/v1/webhooks", headers=admin, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == f"Invalid request data: {message}"


async def test_registry_conflicts_and_permissions(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await register(client, admin, "gh")
    again = await client.post("/api/v1/webhooks", headers=admin, json={"name": "gh"})
    assert again.json() == {"error": "Webhook 'gh' already exists", "status": 409}
    both = await client.put(
        "/api/v1/webhooks/gh", headers=admin, json={"secret": GH_SECRET, "generate_secret": True}
    )
    assert both.json()["error"] == (
        "Invalid request data: secret: give one of secret, secret: null, generate_secret"
    )
    reader = bearer(await create_service_account(client, admin, "bot", roles=["reader"]))
    assert (await client.get("/api/v1/webhooks/gh", headers=reader)).status_code == 200
    refused = {"error": "Permission 'packs:write' is required", "status": 403}
    assert (
        await client.post("/api/v1/webhooks", headers=reader, json={"name": "x"})
    ).json() == refused
    assert (await client.delete("/api/v1/webhooks/gh", headers=reader)).json() == refused
    no_events = {"error": "Permission 'events:write' is required", "status": 403}
    posted = await client.post("/api/v1/webhooks/gh", headers=reader, json={})
    assert posted.json() == no_events


async def test_a_github_delivery_records_the_documented_event(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await register(client, admin, "github", secret=GH_SECRET)
    response = await client.post(
        "/api/v1/webhooks/github", content=BODY, headers=github(GH_SECRET, BODY)
    )
    assert (response.status_code, response.json()) == (201, RECEIPT)
    event = (await client.get("/api/v1/events/1", headers=admin)).json()["data"]
    assert event["trigger_ref"] == event["type"] == "core.webhook_received"
    assert event["payload"] == PAYLOAD
    assert event["config"] == {
        "endpoint": "/api/v1/webhooks/github",
        "method": "POST",
        "webhook": "github",
        "headers": {
            "x-github-event": "push",
            "x-github-delivery": GH_DELIVERY,
            "x-github-hook-id": "292430182",
            "user-agent": "GitHub-Hookshot/044aadd",
            "content-type": "application/json",
        },
    }
    assert (event["source_ref"], event["actor"], event["created"]) == ("webhook:github", None, T0)


def _wrong_secret() -> tuple[bytes, dict[str, str]]:
    return BODY, github("not the secret at all", BODY)


def _changed_body() -> tuple[bytes, dict[str, str]]:
    return BODY.replace(b"main", b"evil"), github(GH_SECRET, BODY)


def _bare_hex() -> tuple[bytes, dict[str, str]]:
    headers = github(GH_SECRET, BODY)
    headers["X-Hub-Signature-256"] = headers["X-Hub-Signature-256"].removeprefix("sha256=")
    return BODY, headers


def _empty() -> tuple[bytes, dict[str, str]]:
    return BODY, {**github(GH_SECRET, BODY), "X-Hub-Signature-256": ""}


@pytest.mark.parametrize("forged", [_wrong_secret, _changed_body, _bare_hex, _empty])
async def test_a_bad_github_signature_records_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    forged: Callable[[], tuple[bytes, dict[str, str]]],
) -> None:
    await register(client, admin, "github", secret=GH_SECRET)
    body, headers = forged()
    response = await client.post("/api/v1/webhooks/github", content=body, headers=headers)
    assert (response.status_code, response.json()) == (401, BAD_SIGNATURE)
    assert await event_ids(client, admin) == []


@pytest.mark.parametrize(
    ("signed_at", "mangle", "status"),
    [
        (NOW, None, 201),
        (NOW - 300, None, 201),  # exactly five minutes old: still inside the tolerance
        (NOW - 301, None, 401),  # too old
        (NOW + 301, None, 401),  # too new
        (NOW, "v1,AAAA {sig}", 201),  # several signatures (key rotation): one must match
        (NOW, "v2,{b64}", 401),  # an unknown version never matches
        (NOW, "garbage", 401),  # malformed: refused, not a 500
        (NOW, "v1,%%%", 401),  # not base64
    ],
)
async def test_standard_webhooks_signatures(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    signed_at: int,
    mangle: str | None,
    status: int,
) -> None:
    secret = (await register(client, admin, "svix", generate_secret=True))["secret"]
    headers = standard(secret, BODY, at=signed_at)
    if mangle is not None:
        sig = headers["webhook-signature"]
        headers["webhook-signature"] = mangle.format(sig=sig, b64=sig.removeprefix("v1,"))
    response = await client.post("/api/v1/webhooks/svix", content=BODY, headers=headers)
    assert response.status_code == status
    assert response.json() == (RECEIPT if status == 201 else BAD_SIGNATURE)


async def test_standard_webhooks_signature_binds_the_message_id_and_a_plain_secret(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await register(client, admin, "plain", secret=GH_SECRET)
    # A secret without whsec_ is used as its own bytes, as GitHub uses it.
    headers = standard(GH_SECRET.encode(), BODY, msg_id="msg_a")
    swapped = {**headers, "webhook-id": "msg_b"}
    refused = await client.post("/api/v1/webhooks/plain", content=BODY, headers=swapped)
    assert refused.json() == BAD_SIGNATURE
    accepted = await client.post("/api/v1/webhooks/plain", content=BODY, headers=headers)
    assert accepted.json() == RECEIPT
    event = (await client.get("/api/v1/events/1", headers=admin)).json()["data"]
    assert event["config"]["headers"] == {
        "webhook-id": "msg_a",
        "user-agent": "Svix-Webhooks/1.17.0",
        "content-type": "application/json",
    }


async def test_a_token_suffices_and_the_name_must_be_registered_and_enabled(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await register(client, admin, "github", secret=GH_SECRET)
    writer = bearer(await create_service_account(client, admin, "ci", roles=["writer"]))
    # A token holder need not sign, even when the webhook has a secret.
    posted = await client.post("/api/v1/webhooks/github", headers=writer, json={"a": 1})
    assert posted.json() == RECEIPT
    me = (await client.get("/api/v1/auth/me", headers=writer)).json()["data"]
    event = (await client.get("/api/v1/events/1", headers=admin)).json()["data"]
    assert (event["actor"], event["payload"]) == (me["locator"], {"a": 1})
    missing = await client.post("/api/v1/webhooks/nope", headers=writer, json={})
    assert missing.json() == {"error": "Webhook 'nope' not found", "status": 404}
    await client.put("/api/v1/webhooks/github", headers=admin, json={"enabled": False})
    off = {"error": "Webhook 'github' is disabled", "status": 403}
    assert (await client.post("/api/v1/webhooks/github", headers=writer, json={})).json() == off
    # A signed delivery learns that it is disabled only once its signature is valid.
    signed = await client.post(
        "/api/v1/webhooks/github", content=BODY, headers=github(GH_SECRET, BODY)
    )
    assert signed.json() == off
    forged = await client.post(
        "/api/v1/webhooks/github", content=BODY, headers=github("x" * 16, BODY)
    )
    assert forged.json() == BAD_SIGNATURE
    unknown = await client.post(
        "/api/v1/webhooks/nope", content=BODY, headers=github(GH_SECRET, BODY)
    )
    assert unknown.json() == {"error": "Webhook 'nope' not found", "status": 404}
    assert await event_ids(client, admin) == [1]


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error"),
    [
        (JSON, b"[1, 2]", 400, "body: must be a JSON object, got an array"),
        (JSON, b'"push"', 400, "body: must be a JSON object, got a string"),
        (JSON, b"null", 400, "body: must be a JSON object, got null"),
        (JSON, b"", 400, "body: is not valid JSON"),
        (JSON, b'{"a": ', 400, "body: is not valid JSON"),
        (
            JSON,
            b'{"a": {"b": "x\\u0000"}}',
            400,
            "a.b: must not contain the NUL character (\\u0000)",
        ),
        (JSON, b'{"a": ' * 33 + b"1" + b"}" * 33, 400, "body: nests deeper than 32 levels"),
        (
            FORM,
            b"action=opened",
            400,
            "payload: a form-encoded body needs exactly one payload field",
        ),
        (FORM, b"payload=%5B%5D", 400, "payload: must be a JSON object, got an array"),
        (FORM, b"payload=%FF", 400, "body: is not a valid form-encoded body"),  # not UTF-8
        ("text/plain", b"{}", 415, UNSUPPORTED),
        ("application/cloudevents+json", b'{"specversion": "1.0"}', 201, None),  # any +json
    ],
)
async def test_the_body_must_be_a_json_object(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    content_type: str,
    body: bytes,
    status: int,
    error: str | None,
) -> None:
    await register(client, admin, "hook")
    headers = {**admin, "Content-Type": content_type}
    response = await client.post("/api/v1/webhooks/hook", content=body, headers=headers)
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"] == f"Invalid request data: {error}"
    elif status == 415:
        assert response.json() == {"error": UNSUPPORTED, "status": 415}


async def test_githubs_form_encoding_is_decoded(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await register(client, admin, "github", secret=GH_SECRET)
    form = b"payload=" + quote(BODY.decode(), safe="").encode()
    headers = github(GH_SECRET, form, **{"Content-Type": "application/x-www-form-urlencoded"})
    response = await client.post("/api/v1/webhooks/github", content=form, headers=headers)
    assert response.json() == RECEIPT
    event = (await client.get("/api/v1/events/1", headers=admin)).json()["data"]
    assert event["payload"] == PAYLOAD
    assert event["config"]["headers"]["content-type"] == "application/x-www-form-urlencoded"


async def test_a_retried_delivery_records_one_event(
    client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    await register(client, admin, "github", secret=GH_SECRET)
    secret = (await register(client, admin, "svix", generate_secret=True))["secret"]
    first = await client.post(
        "/api/v1/webhooks/github", content=BODY, headers=github(GH_SECRET, BODY)
    )
    again = await client.post(
        "/api/v1/webhooks/github", content=BODY, headers=github(GH_SECRET, BODY)
    )
    assert (first.content, again.content) == (first.content, first.content)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert "idempotent-replayed" not in first.headers
    # A Standard Webhooks retry a minute later: new timestamp and signature, same webhook-id.
    sent = await client.post("/api/v1/webhooks/svix", content=BODY, headers=standard(secret, BODY))
    clock.ns += 60 * NS_PER_SECOND
    retry_headers = standard(secret, BODY, at=NOW + 60)
    retried = await client.post("/api/v1/webhooks/svix", content=BODY, headers=retry_headers)
    assert (
        sent.json() == retried.json() == {"data": {"id": 2, "trigger_ref": "core.webhook_received"}}
    )
    assert await event_ids(client, admin) == [2, 1]
    # The same delivery id with another body is not a retry: refused, as Idempotency-Key is.
    other = b'{"ref": "refs/heads/other"}'
    clash = await client.post(
        "/api/v1/webhooks/github", content=other, headers=github(GH_SECRET, other)
    )
    assert clash.json() == {
        "error": "Idempotency-Key was already used for a different request; "
        "send a new key for a new request",
        "status": 422,
    }
    # The same delivery id at another webhook is another delivery.
    await register(client, admin, "mirror", secret=GH_SECRET)
    mirrored = await client.post(
        "/api/v1/webhooks/mirror", content=BODY, headers=github(GH_SECRET, BODY)
    )
    assert mirrored.json()["data"]["id"] == 3


async def test_a_tenant_is_chosen_by_its_locator(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    acme = bearer(made.json()["data"]["admin_token"]["token"])
    acme_locator = made.json()["data"]["locator"]
    await register(client, admin, "github", secret="default's own secret")
    await register(client, acme, "github", secret=GH_SECRET)
    await register(client, admin, "only-default")
    signed = github(GH_SECRET, BODY)
    # Without ?tenant= a signed delivery goes to the default tenant, whose secret differs.
    default = await client.post("/api/v1/webhooks/github", content=BODY, headers=signed)
    assert default.json() == BAD_SIGNATURE
    stray = await client.post(
        "/api/v1/webhooks/github?tenant=no-such-tenant", content=BODY, headers=signed
    )
    assert stray.json() == {"error": "Webhook 'github' not found", "status": 404}
    url = f"/api/v1/webhooks/github?tenant={acme_locator}"
    assert (await client.post(url, content=BODY, headers=signed)).json() == RECEIPT
    assert (await client.get("/api/v1/events/1", headers=acme)).status_code == 200
    assert (await client.get("/api/v1/events/1", headers=admin)).status_code == 404
    # A token writes only to its own tenant's webhooks, whatever ?tenant= says.
    theirs = await client.post("/api/v1/webhooks/only-default", headers=acme, json={})
    assert theirs.json() == {"error": "Webhook 'only-default' not found", "status": 404}


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/api/v1/events", {}),  # a signature opens the delivery route only
        ("POST", "/api/v1/webhooks", {}),
        ("GET", "/api/v1/webhooks/github", {}),
        ("PUT", "/api/v1/webhooks/github", {}),
        ("POST", "/api/v1/webhooks/github/", {}),
        ("POST", "/api/v1/webhooks/github", {"Authorization": "Basic Zm9vOmJhcg=="}),
        ("POST", "/api/v1/webhooks/github", {"X-Hub-Signature-256": None}),  # no signature
    ],
)
async def test_a_signature_header_opens_nothing_else(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    method: str,
    path: str,
    extra: dict[str, str | None],
) -> None:
    await register(client, admin, "github", secret=GH_SECRET)
    headers = {k: v for k, v in {**github(GH_SECRET, BODY), **extra}.items() if v is not None}
    response = await client.request(method, path, content=BODY, headers=headers)
    assert (response.status_code, response.json()) == (401, NO_TOKEN)


async def test_the_body_limit_holds(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    await register(client, admin, "github", secret=GH_SECRET)
    body = b'{"x": "' + b"a" * services.settings.max_body_bytes + b'"}'
    response = await client.post(
        "/api/v1/webhooks/github", content=body, headers=github(GH_SECRET, body)
    )
    assert response.status_code == 413
    assert await event_ids(client, admin) == []
