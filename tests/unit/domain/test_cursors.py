"""Signed keyset cursors: round trips, tampering and scope binding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.cursors import CursorCodec, CursorError, query_scope

CODEC = CursorCodec(b"k" * 32)


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=4), st.text())
def test_round_trip(position: list[int], scope: str) -> None:
    token = CODEC.encode(scope=scope, position=list(position))
    assert CODEC.decode(token, scope=scope) == position


def test_a_cursor_only_opens_in_its_own_scope() -> None:
    token = CODEC.encode(scope="1:events:abc", position=[5, 7])
    with pytest.raises(CursorError, match="different query"):
        CODEC.decode(token, scope="2:events:abc")


def test_another_key_rejects_the_cursor() -> None:
    token = CODEC.encode(scope="s", position=[1])
    with pytest.raises(CursorError, match="not valid"):
        CursorCodec(b"x" * 32).decode(token, scope="s")


@pytest.mark.parametrize(
    "token",
    ["", "abc", "abc.def", "!!!.???", "e30.AAAA"],
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(CursorError):
        CODEC.decode(token, scope="s")


def test_a_flipped_body_byte_breaks_the_signature() -> None:
    body, sig = CODEC.encode(scope="s", position=[10, 20]).split(".")
    forged = CODEC.encode(scope="s", position=[10, 21]).split(".")[0]
    assert forged != body
    with pytest.raises(CursorError, match="not valid"):
        CODEC.decode(f"{forged}.{sig}", scope="s")


def test_scope_depends_on_tenant_kind_and_every_filter() -> None:
    base = query_scope(1, "events", {"type": "a", "start": None})
    assert base == query_scope(1, "events", {"start": None, "type": "a"})  # key order is irrelevant
    assert base != query_scope(2, "events", {"type": "a", "start": None})
    assert base != query_scope(1, "other", {"type": "a", "start": None})
    assert base != query_scope(1, "events", {"type": "b", "start": None})
    assert base != query_scope(1, "events", {"type": "a", "start": 0})
