"""compact records of the rules an event did not match; enforcement ids computed from events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 02:29:41

Enforcement ids become `event_id << 16 | position` (domain/enforcement_ids.py). Existing rows are
renumbered the same way, by their order within their event, and executions follow them, so an
old enforcement can never share an id with a new one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)

_RENUMBER = (
    "CREATE TABLE enforcement_renumbering (old_id BIGINT PRIMARY KEY, new_id BIGINT NOT NULL)",
    "INSERT INTO enforcement_renumbering (old_id, new_id) SELECT id, COALESCE(event_id, 0) * 65536"
    " + ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY id) - 1 FROM enforcements",
    "UPDATE executions SET enforcement_id = (SELECT new_id FROM enforcement_renumbering"
    " WHERE old_id = executions.enforcement_id) WHERE enforcement_id IS NOT NULL"
    " AND enforcement_id IN (SELECT old_id FROM enforcement_renumbering)",
    # Through the negatives, so that no row takes an id another row still holds.
    "UPDATE enforcements SET id = -id",
    "UPDATE enforcements SET id = (SELECT new_id FROM enforcement_renumbering"
    " WHERE old_id = -enforcements.id)",
    "DROP TABLE enforcement_renumbering",
)


def upgrade() -> None:
    op.create_table(
        "rule_misses",
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger_ref", sa.String(length=255), nullable=False),
        sa.Column("rule_set_id", sa.BigInteger(), nullable=False),
        sa.Column("outcomes", sa.Text(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("conditions", _JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_rule_misses_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_rule_misses")),
    )
    for columns in (
        ["tenant_id", "created_at", "event_id"],
        ["tenant_id", "event_id"],
        ["tenant_id", "trigger_ref", "event_id"],
    ):
        op.create_index(op.f("ix_rule_misses_" + "_".join(columns)), "rule_misses", columns)
    op.create_table(
        "rule_sets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("trigger_ref", sa.String(length=255), nullable=False),
        sa.Column("rules", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_rule_sets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_sets")),
        sa.UniqueConstraint("tenant_id", "digest", name=op.f("uq_rule_sets_tenant_id_digest")),
        sqlite_autoincrement=True,
    )
    for statement in _RENUMBER:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("rule_sets")
    op.drop_table("rule_misses")
