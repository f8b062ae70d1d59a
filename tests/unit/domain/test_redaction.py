"""Secret redaction: every occurrence, overlapping secrets wholly hidden, keys too, a fast path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.domain.json import JSONValue
from tidings.domain.redaction import REDACTED, redact, redact_text


def test_the_marker() -> None:
    assert REDACTED == "********"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("Bearer s3cret", ["s3cret"], "Bearer ********"),
        ("s3cret and s3cret", ["s3cret"], "******** and ********"),
        ("s3crets3cret", ["s3cret"], "****************"),  # adjacent: one marker each
        ("abcdef", ["abc", "abcdef"], "********"),  # the longer secret hides the shorter
        ("xabcdefx", ["abcd", "cdef"], "x********x"),  # overlapping: no part of either shows
        ("aaa", ["aa"], "********"),  # a secret overlapping itself
        ("a-b", ["a", "b"], "********-********"),
        ("user=tok pass=pw", ["pw", "tok"], "user=******** pass=********"),
        ("nothing here", ["s3cret"], "nothing here"),
        ("S3CRET", ["s3cret"], "S3CRET"),  # matched as written
        ("key tok", ["", "tok"], "key ********"),  # an empty secret is ignored
        ("", ["tok"], ""),
    ],
)
def test_redact_text(text: str, secrets: list[str], expected: str) -> None:
    assert redact_text(text, secrets) == expected


def test_redact_walks_strings_and_keys_and_leaves_other_values() -> None:
    value: JSONValue = {
        "headers": {"Authorization": "Bearer tok"},
        "list": ["tok", 5, None, True, 1.5, ["deep tok"]],
        "tok-key": "v",
        "n": 12345,
    }
    assert redact(value, {"tok", "123"}) == {
        "headers": {"Authorization": "Bearer ********"},
        "list": ["********", 5, None, True, 1.5, ["deep ********"]],
        "********-key": "v",
        "n": 12345,  # numbers are not searched
    }
    assert value["headers"] == {"Authorization": "Bearer tok"}  # type: ignore[call-overload,index]


@pytest.mark.parametrize("secrets", [[], set(), [""], ("", "")])
def test_no_secrets_returns_the_same_objects(
    secrets: list[str] | set[str] | tuple[str, ...],
) -> None:
    value: JSONValue = {"a": ["tok"]}
    assert redact(value, secrets) is value
    text = "tok"
    assert redact_text(text, secrets) is text


def test_redact_returns_a_copy() -> None:
    value: JSONValue = {"a": ["x"], "b": {"c": 1}}
    redacted = redact(value, ["tok"])
    assert redacted == value
    assert redacted is not value
    assert isinstance(redacted, dict)
    assert isinstance(value, dict)
    assert redacted["a"] is not value["a"]


_secret = st.text(alphabet=st.characters(blacklist_characters="*"), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(_secret, min_size=1, max_size=3), st.text(max_size=40), st.data())
def test_no_secret_survives(secrets: list[str], text: str, data: st.DataObject) -> None:
    # Plant the secrets in the text, then check none can be found afterwards.
    for secret in secrets:
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + secret + text[at:]
    redacted = redact_text(text, secrets)
    assert not any(secret in redacted for secret in secrets)
    assert redact(text, secrets) == redacted
