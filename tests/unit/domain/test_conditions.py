"""JsonLogic conditions: the official suite as it is, Attune's additions, and save-time errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tidings.domain.conditions import ConditionError, compile_condition, truthy
from tidings.domain.json import JSONValue

# The official suite, vendored byte for byte (see its README) so that a clean clone runs it.
SUITE = Path(__file__).resolve().parents[2] / "conformance" / "jsonlogic" / "tests.json"
SUITE_SHA256 = "3f2ef4252eb0285e5e0105b2c2fc14155d6e691519ecf46a4591c6f480587c31"
OFFICIAL: list[JSONValue] = json.loads(SUITE.read_text())
CASES = [case for case in OFFICIAL if isinstance(case, list)]


def _same(got: JSONValue, expected: JSONValue) -> bool:
    """Deep JSON equality that tells true from 1 (Python's == does not)."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return isinstance(got, bool) and isinstance(expected, bool) and got == expected
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(map(_same, got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(_same(got[k], expected[k]) for k in got)
    numbers = type(got) in (int, float) and type(expected) in (int, float)
    return got == expected and (numbers or type(got) is type(expected))


def test_the_official_suite_is_unedited_and_whole() -> None:
    assert hashlib.sha256(SUITE.read_bytes()).hexdigest() == SUITE_SHA256
    assert len(CASES) == 277


@pytest.mark.parametrize("case", CASES, ids=[json.dumps(c[0])[:60] for c in CASES])
def test_official_suite(case: list[JSONValue]) -> None:
    rule, data, expected = case
    got = compile_condition(rule).evaluate(data)
    assert _same(got, expected), f"{json.dumps(rule)} on {json.dumps(data)}: {json.dumps(got)}"


# Attune's rule document (`001_…txt`): its shorthand, `contains`, and `{}`.
@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"var": "severity", ">=": 3}, {"severity": 5}, True),
        ({"var": "severity", ">=": 3}, {"severity": 2}, False),
        ({"var": "event.status", "==": "failed"}, {"event": {"status": "failed"}}, True),
        ({"contains": [{"var": "message"}, "timeout"]}, {"message": "read timeout"}, True),
        ({"contains": [{"var": "tags"}, "prod"]}, {"tags": ["prod", "eu"]}, True),
        ({"contains": [{"var": "tags"}, "dev"]}, {"tags": ["prod", "eu"]}, False),
        ({"var": "message", "contains": "oops"}, {"message": "no"}, False),
        ({}, {"anything": 1}, True),
        ({"and": [{"var": "a", ">": 1}, {"var": "b", "<": 3}]}, {"a": 2, "b": 2}, True),
    ],
)
def test_attune_additions(rule: JSONValue, data: JSONValue, expected: bool) -> None:
    assert compile_condition(rule).matches(data) is expected


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"nope": [1]}, "$.nope", "unknown operator 'nope'"),
        ({"and": [{"var": "a"}, {"frobnicate": 1}]}, "$.and[1].frobnicate", "unknown operator"),
        ({"method": ["x", "upper"]}, "$.method", "unknown operator 'method'"),
        ({"==": [1]}, "$.==", "takes 2 arguments, got 1"),
        ({"substr": []}, "$.substr", "takes 1 to 3 arguments, got 0"),
        ({"var": "a", "and": [1]}, "$", "the second key must be a comparison"),
        ({"a": 1, "b": 2}, "$", "exactly one operator"),
        ({"or": [{}]}, "$.or[0]", "an empty object is not a rule"),
    ],
)
def test_bad_rules_are_refused_naming_the_path(rule: JSONValue, path: str, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(rule)
    assert caught.value.path == path
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], False),
        ([0], True),
        ({}, True),
        (0, False),
        (0.0, False),
        ("", False),
        ("0", True),
        (None, False),
        (float("nan"), False),
    ],
)
def test_truthiness_is_javascripts_with_empty_arrays_false(
    value: JSONValue, expected: bool
) -> None:
    assert truthy(value) is expected
