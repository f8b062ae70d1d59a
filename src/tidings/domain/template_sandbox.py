"""The Jinja sandbox that renders action params: refusals, budgets, filters and the AST rewrite.

Why not Jinja as it comes: a plain `Environment` runs `''.__class__.__mro__[1].__subclasses__()`
and lets a template allocate and loop without limit. Jinja's `ImmutableSandboxedEnvironment` stops
the first (so it is used rather than a sandbox of our own) but not the second. So, on top of it:

- Sandbox: no attribute or key starting with "_" (a JSON object's own keys excepted); only listed
  methods of str, dict, list and numbers (not `center`, `zfill`, `format`, `encode`, ..., which
  allocate at will) and no attributes of classes; a JSON object's keys win over method names
  (`event.payload.items` is the key); no loader (no include, import, extends); no `lipsum`;
  curated filters; autoescape off (params are JSON).

Bounds, per render: a `RenderState`, which `templates.CompiledParams.render` puts in
`CURRENT_RENDER` for the hooks here to find. Crossing one raises SecurityError, which `templates`
reports as a TemplateError naming the param path:
- output: the rendered text, plus one per element of native values, is at most `max_output_chars`,
  counted as it is produced, so a loop stops at the line, not after building gigabytes.
- values: no string, list or dict the template builds may be longer than `max_output_chars` (shared
  parts counted each time they appear, so `[a, a]` nested twenty deep is refused). `*`, `+`, `%`,
  `~`, `replace` and `join` check the size before building; ints from `*` and `**` stay within 4300
  digits (Python's own int-to-text limit): `'a' * 10**9` and `9 ** (9 ** 9)` fail at once.
- work: `max_steps`. A step is a loop iteration, a call, a filter or test, an operator or a lookup;
  values also cost a step per 256 characters or 8 elements built or scanned. This bounds time
  without a clock, so rendering stays pure and deterministic (the same on every worker); the worst
  case is about half a second. Jinja does some work outside the sandbox's hooks (loops, `~`,
  comparisons, literals), so each parsed template is rewritten (`Instrument`) to route it through
  metered helpers.
- `range` is the sandbox's (at most 100,000 items); runaway recursion ends in RecursionError;
  `regex_replace` reads at most 100,000 characters (`re` has no timeout, so a catastrophically
  backtracking pattern, which only the rule's author can write, can still be slow).

Why a module of its own: this is everything that knows Jinja's hooks, apart from the param
documents and paths of `templates`. The conversion of values to JSON (`jsonable`) lives here
because the `to_json` filter uses it too: `templates` imports this module, never the reverse.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import operator
import re
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    Sequence,
    ValuesView,
)
from contextvars import ContextVar
from types import GeneratorType
from typing import NoReturn

from jinja2 import nodes, pass_context, pass_environment
from jinja2.environment import Environment
from jinja2.exceptions import (
    FilterArgumentError,
    SecurityError,
    TemplateRuntimeError,
    UndefinedError,
)
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

from tidings.domain.json import JSONValue

_MAX_INT_BITS = 14_284  # 4300 decimal digits
_MAX_REGEX_INPUT = 100_000


class Allowance:
    """An amount (characters or steps) to spend; overspending is a SecurityError saying `what`."""

    __slots__ = ("left", "what")

    def __init__(self, left: int, what: str) -> None:
        self.left, self.what = left, what

    def take(self, amount: int) -> None:
        """Spend `amount`, failing once the allowance is overdrawn."""
        self.left -= amount
        if self.left < 0:
            raise SecurityError(self.what)


class RenderState:
    """The budgets of one render call, which the sandbox's hooks find through a ContextVar."""

    __slots__ = ("max_value", "output", "sizes", "steps", "strict")

    def __init__(self, *, strict: bool, max_output: int, max_steps: int) -> None:
        self.strict = strict
        self.max_value = max_output
        self.output = Allowance(max_output, f"the rendered output exceeds {max_output} characters")
        self.steps = Allowance(max_steps, f"rendering takes more than {max_steps} steps")
        self.sizes: dict[int, tuple[object, int]] = {}  # id -> (the value, kept alive; its size)

    def bounded(self, value: object) -> object:
        """Check and charge a value the template has just built."""
        if isinstance(value, str | list | tuple | dict):
            if self.size(value) > self.max_value:  # stops counting there: no exact size to tell
                _refuse(f"a value exceeds the limit of {self.max_value} characters or items")
            self.steps.take(_cost(value))
        return value

    def size(self, value: object) -> int:
        """Characters plus elements, shared parts counted each time (memoised, so linear)."""
        if isinstance(value, str):
            return len(value)
        if not isinstance(value, list | tuple | dict):
            return 1
        known = self.sizes.get(id(value))
        if known is not None:
            return known[1]
        total = 1
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            total += self.size(item) + (len(key) if isinstance(key, str) else 0)
            if total > self.max_value:
                return total
        self.sizes[id(value)] = (value, total)
        return total


