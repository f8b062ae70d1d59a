"""A clock the test sets, for services whose timestamps a test asserts exactly."""

from __future__ import annotations

from tidings.domain.timestamps import parse_rfc3339


class SettableClock:
    """The services' clock, moved by the test (`set`, or assign `ns`)."""

    def __init__(self, text: str) -> None:
        self.ns = parse_rfc3339(text)

    def set(self, text: str) -> None:
        """Move to an instant (RFC 3339)."""
        self.ns = parse_rfc3339(text)

    def now_ns(self) -> int:
        """The instant the test set."""
        return self.ns
