"""What happens after a webhook delivery attempt: done, retry when, give up, or disable the
subscription (issue 5, "Retries"). A decision, not an action (CONVENTIONS.md): the delivery
worker carries it out, and the arithmetic is tested with tables and a seeded `random.Random`.

The schedule is the one the best webhook services use (Svix's): immediately, then 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h, each ±20%, about 28 hours in all; a subscription may set its
own. A receiver's `Retry-After` (seconds or an HTTP date) replaces the next delay when it asks
for something between 1 s and a day: it knows when it will be back, within bounds we accept.
Only 2xx is success. A redirect is a failure (deliveries follow none: the target is the URL the
subscriber registered). 410 Gone means the endpoint is gone for good: the subscription is
disabled at once. An endpoint that has failed without a single success for `disable_after`
(5 days by default) is disabled as well.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

from tidings.domain.retry import PROPORTIONAL_SPREAD

NS = 1_000_000_000
DEFAULT_SCHEDULE_SECONDS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
RETRY_AFTER_BOUNDS_SECONDS = (1.0, 86_400.0)
DEFAULT_DISABLE_AFTER_NS = 5 * 86_400 * NS


class Verdict(StrEnum):
    """What to do with a delivery after one attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # retries exhausted: a failed job, resumable
    DISABLE = "disable"  # the subscription is turned off (and the delivery failed)


@dataclass(frozen=True)
class Attempted:
    """How one attempt went: an HTTP status, or an error before any (None status)."""

    status: int | None
    retry_after: str | None = None  # the response's Retry-After header, as sent
    sent_at_ns: int = 0


@dataclass(frozen=True)
class Decision:
    """The verdict, when to try again (RETRY only), and why, for the attempt record."""

    verdict: Verdict
    retry_at_ns: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class DeliveryPolicy:
    """A subscription's retry schedule and when a failing endpoint is disabled."""

    schedule_seconds: tuple[float, ...] = DEFAULT_SCHEDULE_SECONDS
    disable_after_ns: int = DEFAULT_DISABLE_AFTER_NS

    def __post_init__(self) -> None:
        if not self.schedule_seconds or any(d < 0 for d in self.schedule_seconds):
            raise ValueError("a retry schedule lists one or more delays of 0 s or more")
        if self.disable_after_ns <= 0:
            raise ValueError("disable_after must be positive")

    @property
    def max_attempts(self) -> int:
        """The first attempt and one per delay after the first (which is that attempt's)."""
        return len(self.schedule_seconds)

    def decide(
        self,
        attempt: int,
        outcome: Attempted,
        *,
        failing_since_ns: int | None,
        rng: random.Random,
    ) -> Decision:
        """The decision after attempt number `attempt` (1-based). `failing_since_ns` is when
        the endpoint's current run of failures began (None: its last delivery succeeded)."""
        status = outcome.status
        if status is not None and 200 <= status < 300:
            return Decision(Verdict.DELIVERED)
        reason = _reason(status)
        if status == 410:
            return Decision(Verdict.DISABLE, reason=f"{reason}: the endpoint is gone")
        since = outcome.sent_at_ns if failing_since_ns is None else failing_since_ns
        if outcome.sent_at_ns - since >= self.disable_after_ns:
            days = self.disable_after_ns / (86_400 * NS)
            return Decision(
                Verdict.DISABLE, reason=f"{reason}: failing without a success for {days:g} days"
            )
        if attempt >= self.max_attempts:
            return Decision(Verdict.FAILED, reason=f"{reason}: {attempt} attempts, none delivered")
        delay = self.schedule_seconds[attempt] * rng.uniform(
            1 - PROPORTIONAL_SPREAD, 1 + PROPORTIONAL_SPREAD
        )
        asked = retry_after_seconds(outcome.retry_after, now_ns=outcome.sent_at_ns)
        low, high = RETRY_AFTER_BOUNDS_SECONDS
        if asked is not None and low <= asked <= high:
            delay = asked
        return Decision(Verdict.RETRY, outcome.sent_at_ns + round(delay * NS), reason)


def _reason(status: int | None) -> str:
    if status is None:
        return "no response"
    if 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)"
    return f"HTTP {status}"


def retry_after_seconds(value: str | None, *, now_ns: int) -> float | None:
    """A Retry-After header's delay in seconds (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp() - now_ns / NS
