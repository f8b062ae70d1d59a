"""Inbound webhooks: the registry of names a tenant accepts, and who may post to each.

`POST /api/v1/webhooks/{name}` records a `core.webhook_received` event. A sender authenticates
with a bearer token holding `events:write`, or, when it cannot send one (GitHub, Standard Webhooks
senders), by signing the raw body with the webhook's secret. The names are an allow-list: an
unregistered or disabled webhook records nothing, whichever way the sender authenticated.

Standard Webhooks signatures are computed by the `standardwebhooks` library (`Webhook.sign`: its
secret decoding and its `id.timestamp.body` message), but its `verify` is not used: it reads the
wall clock (the tolerance must follow the injected clock, so tests can move it), and malformed
headers make it raise ValueError or binascii.Error rather than its own error. The five-minute
tolerance and the constant-time comparison of each offered `v1,` signature are done here.
GitHub's `X-Hub-Signature-256` is a plain HMAC-SHA256 of the body, for which no library is needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tidings.domain.access import Permission, Principal, PrincipalKind, require
from tidings.domain.clock import Clock
from tidings.domain.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from tidings.domain.events import NewEvent
from tidings.domain.json import JSONObject
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.bootstrap import DEFAULT_TENANT
from tidings.services.database import Database
from tidings.services.secret_box import SecretBox, SecretUnreadable
from tidings.storage import tenants as tenant_store
from tidings.storage import webhooks as webhook_store

log = structlog.get_logger(__name__)

WEBHOOK_TRIGGER = "core.webhook_received"
SEAL_PURPOSE = "webhook-secret"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
NAME_RULE = "1-100 letters, digits and _ . -, starting with a letter or digit"
GENERATED_PREFIX = "whsec_"
SECRET_PATTERN = re.compile(r"[\x20-\x7e]{16,255}")
SIGNING_KEY_RULE = "16-255 printable ASCII characters"
# Standard Webhooks: a timestamp more than five minutes from now is refused (a replay guard).
TOLERANCE_NS = 5 * 60 * NS_PER_SECOND
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")  # Unix seconds, ASCII digits only
INVALID_SIGNATURE = "Invalid webhook signature"
# The request headers an event keeps in `config.headers`: what a rule may want to tell apart.
RECORDED_HEADERS = (
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "webhook-id",
    "user-agent",
    "content-type",
)
# The sender's delivery id doubles as the idempotency key: its retries record one event.
DELIVERY_HEADERS = ("x-github-delivery", "webhook-id")
DELIVERY_PATTERN = re.compile(r"[\x21-\x7e]{1,140}")


@dataclass(frozen=True)
class Webhook:
    """A registered webhook as callers see it: whether it has a secret, never the secret."""

    id: int
    name: str
    enabled: bool
    has_secret: bool
    created_at: int
    updated_at: int

    @property
    def endpoint(self) -> str:
        """The path senders post to."""
        return endpoint_of(self.name)


@dataclass(frozen=True)
class SavedWebhook:
    """A created or changed webhook, with the secret Tidings generated (shown this once)."""

    webhook: Webhook
    generated_secret: str | None = None


@dataclass(frozen=True)
class WebhookPage:
    """One page of webhooks by name, with the total."""

    items: list[Webhook]
    total: int


@dataclass(frozen=True)
class WebhookChanges:
    """What an update changes: `secret` replaces it, `remove_secret` drops it; None keeps."""

    enabled: bool | None = None
    secret: str | None = None
    generate_secret: bool = False
    remove_secret: bool = False


def endpoint_of(name: str) -> str:
    """The delivery path of a webhook."""
    return f"/api/v1/webhooks/{name}"


def generate_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 random bytes."""
    return GENERATED_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_problem(secret: str) -> str | None:
    """Why `secret` cannot be a webhook secret, or None."""
    if not SECRET_PATTERN.fullmatch(secret):
        return f"must be {SIGNING_KEY_RULE}"
    if secret.startswith(GENERATED_PREFIX):
        try:
            key = _signing_key(secret, validate=True)
        except binascii.Error:
            key = b""
        if not 24 <= len(key) <= 64:
            return f"a {GENERATED_PREFIX} secret must be followed by the base64 of 24-64 bytes"
    return None


def _signing_key(secret: str, *, validate: bool = False) -> bytes:
    """Standard Webhooks keys are the base64 after `whsec_` (padding optional, as senders
    write it either way); any other secret is its own bytes."""
    if secret.startswith(GENERATED_PREFIX):
        encoded = secret.removeprefix(GENERATED_PREFIX)
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=validate)
    return secret.encode()


