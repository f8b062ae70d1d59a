"""Page arithmetic shared by every paginated list, whatever envelope its dialect wraps it in."""

from __future__ import annotations


def total_pages(total_items: int, page_size: int) -> int:
    """Number of pages needed for `total_items`; an empty result has zero pages."""
    if total_items <= 0:
        return 0
    return (total_items + page_size - 1) // page_size
