"""Hiding secret values in rendered params, stored results, log lines and error messages.

Why by value and not by key name: a secret leaves through templates (`"Bearer {{ pack.config.token
}}"`), so by the time params are stored or logged the key that marked it is gone; only the value
still identifies it. Every occurrence of every secret is found, overlapping ones included, and each
run of overlapping occurrences becomes one `REDACTED`, so neither of two overlapping secrets
(`abcd`, `cdef` in `abcdef`) shows a part. Secrets are matched as they are, case-sensitively.
Dict keys are redacted too; two keys that redact to the same text keep the later value.
"""

from __future__ import annotations

from collections.abc import Collection

from tidings.domain.json import JSONValue

REDACTED = "********"


def _needles(secrets: Collection[str]) -> tuple[str, ...]:
    return tuple(sorted({secret for secret in secrets if secret}, key=len, reverse=True))


def _hide(text: str, needles: tuple[str, ...]) -> str:
    spans: list[tuple[int, int]] = []
    for needle in needles:
        start = text.find(needle)
        while start != -1:
            spans.append((start, start + len(needle)))
            start = text.find(needle, start + 1)
    if not spans:
        return text
    spans.sort()
    parts: list[str] = []
    shown = 0  # text before `shown` is already written out or hidden
    run_start, run_end = spans[0]
    for start, end in spans[1:]:
        if start < run_end:  # overlaps the current run: extend it
            run_end = max(run_end, end)
            continue
        parts += [text[shown:run_start], REDACTED]
        shown, run_start, run_end = run_end, start, end
    parts += [text[shown:run_start], REDACTED, text[run_end:]]
    return "".join(parts)


def _walk(value: JSONValue, needles: tuple[str, ...]) -> JSONValue:
    if isinstance(value, str):
        return _hide(value, needles)
    if isinstance(value, list):
        return [_walk(item, needles) for item in value]
    if isinstance(value, dict):
        return {_hide(key, needles): _walk(item, needles) for key, item in value.items()}
    return value


def redact(value: JSONValue, secrets: Collection[str]) -> JSONValue:
    """A copy of `value` with every secret in its strings and keys replaced by REDACTED."""
    needles = _needles(secrets) if secrets else ()
    return _walk(value, needles) if needles else value


def redact_text(text: str, secrets: Collection[str]) -> str:
    """`text` with every occurrence of every secret replaced by REDACTED."""
    needles = _needles(secrets) if secrets else ()
    return _hide(text, needles) if needles else text


def hidden_strings(shown: JSONValue, real: JSONValue) -> frozenset[str]:
    """The strings of `real` that `shown` (its redacted rendering) hides.

    Workers hold the real parameters of an execution and its stored, redacted ones; whatever
    the action returns or says is redacted with these before it is stored, so an action that
    echoes its input (`core.echo`, an HTTP receiver replying with the request) leaks nothing.
    """
    hidden: set[str] = set()
    stack: list[tuple[JSONValue, JSONValue]] = [(shown, real)]
    while stack:
        a, b = stack.pop()
        if isinstance(b, str):
            if a != b and b:
                hidden.add(b)
        elif isinstance(a, dict) and isinstance(b, dict):
            stack.extend((a.get(k), v) for k, v in b.items())
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            stack.extend(zip(a, b, strict=True))
        elif a != b:
            hidden.update(_strings(b))
    return frozenset(hidden)


def _strings(value: JSONValue) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
