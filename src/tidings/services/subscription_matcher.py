"""Which subscriptions an event goes to, decided in the event's own transaction.

Ingest calls `deliveries` beside the rule engine (DESIGN.md, "The flow"): each match becomes a
delivery — an execution of the built-in delivery action of its target — written in the same
commit as the event, so an acknowledged event's deliveries can no more be lost than the event.
A tenant's subscriptions are compiled once per catalogue version (a subscription change bumps
it, `storage/subscriptions.py`), with the rules (`rule_engine.py`).

Three things must hold for a match: the filter passes; the subscription's owner could see the
event (the groups of whoever saved it, captured then: a subscription cannot be used to read
events its owner may not); and, for the tenant's notification targets, the event asked for that
channel (Tracker's `attributes.notification` / `notifications: ["slack", "email"]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility, can_see
from tidings.domain.automation import NewExecution
from tidings.domain.evaluation import event_view
from tidings.domain.events import Event
from tidings.domain.json import JSONObject, JSONValue
from tidings.domain.subscription_filters import (
    FilterError,
    SubscriptionFilter,
    filter_from_document,
)
from tidings.domain.subscriptions import (
    CHANNELS,
    DELIVERY_ACTIONS,
    DELIVERY_RUNNER,
    DELIVERY_TIMEOUT_SECONDS,
    Target,
    policy_of,
)
from tidings.services.execution_dispatch import Handoff, write_executions
from tidings.storage import subscriptions as subscription_store
from tidings.storage.subscriptions import SubscriptionRow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CompiledSubscription:
    """A subscription as ingest matches it."""

    id: int
    target: Target
    filter: SubscriptionFilter
    visibility: Visibility
    notification_channel: str | None
    retry_schedule: tuple[float, ...]

    def takes(self, event: Event, view: JSONObject) -> bool:
        """Whether `event` (with `view`, its rules' view) is delivered to this subscription."""
        if not can_see(self.visibility, event.allowed_groups, event.allowed_roles):
            return False
        if self.notification_channel is not None and self.notification_channel not in (
            requested_channels(event.payload)
        ):
            return False
        return self.filter.matches(event, view)


def requested_channels(payload: JSONObject) -> frozenset[str]:
    """The notification channels a Tracker event asks for: `notifications` names them;
    `notification: true` alone asks for every channel; `notification: false` for none."""
    flag: JSONValue = payload.get("notification")
    listed: JSONValue = payload.get("notifications")
    if flag is False:
        return frozenset()
    if isinstance(listed, list):
        return frozenset(str(c).lower() for c in listed) & frozenset(CHANNELS)
    return frozenset(CHANNELS) if flag is True else frozenset()


def visibility_from(document: JSONObject | None) -> Visibility:
    """The stored visibility of a subscription's owner (null: sees every event)."""
    if document is None:
        return Visibility(sees_all=True, groups=frozenset(), roles=frozenset())
    groups, roles = document.get("groups"), document.get("roles")
    return Visibility(
        sees_all=False,
        groups=frozenset(str(g) for g in groups) if isinstance(groups, list) else frozenset(),
        roles=frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
    )


def visibility_document(visibility: Visibility) -> JSONObject | None:
    """What `visibility_from` reads back."""
    if visibility.sees_all:
        return None
    groups: list[JSONValue] = list(sorted(visibility.groups))
    roles: list[JSONValue] = list(sorted(visibility.roles))
    return {"groups": groups, "roles": roles}


def compile_subscription(row: SubscriptionRow) -> CompiledSubscription | None:
    """A stored subscription, compiled; None (and a log line) when it cannot be."""
    try:
        compiled_filter = filter_from_document(row.filter)
        target = Target(row.target)
    except (FilterError, ValueError) as exc:
        log.error("subscriptions.uncompilable", subscription=row.id, error=str(exc))
        return None
    visibility = visibility_from(row.visible_groups)
    policy = policy_of(row.retry_schedule, row.disable_after_seconds)
    return CompiledSubscription(
        id=row.id,
        target=target,
        filter=compiled_filter,
        visibility=visibility,
        notification_channel=row.notification_channel,
        retry_schedule=policy.schedule_seconds,
    )


def deliveries(
    subscriptions: Sequence[CompiledSubscription],
    *,
    tenant_id: int,
    events: Sequence[Event],
    now: int,
) -> list[NewExecution]:
    """The deliveries of `events`: one execution per event and subscription that takes it."""
    found: list[NewExecution] = []
    if not subscriptions:
        return found
    for event in events:
        view = event_view(event)
        for subscription in subscriptions:
            if not subscription.takes(event, view):
                continue
            found.append(delivery(subscription, tenant_id=tenant_id, event_id=event.id, now=now))
    return found


def delivery(
    subscription: CompiledSubscription, *, tenant_id: int, event_id: int, now: int
) -> NewExecution:
    """One delivery of event `event_id` to `subscription`, due now."""
    return NewExecution(
        tenant_id=tenant_id,
        enforcement_id=None,
        rule_id=None,
        rule_ref=None,
        event_id=event_id,
        action_id=None,
        action_ref=DELIVERY_ACTIONS[subscription.target],
        runner=DELIVERY_RUNNER,
        entry_point=None,
        parameters={"event": event_id, "subscription": subscription.id},
        sealed_parameters=None,
        max_attempts=len(subscription.retry_schedule),
        timeout_seconds=DELIVERY_TIMEOUT_SECONDS,
        available_at=now,
        subscription_id=subscription.id,
        retry_schedule=subscription.retry_schedule,
    )


async def load_subscriptions(conn: AsyncConnection, tenant_id: int) -> list[CompiledSubscription]:
    """A tenant's enabled subscriptions, compiled (those that no longer compile are skipped)."""
    rows = await subscription_store.enabled_for_tenant(conn, tenant_id=tenant_id)
    return [c for row in rows if (c := compile_subscription(row)) is not None]


async def enqueue_deliveries(
    conn: AsyncConnection,
    subscriptions: Sequence[CompiledSubscription],
    *,
    tenant_id: int,
    events: Sequence[Event],
    now: int,
    handoff: Handoff | None,
) -> int:
    """Write the deliveries of `events` in this transaction (those the local pool has room for
    leased to it); how many were left on the queue for any worker."""
    found = deliveries(subscriptions, tenant_id=tenant_id, events=events, now=now)
    if not found:
        return 0
    written = await write_executions(conn, found, (), handoff=handoff, now=now)
    return written.queued
