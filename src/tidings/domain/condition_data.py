"""JsonLogic's operators that read the data, or run a rule on other data: var, val, exists,
missing, the iterators (map, filter, all, some, none, reduce) and try.

Reading is confined to the data: objects by key and arrays by index, never an attribute, a
method or a string's characters, so a rule cannot reach anything but the JSON it is given.

`var` is json-logic-js's (a dotted path and a default). `val` and `exists` are json-logic-engine
v5's: a path is an array of keys (`{"val": ["a", "b.c"]}` reads key "b.c" of "a"), and a path
that starts with `[n]` climbs n scopes first — inside an iterator, level 1 is the iteration
(`{"index": i}`) and level 2 the data the iterator ran on; inside `try`'s fallbacks, level 2 is
the data the `try` ran on. Iterators and `try` pass scopes on only when a rule below them climbs
(checked once, at compile time), so rules without climbs pay nothing for the feature.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence

from tidings.domain.condition_ops import ANY, Builder, Operator, Shape
from tidings.domain.condition_values import (
    ConditionError,
    Data,
    EvaluationError,
    Evaluator,
    Scoped,
    frames_of,
    js_string,
    plain,
    to_number,
    truthy,
)
from tidings.domain.json import JSONValue


class _Missing:
    """The answer of a path that leads nowhere (`exists` tells it from a null value)."""


MISSING = _Missing()


def climbs(node: JSONValue) -> bool:
    """Whether a rule reads a scope above its data (a `val`/`exists` climb, or a computed path)."""
    if isinstance(node, list):
        return any(climbs(item) for item in node)
    if not isinstance(node, dict):
        return False
    for operator, args in node.items():
        if operator == "preserve":
            continue
        if operator in ("val", "exists"):
            path = args if isinstance(args, list) else [args]
            if (path and isinstance(path[0], list)) or any(isinstance(p, dict) for p in path):
                return True
        if climbs(args):
            return True
    return False


def in_scope(data: Data, frame: JSONValue, value: JSONValue) -> Scoped:
    """`value` as data one level below `data`, with `frame` (the iteration) as level 1."""
    return Scoped(value, (frame, plain(data), *frames_of(data)))


# --- var (json-logic-js): a dotted path, and a default when it leads nowhere ---


def _walk(data: JSONValue, parts: Sequence[str], default: JSONValue) -> JSONValue:
    current = data
    for part in parts:
        if isinstance(current, dict):
            if part not in current:
                return default
            current = current[part]
        elif isinstance(current, list):
            if not (part.isascii() and part.isdigit()) or int(part) >= len(current):
                return default
            current = current[int(part)]
        else:
            return default
    return current


def lookup(data: Data, key: JSONValue, default: JSONValue) -> JSONValue:
    """json-logic-js's `var` with a computed key."""
    if key is None or key == "" or key == []:
        return plain(data)
    return _walk(plain(data), js_string(key).split("."), default)


def _build_var(evals: list[Evaluator], args: list[JSONValue], _path: str) -> Evaluator:
    if not args:
        return plain
    default_of = evals[1] if len(evals) > 1 else lambda _data: None
    key = args[0]
    if key is None or key == "" or key == []:
        return plain  # the whole data
    if isinstance(key, str | int) and not isinstance(key, bool):
        # The common case, a literal path: split it once, here, not on every evaluation.
        parts = js_string(key).split(".")
        if len(parts) == 1:
            name = parts[0]

            def one(data: Data) -> JSONValue:
                if isinstance(data, dict):
                    return data[name] if name in data else default_of(data)
                return _walk(plain(data), parts, default_of(data))

            return one
        return lambda data: _walk(plain(data), parts, default_of(data))
    key_of = evals[0]
    return lambda data: lookup(data, key_of(data), default_of(data))


def _missing_keys(data: Data, keys: list[JSONValue]) -> list[JSONValue]:
    return [key for key in keys if lookup(data, key, None) in (None, "")]


