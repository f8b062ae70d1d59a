"""Subscriptions as their owners manage them: create, read, replace, delete, rotate the signing
secret, and EscapeKit's per-project list (seeds/004) mapped onto the same rows.

Reading needs `automation:read`, changing `subscriptions:write`. A subscription receives only
the events whoever last saved it may see (their groups and roles are stored with it), so it
cannot be used to read around visibility. A webhook subscription always signs: without a secret
of the subscriber's own, one is generated and shown in that one answer (and at rotation), never
again. Rotation keeps the old secret signing beside the new one for an overlap (a day by
default), so receivers can switch without a window where deliveries fail to verify.
"""

from __future__ import annotations

import secrets as token_source
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require, visibility_of
from tidings.domain.clock import Clock
from tidings.domain.delivery_retry import DEFAULT_DISABLE_AFTER_NS, NS
from tidings.domain.delivery_signatures import SigningError, check_secret, secret_from_bytes
from tidings.domain.errors import FieldProblem, InvalidInput, NotFound
from tidings.domain.json import JSONValue
from tidings.domain.subscriptions import (
    SubscriptionSpec,
    Target,
    check_spec,
    masked_url,
    policy_of,
)
from tidings.services.database import Database
from tidings.services.deliveries import Secrets, open_secrets, seal_secrets
from tidings.services.secret_box import SecretBox, SecretUnreadable
from tidings.services.subscription_matcher import visibility_document
from tidings.storage import subscriptions as store
from tidings.storage.subscriptions import SubscriptionRow

DEFAULT_OVERLAP_SECONDS = 86_400.0
MAX_OVERLAP_SECONDS = 7 * 86_400.0


@dataclass(frozen=True)
class Subscription:
    """A subscription as readers see it: no secret, a Slack URL masked."""

    row: SubscriptionRow
    secret_previous_until: int | None

    @property
    def shown_url(self) -> str | None:
        """The URL as reads show it."""
        url = self.row.url
        if url is None or self.row.target != Target.SLACK:
            return url
        return masked_url(url)


@dataclass(frozen=True)
class SavedSubscription:
    """A saved subscription, and the secret Tidings generated for it (shown this once)."""

    subscription: Subscription
    generated_secret: str | None = None


def generate_secret() -> str:
    """A fresh `whsec_` secret of 32 random bytes."""
    return secret_from_bytes(token_source.token_bytes(32))


def _not_found(subscription_id: int) -> NotFound:
    return NotFound(f"Subscription with ID {subscription_id} not found")


