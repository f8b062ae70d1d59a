"""indexes for Tracker's searches by type with environment or priority

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_events_tenant_type_environment_time": "environment",
    "ix_events_tenant_type_priority_time": "priority",
}


def upgrade() -> None:
    for name, column in _INDEXES.items():
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name,
            "events",
            ["tenant_id", "type", column, "occurred_at", "id", "restricted"],
            sqlite_where=where,
            postgresql_where=where,
        )


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, "events")
