"""subscriptions, schedules and their fires; delivery columns on executions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 05:22:54

Issue 5's tables. Deliveries are executions of the built-in delivery actions, so the executions
gain the subscription they serve and an optional retry schedule, and each attempt a detail (a
delivery's status code and response excerpt). A schedule fire's primary key (schedule, scheduled
instant) is what makes a tick fire once across every scheduler. The built-in `operator` role of
every existing tenant gains `subscriptions:write` and `schedules:write`, as new tenants' do.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_OPERATOR = [
    "events:read",
    "events:list",
    "events:write",
    "automation:read",
    "rules:write",
    "packs:write",
    "executions:write",
    "subscriptions:write",
    "schedules:write",
]


def upgrade() -> None:
    roles = sa.table(
        "roles",
        sa.column("name", sa.String()),
        sa.column("builtin", sa.Boolean()),
        sa.column("permissions", sa.JSON()),
    )
    op.execute(
        roles.update()
        .where(roles.c.name == "operator", roles.c.builtin == sa.true())
        .values(permissions=_OPERATOR)
    )
    op.create_table(
        "schedules",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("timing", sa.String(length=16), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("start_at", sa.BigInteger(), nullable=True),
        sa.Column("end_at", sa.BigInteger(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("misfire", sa.String(length=16), nullable=False),
        sa.Column("concurrent", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_fire_at", sa.BigInteger(), nullable=True),
        sa.Column("last_fire_at", sa.BigInteger(), nullable=True),
        sa.Column("policy_locator", sa.String(length=255), nullable=True),
        sa.Column("transaction_locator", sa.String(length=255), nullable=True),
        sa.Column("custom_event_id", sa.String(length=255), nullable=True),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column(
            "event",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("failure_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed_job_state", sa.String(length=16), nullable=True),
        sa.Column("failed_job_created_at", sa.BigInteger(), nullable=True),
        sa.Column("failed_job_updated_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("resumed_by", sa.BigInteger(), nullable=True),
        sa.Column("resumed_at", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_schedules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint(
            "tenant_id", "group_name", "name", name=op.f("uq_schedules_tenant_id_group_name_name")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_schedules_due",
        "schedules",
        ["next_fire_at", "id"],
        unique=False,
        sqlite_where=sa.text("state = 'NORMAL' AND next_fire_at IS NOT NULL"),
        postgresql_where=sa.text("state = 'NORMAL' AND next_fire_at IS NOT NULL"),
    )
    op.create_index(
        op.f("ix_schedules_tenant_id_failed_job_state_id"),
        "schedules",
        ["tenant_id", "failed_job_state", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_schedules_tenant_id_id"), "schedules", ["tenant_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_schedules_tenant_id_policy_locator_id"),
        "schedules",
        ["tenant_id", "policy_locator", "id"],
        unique=False,
    )
    op.create_table(
        "subscriptions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column(
            "addresses",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("slack_username", sa.String(length=255), nullable=True),
        sa.Column("slack_icon", sa.String(length=255), nullable=True),
        sa.Column(
            "filter",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("sealed_secrets", sa.LargeBinary(), nullable=True),
        sa.Column(
            "retry_schedule",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("disable_after_seconds", sa.Float(), nullable=True),
        sa.Column(
            "visible_groups",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("escapekit_project", sa.String(length=255), nullable=True),
        sa.Column("notification_channel", sa.String(length=16), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", sa.BigInteger(), nullable=True),
        sa.Column("failing_since", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_subscriptions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_subscriptions_tenant_id_escapekit_project_id"),
        "subscriptions",
        ["tenant_id", "escapekit_project", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_subscriptions_tenant_id_id"), "subscriptions", ["tenant_id", "id"], unique=False
    )
    op.create_table(
        "schedule_fires",
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("fire_at", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("fired_at", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_fires_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_schedule_fires_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "fire_at", name=op.f("pk_schedule_fires")),
    )
    op.add_column(
        "execution_attempts",
        sa.Column(
            "detail",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
    )
    op.add_column("executions", sa.Column("subscription_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "executions",
        sa.Column(
            "retry_schedule",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
    )
    op.create_index(
        op.f("ix_executions_tenant_id_subscription_id_id"),
        "executions",
        ["tenant_id", "subscription_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_executions_tenant_id_subscription_id_id"), table_name="executions")
    op.drop_column("executions", "retry_schedule")
    op.drop_column("executions", "subscription_id")
    op.drop_column("execution_attempts", "detail")
    op.drop_table("schedule_fires")
    op.drop_index(op.f("ix_subscriptions_tenant_id_id"), table_name="subscriptions")
    op.drop_index(
        op.f("ix_subscriptions_tenant_id_escapekit_project_id"), table_name="subscriptions"
    )
    op.drop_table("subscriptions")
    op.drop_index(op.f("ix_schedules_tenant_id_policy_locator_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_tenant_id_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_tenant_id_failed_job_state_id"), table_name="schedules")
    op.drop_index(
        "ix_schedules_due",
        table_name="schedules",
        sqlite_where=sa.text("state = 'NORMAL' AND next_fire_at IS NOT NULL"),
        postgresql_where=sa.text("state = 'NORMAL' AND next_fire_at IS NOT NULL"),
    )
    op.drop_table("schedules")
