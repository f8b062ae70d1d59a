"""A tenant's automation settings: today, which enforcements ingest records.

Recording every evaluation (the default) is what makes "why did my rule not fire?" answerable;
a tenant with many rules per trigger and little interest in non-matches can record only the
enforcements whose condition passed. The rule engine reads the setting in the ingest
transaction, so a change applies from the next event on every node.
"""

from __future__ import annotations

from tidings.domain.access import Permission, Principal, require
from tidings.domain.automation import EnforcementRecording
from tidings.services.database import Database
from tidings.storage import tenants as tenant_store


class AutomationSettings:
    """Reads and changes a tenant's automation settings."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, *, principal: Principal) -> EnforcementRecording:
        """The caller's tenant's enforcement recording."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            value = await tenant_store.enforcement_recording(conn, tenant_id=principal.tenant_id)
        return EnforcementRecording(value)

    async def set(
        self, *, principal: Principal, recording: EnforcementRecording
    ) -> EnforcementRecording:
        """Change it (tenant admins only: it decides what history is kept)."""
        require(principal, Permission.ADMIN)
        async with self._db.transaction() as conn:
            await tenant_store.set_enforcement_recording(
                conn, tenant_id=principal.tenant_id, value=recording.value
            )
        return recording
