"""Page arithmetic shared by every paginated list, whatever envelope its dialect wraps it in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageRequest:
    """A 1-indexed page of `size` items."""

    page: int
    size: int

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.page - 1) * self.size


def total_pages(total_items: int, page_size: int) -> int:
    """Number of pages needed for `total_items`; an empty result has zero pages."""
    if total_items <= 0:
        return 0
    return (total_items + page_size - 1) // page_size
