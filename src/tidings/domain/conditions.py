"""JsonLogic conditions, compiled once into closures and evaluated many times.

Why our own: the PyPI implementations interpret the rule tree on every evaluation, accept unknown
operators (answering a silent `None`/false at run time), and some expose Python methods of the
data (`method`). Rules here are checked when they are saved (an unknown operator, a wrong number
or shape of arguments, a malformed object is a `ConditionError` naming the JSON path of the bad
node) and compiled into nested closures, so evaluating an event is a few function calls per node.

Semantics follow the reference implementation (json-logic-js), which the official suite encodes,
and json-logic-engine v5 for what the community suite adds (`val`, `exists`, `??`, `try`,
`throw`, `preserve`, scopes, variadic comparisons, arithmetic errors); docs/conditions.md lists
where and why Tidings differs from the community suite. Additions for Attune's rule document:
`{"var": "x", ">=": 3}` means `{">=": [{"var": "x"}, 3]}`; `contains` is a substring of a string
or a member of an array; `{}` always matches. There is no `method` operator, and `log` is the
identity (evaluation has no side effects).

Modules: this one compiles and holds `Condition`; `condition_ops` (operators on values) and
`condition_data` (operators that read data) hold the operator table; `condition_values` holds
JavaScript's value semantics and the error types. Imports run in that order, never back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tidings.domain.condition_data import DATA_OPERATORS
from tidings.domain.condition_ops import VALUE_OPERATORS, Operator, Shape, short_circuit
from tidings.domain.condition_values import (
    ConditionError,
    Data,
    EvaluationError,
    Evaluator,
    truthy,
)
from tidings.domain.json import JSONValue

__all__ = [
    "OPERATORS",
    "SHORTHAND_OPERATORS",
    "Condition",
    "ConditionError",
    "EvaluationError",
    "compile_condition",
    "truthy",
]

OPERATORS: dict[str, Operator] = {**VALUE_OPERATORS, **DATA_OPERATORS}

# The shorthand of Attune's rule document: a `var` and one comparison in one object.
SHORTHAND_OPERATORS = frozenset({"==", "===", "!=", "!==", ">", ">=", "<", "<=", "in", "contains"})

# A root whose direct children `Condition.clauses` reports one by one.
_CLAUSE_ROOTS = {"and": False, "or": True}  # operator -> the truthiness it stops at


@dataclass(frozen=True)
class Condition:
    """A compiled rule.

    `evaluate` answers the rule's value and raises `EvaluationError` when the rule fails on the
    data (arithmetic without a number, a `throw` no `try` caught). `clauses` holds, for a root
    `and`/`or`, each direct child's JSON path and compiled evaluator.
    """

    rule: JSONValue
    evaluate: Evaluator
    children: tuple[tuple[str, Evaluator], ...] | None = None
    # For a root `and` (False) or `or` (True): the clause value at which evaluation stops.
    stop_when: bool | None = None

    def matches(self, data: JSONValue) -> bool:
        """Whether the rule's result is truthy for `data`; a rule that fails does not match."""
        return _holds(self.evaluate, data)

    def clauses(self, data: JSONValue) -> dict[str, bool]:
        """Each top-level clause's verdict by JSON path (`$.and[0]`), every one evaluated."""
        if self.children is None:
            return {"$": self.matches(data)}
        return {path: _holds(evaluate, data) for path, evaluate in self.children}

    def explain(self, data: JSONValue) -> tuple[bool, dict[str, bool]]:
        """`matches` and `clauses` together, each clause evaluated once (ingest's hot path).

        The verdict is what the short-circuiting root would answer: the first clause that
        fails (an evaluation error) or equals `stop_when` decides; otherwise the last one does.
        """
        if not self.children or self.stop_when is None:
            matched = self.matches(data)
            return matched, ({"$": matched} if self.children is None else {})
        verdicts: dict[str, bool] = {}
        decided: bool | None = None
        for path, evaluate in self.children:
            try:
                verdict, failed = truthy(evaluate(data)), False
            except EvaluationError:
                verdict, failed = False, True
            verdicts[path] = verdict
            if decided is None and (failed or verdict == self.stop_when):
                decided = verdict
        return (not self.stop_when if decided is None else decided), verdicts


def _holds(evaluate: Evaluator, data: Data) -> bool:
    try:
        return truthy(evaluate(data))
    except EvaluationError:
        return False


