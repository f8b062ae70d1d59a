"""Action-param templates: types kept, paths in errors, missing values, sandbox and bounds."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.domain.json import JSONValue
from tidings.domain.templates import TemplateError, compile_params

CONTEXT: dict[str, object] = {
    "event": {
        "id": 7,
        "type": "error",
        "payload": {
            "severity": 5,
            "ratio": 0.25,
            "ok": True,
            "nothing": None,
            "service": "api",
            "message": "disk full",
            "tags": ["a", "b"],
            "details": {"host": "db1", "items": [1, 2]},
            "hosts": [{"name": "db1", "cpu": 90}, {"name": "db2", "cpu": 40}],
            "encoded": "aGk=",
            "raw": '{"a": [1, 2.5, null]}',
            "_id": "x1",
        },
    },
    "pack": {"config": {"channel": "#ops", "api_token": "s3cret"}},
    "system": {"timestamp": "2024-01-13T10:00:00Z", "tenant": "acme", "enforcement": 12},
    "rule": {"ref": "mypack.notify_on_error"},
    "trigger": {"ref": "core.error_event"},
}


def _render(template: str, *, strict: bool = False, **limits: int) -> JSONValue:
    """Render one param named `m` (so error paths are `$.m`)."""
    rendered = compile_params({"m": template}, **limits).render(CONTEXT, strict=strict)
    assert isinstance(rendered, dict)
    return rendered["m"]


def _error(template: str, *, strict: bool = False, **limits: int) -> str:
    with pytest.raises(TemplateError) as caught:
        _render(template, strict=strict, **limits)
    assert caught.value.path == "$.m"
    return caught.value.message


def _exactly(got: JSONValue, expected: JSONValue) -> bool:
    """Equal, and of the same JSON types (json.dumps tells 5 from 5.0 and from true)."""
    return json.dumps(got) == json.dumps(expected)


# A lone {{ expression }} keeps its type.


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.payload.severity }}", 5),
        ("{{ event.payload.ratio }}", 0.25),
        ("{{ event.payload.ok }}", True),
        ("{{ event.payload.nothing }}", None),
        ("{{ event.payload.service }}", "api"),
        ("{{ event.payload.tags }}", ["a", "b"]),
        ("{{ event.payload.details }}", {"host": "db1", "items": [1, 2]}),
        ("  {{ event.payload.severity }}\n", 5),  # whitespace around is allowed
        ("{# why #}{{ event.payload.severity }}", 5),  # a comment outputs nothing
        ("{{ event.payload.severity * 2 + 1 }}", 11),
        ("{{ event.payload.severity / 2 }}", 2.5),
        ("{{ event.payload.severity > 3 }}", True),
        ("{{ event.payload.details.items }}", [1, 2]),  # a JSON key wins over dict.items
        ("{{ event.payload['_id'] }}", "x1"),  # a key may start with "_"
        ("{{ event.payload._id }}", "x1"),
        ("{{ (1, 'two') }}", [1, "two"]),  # tuples become lists
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ event.payload.tags|map('upper') }}", ["A", "B"]),  # a generator becomes a list
        ("{{ event.payload.hosts|map(attribute='name')|list }}", ["db1", "db2"]),
        ("{{ event.payload.hosts|selectattr('cpu', 'gt', 50)|first }}", {"name": "db1", "cpu": 90}),
        ("{{ {'a': 1}.items() }}", [["a", 1]]),
        ("{{ {2: 'a', none: 'b', true: 'c'} }}", {"2": "a", "null": "b", "true": "c"}),
        ("{{ 1e308 * 10 }}", None),  # inf is not JSON
        ("{{ [event.payload.severity, event.payload.nothing] }}", [5, None]),
        ("{{ '<b>'|e }}", "&lt;b&gt;"),  # Markup comes out as a plain string
        ("{{ namespace(a=1) }}", "<Namespace {'a': 1}>"),  # anything else: its text
        ("{{ system.enforcement }}", 12),
        ("{{ pack.config.api_token }}", "s3cret"),
        ("{{ 9**9**9 }}", 387420489**9),  # Jinja's ** groups left: (9**9)**9, 78 digits
    ],
)
def test_a_lone_expression_keeps_its_type(template: str, expected: JSONValue) -> None:
    assert _exactly(_render(template), expected)


def test_a_markup_result_is_a_plain_str() -> None:
    assert type(_render("{{ 'a'|e }}")) is str


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "Error in {{ event.payload.service }}: {{ event.payload.message }}",
            "Error in api: disk full",
        ),
        ("{{ event.payload.severity }} items", "5 items"),
        ("{{ event.payload.severity }}{{ event.payload.severity }}", "55"),  # two expressions
        ("[{{ event.payload.nothing }}]", "[]"),  # None prints as "" (as in Ansible)
        ("{{ event.payload.ok }}!", "True!"),  # Jinja's text for a bool
        ("x{{ event.payload.details }}", "x{'host': 'db1', 'items': [1, 2]}"),
        ("{% if event.payload.severity > 3 %}high{% else %}low{% endif %}", "high"),
        ("{% for t in event.payload.tags %}{{ loop.index }}={{ t }};{% endfor %}", "1=a;2=b;"),
        ("a {# note #}b", "a b"),
        ("line {{ event.payload.service }}\n", "line api\n"),  # the trailing newline is kept
        ("{% raw %}{{ x }}{% endraw %}", "{{ x }}"),
        ("{{ event.payload.service ~ '-' ~ event.payload.severity }}", "api-5"),
        (
            "{% set ns = namespace(n=0) %}{% for h in event.payload.hosts %}"
            "{% set ns.n = ns.n + h.cpu %}{% endfor %}{{ ns.n }} total",
            "130 total",
        ),
        ("{% macro tag(t) %}<{{ t }}>{% endmacro %}{{ tag('x') }}{{ tag('y') }}", "<x><y>"),
    ],
)
def test_other_template_strings_render_text(template: str, expected: str) -> None:
    assert _render(template) == expected


def test_nested_params_render_in_place_and_keep_static_values() -> None:
    params: JSONValue = {
        "channel": "#alerts",
        "blocks": [
            {"text": "{{ event.payload.message }}", "count": 3},
            "{{ event.payload.severity }}",
            ["static", {"deep": "{{ event.payload.tags }}"}],
        ],
        "meta": {"at": "{{ system.timestamp }}", "rule": "{{ rule.ref }}", "n": None},
    }
    rendered = compile_params(params).render(CONTEXT)
    assert _exactly(
        rendered,
        {
            "channel": "#alerts",
            "blocks": [
                {"text": "disk full", "count": 3},
                5,
                ["static", {"deep": ["a", "b"]}],
            ],
            "meta": {"at": "2024-01-13T10:00:00Z", "rule": "mypack.notify_on_error", "n": None},
        },
    )
    assert params["blocks"][0]["text"] == "{{ event.payload.message }}"  # type: ignore[call-overload,index]


def test_params_without_templates_are_static_and_render_as_themselves() -> None:
    params: JSONValue = {"{{ key }}": "keys are not templates", "n": [1, 2.5, None, "{ x }"]}
    compiled = compile_params(params)
    assert compiled.is_static is True
    assert compiled.render(CONTEXT) is params
    assert compile_params({"m": "{{ x }}"}).is_static is False


def test_one_compiled_params_renders_lenient_and_strict() -> None:
    compiled = compile_params({"m": "{{ event.payload.gone }}"})
    assert compiled.render(CONTEXT) == {"m": None}
    with pytest.raises(TemplateError, match=r"^\$\.m: 'event\.payload\.gone' is undefined$"):
        compiled.render(CONTEXT, strict=True)
    assert compiled.render(CONTEXT) == {"m": None}  # strictness does not stick


# Compile-time errors name the path and the line.


@pytest.mark.parametrize(
    ("params", "path", "message"),
    [
        ({"message": "{{ x }"}, "$.message", "unexpected '}' (line 1)"),
        (
            {"headers": {"Authorization": "Bearer {{ pack.config.api_token"}},
            "$.headers.Authorization",
            "unexpected end of template, expected 'end of print statement'. (line 1)",
        ),
        (
            {"items": ["a", "b", "first\n{% if x %}\nno end"]},
            "$.items[2]",
            "Unexpected end of template. Jinja was looking for the following tags: 'elif' or"
            " 'else' or 'endif'. The innermost block that needs to be closed is 'if'. (line 2)",
        ),
        (
            {"a": [{"b": ["ok", "{{ x|center(3) }}"]}]},  # unknown filters fail at save time
            "$.a[0].b[1]",
            "No filter named 'center'. (line 1)",
        ),
        (
            {"m": "x\n\n{% for %}"},
            "$.m",
            "Expected an expression, got 'end of statement block' (line 3)",
        ),
    ],
)
def test_syntax_errors_name_the_param_path_and_line(
    params: JSONValue, path: str, message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_params(params)
    assert (caught.value.path, caught.value.message) == (path, message)
    assert str(caught.value) == f"{path}: {message}"


# Missing values: lenient by default, strict on request.

MISSING = "'event.payload.gone' is undefined"


@pytest.mark.parametrize(
    ("template", "lenient", "strict_error"),
    [
        ("{{ event.payload.gone }}", None, MISSING),
        ("{{ event.payload.servce }}", None, "'event.payload.servce' is undefined"),
        # chained access on a missing value never fails; strict names the first missing step
        ("{{ event.payload.gone.b.c }}", None, MISSING),
        ("{{ nope }}", None, "'nope' is undefined"),
        ("{{ nope.a }}", None, "'nope' is undefined"),
        ("Service: {{ event.payload.gone }}!", "Service: !", MISSING),
        ("{{ event.payload['no-such'] }}", None, "'event.payload['no-such']' is undefined"),
        ("{{ event.payload.tags[5] }}", None, "'event.payload.tags[5]' is undefined"),
        ("{{ event.payload.hosts[0].nme }}", None, "'event.payload.hosts[0].nme' is undefined"),
        # a computed key is shown with the value it had
        ("{{ event.payload[event.type] }}", None, "'event.payload['error']' is undefined"),
        ("{{ [event.payload.gone, 1] }}", [None, 1], MISSING),
        ("{{ {'k': event.payload.gone} }}", {"k": None}, MISSING),
        ("{% for x in event.payload.gone %}{{ x }}{% endfor %}", "", MISSING),
        ("{{ event.payload.gone|upper }}", "", MISSING),
        ("{% if event.payload.gone %}y{% else %}n{% endif %}", "n", MISSING),
        ("{{ event.payload.gone == 1 }}", False, MISSING),
        ("{{ event.payload.gone ~ 'x' }}", "x", MISSING),
    ],
)
def test_missing_paths(template: str, lenient: JSONValue, strict_error: str) -> None:
    assert _exactly(_render(template), lenient)
    assert _error(template, strict=True) == strict_error


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.payload.gone | default('n/a') }}", "n/a"),
        ("{{ event.payload.gone.deeper | default(3) }}", 3),
        ("{{ event.payload.gone is defined }}", False),
        ("{{ event.payload.severity is defined }}", True),
        ("{% if event.payload.gone is undefined %}none{% endif %}", "none"),
    ],
)
def test_strict_rendering_still_allows_asking_about_missing_values(
    template: str, expected: JSONValue
) -> None:
    assert _exactly(_render(template, strict=True), expected)
    assert _exactly(_render(template), expected)


def test_arithmetic_on_a_missing_value_fails_even_when_lenient() -> None:
    # As Jinja's default Undefined: printing is lenient, computing with nothing is not.
    assert _error("{{ event.payload.gone + 1 }}") == MISSING


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        (
            "{{ event.payload.severity + 'a' }}",
            "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
        ),
        ("{{ event.payload.tags.nope() }}", "'event.payload.tags.nope' is undefined"),
        ("{% include 'other' %}", "TypeError: no loader for this environment specified"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "the template recurses too deeply"),
    ],
)
def test_runtime_errors_become_template_errors(template: str, message: str) -> None:
    assert _error(template) == message


# The sandbox.


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "access to '__class__' of a 'str' value is not allowed",
        ),
        (
            "{{ cycler.__init__.__globals__ }}",
            "access to '__init__' of a 'type' value is not allowed",
        ),
        (
            "{{ self._TemplateReference__context }}",
            "access to '_TemplateReference__context' of a 'TemplateReference' value is not allowed",
        ),
        # lipsum is not there; reaching into a missing value is refused all the same
        (
            "{{ lipsum.__globals__ }}",
            "access to '__globals__' of an undefined value is not allowed",
        ),
        ("{{ [].append(1) }}", "access to 'append' of a 'list' value is not allowed"),
        (
            "{% for x in range(10**9) %}{% endfor %}",
            "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE"
            " (100000).",
        ),
        (
            "{{ 'a' * 10**9 }}",
            "a value of 1000000000 characters or items exceeds the limit of 1000000",
        ),
        ("{{ 9 ** (9 ** 9) }}", "** would make an integer of more than 4300 digits"),
        ("{{ (10 ** 3000) * (10 ** 3000) }}", "* would make an integer of more than 4300 digits"),
        ("{{ event.__class__ }}", "access to '__class__' of a 'dict' value is not allowed"),
        ("{{ event.payload.tags.pop() }}", "access to 'pop' of a 'list' value is not allowed"),
        (
            "{{ event.payload.details.update(a=1) }}",
            "access to 'update' of a 'dict' value is not allowed",
        ),
        ("{{ 'x'.center(10**9) }}", "access to 'center' of a 'str' value is not allowed"),
        ("{{ '{0:>999999999}'.format(1) }}", "access to 'format' of a 'str' value is not allowed"),
        ("{{ 'x'.encode() }}", "access to 'encode' of a 'str' value is not allowed"),
        ("{{ 'x'|attr('__class__') }}", "access to '__class__' of a 'str' value is not allowed"),
        ("{{ 'x'['__class__'] }}", "access to '__class__' of a 'str' value is not allowed"),
        ("{{ dict.fromkeys(range(9)) }}", "access to 'fromkeys' of a 'type' value is not allowed"),
        ("{{ range.__globals__ }}", "access to '__globals__' of a 'function' value is not allowed"),
        ("{{ (1).real }}", "access to 'real' of a 'int' value is not allowed"),
        ("{{ nope._private }}", "access to '_private' of an undefined value is not allowed"),
    ],
)
def test_sandbox_escapes_fail(template: str, message: str) -> None:
    started = time.perf_counter()
    assert _error(template, max_steps=1000) == message
    assert time.perf_counter() - started < 0.2


@pytest.mark.parametrize(
    "template",
    ["{{ 'a' * 10**9 }}", "{{ 9 ** (9 ** 9) }}", "{{ 'x'|replace('x', 'y' * 10**9) }}"],
)
def test_compiling_runs_nothing_of_the_template(template: str) -> None:
    started = time.perf_counter()
    compile_params({"m": template})  # no constant folding: the work happens (and fails) at render
    assert time.perf_counter() - started < 0.1


# Bounds.


@pytest.mark.parametrize(
    ("template", "limits", "message"),
    [
        # output is counted while a loop runs
        (
            "{% for i in range(100000) %}0123456789{% endfor %}",
            {"max_output_chars": 1000, "max_steps": 1_000_000},
            "the rendered output exceeds 1000 characters",
        ),
        (
            "{{ range(100000)|list }}",
            {"max_output_chars": 1000},
            "a value exceeds the limit of 1000 characters or items",
        ),
        # doubling a string through a namespace stops at the value limit
        (
            "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}",
            {"max_output_chars": 1000},
            "a value of 1024 characters or items exceeds the limit of 1000",
        ),
        # shared parts count each time: [a, a] nested eleven deep holds 2**11 strings
        (
            "{% set a = ['x', 'x'] %}"
            + "".join("{% set a = [a, a] %}" for _ in range(10))
            + "{{ a|length }}",
            {"max_output_chars": 2000},
            "a value exceeds the limit of 2000 characters or items",
        ),
        (
            "{{ ('x' * 1000)|replace('x', 'yyyy') }}",
            {"max_output_chars": 2000},
            "a value of 4000 characters or items exceeds the limit of 2000",
        ),
        (
            "{{ ('x' * 1000).replace('x', 'yyyy') }}",
            {"max_output_chars": 2000},
            "a value of 4000 characters or items exceeds the limit of 2000",
        ),
        (
            "{{ range(100)|join('-' * 100) }}",
            {"max_output_chars": 2000},
            "a value of 10090 characters or items exceeds the limit of 2000",
        ),
        (
            "{{ ('-' * 100).join(['a'] * 100) }}",
            {"max_output_chars": 2000},
            "a value of 10000 characters or items exceeds the limit of 2000",
        ),
        (
            "{{ '%999999999s' % 'a' }}",
            {},
            "a value of 999999999 characters or items exceeds the limit of 1000000",
        ),
        ("{{ '%*s' % (5, 'a') }}", {}, "% formatting takes no '*' or huge widths"),
        (
            "{{ '%9999s'|format('a') }}",
            {"max_output_chars": 1000},
            "a value of 9999 characters or items exceeds the limit of 1000",
        ),
        ("{{ [1, 2]|sum(start=[]) }}", {}, "sum: start must be a number"),
        # work: loops, calls and lookups are steps
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            {"max_steps": 5000},
            "rendering takes more than 5000 steps",
        ),
        (
            "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
            "{{ m(60) }}",
            {"max_steps": 5000},
            "rendering takes more than 5000 steps",
        ),
        (
            "{% for x in [1] recursive %}{{ loop([1, 1, 1, 1]) }}{% endfor %}",
            {"max_steps": 5000},
            "the template recurses too deeply",
        ),
        # a recursive loop that fans out 4**12 times but ends: its iterations are steps too
        (
            "{% for x in [1] recursive %}{% if loop.depth < 12 %}{{ loop([1, 1, 1, 1]) }}"
            "{% endif %}{% endfor %}",
            {"max_steps": 5000},
            "rendering takes more than 5000 steps",
        ),
        (
            "{% for i in range(100000) %}{% if event.payload.message in event.payload.message %}"
            "{% endif %}{% endfor %}",
            {"max_steps": 5000},
            "rendering takes more than 5000 steps",
        ),
    ],
)
def test_bounds(template: str, limits: dict[str, int], message: str) -> None:
    started = time.perf_counter()
    compiled = compile_params({"m": template}, **limits)
    with pytest.raises(TemplateError) as caught:
        compiled.render(CONTEXT)
    assert (caught.value.path, caught.value.message) == ("$.m", message)
    assert time.perf_counter() - started < 0.5


def test_the_output_limit_covers_all_params_of_one_render() -> None:
    compiled = compile_params(
        {"a": "{{ 'x' * 600 }}", "b": "{{ 'y' * 600 }}"}, max_output_chars=1000
    )
    with pytest.raises(TemplateError) as caught:
        compiled.render(CONTEXT)
    assert str(caught.value) == "$.b: the rendered output exceeds 1000 characters"


def test_a_large_loop_within_the_limits_renders() -> None:
    rendered = _render("{% for i in range(1000) %}{{ i % 10 }}{% endfor %}")
    assert rendered == "0123456789" * 100


def test_regex_replace_reads_bounded_input() -> None:
    compiled = compile_params({"m": "{{ event.text|regex_replace('z', 'b') }}"})
    with pytest.raises(TemplateError) as caught:
        compiled.render({"event": {"text": "a" * 100_001}})
    assert (
        caught.value.message == "a value of 100001 characters or items exceeds the limit of 100000"
    )
    assert compiled.render({"event": {"text": "a" * 100_000}}) == {"m": "a" * 100_000}


def test_regex_replace_charges_a_step_per_match() -> None:
    compiled = compile_params({"m": "{{ ('a' * 2000)|regex_replace('a', 'b') }}"}, max_steps=1000)
    with pytest.raises(TemplateError) as caught:
        compiled.render(CONTEXT)
    assert caught.value.message == "rendering takes more than 1000 steps"


# Filters.


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.payload.details|to_json }}", '{"host":"db1","items":[1,2]}'),
        ("{{ {'b': 1, 'a': '<é>'}|to_json(sort_keys=true) }}", '{"a":"<é>","b":1}'),
        ("{{ {'a': '<b>'}|tojson }}", '{"a":"<b>"}'),  # no HTML escaping
        ("{{ (1, event.payload.gone)|to_json }}", "[1,null]"),
        ("{{ event.payload.raw|from_json }}", {"a": [1, 2.5, None]}),
        ("{{ (event.payload.raw|from_json).a[1] }}", 2.5),
        ("{{ 'hé'|b64encode }}", "aMOp"),
        ("{{ 'aMOp'|b64decode }}", "hé"),
        ("{{ event.payload.encoded|b64decode }}", "hi"),
        ("{{ 'a-b-c'|regex_replace('-', '+') }}", "a+b+c"),
        ("{{ 'John Smith'|regex_replace('(\\\\w+) (\\\\w+)', '\\\\2, \\\\1') }}", "Smith, John"),
        ("{{ 'ABC abc'|regex_replace('b', 'x', ignorecase=true) }}", "AxC axc"),
        ("{{ 'aaa'|regex_replace('a', 'b', count=2) }}", "bba"),
        ("{{ 'a\\nb'|regex_replace('^', '> ', multiline=true) }}", "> a\n> b"),
        ("{{ 'a.b.c'|replace('.', '/') }}", "a/b/c"),
        ("{{ 'a.b.c'|replace('.', '/', 1) }}", "a/b.c"),
        ("{{ event.payload.hosts|join(', ', attribute='name') }}", "db1, db2"),
        ("{{ event.payload.tags|join }}", "ab"),
        ("{{ '%s has %d%%'|format('db1', 90) }}", "db1 has 90%"),
        ("{{ '%(h)s'|format(h='db1') }}", "db1"),
        ("{{ event.payload.hosts|sum(attribute='cpu') }}", 130),
        ("{{ [0.5, 1]|sum(start=1) }}", 2.5),
        ("{{ event.payload.message|upper|truncate(5, true, '…', 0) }}", "DISK…"),
        ("{{ event.payload.tags|length }}", 2),
        (
            "{{ event.payload.hosts|sort(attribute='cpu')|map(attribute='name')|list }}",
            ["db2", "db1"],
        ),
        ("{{ event.payload.details|dictsort }}", [["host", "db1"], ["items", [1, 2]]]),
        ("{{ 'a b'|urlencode }}", "a%20b"),
        ("{{ ' x '|trim ~ '|' }}", "x|"),
        ("{{ event.payload.gone|default(event.payload.severity) }}", 5),
        ("{{ '5'|int + 1 }}", 6),
        ("{{ 'a,b'.split(',') }}", ["a", "b"]),
        ("{{ ' Hi '.strip().lower() }}", "hi"),
        ("{{ event.payload.details.get('host') }}", "db1"),
    ],
)
def test_filters(template: str, expected: JSONValue) -> None:
    assert _exactly(_render(template), expected)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'nope'|from_json }}", "from_json: Expecting value: line 1 column 1 (char 0)"),
        ("{{ 'NaN'|from_json }}", "from_json: NaN is not JSON"),
        ("{{ '@@'|b64decode }}", "b64decode: Only base64 data is allowed"),
        (
            "{{ '/w=='|b64decode }}",
            "b64decode: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
        (
            "{{ 'x'|regex_replace('(', '') }}",
            "regex_replace: missing ), unterminated subpattern at position 0",
        ),
        ("{{ 'x'|format(1, a=2) }}", "format takes positional or keyword arguments, not both"),
    ],
)
def test_filter_errors(template: str, message: str) -> None:
    assert _error(template) == message


@pytest.mark.parametrize(
    "name", ["center", "indent", "wordwrap", "batch", "slice", "random", "xmlattr", "urlize"]
)
def test_filters_that_allocate_at_will_or_are_random_are_absent(name: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_params({"m": f"{{{{ 'x'|{name} }}}}"})
    assert caught.value.message == f"No filter named '{name}'. (line 1)"


# Laws.

MARKERS = ("{{", "{%", "{#")
_text = st.text(max_size=12).filter(lambda s: not any(m in s for m in MARKERS))
_json: st.SearchStrategy[JSONValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(_json)
def test_json_without_template_markers_renders_as_itself(value: JSONValue) -> None:
    compiled = compile_params(value)
    assert compiled.is_static is True
    assert compiled.render(CONTEXT) is value


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(_json)
def test_a_lone_expression_renders_any_json_value_unchanged(value: JSONValue) -> None:
    rendered = compile_params({"v": "{{ value }}"}).render({"value": value}, strict=True)
    assert _exactly(rendered, {"v": value})
