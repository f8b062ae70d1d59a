"""The automation engine's tables: packs, triggers, actions, rules, enforcements, executions.

They live on the same MetaData as the event log (`tables.py`); `schema.py` imports both so that
migrations and the drift check see every table.

Enforcements and executions keep the ids and refs of the rule, event and action they came from
without foreign keys: they are history, and outlive a deleted rule or an audited event delete.
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
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tidings.storage.tables import BigId, Json, Nanos, metadata


def tenant_column() -> Column[int]:
    """A table's owning tenant: rows go when their tenant does."""
    return Column(
        "tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


packs = Table(
    "packs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("ref", String(100), nullable=False),
    Column("label", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("version", String(50), nullable=True),
    # Non-secret config values; the secret ones are one AES-GCM sealed JSON object in `secrets`.
    Column("config", Json, nullable=False),
    Column("secrets", LargeBinary, nullable=True),
    # A JSON Schema for the config; properties marked `"secret": true` are kept in `secrets`.
    Column("config_schema", Json, nullable=True),
    Column("builtin", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "ref"),
    sqlite_autoincrement=True,
)

triggers = Table(
    "triggers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("pack_id", BigInteger, ForeignKey("packs.id", ondelete="CASCADE"), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("label", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("payload_schema", Json, nullable=True),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "ref"),
    Index(None, "pack_id"),
    sqlite_autoincrement=True,
)

actions = Table(
    "actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("pack_id", BigInteger, ForeignKey("packs.id", ondelete="CASCADE"), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("label", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("runner", String(100), nullable=False),
    # For the `python` runner: the name of a `tidings.actions` entry point.
    Column("entry_point", String(255), nullable=True),
    Column("parameters_schema", Json, nullable=True),
    Column("timeout_seconds", Float, nullable=True),
    Column("max_attempts", Integer, nullable=True),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "ref"),
    Index(None, "pack_id"),
    sqlite_autoincrement=True,
)

rules = Table(
    "rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("pack_id", BigInteger, ForeignKey("packs.id", ondelete="CASCADE"), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("label", String(255), nullable=False),
    Column("description", Text, nullable=False),
    # RESTRICT: an action or trigger that rules use cannot vanish under them (a 409 says which).
    Column("action_id", BigInteger, ForeignKey("actions.id", ondelete="RESTRICT"), nullable=False),
    Column(
        "trigger_id", BigInteger, ForeignKey("triggers.id", ondelete="RESTRICT"), nullable=False
    ),
    Column("conditions", Json, nullable=False),
    Column("action_params", Json, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("strict_params", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "ref"),
    Index(None, "tenant_id", "trigger_id", "id"),
    Index(None, "tenant_id", "action_id", "id"),
    Index(None, "tenant_id", "pack_id", "id"),
    Index(None, "tenant_id", "enabled", "id"),
    sqlite_autoincrement=True,
)

# One row per tenant, bumped by every catalogue change (pack, trigger, action, rule). Ingest
# reads it inside its own transaction, so a rule edited on any node applies to the next event.
catalogue_versions = Table(
    "catalogue_versions",
    metadata,
    Column("tenant_id", BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

enforcements = Table(
    "enforcements",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("rule_id", BigInteger, nullable=True),
    Column("rule_ref", String(255), nullable=False),
    Column("trigger_ref", String(255), nullable=False),
    Column("event_id", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("condition", String(16), nullable=False),
    Column("conditions", Json, nullable=False),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    Index(None, "tenant_id", "id"),
    Index(None, "tenant_id", "rule_id", "id"),
    Index(None, "tenant_id", "event_id", "id"),
    Index(None, "tenant_id", "status", "id"),
    Index(None, "tenant_id", "trigger_ref", "id"),
    Index(None, "tenant_id", "created_at", "id"),
    sqlite_autoincrement=True,
)

# The ordered rules of one trigger that one or more events were evaluated against, stored once
# per distinct list (`digest` is its content address, domain/enforcement_ids.py).
rule_sets = Table(
    "rule_sets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("digest", String(32), nullable=False),
    Column("trigger_ref", String(255), nullable=False),
    Column("rules", Json, nullable=False),  # [[rule id, rule ref], ...] in position order
    UniqueConstraint("tenant_id", "digest"),
    sqlite_autoincrement=True,
)

# One row per event whose evaluation had rules that did not pass: their enforcements, kept
# compactly and expanded by the enforcements API (domain/enforcement_ids.py says why). The rules
# that passed have rows in `enforcements`.
rule_misses = Table(
    "rule_misses",
    metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    tenant_column(),
    Column("trigger_ref", String(255), nullable=False),
    Column("rule_set_id", BigInteger, nullable=False),
    Column("outcomes", Text, nullable=False),  # one letter a rule of the set: P, F or S
    Column("misses", Integer, nullable=False),  # how many letters are not P
    Column("conditions", Json, nullable=False),  # each rule's clause results (null for P)
    Column("created_at", Nanos, nullable=False),
    Index(None, "tenant_id", "event_id"),
    Index(None, "tenant_id", "trigger_ref", "event_id"),
    Index(None, "tenant_id", "created_at", "event_id"),
)

executions = Table(
    "executions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("enforcement_id", BigInteger, nullable=True),
    Column("rule_id", BigInteger, nullable=True),
    Column("rule_ref", String(255), nullable=True),
    Column("event_id", BigInteger, nullable=True),
    Column("action_id", BigInteger, nullable=True),
    Column("action_ref", String(255), nullable=False),
    Column("runner", String(100), nullable=False),
    Column("entry_point", String(255), nullable=True),
    # What reads show: the rendered parameters with every pack secret replaced by ********.
    Column("parameters", Json, nullable=False),
    # What the worker runs with, sealed (AES-GCM), only when redaction changed something.
    Column("sealed_parameters", LargeBinary, nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout_seconds", Float, nullable=False),
    # When the execution may next be claimed (now, or after a retry's backoff).
    Column("available_at", Nanos, nullable=False),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", Nanos, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    # A delivery's subscription (deliveries are executions of the built-in delivery actions).
    Column("subscription_id", BigInteger, nullable=True),
    # The delays between attempts, in seconds, when not the workers' exponential backoff.
    Column("retry_schedule", Json, nullable=True),
    Column("error", Text, nullable=True),
    Column("result_size", Integer, nullable=True),
    Column("started_at", Nanos, nullable=True),
    Column("finished_at", Nanos, nullable=True),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    # The queue: only queued rows, in the order they become due. Workers serve every tenant.
    Index(
        "ix_executions_queue",
        "available_at",
        "id",
        sqlite_where=text("status = 'queued'"),
        postgresql_where=text("status = 'queued'"),
    ),
    # Expired leases are found without scanning finished executions.
    Index(
        "ix_executions_leases",
        "lease_expires_at",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    Index(None, "tenant_id", "id"),
    Index(None, "tenant_id", "enforcement_id"),
    Index(None, "tenant_id", "action_ref", "id"),
    Index(None, "tenant_id", "status", "id"),
    Index(None, "tenant_id", "created_at", "id"),
    Index(None, "tenant_id", "subscription_id", "id"),
    sqlite_autoincrement=True,
)

# Results apart from the queue rows, so a 4 MB result never widens the rows workers scan.
execution_results = Table(
    "execution_results",
    metadata,
    Column(
        "execution_id",
        BigInteger,
        ForeignKey("executions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("content", LargeBinary, nullable=False),
)

execution_attempts = Table(
    "execution_attempts",
    metadata,
    Column(
        "execution_id",
        BigInteger,
        ForeignKey("executions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("number", Integer, primary_key=True),
    Column("worker", String(100), nullable=False),
    Column("started_at", Nanos, nullable=False),
    Column("finished_at", Nanos, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("error", Text, nullable=True),
    # What the attempt saw, when the action reports it (a delivery: status code, response excerpt).
    Column("detail", Json, nullable=True),
)

# Named inbound webhooks (`POST /api/v1/webhooks/{name}`), with an optional sealed HMAC secret.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    tenant_column(),
    Column("name", String(100), nullable=False),
    Column("sealed_secret", LargeBinary, nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", Nanos, nullable=False),
    Column("updated_at", Nanos, nullable=False),
    UniqueConstraint("tenant_id", "name"),
    sqlite_autoincrement=True,
)
