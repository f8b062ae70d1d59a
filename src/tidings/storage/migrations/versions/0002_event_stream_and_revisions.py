"""event stream order (commit_tx) and event revisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# On PostgreSQL every row records the transaction that wrote it; rows written before this
# migration keep 0, which is below every live transaction and so always safe to read.
_PG_CURRENT_TX = "(pg_current_xact_id()::text::bigint)"


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch: a batch would rebuild the SQLite table from its reflected
    # form, which drops AUTOINCREMENT (and with it the promise that ids are never reused).
    op.add_column(
        "events",
        sa.Column("commit_tx", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_index("ix_events_tenant_stream", "events", ["tenant_id", "commit_tx", "id"])
    op.create_index(
        "ix_events_tenant_type_stream", "events", ["tenant_id", "type", "commit_tx", "id"]
    )
    op.create_index("ix_events_tenant_recorded", "events", ["tenant_id", "recorded_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE events ALTER COLUMN commit_tx SET DEFAULT {_PG_CURRENT_TX}")

    op.create_table(
        "event_revisions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_locator", sa.String(length=36), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=True),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_event_revisions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_revisions")),
        sa.UniqueConstraint(
            "tenant_id",
            "event_id",
            "number",
            name=op.f("uq_event_revisions_tenant_id_event_id_number"),
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("event_revisions")
    op.drop_index("ix_events_tenant_recorded", "events")
    op.drop_index("ix_events_tenant_type_stream", "events")
    op.drop_index("ix_events_tenant_stream", "events")
    op.drop_column("events", "commit_tx")
