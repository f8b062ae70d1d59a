"""The delivery worker's side of subscriptions: what to send for a delivery, and what its
outcome does to the subscription.

A delivery is an execution (DESIGN.md, "Subscription"); its parameters name only the event and
the subscription, and the event and the subscription are read again for every attempt: a URL or
secret changed while a delivery waited for its retry is used as changed, and a subscription
deleted or disabled meanwhile receives nothing more.

`settle` applies the delivery policy (domain/delivery_retry.py) in one place: a success ends the
subscription's run of failures; a failure starts one (or continues it); a 410, or a run of
failures longer than the subscription allows, disables it and records a
`tidings.subscription_disabled` event in its tenant, which rules and other subscriptions can act
on like any event.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Principal, Visibility, internal_writer
from tidings.domain.clock import Clock
from tidings.domain.delivery_retry import Attempted, Decision, Verdict
from tidings.domain.delivery_signatures import Rotation
from tidings.domain.events import Event, NewEvent
from tidings.domain.json import JSONObject
from tidings.domain.subscriptions import DeliveryJob, DeliveryRef, Target, policy_of
from tidings.domain.timestamps import format_rfc3339
from tidings.services.database import Database
from tidings.services.ingest import IdempotencyClaim, Ingestor
from tidings.services.secret_box import SecretBox, SecretUnreadable
from tidings.storage import events as event_store
from tidings.storage import subscriptions as subscription_store
from tidings.storage import tenants as tenant_store
from tidings.storage.subscriptions import SubscriptionRow

log = structlog.get_logger(__name__)

SECRETS_PURPOSE = "subscription-secrets"
DISABLED_EVENT = "tidings.subscription_disabled"
_SEES_ALL = Visibility(sees_all=True, groups=frozenset(), roles=frozenset())


class DeliveryRefused(Exception):
    """This delivery cannot be made at all (its subscription or event is gone or disabled)."""


@dataclass(frozen=True)
class Secrets:
    """A subscription's signing secrets, as sealed in its row."""

    current: str
    previous: str | None = None
    previous_until: int | None = None

    def rotation(self) -> Rotation:
        """The domain's view: which secrets sign at a given moment."""
        return Rotation(self.current, self.previous, self.previous_until)


def seal_secrets(box: SecretBox, secrets: Secrets, *, tenant_id: int) -> bytes:
    """The sealed column value of `secrets`."""
    value: JSONObject = {
        "current": secrets.current,
        "previous": secrets.previous,
        "previous_until": secrets.previous_until,
    }
    return box.seal(value, purpose=SECRETS_PURPOSE, tenant_id=tenant_id)


def open_secrets(box: SecretBox, sealed: bytes, *, tenant_id: int) -> Secrets:
    """The secrets in a sealed column value (SecretUnreadable if the key cannot open them)."""
    value = box.open(sealed, purpose=SECRETS_PURPOSE, tenant_id=tenant_id)
    if not isinstance(value, dict) or not isinstance(value.get("current"), str):
        raise SecretUnreadable("the sealed subscription secrets are not in the expected shape")
    previous = value.get("previous")
    until = value.get("previous_until")
    return Secrets(
        current=str(value["current"]),
        previous=previous if isinstance(previous, str) else None,
        previous_until=until if isinstance(until, int) else None,
    )


_Loaded = tuple[SubscriptionRow | None, Event | None]
_Load = tuple[int, DeliveryRef, "asyncio.Future[_Loaded]"]