# Set by `templates.CompiledParams.render` for the length of one render call.
CURRENT_RENDER: ContextVar[RenderState] = ContextVar("tidings_template_render")


def _state() -> RenderState:
    state = CURRENT_RENDER.get(None)
    if state is None:
        raise SecurityError("template code ran outside a render")
    return state


def _cost(value: object) -> int:
    if isinstance(value, str):
        return len(value) >> 8
    return len(value) >> 3 if isinstance(value, list | tuple | dict) else 0


def _refuse(message: str) -> NoReturn:
    raise SecurityError(message)


def _refuse_longer(length: int, limit: int) -> None:
    if length > limit:
        _refuse(f"a value of {length} characters or items exceeds the limit of {limit}")


class _Missing(Undefined):
    """A missing value that remembers the path it was looked up by; strictness is the render's."""

    __slots__ = ("_path",)

    def __init__(
        self,
        hint: str | None = None,
        obj: object = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
        path: str | None = None,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        self._path = path if path is not None else str(name)

    @property
    def _undefined_message(self) -> str:
        return self._undefined_hint or f"'{self._path}' is undefined"

    def _fail_if_strict(self) -> None:
        state = CURRENT_RENDER.get(None)
        if state is not None and state.strict:
            self._fail_with_undefined_error()

    def __getattr__(self, name: str) -> object:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __str__(self) -> str:
        self._fail_if_strict()
        return ""

    def __iter__(self) -> Iterator[object]:
        self._fail_if_strict()
        return iter(())

    def __bool__(self) -> bool:
        self._fail_if_strict()
        return False

    def __len__(self) -> int:
        self._fail_if_strict()
        return 0

    def __eq__(self, other: object) -> bool:
        self._fail_if_strict()
        return type(self) is type(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = Undefined.__hash__


_STR_METHODS = frozenset(
    "capitalize casefold count endswith find index isalnum isalpha isascii isdecimal isdigit"  # noqa: SIM905
    " isidentifier islower isnumeric isprintable isspace istitle isupper join lower lstrip"
    " partition removeprefix removesuffix replace rfind rindex rpartition rsplit rstrip split"
    " splitlines startswith strip swapcase title upper".split()
)
_METHODS: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (str, _STR_METHODS),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple, range), frozenset({"count", "index", "start", "stop", "step"})),
    ((int, float), frozenset({"is_integer"})),
    (type, frozenset()),  # no `dict.fromkeys`, `cycler.reset(x)`, ...: classes are only called
)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the refusals and meters the module docstring lists."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def is_safe_attribute(self, obj: object, attr: str, value: object) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        return next((attr in names for kinds, names in _METHODS if isinstance(obj, kinds)), True)

    def wrap_str_format(self, value: object) -> None:
        return None  # `format` is not an allowed method; the `format` filter is bounded

    def unsafe_undefined(self, obj: object, attribute: str) -> Undefined:
        _refuse(f"access to {attribute!r} of a {type(obj).__name__!r} value is not allowed")

    def getattr(self, obj: object, attribute: str) -> object:
        _state().steps.take(1)
        if isinstance(obj, Undefined):
            return _chain(obj, attribute)
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: object, argument: object) -> object:
        _state().steps.take(1)
        if isinstance(obj, Undefined):
            return _chain(obj, argument)
        return super().getitem(obj, argument)

    def call(self, context: Context, obj: object, /, *args: object, **kwargs: object) -> object:
        if id(obj) in _INTERNAL and callable(obj):
            return context.call(obj, *args, **kwargs)  # drops Jinja's _loop_vars/_block_vars
        state = _state()
        state.steps.take(1)
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if isinstance(obj, LoopContext) and args:  # a recursive loop: meter its iterations too
            args = (_iterate(args[0]), *args[1:])  # type: ignore[arg-type]
        elif isinstance(owner, str) and name == "join" and len(args) == 1:
            items = list(args[0])  # type: ignore[call-overload]
            _check_join(owner, [item for item in items if isinstance(item, str)], state.max_value)
            args = (items,)
        elif isinstance(owner, str) and name == "replace" and len(args) >= 2:
            count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
            if isinstance(args[0], str) and isinstance(args[1], str):
                _check_replace(owner, args[0], args[1], count, state.max_value)
        return state.bounded(super().call(context, obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        state = _state()
        state.steps.take(1)
        _check_operator(operator, left, right, state.max_value)
        return state.bounded(self.binop_table[operator](left, right))


def _chain(missing_value: Undefined, key: object) -> Undefined:
    if isinstance(key, str) and key.startswith("_"):
        _refuse(f"access to {key!r} of an undefined value is not allowed")
    return missing_value


def _check_operator(operator: str, left: object, right: object, limit: int) -> None:
    sized = (str, list, tuple)
    if operator == "**" and isinstance(left, int) and isinstance(right, int):
        if right > 0 and right * (abs(left).bit_length() - 1) > _MAX_INT_BITS:
            _refuse("** would make an integer of more than 4300 digits")
    elif operator == "*" and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            _refuse("* would make an integer of more than 4300 digits")
    elif operator == "*" and isinstance(left, sized) and isinstance(right, int):
        _refuse_longer(len(left) * right, limit)
    elif operator == "*" and isinstance(right, sized) and isinstance(left, int):
        _refuse_longer(len(right) * left, limit)
    elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
        _refuse_longer(len(left) + len(right), limit)
    elif operator == "%" and isinstance(left, str):
        _check_format(left, limit)


_FORMAT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_format(text: str, limit: int) -> None:
    total = 0
    for width, precision in _FORMAT_FIELD.findall(text):
        for number in (width, precision):
            if number == "*" or len(number) > 9:
                _refuse("% formatting takes no '*' or huge widths")
            total += int(number or 0)
    _refuse_longer(total, limit)


def _check_replace(text: str, old: str, new: str, count: int, limit: int) -> None:
    if len(new) > len(old):
        found = text.count(old) if old else len(text) + 1
        found = min(found, count) if count >= 0 else found
        _refuse_longer(len(text) + found * (len(new) - len(old)), limit)


def _check_join(separator: str, texts: list[str], limit: int) -> None:
    _refuse_longer(sum(map(len, texts)) + len(separator) * max(len(texts) - 1, 0), limit)


# Helpers that the instrumented templates call (see Instrument).


def _lookup(root: object, root_text: str, *steps: object) -> object:
    value = root
    for index in range(0, len(steps), 2):
        parent, kind, key = value, steps[index], steps[index + 1]
        value = ENV.getattr(value, str(key)) if kind == "." else ENV.getitem(value, key)
        if isinstance(value, Undefined) and not isinstance(parent, Undefined):
            path = root_text + "".join(
                f".{steps[i + 1]}" if steps[i] == "." else f"[{steps[i + 1]!r}]"
                for i in range(0, index + 2, 2)
            )
            return _Missing(name=str(key), path=path)
    return value


def _iterate(iterable: Iterable[object]) -> Iterator[object]:
    steps = _state().steps
    for item in iterable:
        steps.take(1)
        yield item


def _concat(*parts: object) -> str:
    state = _state()
    texts = [str(part) for part in parts]
    length = sum(map(len, texts))
    _refuse_longer(length, state.max_value)
    state.steps.take(length >> 8)
    return "".join(texts)


def _charge(value: object) -> object:
    _state().steps.take(_cost(value))
    return value


def _literal(kind: str, *items: object) -> object:
    built: object = list(items) if kind == "list" else items
    if kind == "dict":
        built = dict(zip(items[::2], items[1::2], strict=True))
    return _state().bounded(built)


_INTERNAL = frozenset(id(f) for f in (_lookup, _iterate, _concat, _charge, _literal))


@pass_context
def _finalize(_context: Context, value: object) -> str:
    text = "" if value is None else str(value)
    state = _state()
    _refuse_longer(len(text), state.max_value)
    state.steps.take(len(text) >> 8)
    return text


def jsonable(value: object, allowance: Allowance) -> JSONValue:
    """`value` as JSON, taking its size (characters, and one per other element) from `allowance`."""
    if isinstance(value, str):
        allowance.take(len(value))
        return str(value)
    allowance.take(1)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Undefined):
        str(value)  # fails when strict
        return None
    if isinstance(value, Mapping):
        return {_json_key(k, allowance): jsonable(v, allowance) for k, v in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset | GeneratorType):
        return [jsonable(item, allowance) for item in value]
    if isinstance(value, KeysView | ValuesView | ItemsView):
        return [jsonable(item, allowance) for item in value]
    text = str(value)
    allowance.take(len(text))
    return text


def _json_key(key: object, allowance: Allowance) -> str:
    text = json.dumps(key) if key is None or isinstance(key, bool) else str(key)
    allowance.take(len(text))
    return text


def _metered(func: object) -> Callable[..., object]:
    if not callable(func):
        raise TypeError(f"{func!r} is not a filter")
    first = 1 if hasattr(func, "jinja_pass_arg") else 0  # after the context/environment argument

    def metered(*args: object, **kwargs: object) -> object:
        state = _state()
        state.steps.take(1 + (_cost(args[first]) if len(args) > first else 0))
        return state.bounded(func(*args, **kwargs))

    return functools.update_wrapper(metered, func)


def _to_json(value: object, sort_keys: bool = False) -> str:
    limit = _state().max_value
    data = jsonable(value, Allowance(limit, f"to_json: the value exceeds {limit} characters"))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _from_json(value: object) -> object:
    try:
        return json.loads(str(value), parse_constant=_no_constant)
    except ValueError as exc:
        raise FilterArgumentError(f"from_json: {exc}") from exc


def _b64encode(value: object) -> str:
    return base64.b64encode(str(value).encode()).decode("ascii")


def _b64decode(value: object) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise FilterArgumentError(f"b64decode: {exc}") from exc


def _regex_replace(
    value: object,
    pattern: str = "",
    replacement: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: int = 0,
) -> str:
    text, state = str(value), _state()
    _refuse_longer(len(text), _MAX_REGEX_INPUT)
    produced = Allowance(state.max_value, f"regex_replace: the result exceeds {state.max_value}")

    def expand(match: re.Match[str]) -> str:
        state.steps.take(1)
        out = match.expand(replacement)
        produced.take(len(out))
        return out

    flags = (re.IGNORECASE if ignorecase else 0) | (re.MULTILINE if multiline else 0)
    try:
        return re.compile(pattern, flags).sub(expand, text, count=count)
    except re.error as exc:
        raise FilterArgumentError(f"regex_replace: {exc}") from exc


def _replace(value: object, old: object, new: object, count: int | None = None) -> str:
    text, old_text, new_text, times = str(value), str(old), str(new), -1 if count is None else count
    _check_replace(text, old_text, new_text, times, _state().max_value)
    return text.replace(old_text, new_text, times)


@pass_environment
def _join(
    env: Environment, value: Iterable[object], d: str = "", attribute: str | None = None
) -> str:
    items = list(value) if attribute is None else list(map(make_attrgetter(env, attribute), value))
    texts = [str(item) for item in items]
    _check_join(str(d), texts, _state().max_value)
    return str(d).join(texts)


def _format(value: object, *args: object, **kwargs: object) -> str:
    if args and kwargs:
        raise FilterArgumentError("format takes positional or keyword arguments, not both")
    text = str(value)
    _check_format(text, _state().max_value)
    return text % (kwargs or args)


@pass_environment
def _sum(
    env: Environment, value: Iterable[object], attribute: str | None = None, start: float = 0
) -> object:
    if not isinstance(start, int | float):
        raise FilterArgumentError("sum: start must be a number")  # adding lists is quadratic
    items = value if attribute is None else map(make_attrgetter(env, attribute), value)
    return functools.reduce(operator.add, items, start)


_JINJA_FILTERS = (
    "abs attr capitalize count d default dictsort e escape filesizeformat first float forceescape"  # noqa: SIM905
    " groupby int items last length list lower map max min pprint reject rejectattr reverse round"
    " safe select selectattr sort string striptags title trim truncate unique upper urlencode"
    " wordcount".split()
)
_OUR_FILTERS: dict[str, object] = {
    "b64decode": _b64decode,
    "b64encode": _b64encode,
    "format": _format,
    "from_json": _from_json,
    "join": _join,
    "regex_replace": _regex_replace,
    "replace": _replace,
    "sum": _sum,
    "to_json": _to_json,
    "tojson": _to_json,  # Jinja's own escapes <>&' for HTML; params are JSON
}

# The one environment every action-param template is parsed and rendered in.
ENV = _Sandbox(
    autoescape=False,
    optimized=False,  # no constant folding: nothing of a template runs while it is compiled
    undefined=_Missing,
    finalize=_finalize,
    keep_trailing_newline=True,
)
del ENV.globals["lipsum"]
ENV.filters = {
    n: _metered(f) for n, f in ({n: FILTERS[n] for n in _JINJA_FILTERS} | _OUR_FILTERS).items()
}
ENV.tests = {name: _metered(func) for name, func in TESTS.items()}


def _internal(name: str, args: Sequence[nodes.Node], lineno: int) -> nodes.Call:
    target = nodes.ImportedName(f"{__name__}.{name}", lineno=lineno)
    return nodes.Call(target, list(args), [], None, None, lineno=lineno)


class Instrument(NodeTransformer):
    """Routes work that Jinja does outside the sandbox's hooks through the metered helpers."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _internal("_iterate", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _internal("_concat", node.nodes, node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        node.expr = _internal("_charge", [node.expr], node.lineno)
        for operand in node.ops:
            operand.expr = _internal("_charge", [operand.expr], node.lineno)
        return node

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._literal(node, "list")

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        if node.ctx != "load" or any(isinstance(item, nodes.Slice) for item in node.items):
            return self.generic_visit(node)  # a target, or `x[1:2, 3]` (slices need brackets)
        return self._literal(node, "tuple")

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._literal(node, "dict")

    def _literal(self, node: nodes.List | nodes.Tuple | nodes.Dict, kind: str) -> nodes.Node:
        self.generic_visit(node)
        items = (
            [expr for pair in node.items for expr in (pair.key, pair.value)]
            if isinstance(node, nodes.Dict)
            else node.items
        )
        if all(isinstance(item, nodes.Const) for item in items):
            return node
        return _internal("_literal", [nodes.Const(kind, lineno=node.lineno), *items], node.lineno)

    def visit_Getattr(self, node: nodes.Getattr) -> nodes.Node:
        return self._lookup(node)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        return self._lookup(node)

    def _lookup(self, node: nodes.Getattr | nodes.Getitem) -> nodes.Node:
        """`event.payload['x'].y` becomes one lookup that knows the path it was written as."""
        links: list[nodes.Getattr | nodes.Getitem] = []
        root: nodes.Node = node
        while isinstance(root, nodes.Getattr) or (
            isinstance(root, nodes.Getitem) and not isinstance(root.arg, nodes.Slice)
        ):
            links.append(root)
            root = root.node
        if not links or not isinstance(root, nodes.Name):
            return self.generic_visit(node)
        line = node.lineno
        args: list[nodes.Node] = [root, nodes.Const(root.name, lineno=line)]
        for link in reversed(links):
            if isinstance(link, nodes.Getattr):
                args += [nodes.Const(".", lineno=line), nodes.Const(link.attr, lineno=line)]
            else:
                args += [nodes.Const("[", lineno=line), self.visit(link.arg)]
        return _internal("_lookup", args, line)
