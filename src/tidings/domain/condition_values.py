"""JavaScript's value semantics as JsonLogic uses them, and the two ways a condition fails.

JsonLogic is defined by a JavaScript implementation, so its answers depend on JavaScript's
truthiness, `Number(...)`, `String(...)`, `==` and `<`. They are written out here once, on JSON
values (no library does this on plain Python values), for the compiler (`conditions.py`) and its
operator table (`condition_ops.py`) to share.

A rule fails in one of two ways. `ConditionError` is raised when a rule is compiled (when it is
saved): the rule is malformed, and the error names the JSON path of the bad node. `EvaluationError`
is raised while a rule runs on data, carrying a JSON error value as json-logic-engine does
(`{"type": "NaN"}` for arithmetic that has no number as its answer, `{"type": "Invalid
Arguments"}`, or whatever a `throw` threw); `try` catches it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from tidings.domain.json import JSONValue


class ConditionError(ValueError):
    """A rule that cannot be compiled; `path` is the JSON path of the bad node (`$.and[1]`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class EvaluationError(Exception):
    """A rule that failed on this data; `error` is the JSON error value (`{"type": "NaN"}`)."""

    def __init__(self, error: JSONValue) -> None:
        super().__init__(error)
        self.error = error


def nan() -> EvaluationError:
    """The error of arithmetic whose answer is not a finite number."""
    return EvaluationError({"type": "NaN"})


def invalid_arguments() -> EvaluationError:
    """The error of an operator given too few values at run time."""
    return EvaluationError({"type": "Invalid Arguments"})


class Scoped:
    """The data an iterator's rule runs on, with the scopes around it, for `val`'s climbs.

    Iterators wrap their items only when their rule climbs (`{"val": [[2], "key"]}`), so the
    common path never sees this. `frames[0]` is level 1 (the iteration: `{"index": n}`),
    `frames[1]` level 2 (the data the iterator ran on), then the levels around that.
    """

    __slots__ = ("frames", "value")

    def __init__(self, value: JSONValue, frames: tuple[JSONValue, ...]) -> None:
        self.value = value
        self.frames = frames


Data = JSONValue | Scoped
Evaluator = Callable[[Data], JSONValue]


def plain(data: Data) -> JSONValue:
    """The data itself, without the scopes around it."""
    return data.value if isinstance(data, Scoped) else data


def frames_of(data: Data) -> tuple[JSONValue, ...]:
    """The scopes around the data (none at the top level)."""
    return data.frames if isinstance(data, Scoped) else ()


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


# JavaScript's StringToNumber: a decimal literal, Infinity, or an unsigned 0x/0o/0b integer.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Infinity")
_RADIX = re.compile(r"0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")


def to_number(value: JSONValue) -> float:
    """JavaScript's `Number(value)`; NaN when there is none."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # a JSON integer beyond a double
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        if _DECIMAL.fullmatch(text):
            return float(text.replace("Infinity", "inf"))
        if _RADIX.fullmatch(text):
            return float(int(text, 0))
        return math.nan
    if isinstance(value, list):
        return to_number(js_string(value)) if len(value) <= 1 else math.nan
    return math.nan


def operand(value: JSONValue) -> float:
    """A value used in arithmetic: its number, or the NaN error (arrays and objects have none)."""
    if type(value) is float:
        return value
    if isinstance(value, list | dict):
        raise nan()
    number = to_number(value)
    if math.isnan(number):
        raise nan()
    return number


def number_result(value: float) -> JSONValue:
    """An arithmetic answer as JSON: an integral value as an int; NaN and infinities are errors."""
    if type(value) is int:
        return value
    if math.isnan(value) or math.isinf(value):
        raise nan()
    return int(value) if value.is_integer() else value


def js_string(value: JSONValue) -> str:
    """JavaScript's `String(value)`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
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


_CONTAINERS = (list, dict)  # a tuple: isinstance with one is faster than with `list | dict`


def loose_equal(a: JSONValue, b: JSONValue) -> bool:
    """JavaScript's `==` on JSON values."""
    kind = type(a)
    if kind is type(b) and kind is not list and kind is not dict:  # the common case, first
        return a == b
    if a is None or b is None:
        return a is None and b is None
    a_container, b_container = isinstance(a, _CONTAINERS), isinstance(b, _CONTAINERS)
    if a_container and b_container:
        return a is b
    if a_container:
        a = js_string(a)
    if b_container:
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