class _JobReads:
    """The attempts starting at the same moment read their subscriptions and events in one
    transaction, each subscription once.

    A worker starts up to its slot count of deliveries at once. Read one by one, each paid for
    a transaction of its own (on PostgreSQL a connection from the reader pool, smaller than the
    slot count, so overflow connections were opened and closed all the time), which held
    deliveries near 400/s. As in the group committer, the loads that arrive while a read is in
    flight wait for it and share the next one; an idle desk reads at once. Every attempt still
    reads its subscription and event after it started, never from a cache.

    On SQLite the read joins the group-committed writer's transaction rather than taking a
    reader connection. The writer runs its statements on the event loop
    (`storage/sqlite_inline.py`); a reader hands every call to its thread and back, a dozen
    hand-offs per transaction, 1.8 ms of CPU for one attempt's read here — the largest part of
    a delivery's cost. At 200 events/s this alone took `tidings serve` from saturated (p99 from
    acknowledgement to delivery 93 ms) to 25 ms (BENCHMARKS.md, "Deliveries (issue 5)").
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: list[_Load] = []
        self._reader: asyncio.Task[None] | None = None

    async def load(self, tenant_id: int, ref: DeliveryRef) -> _Loaded:
        """`ref`'s subscription and event as they are now (None for either that is gone)."""
        future: asyncio.Future[_Loaded] = asyncio.get_running_loop().create_future()
        self._waiting.append((tenant_id, ref, future))
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_while_waiting())
        return await future

    async def _read_while_waiting(self) -> None:
        try:
            while self._waiting:
                taken, self._waiting = self._waiting, []
                try:
                    found = await self._read(taken)
                except Exception as exc:  # each waiting attempt fails with the read's error
                    for _, _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), loaded in zip(taken, found, strict=True):
                    if not future.done():  # its attempt may have been cancelled meanwhile
                        future.set_result(loaded)
        finally:
            self._reader = None

    async def _read(self, taken: list[_Load]) -> list[_Loaded]:
        async def work(conn: AsyncConnection) -> list[_Loaded]:
            rows: dict[tuple[int, int], SubscriptionRow | None] = {}
            events: dict[tuple[int, int], Event | None] = {}
            for tenant_id, ref, _ in taken:
                key = (tenant_id, ref.subscription_id)
                if key not in rows:
                    rows[key] = await subscription_store.find(
                        conn, tenant_id=tenant_id, subscription_id=ref.subscription_id
                    )
                if (tenant_id, ref.event_id) not in events:
                    events[(tenant_id, ref.event_id)] = await event_store.get_event(
                        conn, tenant_id=tenant_id, event_id=ref.event_id, visibility=_SEES_ALL
                    )
            return [(rows[(t, r.subscription_id)], events[(t, r.event_id)]) for t, r, _ in taken]

        if self._db.dialect == "sqlite":
            return await self._db.write(work)  # reads only; see the class docstring
        async with self._db.read() as conn:
            return await work(conn)


