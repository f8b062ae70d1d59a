"""Reading enforcements: Attune's query API (000_…txt), with Tidings' time range and cursor."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require, visibility_of
from tidings.domain.automation import Enforcement
from tidings.domain.cursors import CursorCodec, query_scope
from tidings.domain.errors import NotFound
from tidings.domain.json import JSONValue
from tidings.services.database import Database
from tidings.services.event_queries import Page
from tidings.services.id_pages import page_by_id
from tidings.storage import enforcements as enforcement_store
from tidings.storage.enforcements import EnforcementDetail, EnforcementFilter


class EnforcementQueries:
    """List and get enforcements the caller may see."""

    def __init__(self, db: Database, *, cursors: CursorCodec) -> None:
        self._db = db
        self._cursors = cursors

    async def get(self, *, principal: Principal, enforcement_id: int) -> EnforcementDetail:
        """One enforcement, or NotFound (also when its event is hidden from the caller)."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            found = await enforcement_store.get_enforcement(
                conn,
                tenant_id=principal.tenant_id,
                enforcement_id=enforcement_id,
                visibility=visibility_of(principal),
            )
        if found is None:
            raise NotFound(f"Enforcement with ID {enforcement_id} not found")
        return found

    async def page(
        self,
        *,
        principal: Principal,
        flt: EnforcementFilter,
        page: int,
        per_page: int,
        cursor: str | None,
    ) -> Page[Enforcement]:
        """Newest first: by page number with an exact total, or after a cursor."""
        require(principal, Permission.AUTOMATION_READ)
        visibility = visibility_of(principal)
        tenant_id = principal.tenant_id

        async def fetch(
            conn: AsyncConnection, limit: int, offset: int, before_id: int | None
        ) -> list[Enforcement]:
            return await enforcement_store.list_enforcements(
                conn,
                tenant_id=tenant_id,
                flt=flt,
                visibility=visibility,
                limit=limit,
                offset=offset,
                before_id=before_id,
            )

        async def count(conn: AsyncConnection) -> int:
            return await enforcement_store.count_enforcements(
                conn, tenant_id=tenant_id, flt=flt, visibility=visibility
            )

        return await page_by_id(
            self._db,
            self._cursors,
            scope=query_scope(tenant_id, "enforcements", _fingerprint(flt)),
            page=page,
            per_page=per_page,
            cursor=cursor,
            fetch=fetch,
            count=count,
        )


def _fingerprint(flt: EnforcementFilter) -> dict[str, JSONValue]:
    return {
        "rule": flt.rule_id,
        "event": flt.event_id,
        "status": flt.status,
        "trigger_ref": flt.trigger_ref,
        "start": flt.start,
        "end": flt.end,
    }
