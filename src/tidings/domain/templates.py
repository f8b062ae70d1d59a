"""Type-preserving rendering of a rule's `action_params` (Jinja templates): what rules see of it.

Why Jinja: rule documents (and StackStorm/Ansible users) write `{{ event.payload.x }}` and expect
Jinja's filters and statements; a language of our own would be a worse Jinja. Why not Jinja as it
comes: it is not safe for user templates, and it renders everything as text. The first is
`template_sandbox`'s job (the sandbox, its budgets, filters, and the rewrite that meters each
template; its docstring says why each is there); this module does the second, and is the API:

- Templates are parsed once, by `compile_params` (when the rule is saved); a syntax error is a
  `TemplateError` naming the JSON path of the string and the line. Dict keys are never templates.
- A string that is exactly one `{{ expression }}` (whitespace around it allowed) renders to the
  value itself, as JSON: tuples, ranges and generators become lists, mappings objects, NaN, inf and
  missing values null, anything else its text. Other template strings render to strings, in which
  `None` and a missing value print as "" (as in Ansible).
- Missing values are lenient by default (chained access on them never fails); strict rendering
  fails with the path as written: `$.message: 'event.payload.servce' is undefined`.
- Each `render` call has its own budgets (`max_output_chars`, `max_steps`); crossing one, like any
  failure while rendering, is a TemplateError naming the param path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from jinja2 import nodes
from jinja2.environment import Template
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.exceptions import TemplateSyntaxError

from tidings.domain import template_sandbox as sandbox
from tidings.domain.json import JSONValue

_MARKERS = ("{{", "{%", "{#")
_RESULT = "_tidings_result"


class TemplateError(ValueError):
    """A param that cannot be compiled or rendered; `path` is its JSON path (`$.headers.X`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _lone_expression(tree: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that outputs one `{{ … }}` and only whitespace besides."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts = [
        part
        for part in tree.body[0].nodes
        if not (isinstance(part, nodes.TemplateData) and not part.data.strip())
    ]
    if len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData):
        return parts[0]
    return None


_Renderer = Callable[[dict[str, object], sandbox.RenderState], JSONValue]


def _compile_string(source: str, path: str) -> _Renderer:
    try:
        tree = sandbox.ENV.parse(source)
        lone = _lone_expression(tree)
        if lone is not None:
            target = nodes.Name(_RESULT, "store", lineno=lone.lineno)
            tree = nodes.Template([nodes.Assign(target, lone, lineno=lone.lineno)], lineno=1)
        sandbox.Instrument().visit(tree)
        tree.set_environment(sandbox.ENV)
        template = sandbox.ENV.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateError(path, f"{exc.message or exc} (line {exc.lineno})") from exc
    except RecursionError as exc:
        raise TemplateError(path, "the template nests too deeply") from exc
    except Exception as exc:
        raise TemplateError(path, f"{type(exc).__name__}: {exc}") from exc
    return _guarded(_native(template) if lone is not None else _text(template), path)


def _native(template: Template) -> _Renderer:
    def render(variables: dict[str, object], state: sandbox.RenderState) -> JSONValue:
        context = template.new_context(variables)
        for _ in template.root_render_func(context):
            pass
        return sandbox.jsonable(context.vars.get(_RESULT), state.output)

    return render


def _text(template: Template) -> _Renderer:
    def render(variables: dict[str, object], state: sandbox.RenderState) -> JSONValue:
        chunks = []
        for chunk in template.root_render_func(template.new_context(variables)):
            state.output.take(len(chunk))
            chunks.append(chunk)
        return "".join(chunks)

    return render


def _guarded(render: _Renderer, path: str) -> _Renderer:
    def guarded(variables: dict[str, object], state: sandbox.RenderState) -> JSONValue:
        try:
            return render(variables, state)
        except JinjaError as exc:
            raise TemplateError(path, exc.message or type(exc).__name__) from exc
        except RecursionError as exc:
            raise TemplateError(path, "the template recurses too deeply") from exc
        except Exception as exc:
            raise TemplateError(path, f"{type(exc).__name__}: {exc}") from exc

    return guarded


def _compile(value: JSONValue, path: str) -> _Renderer | None:
    """A renderer for `value`, or None when it holds no template (it renders as itself)."""
    if isinstance(value, str):
        return _compile_string(value, path) if any(m in value for m in _MARKERS) else None
    if isinstance(value, list):
        items = [(_compile(item, f"{path}[{i}]"), item) for i, item in enumerate(value)]
        if all(renderer is None for renderer, _ in items):
            return None
        each = [renderer or _constant(item) for renderer, item in items]
        return lambda variables, state: [render(variables, state) for render in each]
    if isinstance(value, dict):
        pairs = [(key, _compile(item, f"{path}.{key}"), item) for key, item in value.items()]
        if all(renderer is None for _, renderer, _ in pairs):
            return None
        by_key = [(key, renderer or _constant(item)) for key, renderer, item in pairs]
        return lambda variables, state: {key: render(variables, state) for key, render in by_key}
    return None


def _constant(value: JSONValue) -> _Renderer:
    return lambda _variables, _state: value


class CompiledParams:
    """Action params parsed once, rendered once per event."""

    __slots__ = ("_renderer", "max_output_chars", "max_steps", "params")

    def __init__(
        self, params: JSONValue, renderer: _Renderer | None, max_output_chars: int, max_steps: int
    ) -> None:
        self.params = params
        self._renderer = renderer
        self.max_output_chars = max_output_chars
        self.max_steps = max_steps

    @property
    def is_static(self) -> bool:
        """True when the params hold no template: render returns them as they are."""
        return self._renderer is None

    def render(self, context: Mapping[str, object], *, strict: bool = False) -> JSONValue:
        """Render against `context` (`event`, `pack`, `system`, ...); static parts are shared."""
        if self._renderer is None:
            return self.params
        state = sandbox.RenderState(
            strict=strict, max_output=self.max_output_chars, max_steps=self.max_steps
        )
        token = sandbox.CURRENT_RENDER.set(state)
        try:
            return self._renderer(dict(context), state)
        finally:
            sandbox.CURRENT_RENDER.reset(token)


def compile_params(
    params: JSONValue, *, max_output_chars: int = 1_000_000, max_steps: int = 100_000
) -> CompiledParams:
    """Parse every template string in `params` once; a TemplateError names the path at fault."""
    return CompiledParams(params, _compile(params, "$"), max_output_chars, max_steps)
