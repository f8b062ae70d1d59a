"""Structural limits of JSON documents, and page arithmetic."""

from __future__ import annotations

import pytest

from tidings.domain.json import JSONValue, depth_exceeds, nul_path
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


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": "ok", "b": ["x", {"c": "y\x00"}]}, "b[1].c"),
        ({"k\x00": 1}, "k\x00"),
        ("\x00", "(root)"),
        ({"a": ["fine", 1, None, True]}, None),
        ({"text": "\\u0000"}, None),  # an escaped backslash and "u0000" is not a NUL
    ],
)
def test_nul_path_names_the_first_string_holding_a_nul(value: JSONValue, path: str | None) -> None:
    assert nul_path(value) == path