def github_signature_valid(secret: str, body: bytes, header: str) -> bool:
    """`X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode("latin-1"))


def standard_signature_valid(
    secret: str, body: bytes, headers: Mapping[str, str], *, now_ns: int
) -> bool:
    """`webhook-id`, `webhook-timestamp` (within five minutes) and a matching `v1,` signature."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    offered = headers.get("webhook-signature")
    if not msg_id or not offered or not TIMESTAMP_PATTERN.fullmatch(stamp):
        return False
    seconds = int(stamp)
    if abs(seconds * NS_PER_SECOND - now_ns) > TOLERANCE_NS:
        return False
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return False
    signer = StandardWebhook(_signing_key(secret))
    expected = signer.sign(msg_id, datetime.fromtimestamp(seconds, tz=UTC), text)
    digest = base64.b64decode(expected.removeprefix("v1,"))
    for candidate in offered.split():
        version, _, encoded = candidate.partition(",")
        try:
            given = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if version == "v1" and hmac.compare_digest(digest, given):
            return True
    return False


def signature_valid(secret: str, body: bytes, headers: Mapping[str, str], *, now_ns: int) -> bool:
    """Whether either scheme's headers are present and verify against `secret`."""
    github = headers.get("x-hub-signature-256")
    if github is not None and github_signature_valid(secret, body, github):
        return True
    return headers.get("webhook-signature") is not None and standard_signature_valid(
        secret, body, headers, now_ns=now_ns
    )


def delivery_key(name: str, headers: Mapping[str, str]) -> str | None:
    """The idempotency key of a delivery (`webhook:<name>:<delivery id>`), or None."""
    for header in DELIVERY_HEADERS:
        value = headers.get(header)
        if value is None:
            continue
        if not DELIVERY_PATTERN.fullmatch(value):
            problem = FieldProblem(header, "must be 1-140 printable ASCII characters")
            raise InvalidInput.of(problem, location="request headers")
        return f"webhook:{name}:{value}"
    return None


def webhook_event(name: str, payload: JSONObject, headers: Mapping[str, str]) -> NewEvent:
    """The `core.webhook_received` event a delivery records."""
    recorded: JSONObject = {h: v for h in RECORDED_HEADERS if (v := headers.get(h)) is not None}
    config: JSONObject = {
        "endpoint": endpoint_of(name),
        "method": "POST",
        "webhook": name,
        "headers": recorded,
    }
    return NewEvent(
        type=WEBHOOK_TRIGGER, payload=payload, config=config, source_ref=f"webhook:{name}"
    )


def sender_principal(name: str, *, tenant_id: int, tenant_locator: str) -> Principal:
    """Who a signed delivery acts as: no account (id 0), only `events:write`."""
    return Principal(
        id=0,
        locator=f"webhook:{name}",
        tenant_id=tenant_id,
        tenant_locator=tenant_locator,
        name=f"webhook:{name}",
        kind=PrincipalKind.SERVICE,
        permissions=frozenset({Permission.EVENTS_WRITE.value}),
    )


def _check(name: str | None, secret: str | None) -> None:
    problems: list[FieldProblem] = []
    if name is not None and not NAME_PATTERN.fullmatch(name):
        problems.append(FieldProblem("name", f"must be {NAME_RULE}"))
    if secret is not None and (problem := secret_problem(secret)):
        problems.append(FieldProblem("secret", problem))
    if problems:
        raise InvalidInput.of(*problems)


