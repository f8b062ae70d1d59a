"""JsonLogic's operators on values: logic, comparison, arithmetic, strings, errors.

Each operator is an `Operator`: how many arguments it takes, what shape they may have, and a
builder that turns the arguments' compiled evaluators into the operator's evaluator. The
compiler (`conditions.py`) checks the shape and arity, compiles the arguments and calls the
builder once per node, so evaluating is a few closure calls and no parsing. Operators that read
the data or run a rule on other data (var, val, iterators, try) are in `condition_data.py`.

Semantics: json-logic-js for what the official suite covers, json-logic-engine v5 (the
community suite) for what it adds — variadic and lazily evaluated comparisons, `??`, `throw`,
`preserve`, and arithmetic that raises `{"type": "NaN"}` instead of answering NaN. Comparisons
keep JavaScript's answers (`1 < "A"` is false, never an error), as json-logic-js does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

from tidings.domain.condition_values import (
    Data,
    EvaluationError,
    Evaluator,
    invalid_arguments,
    js_string,
    less_than,
    loose_equal,
    nan,
    number_result,
    operand,
    strict_equal,
    to_number,
    truthy,
)
from tidings.domain.json import JSONValue


class Shape(Enum):
    """What an operator accepts in place of an array of arguments."""

    LIST = "an array of arguments, written out"  # control flow and comparisons
    ONE = "one argument when not an array"  # {"!": true} is {"!": [true]}
    SPREAD = "a rule whose array result is the arguments"  # {"max": {"var": "xs"}}
    RAW = "data, never evaluated"  # preserve


Builder = Callable[[list[Evaluator], list[JSONValue], str], Evaluator]
Combine = Callable[[list[JSONValue]], JSONValue]


@dataclass(frozen=True)
class Operator:
    """An operator's arity, argument shape and builder."""

    arity: tuple[int, int | None]
    build: Builder
    shape: Shape = Shape.ONE
    spread: Combine | None = None  # for SPREAD: the values of a rule's array result
    reads_data: bool = False  # never worked out at compile time


ANY: tuple[int, int | None] = (0, None)


