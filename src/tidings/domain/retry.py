"""The retry policy: after a failed attempt, how long to wait before the next one, or give up.

A decision, not an action (CONVENTIONS.md, "Decisions are values"): workers ask the policy and
carry its answer out, so the arithmetic is tested with plain tables and a seeded `random.Random`.

Delays grow exponentially (`base * factor ** (attempt - 1)`, capped) and are jittered so that many
executions failing together (a receiver that went down) do not come back together and knock it
over again. Full jitter draws uniformly from [0, delay], which spreads retries best (AWS
Architecture Blog, "Exponential Backoff And Jitter"); proportional jitter keeps a delay within
±20% of its nominal value, for operators who want a predictable schedule.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

PROPORTIONAL_SPREAD = 0.2


class Jitter(StrEnum):
    """How a nominal delay is randomised."""

    FULL = "full"  # uniform in [0, delay]
    PROPORTIONAL = "proportional"  # uniform in [0.8 * delay, 1.2 * delay]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, for at most `max_attempts` attempts in all."""

    max_attempts: int = 3
    base_seconds: float = 1.0
    factor: float = 2.0
    cap_seconds: float = 300.0
    jitter: Jitter = Jitter.FULL

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not (self.base_seconds >= 0 and self.cap_seconds >= 0 and self.factor >= 1):
            raise ValueError("base and cap must be non-negative and factor at least 1")

    def nominal_delay(self, attempt: int) -> float:
        """The delay after failed attempt number `attempt` (1-based), before jitter."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        if self.base_seconds == 0 or self.cap_seconds <= self.base_seconds:
            return min(self.cap_seconds, self.base_seconds)
        if self.factor == 1:
            return self.base_seconds
        # Compare exponents rather than compute factor ** exponent, which overflows a float
        # long before an attempt count does.
        if attempt - 1 >= math.log(self.cap_seconds / self.base_seconds, self.factor):
            return self.cap_seconds
        return self.base_seconds * self.factor ** (attempt - 1)

    def next_delay(self, attempt: int, *, retryable: bool, rng: random.Random) -> float | None:
        """Seconds to wait before retrying after failed attempt `attempt`, or None to give up."""
        if not retryable or attempt >= self.max_attempts:
            return None
        nominal = self.nominal_delay(attempt)
        if self.jitter is Jitter.FULL:
            return rng.uniform(0.0, nominal)
        return nominal * rng.uniform(1 - PROPORTIONAL_SPREAD, 1 + PROPORTIONAL_SPREAD)
