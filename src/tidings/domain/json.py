"""The JSON value type, and the structural limits every stored document obeys."""

from __future__ import annotations

from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject: TypeAlias = dict[str, JSONValue]


def depth_exceeds(value: JSONValue, max_depth: int) -> bool:
    """True when `value` nests containers deeper than `max_depth` (a flat object has depth 1).

    Iterative, so a hostile document cannot exhaust the interpreter's stack while being checked.
    """
    # Most payloads are flat: one pass over the values settles them without a stack.
    flat = isinstance(value, dict) and not any(isinstance(c, dict | list) for c in value.values())
    if flat and max_depth >= 1:
        return False
    stack: list[tuple[JSONValue, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth + 1 > max_depth:
                return True
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            if depth + 1 > max_depth:
                return True
            stack.extend((child, depth + 1) for child in node)
    return False
