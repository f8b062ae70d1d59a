"""the automation engine: packs, triggers, actions, rules, enforcements, executions, webhooks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 20:18:41.124453
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_catalogue_versions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_catalogue_versions")),
    )
    op.create_table(
        "enforcements",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("rule_ref", sa.String(length=255), nullable=False),
        sa.Column("trigger_ref", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column(
            "conditions",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_enforcements_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcements")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_enforcements_tenant_id_created_at_id"),
        "enforcements",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_enforcements_tenant_id_event_id_id"),
        "enforcements",
        ["tenant_id", "event_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_enforcements_tenant_id_id"), "enforcements", ["tenant_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_enforcements_tenant_id_rule_id_id"),
        "enforcements",
        ["tenant_id", "rule_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_enforcements_tenant_id_status_id"),
        "enforcements",
        ["tenant_id", "status", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_enforcements_tenant_id_trigger_ref_id"),
        "enforcements",
        ["tenant_id", "trigger_ref", "id"],
        unique=False,
    )

    op.create_table(
        "executions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("enforcement_id", sa.BigInteger(), nullable=True),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("rule_ref", sa.String(length=255), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("action_id", sa.BigInteger(), nullable=True),
        sa.Column("action_ref", sa.String(length=255), nullable=False),
        sa.Column("runner", sa.String(length=100), nullable=False),
        sa.Column("entry_point", sa.String(length=255), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("sealed_parameters", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("available_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column(
            "cancel_requested", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result_size", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_executions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_executions_leases",
        "executions",
        ["lease_expires_at"],
        unique=False,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_executions_queue",
        "executions",
        ["available_at", "id"],
        unique=False,
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        op.f("ix_executions_tenant_id_action_ref_id"),
        "executions",
        ["tenant_id", "action_ref", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_executions_tenant_id_created_at_id"),
        "executions",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_executions_tenant_id_enforcement_id"),
        "executions",
        ["tenant_id", "enforcement_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_executions_tenant_id_id"), "executions", ["tenant_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_executions_tenant_id_status_id"),
        "executions",
        ["tenant_id", "status", "id"],
        unique=False,
    )

    op.create_table(
        "packs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.String(length=50), nullable=True),
        sa.Column(
            "config",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("secrets", sa.LargeBinary(), nullable=True),
        sa.Column(
            "config_schema",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("builtin", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_packs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packs")),
        sa.UniqueConstraint("tenant_id", "ref", name=op.f("uq_packs_tenant_id_ref")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "webhooks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhooks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_webhooks_tenant_id_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "actions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("pack_id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(length=100), nullable=False),
        sa.Column("entry_point", sa.String(length=255), nullable=True),
        sa.Column(
            "parameters_schema",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pack_id"], ["packs.id"], name=op.f("fk_actions_pack_id_packs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_actions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("tenant_id", "ref", name=op.f("uq_actions_tenant_id_ref")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_actions_pack_id"), "actions", ["pack_id"], unique=False)

    op.create_table(
        "execution_attempts",
        sa.Column("execution_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_attempts_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", "number", name=op.f("pk_execution_attempts")),
    )
    op.create_table(
        "execution_results",
        sa.Column("execution_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_results_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_execution_results")),
    )
    op.create_table(
        "triggers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("pack_id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "payload_schema",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pack_id"], ["packs.id"], name=op.f("fk_triggers_pack_id_packs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_triggers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
        sa.UniqueConstraint("tenant_id", "ref", name=op.f("uq_triggers_tenant_id_ref")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_triggers_pack_id"), "triggers", ["pack_id"], unique=False)

    op.create_table(
        "rules",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("pack_id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("action_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "conditions",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "action_params",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("strict_params", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_rules_action_id_actions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["pack_id"], ["packs.id"], name=op.f("fk_rules_pack_id_packs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_rules_trigger_id_triggers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
        sa.UniqueConstraint("tenant_id", "ref", name=op.f("uq_rules_tenant_id_ref")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_rules_tenant_id_action_id_id"),
        "rules",
        ["tenant_id", "action_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_rules_tenant_id_enabled_id"), "rules", ["tenant_id", "enabled", "id"], unique=False
    )
    op.create_index(
        op.f("ix_rules_tenant_id_pack_id_id"), "rules", ["tenant_id", "pack_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_rules_tenant_id_trigger_id_id"),
        "rules",
        ["tenant_id", "trigger_id", "id"],
        unique=False,
    )

    _update_builtin_roles()
    op.add_column(
        "tenants",
        sa.Column(
            "enforcement_recording",
            sa.String(length=16),
            server_default=sa.text("'all'"),
            nullable=False,
        ),
    )


# Built-in roles of tenants that existed before the automation engine: readers and writers may
# read it, and every tenant gets the `operator` role that runs it (domain/access.py).
_AUTOMATION_READ = "automation:read"
_OPERATOR = [
    "events:read",
    "events:list",
    "events:write",
    "automation:read",
    "rules:write",
    "packs:write",
    "executions:write",
]


def _update_builtin_roles() -> None:
    bind = op.get_bind()
    roles = sa.table(
        "roles",
        sa.column("id", sa.BigInteger()),
        sa.column("tenant_id", sa.BigInteger()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("permissions", sa.JSON()),
        sa.column("builtin", sa.Boolean()),
        sa.column("created_at", sa.BigInteger()),
    )
    rows = bind.execute(
        sa.select(roles.c.id, roles.c.permissions).where(
            roles.c.builtin.is_(True), roles.c.name.in_(["reader", "writer"])
        )
    ).all()
    for role_id, permissions in rows:
        granted = list(permissions or [])
        if _AUTOMATION_READ not in granted:
            bind.execute(
                roles.update()
                .where(roles.c.id == role_id)
                .values(permissions=[*granted, _AUTOMATION_READ])
            )
    tenants = bind.execute(sa.text("SELECT id, created_at FROM tenants")).all()
    having = {
        row[0]
        for row in bind.execute(
            sa.select(roles.c.tenant_id).where(roles.c.name == "operator")
        ).all()
    }
    for tenant_id, created_at in tenants:
        if tenant_id not in having:
            bind.execute(
                roles.insert().values(
                    tenant_id=tenant_id,
                    name="operator",
                    description="Built-in operator role",
                    permissions=_OPERATOR,
                    builtin=True,
                    created_at=created_at,
                )
            )


def downgrade() -> None:
    op.drop_column("tenants", "enforcement_recording")
    for table in (
        "rules",
        "triggers",
        "execution_results",
        "execution_attempts",
        "actions",
        "webhooks",
        "packs",
        "executions",
        "enforcements",
        "catalogue_versions",
    ):
        op.drop_table(table)
