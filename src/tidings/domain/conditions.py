"""JsonLogic conditions, compiled once into closures and evaluated many times.

Why our own: the PyPI implementations interpret the rule tree on every evaluation, accept unknown
operators (answering a silent `None`/false at run time), and some expose Python methods of the
data (`method`). Rules here are checked when they are saved (an unknown operator, a wrong number
of arguments, a malformed object is a `ConditionError` naming the JSON path of the bad node) and
compiled into nested closures, so evaluating an event is a few function calls per node.

Semantics follow the reference implementation (json-logic-js), which the official suite encodes:
JavaScript truthiness (`[]`, `0`, `""`, `null` are false; objects are true), loose `==`,
numeric coercion for comparisons and arithmetic. Additions for Attune's rule document:
`{"var": "x", ">=": 3}` means `{">=": [{"var": "x"}, 3]}`; `contains` is a substring of a string
or a member of an array; `{}` always matches. There is no `method` operator, and `log` is the
identity (evaluation has no side effects).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tidings.domain.json import JSONValue

Evaluator = Callable[[JSONValue], JSONValue]


def _NONE(_data: JSONValue) -> JSONValue:
    return None


class ConditionError(ValueError):
    """A rule that cannot be compiled; `path` is the JSON path of the bad node (`$.and[1]`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Condition:
    """A compiled rule."""

    rule: JSONValue
    evaluate: Evaluator

    def matches(self, data: JSONValue) -> bool:
        """Whether the rule's result is truthy for `data`."""
        return truthy(self.evaluate(data))


# --- JavaScript's value semantics, as JsonLogic defines them -------------------------------


def truthy(value: JSONValue) -> bool:
    """JsonLogic truthiness: JavaScript's, except that an empty array is false."""
    if value is True or value is False:
        return value
    if isinstance(value, list):
        return len(value) > 0
    if isinstance(value, dict):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def to_number(value: JSONValue) -> float:
    """JavaScript's `Number(value)`; NaN when there is none."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(text)
        except ValueError:
            return math.nan
    if isinstance(value, list):
        return to_number(js_string(value)) if len(value) <= 1 else math.nan
    return math.nan


def parse_float(value: JSONValue) -> float:
    """JavaScript's `parseFloat`, which json-logic-js uses for `+` and `*`."""
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    text = js_string(value).strip()
    end = 0
    for end in range(len(text), 0, -1):
        try:
            return float(text[:end])
        except ValueError:
            continue
    return math.nan


def js_string(value: JSONValue) -> str:
    """JavaScript's `String(value)`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return value


def _number(value: float) -> JSONValue:
    """A float result as JSON: an integral value as an int, NaN and infinities as null."""
    if math.isnan(value) or math.isinf(value):
        return None
    return int(value) if value.is_integer() else value


def loose_equal(a: JSONValue, b: JSONValue) -> bool:
    """JavaScript's `==` on JSON values."""
    if type(a) is type(b) and not isinstance(a, list | dict):
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list | dict) and isinstance(b, list | dict):
        return a is b
    if isinstance(a, list | dict):
        a = js_string(a)
    if isinstance(b, list | dict):
        b = js_string(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return to_number(a) == to_number(b)


def strict_equal(a: JSONValue, b: JSONValue) -> bool:
    """JavaScript's `===` on JSON values (arrays and objects are equal only to themselves)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return a is b
    return type(a) is type(b) and a == b


def less_than(a: JSONValue, b: JSONValue, *, or_equal: bool) -> bool:
    """JavaScript's `<` / `<=`: strings by code unit, everything else as numbers."""
    if isinstance(a, int | float) and isinstance(b, int | float):  # booleans count as 1 and 0
        return a <= b if or_equal else a < b
    if isinstance(a, str) and isinstance(b, str):
        return a <= b if or_equal else a < b
    x, y = to_number(a), to_number(b)
    return x <= y if or_equal else x < y


# --- compiling ------------------------------------------------------------------------------

# The shorthand of Attune's rule document: a `var` and one comparison in one object.
SHORTHAND_OPERATORS = frozenset({"==", "===", "!=", "!==", ">", ">=", "<", "<=", "in", "contains"})


def compile_condition(rule: JSONValue) -> Condition:
    """Check and compile a rule; raise ConditionError naming the path of the first bad node."""
    if rule == {}:
        return Condition(rule, lambda _data: True)
    return Condition(rule, _compile(rule, "$"))


def _compile(node: JSONValue, path: str) -> Evaluator:
    if isinstance(node, list):
        if _literal(node):
            return lambda _data: node
        items = [_compile(item, f"{path}[{i}]") for i, item in enumerate(node)]
        return lambda data: [item(data) for item in items]
    if not isinstance(node, dict):
        return lambda _data: node
    if not node:
        raise ConditionError(
            path, "an empty object is not a rule (only the whole condition may be {})"
        )
    if len(node) == 2 and "var" in node:
        (operator,) = [key for key in node if key != "var"]
        if operator not in SHORTHAND_OPERATORS:
            raise ConditionError(
                path,
                f"a rule object has one operator; with `var`, the second key must be a "
                f"comparison ({', '.join(sorted(SHORTHAND_OPERATORS))}), not '{operator}'",
            )
        node = {operator: [{"var": node["var"]}, node[operator]]}
    if len(node) != 1:
        raise ConditionError(path, f"a rule object has exactly one operator, got {sorted(node)}")
    ((operator, raw_args),) = node.items()
    spec = OPERATORS.get(operator)
    if spec is None:
        raise ConditionError(f"{path}.{operator}", f"unknown operator '{operator}'")
    args: list[JSONValue] = raw_args if isinstance(raw_args, list) else [raw_args]
    here = f"{path}.{operator}"
    low, high = spec.arity
    if len(args) < low or (high is not None and len(args) > high):
        expected = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
        raise ConditionError(here, f"takes {expected} arguments, got {len(args)}")
    evaluate = spec.build(args, here)
    if operator not in _READS_DATA and _literal(args):
        # Nothing in it depends on the data: work it out once, now.
        value = evaluate(None)
        return lambda _data: value
    return evaluate


# Operators whose answer depends on the data even when every argument is a literal.
_READS_DATA = frozenset({"var", "missing", "missing_some"})


def _literal(value: JSONValue) -> bool:
    """Whether a node holds no rule at all (only scalars and arrays of them)."""
    if isinstance(value, dict):
        return False
    if isinstance(value, list):
        return all(_literal(item) for item in value)
    return True


@dataclass(frozen=True)
class _Operator:
    arity: tuple[int, int | None]
    build: Callable[[list[JSONValue], str], Evaluator]


def _unary(
    combine: Callable[[JSONValue], JSONValue],
) -> Callable[[list[JSONValue], str], Evaluator]:
    """A one-argument operator."""

    def build(args: list[JSONValue], path: str) -> Evaluator:
        (only,) = _each(args, path)
        return lambda data: combine(only(data))

    return build


def _binary(
    combine: Callable[[JSONValue, JSONValue], JSONValue],
) -> Callable[[list[JSONValue], str], Evaluator]:
    """A two-argument operator, called without building an argument list."""

    def build(args: list[JSONValue], path: str) -> Evaluator:
        first, second = _each(args, path)
        return lambda data: combine(first(data), second(data))

    return build


def _each(args: Sequence[JSONValue], path: str) -> list[Evaluator]:
    return [_compile(arg, f"{path}[{i}]") for i, arg in enumerate(args)]


def _values(evaluators: list[Evaluator], data: JSONValue) -> list[JSONValue]:
    return [evaluate(data) for evaluate in evaluators]


def _fold(
    combine: Callable[[list[JSONValue]], JSONValue],
) -> Callable[[list[JSONValue], str], Evaluator]:
    """An operator whose arguments are all evaluated first, then combined."""

    def build(args: list[JSONValue], path: str) -> Evaluator:
        evaluators = _each(args, path)
        return lambda data: combine(_values(evaluators, data))

    return build


# --- data access ---


def _lookup(data: JSONValue, key: JSONValue, default: JSONValue) -> JSONValue:
    """json-logic-js's `var`: a dotted path into objects and arrays; missing gives the default."""
    if key is None or key == "" or key == []:
        return data
    return _walk(data, js_string(key).split("."), default)


def _walk(data: JSONValue, parts: Sequence[str], default: JSONValue) -> JSONValue:
    current = data
    for part in parts:
        if isinstance(current, dict):
            if part not in current:
                return default
            current = current[part]
        elif isinstance(current, list):
            if not part.isdigit() or int(part) >= len(current):
                return default
            current = current[int(part)]
        else:
            return default
    return current


def _build_var(args: list[JSONValue], path: str) -> Evaluator:
    if not args:
        return lambda data: data
    default_of = _compile(args[1], f"{path}[1]") if len(args) > 1 else _NONE
    key = args[0]
    if key is None or key == "" or key == []:
        return lambda data: data  # the whole data
    if isinstance(key, str | int) and not isinstance(key, bool) and key != "":
        # The common case, a literal path: split it once, here, not on every evaluation.
        parts = js_string(key).split(".")
        if len(parts) == 1:
            name = parts[0]

            def one(data: JSONValue) -> JSONValue:
                if isinstance(data, dict):
                    return data[name] if name in data else default_of(data)
                return _walk(data, parts, default_of(data))

            return one
        return lambda data: _walk(data, parts, default_of(data))
    key_of = _compile(key, f"{path}[0]")
    return lambda data: _lookup(data, key_of(data), default_of(data))


def _missing_keys(data: JSONValue, keys: list[JSONValue]) -> list[JSONValue]:
    return [key for key in keys if _lookup(data, key, None) in (None, "")]


def _build_missing(args: list[JSONValue], path: str) -> Evaluator:
    evaluators = _each(args, path)

    def evaluate(data: JSONValue) -> JSONValue:
        values = _values(evaluators, data)
        keys = values[0] if values and isinstance(values[0], list) else values
        return _missing_keys(data, keys)

    return evaluate


def _build_missing_some(args: list[JSONValue], path: str) -> Evaluator:
    need_of, keys_of = _each(args, path)

    def evaluate(data: JSONValue) -> JSONValue:
        keys = keys_of(data)
        keys = keys if isinstance(keys, list) else [keys]
        missing = _missing_keys(data, keys)
        need = to_number(need_of(data))
        return [] if len(keys) - len(missing) >= need else missing

    return evaluate


# --- control ---


def _build_if(args: list[JSONValue], path: str) -> Evaluator:
    evaluators = _each(args, path)
    if len(evaluators) == 3:  # the usual shape: one test, then and else
        test, then, otherwise = evaluators
        return lambda data: then(data) if truthy(test(data)) else otherwise(data)

    def evaluate(data: JSONValue) -> JSONValue:
        i = 0
        while i + 1 < len(evaluators):
            if truthy(evaluators[i](data)):
                return evaluators[i + 1](data)
            i += 2
        return evaluators[i](data) if i < len(evaluators) else None

    return evaluate


def _short_circuit(stop_when: bool) -> Callable[[list[JSONValue], str], Evaluator]:
    """`and` (stops at the first falsy value) and `or` (at the first truthy one).

    Either answers the value it stopped at, or the last one; with no arguments, false.
    """

    def build(args: list[JSONValue], path: str) -> Evaluator:
        evaluators = _each(args, path)

        def evaluate(data: JSONValue) -> JSONValue:
            value: JSONValue = False
            for each in evaluators:
                value = each(data)
                if truthy(value) is stop_when:
                    return value
            return value

        return evaluate

    return build


# --- comparison and arithmetic ---


def _between(or_equal: bool) -> Callable[[list[JSONValue]], JSONValue]:
    def compare(values: list[JSONValue]) -> JSONValue:
        return all(less_than(a, b, or_equal=or_equal) for a, b in itertools.pairwise(values))

    return compare


def _numbers(values: list[JSONValue]) -> list[int | float] | None:
    """The values when every one is a number (not a boolean): arithmetic needs no coercion."""
    numbers: list[int | float] = []
    for value in values:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        numbers.append(value)
    return numbers


def _arithmetic(
    combine: Callable[[list[int | float]], int | float],
) -> Callable[[list[JSONValue]], JSONValue]:
    """`+` and `*`: plain numbers combine as they are, anything else through `parseFloat`."""

    def apply(values: list[JSONValue]) -> JSONValue:
        numbers = _numbers(values)
        if numbers is None:
            return _number(float(combine([parse_float(x) for x in values])))
        result = combine(numbers)
        return result if isinstance(result, int) else _number(result)

    return apply


def _chain(*, or_equal: bool) -> Callable[[list[JSONValue], str], Evaluator]:
    """`<` and `<=`: two arguments compare, three test that the middle lies between."""
    pair = _binary(lambda a, b: less_than(a, b, or_equal=or_equal))
    between = _fold(_between(or_equal=or_equal))
    return lambda args, path: pair(args, path) if len(args) == 2 else between(args, path)


def _minus(values: list[JSONValue]) -> JSONValue:
    if len(values) == 1:
        return _number(-to_number(values[0]))
    return _number(to_number(values[0]) - to_number(values[1]))


def _divide(values: list[JSONValue]) -> JSONValue:
    divisor = to_number(values[1])
    if divisor == 0:
        return None
    return _number(to_number(values[0]) / divisor)


def _modulo(values: list[JSONValue]) -> JSONValue:
    divisor = to_number(values[1])
    if divisor == 0:
        return None
    return _number(math.fmod(to_number(values[0]), divisor))


def _extreme(pick: Callable[[list[float]], float]) -> Callable[[list[JSONValue]], JSONValue]:
    def combine(values: list[JSONValue]) -> JSONValue:
        numbers = [to_number(v) for v in values]
        if not numbers or any(math.isnan(n) for n in numbers):
            return None
        return _number(pick(numbers))

    return combine


# --- strings and arrays ---


def _substr(values: list[JSONValue]) -> JSONValue:
    text = js_string(values[0])
    start = int(to_number(values[1])) if len(values) > 1 else 0
    begin = max(len(text) + start, 0) if start < 0 else start
    if len(values) < 3:
        return text[begin:]
    length = int(to_number(values[2]))
    end = len(text) + length if length < 0 else begin + length
    return text[begin:end]


def _in(values: list[JSONValue]) -> JSONValue:
    needle, haystack = values[0], values[1]
    if isinstance(haystack, str):
        return js_string(needle) in haystack
    if isinstance(haystack, list):
        return any(strict_equal(needle, item) for item in haystack)
    return False


def _merge(values: list[JSONValue]) -> JSONValue:
    merged: list[JSONValue] = []
    for value in values:
        if isinstance(value, list):
            merged.extend(value)
        else:
            merged.append(value)
    return merged


def _iterate(
    finish: Callable[[list[JSONValue], Evaluator], JSONValue],
) -> Callable[[list[JSONValue], str], Evaluator]:
    """map/filter/all/some/none: the second argument runs per item, with the item as data."""

    def build(args: list[JSONValue], path: str) -> Evaluator:
        items_of = _compile(args[0], f"{path}[0]")
        per_item = _compile(args[1], f"{path}[1]")

        def evaluate(data: JSONValue) -> JSONValue:
            items = items_of(data)
            return finish(items if isinstance(items, list) else [], per_item)

        return evaluate

    return build


def _all(items: list[JSONValue], test: Evaluator) -> JSONValue:
    return bool(items) and all(truthy(test(item)) for item in items)


def _build_reduce(args: list[JSONValue], path: str) -> Evaluator:
    items_of = _compile(args[0], f"{path}[0]")
    step = _compile(args[1], f"{path}[1]")
    initial_of = _compile(args[2], f"{path}[2]") if len(args) > 2 else (lambda _data: None)

    def evaluate(data: JSONValue) -> JSONValue:
        items = items_of(data)
        accumulator = initial_of(data)
        for item in items if isinstance(items, list) else []:
            accumulator = step({"current": item, "accumulator": accumulator})
        return accumulator

    return evaluate


ANY: tuple[int, int | None] = (0, None)

OPERATORS: dict[str, _Operator] = {
    "var": _Operator((0, 2), _build_var),
    "missing": _Operator(ANY, _build_missing),
    "missing_some": _Operator((2, 2), _build_missing_some),
    "if": _Operator(ANY, _build_if),
    "?:": _Operator((3, 3), _build_if),
    "and": _Operator(ANY, _short_circuit(stop_when=False)),
    "or": _Operator(ANY, _short_circuit(stop_when=True)),
    "!": _Operator((1, 1), _unary(lambda v: not truthy(v))),
    "!!": _Operator((1, 1), _unary(truthy)),
    "==": _Operator((2, 2), _binary(loose_equal)),
    "!=": _Operator((2, 2), _binary(lambda a, b: not loose_equal(a, b))),
    "===": _Operator((2, 2), _binary(strict_equal)),
    "!==": _Operator((2, 2), _binary(lambda a, b: not strict_equal(a, b))),
    "<": _Operator((2, 3), _chain(or_equal=False)),
    "<=": _Operator((2, 3), _chain(or_equal=True)),
    ">": _Operator((2, 2), _binary(lambda a, b: less_than(b, a, or_equal=False))),
    ">=": _Operator((2, 2), _binary(lambda a, b: less_than(b, a, or_equal=True))),
    "max": _Operator(ANY, _fold(_extreme(max))),
    "min": _Operator(ANY, _fold(_extreme(min))),
    "+": _Operator(ANY, _fold(_arithmetic(sum))),
    "*": _Operator((1, None), _fold(_arithmetic(math.prod))),
    "-": _Operator((1, 2), _fold(_minus)),
    "/": _Operator((2, 2), _fold(_divide)),
    "%": _Operator((2, 2), _fold(_modulo)),
    "cat": _Operator(ANY, _fold(lambda v: "".join(js_string(x) for x in v))),
    "substr": _Operator((1, 3), _fold(_substr)),
    "in": _Operator((2, 2), _fold(_in)),
    "contains": _Operator((2, 2), _fold(lambda v: _in([v[1], v[0]]))),
    "merge": _Operator(ANY, _fold(_merge)),
    "map": _Operator((2, 2), _iterate(lambda items, f: [f(item) for item in items])),
    "filter": _Operator(
        (2, 2), _iterate(lambda items, f: [item for item in items if truthy(f(item))])
    ),
    "all": _Operator((2, 2), _iterate(_all)),
    "some": _Operator((2, 2), _iterate(lambda items, f: any(truthy(f(i)) for i in items))),
    "none": _Operator((2, 2), _iterate(lambda items, f: not any(truthy(f(i)) for i in items))),
    "reduce": _Operator((2, 3), _build_reduce),
    "log": _Operator((1, 1), _unary(lambda v: v)),
}
