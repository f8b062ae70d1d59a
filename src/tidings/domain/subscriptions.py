"""A subscription's settings, checked, and the documents its deliveries carry (issue 5).

A subscription is a standing order: deliver every event that passes its filter
(`subscription_filters.py`) and that its owner may see to one target — a webhook URL, a Slack
incoming webhook, or email addresses. What is checked here is what can be checked without I/O;
whether a URL's host resolves to a public address is decided when each request is made (the
guarded client), since a name can change what it resolves to after it was saved.

A Slack incoming-webhook URL is a credential (whoever holds it can post to the channel), so
reads show it masked; a webhook URL is shown as given, and must not carry credentials of its own
(`user:password@`): those would be returned by every read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

import orjson

from tidings.domain.delivery_retry import DEFAULT_DISABLE_AFTER_NS, NS, DeliveryPolicy
from tidings.domain.delivery_signatures import SigningError, check_secret
from tidings.domain.email_layout import EmailError, check_addresses
from tidings.domain.errors import FieldProblem
from tidings.domain.event_documents import escapekit_event_json, event_json
from tidings.domain.events import Event
from tidings.domain.json import JSONObject
from tidings.domain.subscription_filters import FilterError, filter_from_document
from tidings.domain.timestamps import format_rfc3339

MAX_URL = 2048
MAX_NAME = 255
# Tracker's notification channels, and the targets that serve them.
CHANNELS = ("slack", "email")
MAX_ADDRESSES = 50
MAX_RETRIES = 20
MAX_DELAY_SECONDS = 7 * 86_400
DISABLE_AFTER_BOUNDS = (3_600.0, 30 * 86_400.0)
MASK = "********"
# Deliveries start one worker's lease away at most; a webhook gets this long to answer.
DELIVERY_TIMEOUT_SECONDS = 15.0


class Target(StrEnum):
    """Where a subscription delivers."""

    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"


# The built-in action (and runner) each kind of delivery is an execution of.
DELIVERY_ACTIONS = {
    Target.WEBHOOK: "core.deliver_webhook",
    Target.SLACK: "core.deliver_slack",
    Target.EMAIL: "core.deliver_email",
}
DELIVERY_RUNNER = "delivery"


class SubscriptionError(ValueError):
    """A setting that cannot be used; `field` names it for the 400."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def check_url(url: str, *, field_name: str = "url") -> None:
    """SubscriptionError unless `url` is an absolute http(s) URL without credentials."""
    if len(url) > MAX_URL:
        raise SubscriptionError(field_name, f"at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SubscriptionError(field_name, f"is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionError(field_name, "must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise SubscriptionError(
            field_name, "must not carry credentials (user:password@); use the signing secret"
        )
    if port == 0:
        raise SubscriptionError(field_name, "port 0 cannot be reached")
    if any(c.isspace() for c in url):
        raise SubscriptionError(field_name, "must not contain whitespace")


def masked_url(url: str) -> str:
    """A Slack URL as reads show it: its last path segment (the token) hidden."""
    parts = urlsplit(url)
    head, _, _ = parts.path.rpartition("/")
    return f"{parts.scheme}://{parts.netloc}{head}/{MASK}"


def check_schedule(delays: Sequence[float], *, field_name: str = "retry_schedule") -> None:
    """SubscriptionError unless `delays` is a usable retry schedule (the first is attempt 1's)."""
    if not 1 <= len(delays) <= MAX_RETRIES:
        raise SubscriptionError(field_name, f"list 1 to {MAX_RETRIES} delays in seconds")
    for i, delay in enumerate(delays):
        if not 0 <= delay <= MAX_DELAY_SECONDS:
            raise SubscriptionError(
                f"{field_name}[{i}]", f"a delay is 0 to {MAX_DELAY_SECONDS} seconds"
            )


def check_disable_after(seconds: float, *, field_name: str = "disable_after_seconds") -> None:
    """SubscriptionError unless `seconds` is within the bounds we accept."""
    low, high = DISABLE_AFTER_BOUNDS
    if not low <= seconds <= high:
        raise SubscriptionError(field_name, f"between {low:g} and {high:g} seconds")


def policy_of(
    schedule: Sequence[float] | None, disable_after_seconds: float | None
) -> DeliveryPolicy:
    """A subscription's delivery policy: its own schedule and limit, or the defaults."""
    disable_ns = (
        DEFAULT_DISABLE_AFTER_NS
        if disable_after_seconds is None
        else round(disable_after_seconds * NS)
    )
    if schedule is None:
        return DeliveryPolicy(disable_after_ns=disable_ns)
    return DeliveryPolicy(schedule_seconds=tuple(schedule), disable_after_ns=disable_ns)


@dataclass(frozen=True)
class DeliveryRef:
    """Which event goes to which subscription: the parameters of a delivery execution."""

    event_id: int
    subscription_id: int

    @property
    def message_id(self) -> str:
        """The Standard Webhooks `webhook-id`: the same for every attempt and every resend of
        this event to this subscription, so a receiver drops the duplicates by it."""
        return f"msg_{self.event_id}_{self.subscription_id}"


def webhook_body(event: Event, *, escapekit: bool = False) -> bytes:
    """A webhook delivery's body, in Standard Webhooks' recommended shape: the event's type,
    when it happened, and the event itself as the native API shows it. A subscription EscapeKit's
    project endpoint manages gets EscapeKit's Event, as that API shows it, and nothing else."""
    if escapekit:
        return orjson.dumps(escapekit_event_json(event))
    return orjson.dumps(
        {
            "type": event.type,
            "timestamp": format_rfc3339(event.occurred_at),
            "data": event_json(event),
        }
    )


@dataclass(frozen=True)
class DeliveryJob:
    """One attempt's worth of a delivery: the event and the subscription as they are now (a
    URL or secret changed since the event is used as changed), the secrets in force opened."""

    ref: DeliveryRef
    tenant_id: int
    event: Event
    target: Target
    url: str | None
    addresses: tuple[str, ...]
    slack_username: str | None
    slack_icon: str | None
    secrets: tuple[str, ...]
    escapekit: bool  # managed by EscapeKit's project endpoint: the body is EscapeKit's event
    policy: DeliveryPolicy
    failing_since: int | None  # when the subscription's current run of failures began


@dataclass(frozen=True)
class SubscriptionSpec:
    """A subscription as a caller describes it (everything a PUT replaces)."""

    target: str
    url: str | None = None
    addresses: tuple[str, ...] = ()
    slack_username: str | None = None
    slack_icon: str | None = None
    filter: JSONObject = field(default_factory=dict)
    name: str | None = None
    retry_schedule: tuple[float, ...] | None = None
    disable_after_seconds: float | None = None
    notification_channel: str | None = None
    enabled: bool = True
    secret: str | None = None  # webhook only; None keeps (or, on create, generates) one


def check_spec(spec: SubscriptionSpec, *, prefix: str = "") -> list[FieldProblem]:
    """Every problem with `spec`, each naming its field (`prefix` for nested documents)."""
    problems: list[FieldProblem] = []

    def problem(name: str, message: str) -> None:
        problems.append(FieldProblem(prefix + name, message))

    try:
        target = Target(spec.target)
    except ValueError:
        problem("target", "must be one of webhook, slack, email")
        return problems
    if spec.name is not None and not 1 <= len(spec.name) <= MAX_NAME:
        problem("name", f"1 to {MAX_NAME} characters")
    if target in (Target.WEBHOOK, Target.SLACK):
        if spec.url is None:
            problem("url", f"a {target.value} subscription needs a URL")
        else:
            _collect(problems, prefix, lambda: check_url(spec.url or ""))
        if spec.addresses:
            problem("addresses", f"a {target.value} subscription has a URL, not addresses")
    else:
        if spec.url is not None:
            problem("url", "an email subscription has addresses, not a URL")
        try:
            check_addresses(spec.addresses)
        except EmailError as exc:
            problem("addresses", str(exc))
    if target is not Target.SLACK and (spec.slack_username or spec.slack_icon):
        problem("slack_username", "only a slack subscription has a Slack username and icon")
    if spec.secret is not None:
        if target is not Target.WEBHOOK:
            problem("secret", "only a webhook subscription signs its deliveries")
        else:
            try:
                check_secret(spec.secret)
            except SigningError as exc:
                problem("secret", str(exc))
    if spec.notification_channel is not None and spec.notification_channel != target.value:
        allowed = target.value if target.value in CHANNELS else "null"
        problem("notification_channel", f"for a {target.value} subscription it is {allowed}")
    try:
        filter_from_document(spec.filter)
    except FilterError as exc:
        problems.append(FieldProblem(prefix + exc.field, exc.message))
    if spec.retry_schedule is not None:
        _collect(problems, prefix, lambda: check_schedule(spec.retry_schedule or ()))
    if spec.disable_after_seconds is not None:
        _collect(problems, prefix, lambda: check_disable_after(spec.disable_after_seconds or 0))
    return problems


def _collect(problems: list[FieldProblem], prefix: str, check: Callable[[], None]) -> None:
    try:
        check()
    except SubscriptionError as exc:
        problems.append(FieldProblem(prefix + exc.field, exc.message))
