"""The compact record of the rules an event did not match, and the rule sets it refers to.

Written by ingest (one row per event, domain/enforcement_ids.py says why), read by the
enforcements API, which expands each row into one enforcement per rule that did not pass. Reads
apply the reader's event visibility exactly as the enforcement rows do.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility
from tidings.domain.automation import Enforcement, EnforcementStatus
from tidings.domain.enforcement_ids import (
    LETTER_OUTCOME,
    PASSED_LETTER,
    enforcement_id,
    missed_positions,
    split_enforcement_id,
)
from tidings.storage.automation_tables import rule_misses, rule_sets
from tidings.storage.bulk_insert import BulkInsert
from tidings.storage.events import visibility_clause
from tidings.storage.tables import events

INSERT_COLUMNS = (
    "event_id",
    "tenant_id",
    "trigger_ref",
    "rule_set_id",
    "outcomes",
    "misses",
    "conditions",
    "created_at",
)
_INSERT = BulkInsert(rule_misses, INSERT_COLUMNS)

Rules = list[tuple[int, str]]  # a rule set: (rule id, rule ref) by position


async def insert_misses(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows whose values follow INSERT_COLUMNS."""
    await _INSERT.write(conn, rows)


async def rule_set_ids(
    conn: AsyncConnection, tenant_id: int, wanted: Mapping[str, tuple[str, Rules]]
) -> tuple[dict[str, int], set[str]]:
    """Ids of the rule sets `wanted` (digest -> (trigger ref, rules)), storing those missing.

    Also which of them were already there when this transaction looked, i.e. committed: a set
    this transaction stored is gone again if it rolls back, so callers may cache only those.
    """
    found = await _find_sets(conn, tenant_id, wanted)
    committed = set(found)
    missing = [d for d in wanted if d not in found]
    if missing:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        values = [
            {
                "tenant_id": tenant_id,
                "digest": d,
                "trigger_ref": wanted[d][0],
                "rules": [list(r) for r in wanted[d][1]],
            }
            for d in missing
        ]
        await conn.execute(dialect.insert(rule_sets).on_conflict_do_nothing(), values)
        found |= await _find_sets(conn, tenant_id, missing)
    return found, committed


async def _find_sets(
    conn: AsyncConnection, tenant_id: int, digests: Collection[str]
) -> dict[str, int]:
    if not digests:
        return {}
    query = select(rule_sets.c.digest, rule_sets.c.id).where(
        rule_sets.c.tenant_id == tenant_id, rule_sets.c.digest.in_(sorted(digests))
    )
    return {row.digest: int(row.id) for row in await conn.execute(query)}


async def rule_sets_by_id(
    conn: AsyncConnection, tenant_id: int, ids: Collection[int]
) -> dict[int, Rules]:
    """The rules of each stored rule set asked for."""
    if not ids:
        return {}
    query = select(rule_sets.c.id, rule_sets.c.rules).where(
        rule_sets.c.tenant_id == tenant_id, rule_sets.c.id.in_(sorted(ids))
    )
    return {
        int(row.id): [(int(i), str(ref)) for i, ref in row.rules]
        for row in await conn.execute(query)
    }


@dataclass(frozen=True)
class RulePlaces:
    """Where one rule sits in the rule sets that hold it."""

    positions: dict[int, int]  # rule set id -> the rule's position in it
    triggers: frozenset[str]  # the triggers of those sets (a rule keeps its trigger)


async def places_of_rule(conn: AsyncConnection, tenant_id: int, rule_id: int) -> RulePlaces:
    """Every rule set that holds the rule, and the rule's position in each.

    Rule sets change only when a trigger gains, loses or renames a rule, so a tenant has few;
    they are read whole and searched here rather than by a JSON query per engine.
    """
    query = select(rule_sets.c.id, rule_sets.c.trigger_ref, rule_sets.c.rules).where(
        rule_sets.c.tenant_id == tenant_id
    )
    positions: dict[int, int] = {}
    triggers: set[str] = set()
    for row in await conn.execute(query):
        for position, (member, _ref) in enumerate(row.rules):
            if member == rule_id:
                positions[int(row.id)] = position
                triggers.add(row.trigger_ref)
    return RulePlaces(positions, frozenset(triggers))


@dataclass(frozen=True)
class MissFilter:
    """What the enforcements API asks of the compact records (see enforcements.py)."""

    tenant_id: int
    event_id: int | None
    trigger_ref: str | None
    start: int | None
    end: int | None
    # With a rule filter: where the rule sits (its trigger narrows the scan to that trigger's
    # records, by index).
    rule: RulePlaces | None

    @property
    def positions(self) -> dict[int, int] | None:
        """The rule's position in each rule set holding it, with a rule filter."""
        return None if self.rule is None else self.rule.positions


