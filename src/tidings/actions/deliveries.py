"""The `delivery` runner: one attempt of one subscription delivery — a signed webhook POST, a
Slack message, or an email.

Deliveries are executions (DESIGN.md, "Subscription"), so the queue, leases and attempt records
are the workers'; this module sends and reports. The desk (`services/deliveries.py`) says what
to send, read afresh for each attempt, and settles the outcome: the subscription's retry
schedule, a receiver's `Retry-After`, 410 and long failure disabling the subscription. Each
attempt's status code, duration and a bounded excerpt of the response go into its record.

Webhooks are signed per Standard Webhooks (`domain/delivery_signatures.py`): `webhook-id` is the
same for every attempt and resend of an event to a subscription. Requests go through the guarded
client: no private addresses unless the operator allows them, no redirects, bounded sizes.

Slack takes about one message a second per incoming webhook. The pacer keeps that per URL in
this process by deferring a message to its slot (back on the queue, due then, the attempt not
counted), so a burst is queued rather than dropped; several worker processes each keep their
own pace, and Slack's 429 with `Retry-After` covers the rest.

Email goes through the operator's SMTP relay (`TIDINGS_SMTP_*`) with `aiosmtplib`: a 4xx reply
or a broken connection is retried on the schedule, a 5xx reply fails the delivery at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import orjson

from tidings.actions.guarded_http import OutgoingRequestError
from tidings.actions.runner import ActionContext, ActionDeferred, ActionFailed
from tidings.domain.delivery_retry import Attempted, Verdict
from tidings.domain.delivery_signatures import signed_headers
from tidings.domain.email_layout import EmailError, email_message
from tidings.domain.json import JSONValue
from tidings.domain.slack_layout import slack_message
from tidings.domain.subscriptions import DeliveryJob, DeliveryRef, Target, webhook_body
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.deliveries import DeliveryDesk, DeliveryRefused

EXCERPT_CHARACTERS = 1024
SLACK_INTERVAL_NS = NS_PER_SECOND
# A deferral shorter than this is not worth a trip through the queue: the message waits here.
_WAIT_IN_PLACE_NS = 50_000_000
_PERMANENT = frozenset({"refused", "invalid"})


@dataclass(frozen=True)
class SmtpRelay:
    """Where email deliveries go, from `TIDINGS_SMTP_*`."""

    host: str
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = None
    sender: str = "tidings@localhost"
    timeout_seconds: float = 30.0


class SlackPacer:
    """One message a second per Slack URL in this process: each delivery gets a slot, kept
    while it waits on the queue, and sends when the slot comes."""

    def __init__(self, interval_ns: int = SLACK_INTERVAL_NS) -> None:
        self._interval = interval_ns
        self._next_free: dict[str, int] = {}
        self._slots: dict[int, int] = {}  # execution id -> its slot

    def slot(self, url: str, execution_id: int, now: int) -> int:
        """When this execution may post to `url` (its slot, booked at the first ask)."""
        booked = self._slots.get(execution_id)
        if booked is not None:
            return booked
        slot = max(now, self._next_free.get(url, now))
        self._next_free[url] = slot + self._interval
        self._slots[execution_id] = slot
        return slot

    def release(self, execution_id: int) -> None:
        """The execution posted (or gave up): forget its slot."""
        self._slots.pop(execution_id, None)


class DeliveryRunner:
    """The `delivery` runner, bound to the desk, the Slack pacer and the SMTP relay."""

    def __init__(
        self,
        desk: DeliveryDesk,
        *,
        smtp: SmtpRelay | None = None,
        pacer: SlackPacer | None = None,
    ) -> None:
        self._desk = desk
        self._smtp = smtp
        self._pacer = pacer or SlackPacer()

    async def __call__(self, ctx: ActionContext) -> JSONValue:
        """Send one attempt and settle it: a result when delivered, ActionFailed otherwise."""
        ref = _ref(ctx)
        try:
            job = await self._desk.job(tenant_id=ctx.tenant_id, ref=ref)
        except DeliveryRefused as exc:
            raise ActionFailed(str(exc), retryable=False) from exc
        if job.target is Target.WEBHOOK:
            attempted, permanent = await self._webhook(ctx, job)
        elif job.target is Target.SLACK:
            attempted, permanent = await self._slack(ctx, job)
        else:
            attempted, permanent = await self._email(ctx, job)
        decision = await self._desk.settle(job, attempt=ctx.attempt, attempted=attempted)
        if decision.verdict is Verdict.DELIVERED:
            return {"status_code": attempted.status, "message_id": ref.message_id}
        reason = str(ctx.detail.get("error") or decision.reason)
        if decision.verdict is Verdict.DISABLE:
            raise ActionFailed(f"{reason}; the subscription was disabled", retryable=False)
        if decision.verdict is Verdict.FAILED or permanent:
            raise ActionFailed(reason, retryable=False)
        raise ActionFailed(reason, retryable=True, retry_at_ns=decision.retry_at_ns)

    async def _webhook(self, ctx: ActionContext, job: DeliveryJob) -> tuple[Attempted, bool]:
        if job.url is None:
            raise ActionFailed("the subscription has no URL", retryable=False)
        body = webhook_body(job.event, escapekit=job.escapekit)
        now = self._desk.clock.now_ns()
        headers = {"Content-Type": "application/json"}
        if job.secrets:
            headers |= signed_headers(
                message_id=job.ref.message_id,
                timestamp_s=now // NS_PER_SECOND,
                body=body,
                secrets=job.secrets,
            )
        return await self._post(ctx, job.url, headers, body)

    async def _slack(self, ctx: ActionContext, job: DeliveryJob) -> tuple[Attempted, bool]:
        if job.url is None:
            raise ActionFailed("the subscription has no Slack URL", retryable=False)
        now = self._desk.clock.now_ns()
        slot = self._pacer.slot(job.url, ctx.execution_id, now)
        if slot - now > _WAIT_IN_PLACE_NS:
            raise ActionDeferred(slot)
        self._pacer.release(ctx.execution_id)
        message = slack_message(job.event, username=job.slack_username, icon=job.slack_icon)
        headers = {"Content-Type": "application/json"}
        return await self._post(ctx, job.url, headers, orjson.dumps(message))

    async def _post(
        self, ctx: ActionContext, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[Attempted, bool]:
        sent_at = self._desk.clock.now_ns()
        started = time.perf_counter()
        try:
            result = await ctx.http.request(
                "POST", url, headers=headers, body=body, timeout_seconds=ctx.timeout_seconds
            )
        except OutgoingRequestError as exc:
            ctx.detail.update({"status_code": None, "duration_ms": _ms(started), "error": str(exc)})
            return Attempted(None, sent_at_ns=sent_at), exc.kind in _PERMANENT
        ctx.detail.update(
            {
                "status_code": result.status,
                "duration_ms": round(result.elapsed_ms, 3),
                "response": _excerpt(result.body),
            }
        )
        retry_after = result.headers.get("retry-after")
        return Attempted(result.status, retry_after=retry_after, sent_at_ns=sent_at), False

    async def _email(self, ctx: ActionContext, job: DeliveryJob) -> tuple[Attempted, bool]:
        sent_at = self._desk.clock.now_ns()
        if self._smtp is None:
            ctx.detail["error"] = "email is not configured: set TIDINGS_SMTP_HOST"
            return Attempted(None, sent_at_ns=sent_at), True
        relay = self._smtp
        try:
            message = email_message(
                job.event,
                sender=relay.sender,
                recipients=job.addresses,
                delivery_id=ctx.execution_id,
                sent_at_ns=sent_at,
                domain=relay.sender.rpartition("@")[2] or "localhost",
            )
        except EmailError as exc:
            ctx.detail["error"] = f"the email cannot be built: {exc}"
            return Attempted(None, sent_at_ns=sent_at), True
        started = time.perf_counter()
        try:
            await _send_mail(relay, message)
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            ctx.detail.update(
                {
                    "smtp_code": exc.code,
                    "duration_ms": _ms(started),
                    "error": f"the relay answered {exc.code}: {_excerpt(exc.message.encode())}",
                }
            )
            return Attempted(None, sent_at_ns=sent_at), permanent
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            ctx.detail.update(
                {"duration_ms": _ms(started), "error": f"the relay could not be used: {exc}"}
            )
            return Attempted(None, sent_at_ns=sent_at), False
        ctx.detail.update({"smtp_code": 250, "duration_ms": _ms(started)})
        return Attempted(200, sent_at_ns=sent_at), False


async def _send_mail(relay: SmtpRelay, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=relay.host,
        port=relay.port,
        username=relay.username,
        password=relay.password,
        use_tls=relay.security == "tls",
        start_tls=relay.security == "starttls",
        timeout=relay.timeout_seconds,
    )


def _ref(ctx: ActionContext) -> DeliveryRef:
    event, subscription = ctx.parameters.get("event"), ctx.parameters.get("subscription")
    if not isinstance(event, int) or not isinstance(subscription, int):
        raise ActionFailed(
            "a delivery's parameters name an event and a subscription by id", retryable=False
        )
    return DeliveryRef(event_id=event, subscription_id=subscription)


def _excerpt(body: bytes) -> str:
    text = body[: EXCERPT_CHARACTERS * 4].decode("utf-8", errors="replace")
    return text[:EXCERPT_CHARACTERS]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
