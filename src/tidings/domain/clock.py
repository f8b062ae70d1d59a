"""Time as a dependency: services take a `Clock` so tests can pin it without patching."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time in nanoseconds since the epoch."""

    def now_ns(self) -> int:
        """The current instant."""
        ...
