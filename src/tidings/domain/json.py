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


NUL = "\x00"


def nul_path(value: JSONValue, path: str = "") -> str | None:
    """The JSON path of the first string or key that holds a NUL character, or None.

    PostgreSQL's text and JSONB cannot store NUL, so every entry point refuses it (a 400 naming
    the place) rather than letting one engine fail at write time.
    """
    stack: list[tuple[JSONValue, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if NUL in node:
                return where or "(root)"
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{where}.{key}" if where else key
                if NUL in key:
                    return child_path
                stack.append((child, child_path))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(node))
    return None
