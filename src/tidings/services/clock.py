"""The wall clock used in production."""

from __future__ import annotations

import time


class SystemClock:
    """Reads the system's real-time clock."""

    def now_ns(self) -> int:
        """The current instant in nanoseconds since the epoch."""
        return time.time_ns()
