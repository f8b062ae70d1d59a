"""JsonLogic conditions: the official suite as it is, Attune's additions, and save-time errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tidings.domain.conditions import (
    ConditionError,
    EvaluationError,
    compile_condition,
    truthy,
)
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
        ({"==": [1]}, "$.==", "takes at least 2 arguments, got 1"),
        ({"substr": []}, "$.substr", "takes 1 to 3 arguments, got 0"),
        ({"var": "a", "and": [1]}, "$", "the second key must be a comparison"),
        ({"a": 1, "b": 2}, "$", "exactly one operator"),
        ({"or": [{"a": 1, "b": 2}]}, "$.or[0]", "exactly one operator"),
        # Control flow, iterators and comparisons take their arguments written out.
        ({"if": 5}, "$.if", "takes an array of arguments, not the value 5"),
        ({"and": {"var": "xs"}}, "$.and", "takes an array of arguments, not a rule"),
        (
            {"map": [None, {"var": ""}]},
            "$.map[0]",
            "the items are an array or a rule that gives one, not null",
        ),
        ({"filter": [{"var": "xs"}, None]}, "$.filter[1]", "null is not a rule"),
        ({"val": [["up"], "x"]}, "$.val[0]", "a scope climb is one integer"),
        ({"throw": []}, "$.throw", "takes 1 arguments, got 0"),
        # One argument written without its array sits at the operator's own path.
        ({"!": {"frob": 1}}, "$.!.frob", "unknown operator 'frob'"),
        ({"max": {"frob": 1}}, "$.max.frob", "unknown operator 'frob'"),
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


# What the community suite leaves open, and the guarantees around run-time failures.
@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"!!": [{}]}, None, True),  # {} inside a rule is an empty object, and truthy
        ({"val": ["s", 0]}, {"s": "abc"}, None),  # no reading a string's characters
        ({"val": ["xs", "length"]}, {"xs": [1, 2]}, None),  # nor an array's properties
        ({"exists": ["xs", "length"]}, {"xs": [1, 2]}, False),
        ({"val": ["xs", "01"]}, {"xs": [1, 2]}, None),  # "01" is no index
        ({"var": "xs.²"}, {"xs": [1, 2]}, None),  # a Unicode digit is no index either
        ({"substr": ["abc", "x"]}, None, "abc"),  # a start that is no number counts as 0
        ({"try": [{"/": [1, 0]}, 7]}, None, 7),  # worked out when compiled, still caught
        ({"??": [{"var": "a"}, {"var": "b"}, 0]}, {"b": False}, False),
        ({"+": {"var": "xs"}}, {"xs": [1, 2, 3]}, 6),  # a rule's array is the values
        ({"!": {"var": "xs"}}, {"xs": [0]}, False),  # but not for ! and !!: [0] is truthy
        ({">": [3, 2, 1]}, None, True),
        ({"<": [3, 2, {"throw": "not evaluated"}]}, None, False),
        ({"reduce": [[1, 2, 3], {"*": [{"var": "current"}, {"var": "accumulator"}]}]}, None, 6),
    ],
)
def test_edge_cases(rule: JSONValue, data: JSONValue, expected: JSONValue) -> None:
    assert _same(compile_condition(rule).evaluate(data), expected)


@pytest.mark.parametrize(
    ("rule", "data", "error"),
    [
        ({"throw": "boom"}, None, {"type": "boom"}),  # not thrown when compiled
        ({"/": [1, {"var": "x"}]}, {"x": 0}, {"type": "NaN"}),
        ({"+": [{"var": "x"}, 1]}, {"x": "n/a"}, {"type": "NaN"}),
        ({"*": [10**400, 1.5]}, None, {"type": "NaN"}),  # beyond a double: an error, no crash
        ({"-": {"var": "xs"}}, {"xs": []}, {"type": "Invalid Arguments"}),
        (
            {"try": [{"throw": "a"}, {"throw": {"preserve": {"type": "b", "at": 2}}}]},
            None,
            {"type": "b", "at": 2},
        ),
    ],
)
def test_failures_raise_at_run_time_and_never_match(
    rule: JSONValue, data: JSONValue, error: JSONValue
) -> None:
    condition = compile_condition(rule)
    with pytest.raises(EvaluationError) as caught:
        condition.evaluate(data)
    assert caught.value.error == error
    assert condition.matches(data) is False


# Scopes: level 1 is the iteration ({"index": n}), level 2 the data the iterator ran on.
@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        (
            {"map": [{"var": "xs"}, [{"var": ""}, {"val": [[1], "index"]}, {"val": [[2], "k"]}]]},
            {"xs": ["a", "b"], "k": 0},
            [["a", 0, 0], ["b", 1, 0]],  # var "" is the item itself, never its scopes
        ),
        (
            {"filter": [{"var": "xs"}, {"==": [{"var": "on"}, {"val": [[2], "want"]}]}]},
            {"xs": [{"on": 1}, {"on": 2}], "want": 2},
            [{"on": 2}],  # the items come back as they are
        ),
        (
            {"map": [["a"], {"map": [[1, 2], {"cat": [{"val": [[4], "p"]}, {"val": [[2]]}]}]}]},
            {"p": "x"},
            [["xa", "xa"]],  # level 2 is the outer item, level 4 the data
        ),
        (
            {
                "reduce": [
                    [1, 2, 3],
                    {"+": [{"val": "accumulator"}, {"val": "current"}, {"val": [[2], "bonus"]}]},
                    0,
                ]
            },
            {"bonus": 10},
            36,
        ),
        (
            {"try": [{"throw": "x"}, {"cat": [{"val": "type"}, {"val": [[2], "s"]}]}]},
            {"s": "!"},
            "x!",  # a fallback runs on the error, with the try's data at level 2
        ),
        ({"map": [[1], {"val": [[9], "k"]}]}, {"k": 1}, [None]),  # above the top: nothing
    ],
)
def test_scopes(rule: JSONValue, data: JSONValue, expected: JSONValue) -> None:
    assert _same(compile_condition(rule).evaluate(data), expected)


def test_a_compiled_scope_reads_each_evaluations_data() -> None:
    condition = compile_condition({"map": [[1, 2], {"+": [{"val": []}, {"val": [[2], "k"]}]}]})
    assert condition.evaluate({"k": 10}) == [11, 12]
    assert condition.evaluate({"k": 20}) == [21, 22]


# Explanations: each top-level clause of an and/or, all evaluated, by JSON path.
@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        (
            {"and": [{"var": "a", ">": 1}, {"var": "b", "<": 3}]},
            {"a": 0, "b": 2},
            {"$.and[0]": False, "$.and[1]": True},  # no short circuit after the false one
        ),
        (
            {"or": [{"var": "a"}, {"in": ["x", {"var": "tags"}]}, {"!": {"var": "b"}}]},
            {"a": 1, "tags": ["y"], "b": 0},
            {"$.or[0]": True, "$.or[1]": False, "$.or[2]": True},
        ),
        ({"or": [True, 0]}, None, {"$.or[0]": True, "$.or[1]": False}),  # literal clauses
        (
            {"and": [{"/": [1, {"var": "z"}]}, True]},
            {"z": 0},
            {"$.and[0]": False, "$.and[1]": True},
        ),
        ({"and": []}, None, {}),
        ({}, {"a": 1}, {}),
        ({"var": "a", ">=": 3}, {"a": 3}, {"$": True}),  # the shorthand: a comparison root
        ({"!": [{"var": "a"}]}, {"a": 1}, {"$": False}),
        ({"/": [1, 0]}, None, {"$": False}),  # a failing root does not hold
    ],
)
def test_clauses(rule: JSONValue, data: JSONValue, expected: dict[str, bool]) -> None:
    assert compile_condition(rule).clauses(data) == expected


def test_clauses_are_compiled_once_with_the_rule() -> None:
    condition = compile_condition({"and": [{"var": "event.severity", ">=": 3}, {"var": "ok"}]})
    assert condition.children is not None
    assert [path for path, _evaluate in condition.children] == ["$.and[0]", "$.and[1]"]
    data: JSONValue = {"event": {"severity": 4}, "ok": 0}
    assert [evaluate(data) for _path, evaluate in condition.children] == [True, 0]
    assert condition.evaluate(data) == 0  # the root short-circuits over the same evaluators


@pytest.mark.parametrize("case", CASES, ids=[json.dumps(c[0])[:60] for c in CASES])
def test_explain_agrees_with_matches_and_clauses_on_the_official_suite(
    case: list[JSONValue],
) -> None:
    rule, data, _expected = case
    condition = compile_condition(rule)
    assert condition.explain(data) == (condition.matches(data), condition.clauses(data))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # An error before the deciding clause decides (the root would have raised): no match.
        ({"or": [{"throw": "x"}, True]}, (False, {"$.or[0]": False, "$.or[1]": True})),
        (
            {"or": [False, 1, {"throw": "x"}]},
            (True, {"$.or[0]": False, "$.or[1]": True, "$.or[2]": False}),
        ),
        ({"and": [True, {"throw": "x"}]}, (False, {"$.and[0]": True, "$.and[1]": False})),
        ({"and": [0, {"throw": "x"}]}, (False, {"$.and[0]": False, "$.and[1]": False})),
        ({"and": [1, "a"]}, (True, {"$.and[0]": True, "$.and[1]": True})),
        ({"or": [0, ""]}, (False, {"$.or[0]": False, "$.or[1]": False})),
        ({}, (True, {})),
        ({"var": "n", ">": 1}, (True, {"$": True})),
    ],
)
def test_explain_follows_the_short_circuit_root(
    rule: JSONValue, expected: tuple[bool, dict[str, bool]]
) -> None:
    condition = compile_condition(rule)
    assert condition.explain({"n": 2}) == expected
    assert condition.explain({"n": 2})[0] == condition.matches({"n": 2})
