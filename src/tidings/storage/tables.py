"""Every table on one MetaData, for SQLite and PostgreSQL alike.

Times are integer nanoseconds since the epoch (`BigInteger`): exact for EscapeKit's nanosecond
timestamps, identical on both engines, and cheap to index and compare.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (and so auto-incrementing); tables
# are declared with `sqlite_autoincrement`, so an id is never reused after a delete (as on PG).
BigId = BigInteger().with_variant(Integer(), "sqlite")
# Python None is SQL NULL (not JSON 'null'), the same whichever insert path wrote the row.
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Nanos = BigInteger

tenants = Table(
    "tenants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("locator", String(36), nullable=False, unique=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", Nanos, nullable=False),
    # Which enforcements ingest records: "all" (every rule evaluated) or "matches" (passed only).
    Column("enforcement_recording", String(16), nullable=False, server_default=text("'all'")),
    sqlite_autoincrement=True,
)

principals = Table(
    "principals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("locator", String(36), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("display_name", String(200), nullable=True),
    Column("password_hash", String(255), nullable=True),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "name"),
    sqlite_autoincrement=True,
)

roles = Table(
    "roles",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=True),
    Column("permissions", Json, nullable=False),
    Column("builtin", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "name"),
    sqlite_autoincrement=True,
)

principal_roles = Table(
    "principal_roles",
    metadata,
    Column(
        "principal_id",
        BigInteger,
        ForeignKey("principals.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("role_id", BigInteger, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

groups = Table(
    "groups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "name"),
    sqlite_autoincrement=True,
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", BigInteger, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "principal_id",
        BigInteger,
        ForeignKey("principals.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "principal_id", BigInteger, ForeignKey("principals.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", Nanos, nullable=False),
    Column("expires_at", Nanos, nullable=True),
    Column("revoked_at", Nanos, nullable=True),
    Index(None, "tenant_id", "principal_id"),
    sqlite_autoincrement=True,
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "principal_id", BigInteger, ForeignKey("principals.id", ondelete="CASCADE"), nullable=False
    ),
    Column("family", String(36), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Nanos, nullable=False),
    Column("expires_at", Nanos, nullable=False),
    Column("used_at", Nanos, nullable=True),
    Column("revoked_at", Nanos, nullable=True),
    Index(None, "family"),
    sqlite_autoincrement=True,
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(200), nullable=False),
    Column("trigger_id", BigInteger, nullable=True),
    Column("source_id", BigInteger, nullable=True),
    Column("source_ref", String(255), nullable=True),
    Column("title", Text, nullable=True),
    Column("message", Text, nullable=True),
    Column("payload", Json, nullable=False),
    # Top-level key count, so list views can say `has_payload` without reading the payload.
    Column("payload_keys", Integer, nullable=False, server_default=text("0")),
    Column("config", Json, nullable=True),
    Column("service", String(255), nullable=True),
    Column("environment", String(255), nullable=True),
    Column("status", String(255), nullable=True),
    Column("owner", String(255), nullable=True),
    Column("priority", Integer, nullable=True),
    Column("impact", Integer, nullable=True),
    Column("inventory_project", String(255), nullable=True),
    Column("inventory_application", String(255), nullable=True),
    Column("inventory_version", String(255), nullable=True),
    Column("inventory_namespace", String(255), nullable=True),
    Column("state_project", String(255), nullable=True),
    Column("state_environment", String(255), nullable=True),
    Column("state_deployment", String(255), nullable=True),
    Column("links", Json, nullable=True),
    Column("related_id", String(255), nullable=True),
    Column("stakeholders", Json, nullable=True),
    Column("allowed_groups", Json, nullable=True),
    Column("allowed_roles", Json, nullable=True),
    Column("restricted", Boolean, nullable=False, server_default=text("false")),
    Column("username", String(255), nullable=True),
    Column("actor_id", BigInteger, nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("occurred_at", Nanos, nullable=False),
    Column("recorded_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    Column("started_at", Nanos, nullable=True),
    Column("ended_at", Nanos, nullable=True),
    # The id of the transaction that wrote the row (PostgreSQL's xid8; 0 on SQLite, whose single
    # writer commits in id order). Followers of the log read in (commit_tx, id) order below the
    # oldest transaction still running, so an event that commits late is never skipped.
    Column("commit_tx", BigInteger, nullable=False, server_default=text("0")),
    # Every list is ordered newest first by (occurred_at, id) and filtered by tenant first.
    # `restricted` rides along so a reader's visibility check needs no row lookup.
    Index("ix_events_tenant_time", "tenant_id", "occurred_at", "id", "restricted"),
    Index("ix_events_tenant_type_time", "tenant_id", "type", "occurred_at", "id", "restricted"),
    Index(
        "ix_events_tenant_trigger_time",
        "tenant_id",
        "trigger_id",
        "occurred_at",
        "id",
        sqlite_where=text("trigger_id IS NOT NULL"),
        postgresql_where=text("trigger_id IS NOT NULL"),
    ),
    Index(
        "ix_events_tenant_source_time",
        "tenant_id",
        "source_id",
        "occurred_at",
        "id",
        sqlite_where=text("source_id IS NOT NULL"),
        postgresql_where=text("source_id IS NOT NULL"),
    ),
    Index(
        "ix_events_tenant_request",
        "tenant_id",
        "request_id",
        sqlite_where=text("request_id IS NOT NULL"),
        postgresql_where=text("request_id IS NOT NULL"),
    ),
    Index(
        "ix_events_tenant_service_time",
        "tenant_id",
        "service",
        "occurred_at",
        sqlite_where=text("service IS NOT NULL"),
        postgresql_where=text("service IS NOT NULL"),
    ),
    Index(
        "ix_events_tenant_inventory",
        "tenant_id",
        "inventory_project",
        "inventory_application",
        "inventory_version",
        "occurred_at",
        sqlite_where=text("inventory_project IS NOT NULL"),
        postgresql_where=text("inventory_project IS NOT NULL"),
    ),
    Index(
        "ix_events_tenant_state",
        "tenant_id",
        "state_project",
        "state_environment",
        "state_deployment",
        "occurred_at",
        sqlite_where=text("state_project IS NOT NULL"),
        postgresql_where=text("state_project IS NOT NULL"),
    ),
    # The stream (Socotra's event list) follows the log in commit order, by type or not, and
    # finds where a time window starts by the time the event was recorded.
    Index("ix_events_tenant_stream", "tenant_id", "commit_tx", "id"),
    Index("ix_events_tenant_type_stream", "tenant_id", "type", "commit_tx", "id"),
    Index("ix_events_tenant_recorded", "tenant_id", "recorded_at", "id"),
    # Tracker's commonest searches (type with environment, type with priority) get an exact
    # total without reading every event of the type. Partial: only events that have the value.
    Index(
        "ix_events_tenant_type_environment_time",
        "tenant_id",
        "type",
        "environment",
        "occurred_at",
        "id",
        "restricted",
        sqlite_where=text("environment IS NOT NULL"),
        postgresql_where=text("environment IS NOT NULL"),
    ),
    Index(
        "ix_events_tenant_type_priority_time",
        "tenant_id",
        "type",
        "priority",
        "occurred_at",
        "id",
        "restricted",
        sqlite_where=text("priority IS NOT NULL"),
        postgresql_where=text("priority IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)

# One row per group or role named by a restricted event, so visibility is an indexed EXISTS.
event_access = Table(
    "event_access",
    metadata,
    Column("event_id", BigInteger, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(1), primary_key=True),  # "g" group, "r" role
    Column("name", String(100), primary_key=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("created_at", Nanos, nullable=False),
)

# The history of an event: one row per update (who, when, each field's old and new value) or
# delete (the whole event as it was). Kept when the event is deleted, so no foreign key.
event_revisions = Table(
    "event_revisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("number", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("actor_id", BigInteger, nullable=True),
    Column("actor_locator", String(36), nullable=True),
    Column("actor_name", String(100), nullable=True),
    Column("changed_at", Nanos, nullable=False),
    Column("changes", Json, nullable=False),
    UniqueConstraint("tenant_id", "event_id", "number"),
    sqlite_autoincrement=True,
)
