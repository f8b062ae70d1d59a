"""The retry policy: exponential backoff with a cap, full or ±20% jitter, and when to give up."""

from __future__ import annotations

import random

import pytest

from tidings.domain.retry import Jitter, RetryPolicy

POLICY = RetryPolicy(max_attempts=10, base_seconds=1.0, factor=2.0, cap_seconds=60.0)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (1, 1.0),
        (2, 2.0),
        (3, 4.0),
        (6, 32.0),
        (7, 60.0),  # 64 s, capped
        (10_000, 60.0),  # far past the cap: no float overflow
    ],
)
def test_nominal_delays_double_up_to_the_cap(attempt: int, expected: float) -> None:
    assert POLICY.nominal_delay(attempt) == expected


@pytest.mark.parametrize(
    ("policy", "attempt", "expected"),
    [
        (RetryPolicy(base_seconds=0.0), 5, 0.0),  # no backoff at all
        (RetryPolicy(base_seconds=5.0, cap_seconds=3.0), 1, 3.0),  # the cap wins from the start
        (RetryPolicy(base_seconds=2.0, factor=1.0), 9, 2.0),  # a constant delay
        (RetryPolicy(base_seconds=0.5, factor=3.0, cap_seconds=100.0), 4, 13.5),
    ],
)
def test_other_shapes(policy: RetryPolicy, attempt: int, expected: float) -> None:
    assert policy.nominal_delay(attempt) == expected


def test_full_jitter_draws_from_zero_to_the_nominal_delay() -> None:
    rng = random.Random(42)
    reference = random.Random(42)
    delays = [POLICY.next_delay(3, retryable=True, rng=rng) for _ in range(5)]
    assert delays == [reference.uniform(0.0, 4.0) for _ in range(5)]
    spread = [POLICY.next_delay(3, retryable=True, rng=rng) for _ in range(2_000)]
    assert all(d is not None and 0.0 <= d <= 4.0 for d in spread)
    assert round(sum(d or 0.0 for d in spread) / len(spread)) == 2  # mean of U(0, 4)


def test_proportional_jitter_stays_within_twenty_percent() -> None:
    policy = RetryPolicy(max_attempts=5, base_seconds=10.0, jitter=Jitter.PROPORTIONAL)
    rng = random.Random(7)
    reference = random.Random(7)
    delays = [policy.next_delay(2, retryable=True, rng=rng) for _ in range(1_000)]
    assert delays[:3] == [20.0 * reference.uniform(0.8, 1.2) for _ in range(3)]
    assert min(d or 0.0 for d in delays) >= 16.0
    assert max(d or 0.0 for d in delays) <= 24.0


@pytest.mark.parametrize(
    ("attempt", "retryable", "gives_up"),
    [
        (1, True, False),
        (2, True, False),
        (3, True, True),  # the third of three attempts was the last
        (7, True, True),  # past the budget (an operator lowered it)
        (1, False, True),  # a permanent failure gives up at once
    ],
)
def test_when_to_give_up(attempt: int, retryable: bool, gives_up: bool) -> None:
    policy = RetryPolicy(max_attempts=3)
    delay = policy.next_delay(attempt, retryable=retryable, rng=random.Random(1))
    assert (delay is None) is gives_up


def test_a_seeded_rng_gives_the_same_schedule() -> None:
    first = [POLICY.next_delay(n, retryable=True, rng=random.Random(9)) for n in range(1, 9)]
    again = [POLICY.next_delay(n, retryable=True, rng=random.Random(9)) for n in range(1, 9)]
    assert first == again


@pytest.mark.parametrize(
    "fields",
    [
        {"max_attempts": 0},
        {"base_seconds": -1.0},
        {"cap_seconds": float("nan")},
        {"factor": 0.5},  # delays would shrink
    ],
)
def test_nonsense_policies_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**fields)  # type: ignore[arg-type]


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="attempts are numbered from 1"):
        POLICY.nominal_delay(0)