def compile_condition(rule: JSONValue) -> Condition:
    """Check and compile a rule; raise ConditionError naming the path of the first bad node."""
    if rule == {}:
        return Condition(rule, lambda _data: True, ())
    node = _expand(rule, "$") if isinstance(rule, dict) else rule
    if isinstance(node, dict) and len(node) == 1:
        ((operator, args),) = node.items()
        if operator in _CLAUSE_ROOTS and isinstance(args, list):
            paths = [f"$.{operator}[{i}]" for i in range(len(args))]
            evals = [_compile(arg, path) for arg, path in zip(args, paths, strict=True)]
            evaluate = short_circuit(evals, stop_when=_CLAUSE_ROOTS[operator])
            children = tuple(zip(paths, evals, strict=True))
            return Condition(rule, _folded(evaluate, args), children, _CLAUSE_ROOTS[operator])
    return Condition(rule, _compile(rule, "$"))


def _expand(node: dict[str, JSONValue], path: str) -> dict[str, JSONValue]:
    """Attune's shorthand, `{"var": "x", ">=": 3}`, as `{">=": [{"var": "x"}, 3]}`."""
    if len(node) != 2 or "var" not in node:
        return node
    (operator,) = [key for key in node if key != "var"]
    if operator not in SHORTHAND_OPERATORS:
        raise ConditionError(
            path,
            f"a rule object has one operator; with `var`, the second key must be a "
            f"comparison ({', '.join(sorted(SHORTHAND_OPERATORS))}), not '{operator}'",
        )
    return {operator: [{"var": node["var"]}, node[operator]]}


def _compile(node: JSONValue, path: str) -> Evaluator:
    if isinstance(node, list):
        if _literal(node):
            return lambda _data: node
        items = [_compile(item, f"{path}[{i}]") for i, item in enumerate(node)]
        return lambda data: [item(data) for item in items]
    if not isinstance(node, dict) or not node:
        return lambda _data: node  # a scalar, or the empty object (a value, truthy)
    node = _expand(node, path)
    if len(node) != 1:
        raise ConditionError(path, f"a rule object has exactly one operator, got {sorted(node)}")
    ((operator, raw_args),) = node.items()
    spec = OPERATORS.get(operator)
    here = f"{path}.{operator}"
    if spec is None:
        raise ConditionError(here, f"unknown operator '{operator}'")
    if spec.shape is Shape.RAW:
        return spec.build([], [raw_args], here)
    if isinstance(raw_args, list):
        args, paths = raw_args, [f"{here}[{i}]" for i in range(len(raw_args))]
    elif spec.shape is Shape.LIST:
        raise ConditionError(here, f"takes an array of arguments, not {_kind(raw_args)}")
    elif spec.shape is Shape.SPREAD and isinstance(raw_args, dict) and raw_args:
        return _spread(spec, _compile(raw_args, here))
    else:
        args, paths = [raw_args], [here]  # one argument, written without the array
    low, high = spec.arity
    if len(args) < low or (high is not None and len(args) > high):
        expected = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
        raise ConditionError(here, f"takes {expected} arguments, got {len(args)}")
    evals = [_compile(arg, arg_path) for arg, arg_path in zip(args, paths, strict=True)]
    evaluate = spec.build(evals, args, here)
    return evaluate if spec.reads_data else _folded(evaluate, args)


def _spread(spec: Operator, rule: Evaluator) -> Evaluator:
    """`{"max": {"var": "xs"}}`: the rule's array result is the operator's values."""
    combine = spec.spread
    assert combine is not None  # every SPREAD operator has one
    return lambda data: combine(value if isinstance(value := rule(data), list) else [value])


def _folded(evaluate: Evaluator, args: list[JSONValue]) -> Evaluator:
    """Work a node out now when nothing in it depends on the data (and it does not fail)."""
    if not _literal(args):
        return evaluate
    try:
        value = evaluate(None)
    except EvaluationError:
        return evaluate  # a failure belongs to run time, where `try` can catch it
    return lambda _data: value


def _literal(value: JSONValue) -> bool:
    """Whether a node holds no rule at all (only scalars, `{}` and arrays of them)."""
    if isinstance(value, dict):
        return not value
    if isinstance(value, list):
        return all(_literal(item) for item in value)
    return True


def _kind(value: JSONValue) -> str:
    return "a rule" if isinstance(value, dict) and value else f"the value {json.dumps(value)}"