def _where(flt: MissFilter) -> list[ColumnElement[bool]]:
    c = rule_misses.c
    clauses: list[ColumnElement[bool]] = [c.tenant_id == flt.tenant_id]
    if flt.event_id is not None:
        clauses.append(c.event_id == flt.event_id)
    if flt.trigger_ref is not None:
        clauses.append(c.trigger_ref == flt.trigger_ref)
    if flt.start is not None:
        clauses.append(c.created_at >= flt.start)
    if flt.end is not None:
        clauses.append(c.created_at <= flt.end)
    if flt.rule is not None:
        positions = flt.rule.positions
        if len(flt.rule.triggers) == 1 and flt.trigger_ref is None:
            clauses.append(c.trigger_ref == next(iter(flt.rule.triggers)))
        clauses.append(c.rule_set_id.in_(sorted(positions)))
        at = case({s: p + 1 for s, p in positions.items()}, value=c.rule_set_id)
        clauses.append(func.substr(c.outcomes, at, literal(1)) != PASSED_LETTER)
    return clauses


def _visible(query: Select[Any], flt: MissFilter, visibility: Visibility) -> Select[Any]:
    clause = visibility_clause(visibility)
    if clause is None:
        return query
    return query.join(
        events, (events.c.id == rule_misses.c.event_id) & (events.c.tenant_id == flt.tenant_id)
    ).where(clause)


async def count_misses(conn: AsyncConnection, flt: MissFilter, visibility: Visibility) -> int:
    """How many enforcements the matching records hold."""
    if flt.positions is not None:
        if not flt.positions:
            return 0
        total: Any = func.count()
    else:
        total = func.coalesce(func.sum(rule_misses.c.misses), 0)
    query = _visible(select(total).select_from(rule_misses).where(*_where(flt)), flt, visibility)
    return int((await conn.execute(query)).scalar_one())


async def list_missed(
    conn: AsyncConnection,
    flt: MissFilter,
    visibility: Visibility,
    *,
    before_id: int | None,
    limit: int,
) -> list[Enforcement]:
    """Enforcements from the matching records, newest first, below `before_id` when given.

    At least `limit` of them when there are that many (whole records are read, so up to one
    record's worth more); the caller merges them with the enforcement rows.
    """
    if flt.positions is not None and not flt.positions:
        return []
    where = _where(flt)
    if before_id is not None:
        where.append(rule_misses.c.event_id <= split_enforcement_id(before_id)[0])
    query = _visible(select(*rule_misses.c).where(*where), flt, visibility)
    query = query.order_by(rule_misses.c.event_id.desc())
    found: list[Enforcement] = []
    last_event: int | None = None
    while len(found) < limit:
        page = query.limit(max(1, limit - len(found)))
        if last_event is not None:
            page = page.where(rule_misses.c.event_id < last_event)
        rows = (await conn.execute(page)).all()
        if not rows:
            break
        sets = await rule_sets_by_id(conn, flt.tenant_id, {int(r.rule_set_id) for r in rows})
        for row in rows:
            found.extend(
                item
                for item in _expand(row, sets.get(int(row.rule_set_id), []), flt.positions)
                if before_id is None or item.id < before_id
            )
        last_event = int(rows[-1].event_id)
    return found


async def get_missed(
    conn: AsyncConnection, *, tenant_id: int, enforcement: int, visibility: Visibility
) -> tuple[Enforcement, Any] | None:
    """A compact record's enforcement by id, with its event's payload; None if there is none or
    the reader may not see its event."""
    event_id = split_enforcement_id(enforcement)[0]
    query = (
        select(*rule_misses.c, rule_sets.c.rules, events.c.payload.label("event_payload"))
        .join(rule_sets, rule_sets.c.id == rule_misses.c.rule_set_id)
        .outerjoin(
            events, (events.c.id == rule_misses.c.event_id) & (events.c.tenant_id == tenant_id)
        )
        .where(rule_misses.c.tenant_id == tenant_id, rule_misses.c.event_id == event_id)
    )
    clause = visibility_clause(visibility)
    if clause is not None:
        query = query.where(events.c.id.is_not(None), clause)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    rules = [(int(i), str(ref)) for i, ref in row.rules]
    items = [e for e in _expand(row, rules, None) if e.id == enforcement]
    return (items[0], row.event_payload) if items else None


def _expand(row: Any, rules: Rules, positions: dict[int, int] | None) -> list[Enforcement]:
    """A record's enforcements, by descending position (descending id)."""
    if positions is not None:
        wanted = [positions[int(row.rule_set_id)]]
    else:
        wanted = missed_positions(row.outcomes)
    conditions = row.conditions or []
    items = []
    for position in wanted:
        if position >= len(rules) or position >= len(row.outcomes):
            continue
        rule_id, rule_ref = rules[position]
        clauses = conditions[position] if position < len(conditions) else None
        items.append(
            Enforcement(
                id=enforcement_id(int(row.event_id), position),
                rule_id=rule_id,
                rule_ref=rule_ref,
                trigger_ref=row.trigger_ref,
                event_id=int(row.event_id),
                status=EnforcementStatus.COMPLETED,
                condition=LETTER_OUTCOME[row.outcomes[position]],
                conditions=dict(clauses or {}),
                created_at=int(row.created_at),
                updated_at=int(row.created_at),
            )
        )
    return items
