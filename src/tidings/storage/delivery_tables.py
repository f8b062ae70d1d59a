"""Subscriptions and schedules (issue 5): what to deliver where, and what to fire when.

They live on the same MetaData as the event log (`tables.py`); `schema.py` imports this module so
that migrations and the drift check see them. A delivery is not a table of its own: it is an
execution of a built-in delivery action (DESIGN.md, "Subscription"), so it shares the queue,
leases, attempts and retries; `executions.subscription_id` says which subscription it serves.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tidings.storage.automation_tables import tenant_column
from tidings.storage.tables import BigId, Json, Nanos, metadata

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("name", String(255), nullable=True),
    Column("target", String(16), nullable=False),  # webhook | slack | email
    Column("url", Text, nullable=True),  # webhook and slack
    Column("addresses", Json, nullable=True),  # email: ["ops@example.com", ...]
    Column("slack_username", String(255), nullable=True),
    Column("slack_icon", String(255), nullable=True),
    Column("filter", Json, nullable=False),  # domain/subscription_filters.py's document
    # The Standard Webhooks secrets (current, previous, previous_until), one sealed JSON object.
    Column("sealed_secrets", LargeBinary, nullable=True),
    Column("retry_schedule", Json, nullable=True),  # seconds; null: the default schedule
    Column("disable_after_seconds", Float, nullable=True),  # null: the default (5 days)
    # Which events the subscriber may receive: the groups of whoever saved it (null: all).
    Column("visible_groups", Json, nullable=True),
    # The EscapeKit project whose subscription list (004 seed) manages this one, if any.
    Column("escapekit_project", String(255), nullable=True),
    # Tracker's `notifications: ["slack", "email"]` go to the tenant's subscription so marked.
    Column("notification_channel", String(16), nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", Text, nullable=True),
    Column("disabled_at", Nanos, nullable=True),
    # When the current run of failed deliveries began (null: the last one was delivered).
    Column("failing_since", Nanos, nullable=True),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    Index(None, "tenant_id", "id"),
    Index(None, "tenant_id", "escapekit_project", "id"),
    sqlite_autoincrement=True,
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    # Quartz's job key: a name unique within its group.
    Column("name", String(200), nullable=False),
    Column("group_name", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("timing", String(16), nullable=False),  # cron | interval | once
    Column("cron", String(255), nullable=True),
    Column("interval_seconds", Float, nullable=True),
    Column("start_at", Nanos, nullable=True),  # interval anchor; the one-shot time
    Column("end_at", Nanos, nullable=True),
    Column("time_zone", String(64), nullable=False),
    Column("misfire", String(16), nullable=False),  # domain/schedule_times.MisfirePolicy
    Column("concurrent", Boolean, nullable=False, server_default=text("true")),
    Column("state", String(16), nullable=False),  # domain/schedule_times.TriggerState
    Column("next_fire_at", Nanos, nullable=True),
    Column("last_fire_at", Nanos, nullable=True),
    # Scope (Socotra's policy, transaction and custom event) and the event each fire emits.
    Column("policy_locator", String(255), nullable=True),
    Column("transaction_locator", String(255), nullable=True),
    Column("custom_event_id", String(255), nullable=True),
    Column("event_type", String(255), nullable=False),
    Column("event", Json, nullable=False),  # the rest of the event: title, payload, fields
    # The failed job, when the latest fire failed: queued (will retry) or quit (gave up).
    Column("failure_count", Integer, nullable=False, server_default=text("0")),
    Column("failed_job_state", String(16), nullable=True),
    Column("failed_job_created_at", Nanos, nullable=True),
    Column("failed_job_updated_at", Nanos, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("resumed_by", BigInteger, nullable=True),
    Column("resumed_at", Nanos, nullable=True),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "group_name", "name"),
    Index(None, "tenant_id", "id"),
    Index(None, "tenant_id", "policy_locator", "id"),
    Index(None, "tenant_id", "failed_job_state", "id"),
    # The scheduler's queue: schedules that will fire, in the order they fall due.
    Index(
        "ix_schedules_due",
        "next_fire_at",
        "id",
        sqlite_where=text("state = 'NORMAL' AND next_fire_at IS NOT NULL"),
        postgresql_where=text("state = 'NORMAL' AND next_fire_at IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)

# One row per fire: the primary key is what makes a tick fire once across every scheduler.
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column(
        "schedule_id", BigInteger, ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False
    ),
    Column("fire_at", Nanos, nullable=False),  # the scheduled instant, not when it ran
    tenant_column(),
    Column("fired_at", Nanos, nullable=False),
    Column("event_id", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    PrimaryKeyConstraint("schedule_id", "fire_at"),
)
