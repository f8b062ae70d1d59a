"""Deterministic, realistic event data: ~20 types over ~90 days, small payloads, a few dimensions.

The same generated event can be rendered as the API's JSON body or as a row of the `events`
table exactly as `tidings.storage.events` writes it, so HTTP runs and direct-SQL baselines store
the same data.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tidings.domain.timestamps import NS_PER_SECOND, format_rfc3339, parse_rfc3339
from tidings.domain.tracker import ENVIRONMENTS as TRACKER_ENVIRONMENT_CODES
from tidings.domain.tracker import EVENT_TYPES as TRACKER_TYPE_CODES
from tidings.domain.tracker import STATUSES as TRACKER_STATUS_CODES

TYPES: tuple[str, ...] = (
    "deployment",
    "incident",
    "core.webhook_received",
    "core.timer",
    "build.started",
    "build.finished",
    "test.failed",
    "alert.fired",
    "alert.resolved",
    "user.login",
    "user.logout",
    "config.changed",
    "backup.completed",
    "certificate.renewed",
    "scale.up",
    "scale.down",
    "job.failed",
    "job.succeeded",
    "release.tagged",
    "audit.access",
)
SERVICES = ("checkout", "billing", "search", "user-service", "gateway", "inventory")
ENVIRONMENTS = ("production", "staging", "development")
STATUSES = ("success", "failure", "in_progress")
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")

START_NS = parse_rfc3339("2024-01-01T00:00:00Z")
SPAN_DAYS = 90
DAY_NS = 86_400 * NS_PER_SECOND

# Every column `storage.events.insert_events` writes, in one fixed order for direct-SQL loads.
INSERT_COLUMNS: tuple[str, ...] = (
    "tenant_id",
    "type",
    "trigger_id",
    "source_id",
    "source_ref",
    "title",
    "message",
    "payload",
    "payload_keys",
    "config",
    "links",
    "related_id",
    "stakeholders",
    "allowed_groups",
    "allowed_roles",
    "restricted",
    "username",
    "actor_id",
    "request_id",
    "occurred_at",
    "recorded_at",
    "updated_at",
    "started_at",
    "ended_at",
    "service",
    "environment",
    "status",
    "owner",
    "inventory_project",
    "inventory_application",
    "inventory_version",
    "inventory_namespace",
    "state_project",
    "state_environment",
    "state_deployment",
    "priority",
    "impact",
    # Last, so a PostgreSQL load can leave it to the column default (the writing transaction).
    "commit_tx",
)


# Columns a row leaves out take these values (every other column is NULL).
_ROW_DEFAULTS: dict[str, Any] = {"restricted": False, "commit_tx": 0}


def ordered_row(**values: Any) -> tuple[Any, ...]:
    """An `events` row in `INSERT_COLUMNS` order from its values by column name."""
    unknown = set(values) - set(INSERT_COLUMNS)
    if unknown:
        raise ValueError(f"not columns of events: {sorted(unknown)}")
    return tuple(values.get(c, _ROW_DEFAULTS.get(c)) for c in INSERT_COLUMNS)


@dataclass(frozen=True)
class GeneratedEvent:
    """One event of the workload."""

    type: str
    occurred_at: int
    payload: dict[str, Any]
    service: str
    environment: str
    status: str
    priority: int

    def body(self) -> dict[str, Any]:
        """The JSON body of `POST /api/v1/events` (one item of a batch)."""
        return {
            "trigger_ref": self.type,
            "payload": self.payload,
            "service": self.service,
            "environment": self.environment,
            "status": self.status,
            "priority": self.priority,
            "occurred_at": format_rfc3339(self.occurred_at),
        }

    def row(
        self, *, tenant_id: int, actor_id: int, request_id: str, now: int, payload_json: str
    ) -> tuple[Any, ...]:
        """The `events` row, in `INSERT_COLUMNS` order (JSON as text, booleans as False)."""
        return ordered_row(
            tenant_id=tenant_id,
            type=self.type,
            payload=payload_json,
            payload_keys=len(self.payload),
            actor_id=actor_id,
            request_id=request_id,
            occurred_at=self.occurred_at,
            recorded_at=now,
            updated_at=now,
            service=self.service,
            environment=self.environment,
            status=self.status,
            priority=self.priority,
        )


def generate(count: int, *, seed: int = 1, in_time_order: bool = False) -> Iterator[GeneratedEvent]:
    """`count` events spread uniformly over 20 types and 90 days (sorted by time if asked)."""
    rng = random.Random(seed)
    span = SPAN_DAYS * DAY_NS
    if in_time_order:
        # Evenly spaced with jitter: a log that is (almost) appended in time order.
        step = span // max(count, 1)
        times: Iterator[int] = (
            START_NS + i * step + rng.randrange(max(step, 1)) for i in range(count)
        )
    else:
        times = (START_NS + rng.randrange(span) for _ in range(count))
    for occurred_at in times:
        occurred_at -= occurred_at % 1_000_000  # millisecond precision, as producers send
        yield GeneratedEvent(
            type=rng.choice(TYPES),
            occurred_at=occurred_at,
            payload={
                "host": f"web-{rng.randrange(64):02d}",
                "region": rng.choice(REGIONS),
                "duration_ms": rng.randrange(5, 5000),
                "build": rng.randrange(1, 100_000),
                "ok": rng.random() < 0.9,
            },
            service=rng.choice(SERVICES),
            environment=rng.choice(ENVIRONMENTS),
            status=rng.choice(STATUSES),
            priority=rng.randrange(1, 6),
        )


def request_id() -> str:
    """A request id shaped like the server's (32 hex characters)."""
    return uuid.uuid4().hex