def _unary(combine: Callable[[JSONValue], JSONValue]) -> Builder:
    """A one-argument operator."""

    def build(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
        (only,) = evals
        return lambda data: combine(only(data))

    return build


def _binary(combine: Callable[[JSONValue, JSONValue], JSONValue]) -> Builder:
    """A two-argument operator, called without building an argument list."""

    def build(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
        first, second = evals
        return lambda data: combine(first(data), second(data))

    return build


def fold(combine: Combine) -> Builder:
    """An operator whose arguments are all evaluated first, then combined."""

    def build(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
        return lambda data: combine([evaluate(data) for evaluate in evals])

    return build


def _spreading(arity: tuple[int, int | None], combine: Combine) -> Operator:
    """A variadic operator that also takes one rule whose array result is its values."""
    return Operator(arity, fold(combine), Shape.SPREAD, combine)


# --- logic ---


def _build_if(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
    if len(evals) == 3:  # the usual shape: one test, then and else
        test, then, otherwise = evals
        return lambda data: then(data) if truthy(test(data)) else otherwise(data)

    def evaluate(data: Data) -> JSONValue:
        i = 0
        while i + 1 < len(evals):
            if truthy(evals[i](data)):
                return evals[i + 1](data)
            i += 2
        return evals[i](data) if i < len(evals) else None

    return evaluate


def short_circuit(evals: list[Evaluator], *, stop_when: bool) -> Evaluator:
    """`and` (stops at the first falsy value) and `or` (at the first truthy one).

    Either answers the value it stopped at, or the last one; with no arguments, false.
    """

    def evaluate(data: Data) -> JSONValue:
        value: JSONValue = False
        for each in evals:
            value = each(data)
            if truthy(value) is stop_when:
                return value
        return value

    return evaluate


def _short_circuit(stop_when: bool) -> Builder:
    return lambda evals, _args, _path: short_circuit(evals, stop_when=stop_when)


def _build_not(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
    if not evals:
        return lambda _data: True  # not of nothing (undefined)
    (only,) = evals
    return lambda data: not truthy(only(data))


def _build_truthy(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
    if not evals:
        return lambda _data: False
    (only,) = evals
    return lambda data: truthy(only(data))


def _build_coalesce(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
    """`??`: the first value that is not null, evaluating no further; else null."""

    def evaluate(data: Data) -> JSONValue:
        for each in evals:
            value = each(data)
            if value is not None:
                return value
        return None

    return evaluate


def _throw(value: JSONValue) -> NoReturn:
    """`throw`: an object is thrown as it is, anything else as `{"type": value}`."""
    if isinstance(value, list):
        value = value[0] if value else None
    raise EvaluationError(value if isinstance(value, dict) else {"type": value})


def _build_preserve(_evals: list[Evaluator], args: list[JSONValue], _path: str) -> Evaluator:
    (value,) = args
    return lambda _data: value


# --- comparison ---


def _compare(pair: Callable[[JSONValue, JSONValue], bool]) -> Builder:
    """Two arguments compare; more form a chain (`a < b < c`), evaluated only as far as it holds."""

    def build(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
        if len(evals) == 2:
            first, second = evals
            return lambda data: pair(first(data), second(data))

        def chain(data: Data) -> JSONValue:
            previous = evals[0](data)
            for each in itertools.islice(evals, 1, None):
                current = each(data)
                if not pair(previous, current):
                    return False
                previous = current
            return True

        return chain

    return build


def _lt(a: JSONValue, b: JSONValue) -> bool:
    return less_than(a, b, or_equal=False)


def _le(a: JSONValue, b: JSONValue) -> bool:
    return less_than(a, b, or_equal=True)


def _gt(a: JSONValue, b: JSONValue) -> bool:
    return less_than(b, a, or_equal=False)


def _ge(a: JSONValue, b: JSONValue) -> bool:
    return less_than(b, a, or_equal=True)


# --- arithmetic: an array, an object or a non-numeric string raises {"type": "NaN"} ---


def _plus(values: list[JSONValue]) -> JSONValue:
    total: int | float = 0
    try:  # integers add exactly; an integer beyond a double meeting a float overflows
        for value in values:
            total += value if type(value) is int else operand(value)
    except OverflowError:
        raise nan() from None
    return number_result(total)


def _times(values: list[JSONValue]) -> JSONValue:
    product: int | float = 1
    try:
        for value in values:
            product *= value if type(value) is int else operand(value)
    except OverflowError:
        raise nan() from None
    return number_result(product)


def _minus(values: list[JSONValue]) -> JSONValue:
    if not values:
        raise invalid_arguments()
    if len(values) == 1:
        return number_result(-operand(values[0]))
    result = operand(values[0])
    for value in itertools.islice(values, 1, None):
        result -= operand(value)
    return number_result(result)


def _divide(values: list[JSONValue]) -> JSONValue:
    if not values:
        raise invalid_arguments()
    if len(values) == 1:
        values = [1, values[0]]  # the reciprocal
    result = operand(values[0])
    for value in itertools.islice(values, 1, None):
        divisor = operand(value)
        if divisor == 0:
            raise nan()
        result /= divisor
    return number_result(result)


def _modulo(values: list[JSONValue]) -> JSONValue:
    if len(values) < 2:
        raise invalid_arguments()
    result = operand(values[0])
    for value in itertools.islice(values, 1, None):
        divisor = operand(value)
        if divisor == 0 or math.isinf(result):
            raise nan()
        result = math.fmod(result, divisor)  # the sign of the dividend, as in JavaScript
    return number_result(result)


def _extreme(pick: Callable[[list[float]], float]) -> Combine:
    """`max` / `min` of JavaScript numbers; of nothing, null."""

    def combine(values: list[JSONValue]) -> JSONValue:
        if not values:
            return None
        numbers = [to_number(v) for v in values]
        if any(math.isnan(n) for n in numbers):
            raise nan()
        return number_result(pick(numbers))

    return combine


# --- strings and arrays ---


def _cat(values: list[JSONValue]) -> JSONValue:
    return "".join("" if value is None else js_string(value) for value in values)


def _index(value: JSONValue, size: int) -> int:
    """JavaScript's ToIntegerOrInfinity, clamped to a string's size."""
    number = to_number(value)
    if math.isnan(number):
        return 0
    return int(max(-size - 1, min(size + 1, number)))


def _substr(values: list[JSONValue]) -> JSONValue:
    text = js_string(values[0])
    start = _index(values[1], len(text)) if len(values) > 1 else 0
    begin = max(len(text) + start, 0) if start < 0 else start
    if len(values) < 3:
        return text[begin:]
    length = _index(values[2], len(text))
    end = len(text) + length if length < 0 else begin + length
    return text[begin:end]


def in_(needle: JSONValue, haystack: JSONValue) -> bool:
    """`in`: a substring of a string, or a strictly equal member of an array."""
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


VALUE_OPERATORS: dict[str, Operator] = {
    "if": Operator(ANY, _build_if, Shape.LIST),
    "?:": Operator((3, 3), _build_if, Shape.LIST),
    "and": Operator(ANY, _short_circuit(stop_when=False), Shape.LIST),
    "or": Operator(ANY, _short_circuit(stop_when=True), Shape.LIST),
    "!": Operator((0, 1), _build_not),
    "!!": Operator((0, 1), _build_truthy),
    "??": Operator(ANY, _build_coalesce),
    "throw": Operator((1, 1), _unary(_throw)),
    "preserve": Operator((1, 1), _build_preserve, Shape.RAW),
    "log": Operator((1, 1), _unary(lambda v: v)),  # no side effects: the identity
    "==": Operator((2, None), _compare(loose_equal), Shape.LIST),
    "!=": Operator((2, None), _compare(lambda a, b: not loose_equal(a, b)), Shape.LIST),
    "===": Operator((2, None), _compare(strict_equal), Shape.LIST),
    "!==": Operator((2, None), _compare(lambda a, b: not strict_equal(a, b)), Shape.LIST),
    "<": Operator((2, None), _compare(_lt), Shape.LIST),
    "<=": Operator((2, None), _compare(_le), Shape.LIST),
    ">": Operator((2, None), _compare(_gt), Shape.LIST),
    ">=": Operator((2, None), _compare(_ge), Shape.LIST),
    "+": _spreading(ANY, _plus),
    "*": _spreading(ANY, _times),
    "-": _spreading((1, None), _minus),
    "/": _spreading((1, None), _divide),
    "%": _spreading((2, None), _modulo),
    "max": _spreading(ANY, _extreme(max)),
    "min": _spreading(ANY, _extreme(min)),
    "cat": _spreading(ANY, _cat),
    "merge": _spreading(ANY, _merge),
    "substr": Operator((1, 3), fold(_substr)),
    "in": Operator((2, 2), _binary(in_)),
    "contains": Operator((2, 2), _binary(lambda haystack, needle: in_(needle, haystack))),
}