class DeliveryDesk:
    """Loads deliveries for the delivery runners and settles their outcomes."""

    def __init__(
        self,
        db: Database,
        *,
        box: SecretBox,
        clock: Clock,
        ingest: Ingestor,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._ingest = ingest
        self._rng = rng or random.Random()
        self._locators: dict[int, str] = {}
        self._reads = _JobReads(db)

    @property
    def clock(self) -> Clock:
        """The clock attempts are timed and signed by."""
        return self._clock

    async def job(self, *, tenant_id: int, ref: DeliveryRef) -> DeliveryJob:
        """What to send for one attempt of `ref`, or DeliveryRefused saying why nothing is."""
        row, event = await self._reads.load(tenant_id, ref)
        if row is None:
            raise DeliveryRefused(f"subscription {ref.subscription_id} no longer exists")
        if not row.enabled:
            why = f": {row.disabled_reason}" if row.disabled_reason else ""
            raise DeliveryRefused(f"subscription {row.id} is disabled{why}")
        if event is None:
            raise DeliveryRefused(f"event {ref.event_id} no longer exists")
        return DeliveryJob(
            ref=ref,
            tenant_id=tenant_id,
            event=event,
            target=Target(row.target),
            url=row.url,
            addresses=tuple(row.addresses or ()),
            slack_username=row.slack_username,
            slack_icon=row.slack_icon,
            secrets=self._secrets_in_force(row),
            escapekit=row.escapekit_project is not None,
            policy=policy_of(row.retry_schedule, row.disable_after_seconds),
            failing_since=row.failing_since,
        )

    def _secrets_in_force(self, row: SubscriptionRow) -> tuple[str, ...]:
        if row.sealed_secrets is None or row.target != Target.WEBHOOK:
            return ()
        try:
            secrets = open_secrets(self._box, row.sealed_secrets, tenant_id=row.tenant_id)
        except SecretUnreadable as exc:
            raise DeliveryRefused(f"the subscription's secrets cannot be opened: {exc}") from exc
        return tuple(secrets.rotation().in_force(self._clock.now_ns()))

    async def settle(self, job: DeliveryJob, *, attempt: int, attempted: Attempted) -> Decision:
        """Apply the subscription's policy to one attempt and record what it does to the
        subscription; the decision, for the runner to carry out."""
        status = attempted.status
        subscription_id = job.ref.subscription_id
        if status is not None and 200 <= status < 300:
            if job.failing_since is not None:
                await self._db.write(
                    lambda conn: subscription_store.delivered(conn, subscription_id=subscription_id)
                )
            return Decision(Verdict.DELIVERED)
        now = attempted.sent_at_ns
        since = await self._db.write(
            lambda conn: subscription_store.failing(conn, subscription_id=subscription_id, now=now)
        )
        decision = job.policy.decide(attempt, attempted, failing_since_ns=since, rng=self._rng)
        if decision.verdict is Verdict.DISABLE:
            await self._disable(job, decision.reason, since)
        return decision

    async def _disable(self, job: DeliveryJob, reason: str, since: int | None) -> None:
        now = self._clock.now_ns()
        subscription_id = job.ref.subscription_id
        row = await self._db.write(
            lambda conn: subscription_store.disable(
                conn, subscription_id=subscription_id, reason=reason, now=now
            )
        )
        if row is None:  # already disabled, by another attempt or a person
            return
        log.warning("subscriptions.disabled", subscription=row.id, reason=reason)
        await self._announce(row, reason, since, now)

    async def _announce(
        self, row: SubscriptionRow, reason: str, since: int | None, now: int
    ) -> None:
        """Record `tidings.subscription_disabled` in the subscription's tenant."""
        payload: JSONObject = {
            "subscription": row.id,
            "name": row.name,
            "target": row.target,
            "reason": reason,
            "failing_since": None if since is None else format_rfc3339(since),
            "disabled_at": format_rfc3339(now),
        }
        new = NewEvent(
            type=DISABLED_EVENT,
            payload=payload,
            title=f"Subscription {row.name or row.id} was disabled",
            message=reason,
            dimensions={"status": "error"},
        )
        key = f"tidings-subscription-disabled-{row.id}-{now}"
        fingerprint = hashlib.sha256(orjson.dumps(payload)).hexdigest()
        try:
            await self._ingest.ingest(
                principal=await self._principal(row.tenant_id),
                new_events=[new],
                request_id=f"subscription-{row.id}",
                render=_render,
                claim=IdempotencyClaim(key, fingerprint),
            )
        except Exception as exc:  # the subscription is disabled either way; say so in the log
            log.error("subscriptions.disabled_event_failed", subscription=row.id, error=str(exc))

    async def _principal(self, tenant_id: int) -> Principal:
        locator = self._locators.get(tenant_id)
        if locator is None:
            async with self._db.read() as conn:
                tenant = await tenant_store.find_tenant(conn, tenant_id=tenant_id)
            locator = self._locators[tenant_id] = "" if tenant is None else tenant.locator
        return internal_writer(
            tenant_id=tenant_id, tenant_locator=locator, name="tidings-deliveries"
        )


def _render(stored: list[Event]) -> tuple[int, bytes]:
    return 201, orjson.dumps([event.id for event in stored])