# --- the dialects' workload: Tracker's dimensions on every event, recorded in stream order ------

TRACKER_TYPES: tuple[str, ...] = tuple(TRACKER_TYPE_CODES.codes.values())
# The five Tracker types among fifteen native ones: one type of twenty is 5% of the log.
DIALECT_TYPES: tuple[str, ...] = (
    TRACKER_TYPES + tuple(t for t in TYPES if t not in TRACKER_TYPES)[:15]
)
TRACKER_ENVIRONMENTS: tuple[str, ...] = tuple(TRACKER_ENVIRONMENT_CODES.codes.values())
TRACKER_STATUSES: tuple[str, ...] = tuple(TRACKER_STATUS_CODES.codes.values())
_SERVICE_PARTS = ("api", "worker", "db", "cache", "gateway", "scheduler")
_SERVICE_DOMAINS = ("user", "order", "payment", "catalog", "search", "notify", "auth", "report")
DIALECT_SERVICES: tuple[str, ...] = (
    *(f"{domain}-{part}" for domain in _SERVICE_DOMAINS for part in _SERVICE_PARTS),
    "checkout",
    "billing",
)
OWNERS = ("platform-team", "payments-team", "search-team", "sre", "data-team", "web-team")
SOURCES = ("github_actions", "jenkins", "argocd", "terraform", "manual", "pagerduty")
# One transaction writes this many events (a batch request, or a group of single ones).
EVENTS_PER_TRANSACTION = 100


@dataclass(frozen=True)
class DialectEvent:
    """One event as the dialects see it: every Tracker dimension set, and when it was recorded."""

    type: str
    title: str | None
    message: str | None
    source: str
    occurred_at: int
    recorded_at: int
    payload: dict[str, Any]
    service: str
    environment: str
    status: str
    owner: str
    priority: int
    impact: int
    started_at: int | None
    ended_at: int | None

    def row(
        self, *, tenant_id: int, actor_id: int, request_id: str, payload_json: str
    ) -> tuple[Any, ...]:
        """The `events` row, in `INSERT_COLUMNS` order (`commit_tx` 0, as SQLite writes it)."""
        return ordered_row(
            tenant_id=tenant_id,
            type=self.type,
            source_ref=self.source,
            title=self.title,
            message=self.message,
            payload=payload_json,
            payload_keys=len(self.payload),
            actor_id=actor_id,
            request_id=request_id,
            occurred_at=self.occurred_at,
            recorded_at=self.recorded_at,
            updated_at=self.recorded_at,
            started_at=self.started_at,
            ended_at=self.ended_at,
            service=self.service,
            environment=self.environment,
            status=self.status,
            owner=self.owner,
            priority=self.priority,
            impact=self.impact,
        )


def generate_dialect(count: int, *, seed: int = 3) -> Iterator[DialectEvent]:
    """`count` events over 20 types and 90 days in the order the server recorded them.

    `recorded_at` (the stream's time) rises with every event, as the server's clock does while
    it writes; `occurred_at` (the producer's time) comes 0-2 s earlier, and one event in a
    hundred arrives up to an hour late (a retry or a backfill), so the two orders differ a little.
    """
    rng = random.Random(seed)
    step = SPAN_DAYS * DAY_NS // max(count, 1)
    for i in range(count):
        recorded_at = START_NS + i * step + 3_600 * NS_PER_SECOND
        delay = rng.randrange(3_600_000) if rng.random() < 0.01 else rng.randrange(2_000)
        occurred_at = recorded_at - delay * 1_000_000
        occurred_at -= occurred_at % 1_000_000
        event_type = rng.choice(DIALECT_TYPES)
        service = rng.choice(DIALECT_SERVICES)
        environment = rng.choice(TRACKER_ENVIRONMENTS)
        tracked = event_type in TRACKER_TYPES
        duration = rng.randrange(5, 1_800) * NS_PER_SECOND
        yield DialectEvent(
            type=event_type,
            title=f"{event_type} of {service} in {environment}" if tracked else None,
            message="Recorded by the pipeline" if tracked and rng.random() < 0.5 else None,
            source=rng.choice(SOURCES),
            occurred_at=occurred_at,
            recorded_at=recorded_at,
            payload={
                "host": f"web-{rng.randrange(64):02d}",
                "region": rng.choice(REGIONS),
                "duration_ms": rng.randrange(5, 5000),
                "build": rng.randrange(1, 100_000),
            },
            service=service,
            environment=environment,
            status=rng.choice(TRACKER_STATUSES),
            owner=rng.choice(OWNERS),
            priority=rng.randrange(1, 6),
            impact=rng.randrange(1, 4),
            started_at=occurred_at if tracked else None,
            ended_at=occurred_at + duration if tracked else None,
        )
