"""Reading enforcements: Attune's query API (000_…txt), with Tidings' time range and cursor."""

from __future__ import annotations

from tidings.domain.access import Permission, Principal, require, visibility_of
from tidings.domain.automation import Enforcement
from tidings.domain.cursors import CursorCodec, CursorError, query_scope
from tidings.domain.errors import FieldProblem, InvalidInput, NotFound
from tidings.domain.json import JSONValue
from tidings.services.database import Database
from tidings.services.event_queries import Page
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
        scope = query_scope(principal.tenant_id, "enforcements", _fingerprint(flt))
        before = self._position(cursor, scope) if cursor else None
        offset = 0 if before else (page - 1) * per_page
        async with self._db.read() as conn:
            items = await enforcement_store.list_enforcements(
                conn,
                tenant_id=principal.tenant_id,
                flt=flt,
                visibility=visibility,
                limit=per_page + 1,
                offset=offset,
                before_id=before,
            )
            more = len(items) > per_page
            items = items[:per_page]
            total: int | None
            if before:
                total = None
            elif not more and (items or offset == 0):
                total = offset + len(items)
            else:
                total = await enforcement_store.count_enforcements(
                    conn, tenant_id=principal.tenant_id, flt=flt, visibility=visibility
                )
        next_cursor = self._cursors.encode(scope=scope, position=[items[-1].id]) if more else None
        return Page(items=items, total=total, next_cursor=next_cursor)

    def _position(self, cursor: str, scope: str) -> int:
        try:
            position = self._cursors.decode(cursor, scope=scope)
        except CursorError as exc:
            raise InvalidInput.of(
                FieldProblem("cursor", str(exc)), location="query parameters"
            ) from None
        if len(position) != 1 or not isinstance(position[0], int):
            raise InvalidInput.of(FieldProblem("cursor", "malformed"), location="query parameters")
        return position[0]


def _fingerprint(flt: EnforcementFilter) -> dict[str, JSONValue]:
    return {
        "rule": flt.rule_id,
        "event": flt.event_id,
        "status": flt.status,
        "trigger_ref": flt.trigger_ref,
        "start": flt.start,
        "end": flt.end,
    }