class SubscriptionAdmin:
    """The subscriptions API's service."""

    def __init__(self, db: Database, *, box: SecretBox, clock: Clock) -> None:
        self._db = db
        self._box = box
        self._clock = clock

    def view(self, row: SubscriptionRow) -> Subscription:
        """A row as readers see it."""
        until = None
        if row.sealed_secrets is not None:
            try:
                opened = open_secrets(self._box, row.sealed_secrets, tenant_id=row.tenant_id)
            except SecretUnreadable:
                opened = None
            now = self._clock.now_ns()
            if opened and opened.previous_until is not None and opened.previous_until > now:
                until = opened.previous_until
        return Subscription(row, until)

    async def page(
        self,
        principal: Principal,
        *,
        offset: int,
        limit: int,
        target: str | None = None,
        enabled: bool | None = None,
    ) -> tuple[list[Subscription], int]:
        """A page of the tenant's subscriptions, oldest first, and the total."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            rows, total = await store.list_page(
                conn,
                tenant_id=principal.tenant_id,
                offset=offset,
                limit=limit,
                target=target,
                enabled=enabled,
            )
        return [self.view(r) for r in rows], total

    async def get(self, principal: Principal, subscription_id: int) -> Subscription:
        """One subscription, or 404."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            row = await store.find(
                conn, tenant_id=principal.tenant_id, subscription_id=subscription_id
            )
        if row is None:
            raise _not_found(subscription_id)
        return self.view(row)

    async def create(self, principal: Principal, spec: SubscriptionSpec) -> SavedSubscription:
        """Save a new subscription (400 naming every bad field)."""
        require(principal, Permission.SUBSCRIPTIONS_WRITE)
        _raise(check_spec(spec))
        generated = None
        if spec.target == Target.WEBHOOK and spec.secret is None:
            generated = generate_secret()
            spec = replace(spec, secret=generated)
        values = self._values(principal, spec, escapekit_project=None)
        now = self._clock.now_ns()
        row = await self._db.write(
            lambda conn: store.insert(
                conn,
                tenant_id=principal.tenant_id,
                values=values,
                created_by=principal.id or None,
                now=now,
            )
        )
        return SavedSubscription(self.view(row), generated)

    async def replace(
        self, principal: Principal, subscription_id: int, spec: SubscriptionSpec
    ) -> SavedSubscription:
        """Replace a subscription's settings (PUT); its secret stays unless one is given, and
        a Slack URL sent back masked, as reads show it, stays as it was."""
        require(principal, Permission.SUBSCRIPTIONS_WRITE)
        current = await self.get(principal, subscription_id)
        if spec.url is not None and spec.url == current.shown_url and current.row.url:
            spec = replace(spec, url=current.row.url)
        _raise(check_spec(spec))
        values = self._values(principal, spec, escapekit_project=current.row.escapekit_project)
        if spec.secret is None:
            values.pop("sealed_secrets")
            if spec.target != Target.WEBHOOK:
                values["sealed_secrets"] = None
        generated = None
        if spec.target == Target.WEBHOOK and current.row.sealed_secrets is None and not spec.secret:
            generated = generate_secret()
            values["sealed_secrets"] = self._seal(principal, Secrets(generated))
        now = self._clock.now_ns()
        row = await self._db.write(
            lambda conn: store.change(
                conn,
                tenant_id=principal.tenant_id,
                subscription_id=subscription_id,
                values=values,
                now=now,
            )
        )
        if row is None:
            raise _not_found(subscription_id)
        return SavedSubscription(self.view(row), generated)

    async def delete(self, principal: Principal, subscription_id: int) -> None:
        """Delete a subscription; its past deliveries stay in the executions' history."""
        require(principal, Permission.SUBSCRIPTIONS_WRITE)
        removed = await self._db.write(
            lambda conn: store.remove(
                conn, tenant_id=principal.tenant_id, subscription_ids=[subscription_id]
            )
        )
        if not removed:
            raise _not_found(subscription_id)

    async def rotate_secret(
        self,
        principal: Principal,
        subscription_id: int,
        *,
        secret: str | None,
        overlap_seconds: float | None,
    ) -> SavedSubscription:
        """Sign with a new secret from now on, and with the old one too during the overlap."""
        require(principal, Permission.SUBSCRIPTIONS_WRITE)
        overlap = DEFAULT_OVERLAP_SECONDS if overlap_seconds is None else overlap_seconds
        problems = []
        if not 0 <= overlap <= MAX_OVERLAP_SECONDS:
            problems.append(
                FieldProblem("overlap_seconds", f"0 to {MAX_OVERLAP_SECONDS:g} seconds")
            )
        if secret is not None:
            try:
                check_secret(secret)
            except SigningError as exc:
                problems.append(FieldProblem("secret", str(exc)))
        _raise(problems)
        current = await self.get(principal, subscription_id)
        if current.row.target != Target.WEBHOOK:
            _raise([FieldProblem("target", "only a webhook subscription has a signing secret")])
        new = secret or generate_secret()
        now = self._clock.now_ns()
        old = None
        if current.row.sealed_secrets is not None:
            old = open_secrets(self._box, current.row.sealed_secrets, tenant_id=principal.tenant_id)
        rotated = Secrets(new)
        if old is not None and overlap > 0:
            rotated = Secrets(new, old.current, now + round(overlap * NS))
        sealed = self._seal(principal, rotated)
        row = await self._db.write(
            lambda conn: store.change(
                conn,
                tenant_id=principal.tenant_id,
                subscription_id=subscription_id,
                values={"sealed_secrets": sealed},
                now=now,
            )
        )
        if row is None:
            raise _not_found(subscription_id)
        return SavedSubscription(self.view(row), None if secret else new)

    async def project_list(self, principal: Principal, project: str) -> list[Subscription]:
        """The subscriptions EscapeKit's endpoint manages for `project`, oldest first."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            rows, _ = await store.list_page(
                conn,
                tenant_id=principal.tenant_id,
                offset=0,
                limit=10_000,
                escapekit_project=project,
            )
        return [self.view(r) for r in rows]

    async def replace_project(
        self, principal: Principal, project: str, specs: list[tuple[str, SubscriptionSpec]]
    ) -> list[Subscription]:
        """Make `specs` the project's whole list (EscapeKit's PUT, keyed by id), in one
        transaction. A key naming one of the project's subscriptions changes that one (its id
        and secret stay); any other key adds a subscription; the project's others are deleted.
        Each is scoped to the project: it receives the events whose state project it is."""
        require(principal, Permission.SUBSCRIPTIONS_WRITE)
        problems = [p for key, s in specs for p in check_spec(s, prefix=f"{key}.")]
        _raise(problems)
        tenant_id = principal.tenant_id
        now = self._clock.now_ns()

        async def work(conn: AsyncConnection) -> list[SubscriptionRow]:
            existing, _ = await store.list_page(
                conn, tenant_id=tenant_id, offset=0, limit=10_000, escapekit_project=project
            )
            by_id = {str(r.id): r for r in existing}
            kept: list[SubscriptionRow] = []
            for key, given in specs:
                match = by_id.pop(key, None)
                spec = given
                if match is not None and match.url and given.url == masked_url(match.url):
                    spec = replace(given, url=match.url)  # sent back as reads show it
                scoped = replace(spec, filter={"scope": {"project": [project]}})
                values = self._values(principal, scoped, escapekit_project=project)
                if match is None:
                    if spec.target == Target.WEBHOOK:
                        values["sealed_secrets"] = self._seal(principal, Secrets(generate_secret()))
                    row = await store.insert(
                        conn,
                        tenant_id=tenant_id,
                        values=values,
                        created_by=principal.id or None,
                        now=now,
                    )
                else:
                    values.pop("sealed_secrets")
                    if spec.target == Target.WEBHOOK and match.sealed_secrets is None:
                        values["sealed_secrets"] = self._seal(principal, Secrets(generate_secret()))
                    changed = await store.change(
                        conn, tenant_id=tenant_id, subscription_id=match.id, values=values, now=now
                    )
                    assert changed is not None  # read in this transaction
                    row = changed
                kept.append(row)
            stale = [r.id for r in by_id.values()]
            await store.remove(conn, tenant_id=tenant_id, subscription_ids=stale)
            return kept

        rows = await self._db.write(work)
        return [self.view(r) for r in rows]

    def _values(
        self, principal: Principal, spec: SubscriptionSpec, *, escapekit_project: str | None
    ) -> dict[str, Any]:
        schedule: JSONValue = None if spec.retry_schedule is None else list(spec.retry_schedule)
        return {
            "name": spec.name,
            "target": spec.target,
            "url": spec.url,
            "addresses": list(spec.addresses) if spec.target == Target.EMAIL else None,
            "slack_username": spec.slack_username,
            "slack_icon": spec.slack_icon,
            "filter": spec.filter,
            "sealed_secrets": (
                None if spec.secret is None else self._seal(principal, Secrets(spec.secret))
            ),
            "retry_schedule": schedule,
            "disable_after_seconds": spec.disable_after_seconds,
            "visible_groups": visibility_document(visibility_of(principal)),
            "escapekit_project": escapekit_project,
            "notification_channel": spec.notification_channel,
            "enabled": spec.enabled,
        }

    def _seal(self, principal: Principal, secrets: Secrets) -> bytes:
        return seal_secrets(self._box, secrets, tenant_id=principal.tenant_id)


def effective_policy(row: SubscriptionRow) -> tuple[list[float], float]:
    """The retry schedule and disable limit (seconds) a subscription runs with."""
    policy = policy_of(row.retry_schedule, row.disable_after_seconds)
    limit = row.disable_after_seconds or DEFAULT_DISABLE_AFTER_NS / NS
    return list(policy.schedule_seconds), float(limit)


def _raise(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidInput.of(*problems)