def _view(row: webhook_store.WebhookRow) -> Webhook:
    return Webhook(
        id=row.id,
        name=row.name,
        enabled=row.enabled,
        has_secret=row.sealed_secret is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class WebhookAdmin:
    """The webhook registry (CRUD) and the admission of deliveries."""

    def __init__(self, db: Database, *, clock: Clock, box: SecretBox) -> None:
        self._db = db
        self._clock = clock
        self._box = box

    @asynccontextmanager
    async def _changing(self, name: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._db.transaction() as conn:
                yield conn
        except IntegrityError:  # a concurrent create of the same name won the race
            raise Conflict(f"Webhook '{name}' already exists") from None

    def _seal(self, secret: str | None, tenant_id: int) -> bytes | None:
        if secret is None:
            return None
        return self._box.seal(secret, purpose=SEAL_PURPOSE, tenant_id=tenant_id)

    async def list_webhooks(self, principal: Principal, *, page: int, per_page: int) -> WebhookPage:
        """A page of the tenant's webhooks, by name."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            rows, total = await webhook_store.list_webhooks(
                conn, tenant_id=principal.tenant_id, offset=(page - 1) * per_page, limit=per_page
            )
        return WebhookPage([_view(r) for r in rows], total)

    async def get_webhook(self, principal: Principal, *, name: str) -> Webhook:
        """One webhook, or NotFound `Webhook 'x' not found`."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            return _view(await self._existing(conn, principal.tenant_id, name))

    async def create_webhook(
        self,
        principal: Principal,
        *,
        name: str,
        secret: str | None = None,
        generate: bool = False,
        enabled: bool = True,
    ) -> SavedWebhook:
        """Register a name; 400 for a bad name or secret, 409 if the name is taken."""
        require(principal, Permission.PACKS_WRITE)
        _check(name, secret)
        if secret is not None and generate:
            problem = FieldProblem("generate_secret", "give either secret or generate_secret")
            raise InvalidInput.of(problem)
        generated = generate_secret() if generate else None
        async with self._changing(name) as conn:
            if await webhook_store.find_webhook(conn, tenant_id=principal.tenant_id, name=name):
                raise Conflict(f"Webhook '{name}' already exists")
            row = await webhook_store.insert_webhook(
                conn,
                tenant_id=principal.tenant_id,
                name=name,
                sealed_secret=self._seal(generated or secret, principal.tenant_id),
                enabled=enabled,
                now=self._clock.now_ns(),
            )
        return SavedWebhook(_view(row), generated)

    async def update_webhook(
        self, principal: Principal, *, name: str, changes: WebhookChanges
    ) -> SavedWebhook:
        """Enable, disable, or set, generate or remove the secret; nothing given changes nothing."""
        require(principal, Permission.PACKS_WRITE)
        _check(None, changes.secret)
        given = (changes.secret is not None) + changes.generate_secret + changes.remove_secret
        if given > 1:
            problem = FieldProblem("secret", "give one of secret, secret: null, generate_secret")
            raise InvalidInput.of(problem)
        generated = generate_secret() if changes.generate_secret else None
        values: dict[str, object] = {}
        if changes.enabled is not None:
            values["enabled"] = changes.enabled
        if given:
            values["sealed_secret"] = self._seal(generated or changes.secret, principal.tenant_id)
        async with self._changing(name) as conn:
            row = await self._existing(conn, principal.tenant_id, name)
            if values:
                row = await webhook_store.update_webhook(
                    conn,
                    tenant_id=principal.tenant_id,
                    webhook_id=row.id,
                    values=values,
                    now=self._clock.now_ns(),
                )
        return SavedWebhook(_view(row), generated)

    async def delete_webhook(self, principal: Principal, *, name: str) -> None:
        """Unregister a name; later deliveries to it are 404s, its events stay."""
        require(principal, Permission.PACKS_WRITE)
        async with self._changing(name) as conn:
            row = await self._existing(conn, principal.tenant_id, name)
            await webhook_store.delete_webhook(
                conn, tenant_id=principal.tenant_id, webhook_id=row.id
            )

    async def admit(
        self,
        *,
        principal: Principal | None,
        name: str,
        tenant_locator: str | None,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Principal:
        """Who a delivery records its event as: the token's principal, or the signed sender.

        With a token (`principal`), the webhook must exist in the token's tenant and be enabled;
        its secret is not checked. Without one, the webhook is looked up in the tenant named by
        `tenant_locator` (default: the `default` tenant) and the body must carry a valid
        signature made with its secret: 404, then 401, then 403 when it is disabled.
        """
        if principal is not None:
            require(principal, Permission.EVENTS_WRITE)
            async with self._db.read() as conn:
                row = await self._existing(conn, principal.tenant_id, name)
            if not row.enabled:
                raise Forbidden(f"Webhook '{name}' is disabled")
            return principal
        async with self._db.read() as conn:
            if tenant_locator is None:
                tenant = await tenant_store.find_tenant(conn, name=DEFAULT_TENANT)
            else:
                tenant = await tenant_store.find_tenant(conn, locator=tenant_locator)
            if tenant is None:  # the same answer as an unknown name: locators are not probed
                raise NotFound(f"Webhook '{name}' not found")
            row = await self._existing(conn, tenant.id, name)
        secret = self._secret_of(row)
        now = self._clock.now_ns()
        if secret is None or not signature_valid(secret, body, headers, now_ns=now):
            raise Unauthenticated(INVALID_SIGNATURE)
        if not row.enabled:
            raise Forbidden(f"Webhook '{name}' is disabled")
        return sender_principal(name, tenant_id=tenant.id, tenant_locator=tenant.locator)

    def _secret_of(self, row: webhook_store.WebhookRow) -> str | None:
        if row.sealed_secret is None:
            return None
        try:
            secret = self._box.open(
                row.sealed_secret, purpose=SEAL_PURPOSE, tenant_id=row.tenant_id
            )
        except SecretUnreadable:
            # The instance key changed since the secret was set: only a new secret mends it.
            log.error("webhook.secret_unreadable", tenant_id=row.tenant_id, webhook=row.name)
            return None
        return secret if isinstance(secret, str) else None

    async def _existing(
        self, conn: AsyncConnection, tenant_id: int, name: str
    ) -> webhook_store.WebhookRow:
        row = await webhook_store.find_webhook(conn, tenant_id=tenant_id, name=name)
        if row is None:
            raise NotFound(f"Webhook '{name}' not found")
        return row