def _build_missing(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
    def evaluate(data: Data) -> JSONValue:
        values = [each(data) for each in evals]
        keys = values[0] if values and isinstance(values[0], list) else values
        return _missing_keys(data, keys)

    return evaluate


def _build_missing_some(evals: list[Evaluator], _args: list[JSONValue], _path: str) -> Evaluator:
    need_of, keys_of = evals

    def evaluate(data: Data) -> JSONValue:
        keys = keys_of(data)
        keys = keys if isinstance(keys, list) else [keys]
        missing = _missing_keys(data, keys)
        need = to_number(need_of(data))
        return [] if len(keys) - len(missing) >= need else missing

    return evaluate


# --- val and exists (json-logic-engine): an array of keys, after an optional climb ---


def _step(current: JSONValue, key: JSONValue) -> JSONValue | _Missing:
    if isinstance(current, dict):
        name = key if isinstance(key, str) else js_string(key)
        return current.get(name, MISSING)
    if isinstance(current, list):
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        elif isinstance(key, str) and key.isascii() and key.isdigit():
            key = int(key) if key == "0" or not key.startswith("0") else -1
        if type(key) is not int or not 0 <= key < len(current):
            return MISSING
        return current[key]
    return MISSING


def _level(value: JSONValue) -> int | None:
    """How many scopes `[n]` climbs (the sign does not matter); None when n is no integer."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return abs(int(value))


def resolve(data: Data, path: Sequence[JSONValue]) -> JSONValue | _Missing:
    """Follow a `val` path: climb when it starts with `[n]`, then read key after key."""
    current: JSONValue = plain(data)
    start = 0
    if path and isinstance(path[0], list) and len(path[0]) == 1:
        level = _level(path[0][0])
        start = 1
        if level:
            frames = frames_of(data)
            if level > len(frames):
                return MISSING
            current = frames[level - 1]
    for key in path[start:]:
        if key is None:
            continue
        step = _step(current, key)
        if isinstance(step, _Missing):
            return step
        current = step
    return current


def _path_reader(
    evals: list[Evaluator], args: list[JSONValue], path: str
) -> Callable[[Data], JSONValue | _Missing]:
    """Compile a `val`/`exists` path: split once when literal, else evaluated each time."""
    if args and isinstance(args[0], list) and (len(args[0]) != 1 or _level(args[0][0]) is None):
        raise ConditionError(f"{path}[0]", "a scope climb is one integer in an array, as in [2]")
    literal = all(not isinstance(arg, dict) for arg in args[1:]) and not (
        args and isinstance(args[0], dict)
    )
    if literal:
        fixed = tuple(args)
        if len(fixed) == 1 and isinstance(fixed[0], str):
            name = fixed[0]

            def one(data: Data) -> JSONValue | _Missing:
                if isinstance(data, dict):
                    return data.get(name, MISSING)
                return resolve(data, fixed)

            return one
        return lambda data: resolve(data, fixed)

    def computed(data: Data) -> JSONValue | _Missing:
        keys = [each(data) for each in evals]
        if len(keys) == 1 and isinstance(keys[0], list):
            keys = keys[0]  # one rule that gives the whole path
        return resolve(data, keys)

    return computed


def _build_val(evals: list[Evaluator], args: list[JSONValue], path: str) -> Evaluator:
    read = _path_reader(evals, args, path)

    def evaluate(data: Data) -> JSONValue:
        value = read(data)
        return None if isinstance(value, _Missing) else value

    return evaluate


def _build_exists(evals: list[Evaluator], args: list[JSONValue], path: str) -> Evaluator:
    read = _path_reader(evals, args, path)
    return lambda data: not isinstance(read(data), _Missing)


# --- iterators: the second argument runs per item, with the item as data ---

Each = Callable[[JSONValue], JSONValue]


def _iterate(finish: Callable[[list[JSONValue], Each], JSONValue], *, needs_rule: bool) -> Builder:
    """An iterator; `finish` calls its function on the items in order, each at most once."""

    def build(evals: list[Evaluator], args: list[JSONValue], path: str) -> Evaluator:
        _check_items(args[0], path)
        if needs_rule and args[1] is None:
            raise ConditionError(f"{path}[1]", "null is not a rule to run on each item")
        items_of, per_item = evals
        if not climbs(args[1]):

            def evaluate(data: Data) -> JSONValue:
                items = items_of(data)
                return finish(items if isinstance(items, list) else [], per_item)

            return evaluate

        def scoped(data: Data) -> JSONValue:
            items = items_of(data)
            index = itertools.count()  # finish visits the items in order
            return finish(
                items if isinstance(items, list) else [],
                lambda item: per_item(in_scope(data, {"index": next(index)}, item)),
            )

        return scoped

    return build


def _check_items(items: JSONValue, path: str) -> None:
    if not isinstance(items, list | dict):
        raise ConditionError(
            f"{path}[0]",
            f"the items are an array or a rule that gives one, not {json.dumps(items)}",
        )


def _all(items: list[JSONValue], test: Each) -> JSONValue:
    return bool(items) and all(truthy(test(item)) for item in items)


def _some(items: list[JSONValue], test: Each) -> JSONValue:
    return any(truthy(test(item)) for item in items)


def _build_reduce(evals: list[Evaluator], args: list[JSONValue], path: str) -> Evaluator:
    _check_items(args[0], path)
    items_of, step = evals[0], evals[1]
    initial_of = evals[2] if len(evals) > 2 else None
    scoped = climbs(args[1])

    def evaluate(data: Data) -> JSONValue:
        items = items_of(data)
        items = items if isinstance(items, list) else []
        if initial_of is None:  # like JavaScript's reduce: the first item starts
            if not items:
                return None
            accumulator, start = items[0], 1
        else:
            accumulator, start = initial_of(data), 0
        for i in range(start, len(items)):
            state: JSONValue = {"current": items[i], "accumulator": accumulator}
            accumulator = step(in_scope(data, {"index": i}, state) if scoped else state)
        return accumulator

    return evaluate


# --- try: the first value that does not fail; each fallback runs on the previous error ---


def _build_try(evals: list[Evaluator], args: list[JSONValue], _path: str) -> Evaluator:
    first, fallbacks = evals[0], evals[1:]
    scoped = climbs(args[1:])

    def evaluate(data: Data) -> JSONValue:
        try:
            return first(data)
        except EvaluationError as failure:
            error = failure.error
        for fallback in fallbacks:
            try:
                return fallback(in_scope(data, None, error) if scoped else error)
            except EvaluationError as failure:
                error = failure.error
        raise EvaluationError(error)

    return evaluate


DATA_OPERATORS: dict[str, Operator] = {
    "var": Operator((0, 2), _build_var, reads_data=True),
    "val": Operator(ANY, _build_val, reads_data=True),
    "exists": Operator(ANY, _build_exists, reads_data=True),
    "missing": Operator(ANY, _build_missing, reads_data=True),
    "missing_some": Operator((2, 2), _build_missing_some, reads_data=True),
    "map": Operator(
        (2, 2),
        _iterate(lambda items, each: [each(item) for item in items], needs_rule=True),
        Shape.LIST,
    ),
    "filter": Operator(
        (2, 2),
        _iterate(
            lambda items, each: [item for item in items if truthy(each(item))],
            needs_rule=True,
        ),
        Shape.LIST,
    ),
    "all": Operator((2, 2), _iterate(_all, needs_rule=False), Shape.LIST),
    "some": Operator((2, 2), _iterate(_some, needs_rule=False), Shape.LIST),
    "none": Operator(
        (2, 2), _iterate(lambda items, each: not _some(items, each), needs_rule=False), Shape.LIST
    ),
    "reduce": Operator((2, 3), _build_reduce, Shape.LIST),
    "try": Operator((1, None), _build_try),
}
