"""Structural limits of JSON documents, and page arithmetic."""

from __future__ import annotations

import pytest

from tidings.domain.json import JSONValue, depth_exceeds
from tidings.domain.pagination import total_pages


def nested(depth: int) -> JSONValue:
    value: JSONValue = 1
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("value", "limit", "exceeds"),
    [
        (1, 0, False),  # scalars have no depth
        ({}, 1, False),
        ({}, 0, True),
        ({"a": {"b": 1}}, 2, False),
        ({"a": {"b": 1}}, 1, True),
        ({"a": [1, [2]]}, 2, True),
        (nested(32), 32, False),
        (nested(33), 32, True),
    ],
)
def test_depth(value: JSONValue, limit: int, exceeds: bool) -> None:
    assert depth_exceeds(value, limit) is exceeds


def test_depth_check_survives_documents_deeper_than_the_stack() -> None:
    assert depth_exceeds(nested(100_000), 32) is True


@pytest.mark.parametrize(
    ("total", "size", "pages"),
    [(0, 50, 0), (1, 50, 1), (50, 50, 1), (51, 50, 2), (1_000_000, 100, 10_000)],
)
def test_total_pages(total: int, size: int, pages: int) -> None:
    assert total_pages(total, size) == pages
