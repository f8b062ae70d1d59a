"""The delivery retry decision: schedule, jitter, Retry-After, redirects, 410, disabling."""

from __future__ import annotations

import random

import pytest

from tidings.domain.delivery_retry import (
    DEFAULT_SCHEDULE_SECONDS,
    NS,
    Attempted,
    Decision,
    DeliveryPolicy,
    Verdict,
    retry_after_seconds,
)

T0 = 1_800_000_000 * NS
POLICY = DeliveryPolicy()


def decide(attempt: int, outcome: Attempted, since: int | None = None, seed: int = 1) -> Decision:
    return POLICY.decide(attempt, outcome, failing_since_ns=since, rng=random.Random(seed))


def test_2xx_is_delivered_and_nothing_else_is() -> None:
    for ok in (200, 201, 204, 299):
        assert decide(1, Attempted(ok, sent_at_ns=T0)).verdict is Verdict.DELIVERED
    for status in (None, 100, 301, 302, 304, 400, 404, 429, 500, 503):
        assert decide(1, Attempted(status, sent_at_ns=T0)).verdict is Verdict.RETRY, status


def test_the_default_schedule_with_its_jitter() -> None:
    assert DEFAULT_SCHEDULE_SECONDS == (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    assert POLICY.max_attempts == 8
    for attempt in range(1, 8):
        nominal = DEFAULT_SCHEDULE_SECONDS[attempt]
        delays = {
            (decide(attempt, Attempted(500, sent_at_ns=T0), seed=s).retry_at_ns or 0) - T0
            for s in range(200)
        }
        assert min(delays) >= 0.8 * nominal * NS - 1
        assert max(delays) <= 1.2 * nominal * NS + 1
        assert len(delays) > 100  # jittered, not fixed
    last = decide(8, Attempted(500, sent_at_ns=T0))
    assert last == Decision(Verdict.FAILED, None, "HTTP 500: 8 attempts, none delivered")


def test_a_redirect_is_a_failure_that_says_so() -> None:
    assert decide(1, Attempted(302, sent_at_ns=T0)).reason == (
        "HTTP 302 (redirects are not followed)"
    )
    assert decide(1, Attempted(None, sent_at_ns=T0)).reason == "no response"


def test_410_disables_the_subscription_at_once() -> None:
    assert decide(1, Attempted(410, sent_at_ns=T0)) == Decision(
        Verdict.DISABLE, None, "HTTP 410: the endpoint is gone"
    )


def test_five_days_of_failures_disable_the_subscription() -> None:
    day = 86_400 * NS
    assert decide(2, Attempted(500, sent_at_ns=T0), since=T0 - 5 * day + 1).verdict is (
        Verdict.RETRY
    )
    assert decide(2, Attempted(500, sent_at_ns=T0), since=T0 - 5 * day) == Decision(
        Verdict.DISABLE, None, "HTTP 500: failing without a success for 5 days"
    )
    short = DeliveryPolicy(disable_after_ns=3600 * NS)
    outcome = Attempted(503, sent_at_ns=T0)
    decision = short.decide(1, outcome, failing_since_ns=T0 - 3600 * NS, rng=random.Random(0))
    assert decision.reason == "HTTP 503: failing without a success for 0.0416667 days"


@pytest.mark.parametrize(
    ("header", "delay_s"),
    [
        ("120", 120),  # delta-seconds, honoured
        ("Fri, 15 Jan 2027 08:00:30 GMT", 30),  # an HTTP date 30 s after the attempt
        ("0", None),  # under the bounds: the schedule's delay
        ("90000", None),  # over a day: the schedule's delay
        ("soon", None),  # unreadable: the schedule's delay
    ],
)
def test_retry_after_is_honoured_within_bounds(header: str, delay_s: int | None) -> None:
    sent = 1_800_000_000 * NS  # 2027-01-15 08:00:00 UTC
    decision = decide(2, Attempted(429, retry_after=header, sent_at_ns=sent), seed=3)
    assert decision.retry_at_ns is not None
    if delay_s is not None:
        assert decision.retry_at_ns == sent + delay_s * NS
    else:
        assert 240 * NS <= decision.retry_at_ns - sent <= 360 * NS  # 300 s ±20%


def test_retry_after_readings() -> None:
    now = 1_700_000_000 * NS
    assert retry_after_seconds(None, now_ns=now) is None
    assert retry_after_seconds(" 30 ", now_ns=now) == 30
    assert retry_after_seconds("Tue, 14 Nov 2023 22:13:20 GMT", now_ns=now) == 0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:14:20 GMT", now_ns=now) == 60
    assert retry_after_seconds("-5", now_ns=now) is None
    assert retry_after_seconds("later", now_ns=now) is None


def test_a_policy_needs_a_schedule() -> None:
    with pytest.raises(ValueError, match="one or more delays"):
        DeliveryPolicy(schedule_seconds=())
    with pytest.raises(ValueError, match="one or more delays"):
        DeliveryPolicy(schedule_seconds=(0, -1))
    with pytest.raises(ValueError, match="disable_after must be positive"):
        DeliveryPolicy(disable_after_ns=0)
    custom = DeliveryPolicy(schedule_seconds=(0, 60))
    assert (
        custom.decide(
            1, Attempted(500, sent_at_ns=T0), failing_since_ns=None, rng=random.Random(0)
        ).retry_at_ns
        is not None
    )
    assert (
        custom.decide(
            2, Attempted(500, sent_at_ns=T0), failing_since_ns=None, rng=random.Random(0)
        ).verdict
        is Verdict.FAILED
    )
