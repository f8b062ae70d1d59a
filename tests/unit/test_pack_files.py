"""Reading pack directories: a full example, and each kind of mistake named by file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tidings.services.builtin_packs import BUILTIN_PACKS
from tidings.services.pack_definitions import (
    ActionSpec,
    PackBundle,
    PackSpec,
    RuleSpec,
    TriggerSpec,
    action_problems,
    pack_problems,
    schema_problem,
    trigger_problems,
)
from tidings.services.pack_files import InvalidPackDirectory, read_pack_dir

PACK_YAML = """\
ref: deploys
label: Deploys
description: Tell the team about deployments.
version: "1.2.0"
config_schema:
  type: object
  properties:
    channel: {type: string}
    token: {type: string, secret: true}
config:
  channel: "#deploys"
"""
TRIGGER_YAML = """\
ref: deploys.finished
label: Deployment finished
payload_schema:
  type: object
  properties:
    service: {type: string}
  required: [service]
"""
ACTION_YAML = """\
ref: deploys.announce
label: Announce
runner: http_request
parameters_schema: {type: object}
timeout_seconds: 10
max_attempts: 3
"""
RULE_YAML = """\
ref: deploys.announce_failures
label: Announce failures
description: Post failed deployments.
trigger_ref: deploys.finished
action_ref: slack.send_message
conditions: {"var": "status", "==": "failed"}
action_params:
  text: "{{ event.payload.service }} failed"
enabled: false
"""


def write(root: Path, files: dict[str, str]) -> Path:
    """A pack directory holding `files` (relative path -> text)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def full_pack(root: Path) -> Path:
    """The documented example: a pack with one trigger, one action and one rule."""
    return write(
        root,
        {
            "pack.yaml": PACK_YAML,
            "triggers/finished.yaml": TRIGGER_YAML,
            "actions/announce.yml": ACTION_YAML,
            "rules/announce_failures.yaml": RULE_YAML,
            "README.md": "ignored",
        },
    )


def problems_of(directory: Path) -> list[str]:
    """The problems reading `directory` reports, as text."""
    with pytest.raises(InvalidPackDirectory) as caught:
        read_pack_dir(directory)
    return [str(p) for p in caught.value.problems]


def test_a_full_directory_reads_into_values(tmp_path: Path) -> None:
    bundle = read_pack_dir(full_pack(tmp_path))
    assert bundle == PackBundle(
        pack=PackSpec(
            ref="deploys",
            label="Deploys",
            description="Tell the team about deployments.",
            version="1.2.0",
            config_schema={
                "type": "object",
                "properties": {
                    "channel": {"type": "string"},
                    "token": {"type": "string", "secret": True},
                },
            },
            config={"channel": "#deploys"},
        ),
        triggers=(
            TriggerSpec(
                ref="deploys.finished",
                label="Deployment finished",
                payload_schema={
                    "type": "object",
                    "properties": {"service": {"type": "string"}},
                    "required": ["service"],
                },
            ),
        ),
        actions=(
            ActionSpec(
                ref="deploys.announce",
                label="Announce",
                runner="http_request",
                parameters_schema={"type": "object"},
                timeout_seconds=10.0,
                max_attempts=3,
            ),
        ),
        rules=(
            RuleSpec(
                ref="deploys.announce_failures",
                label="Announce failures",
                description="Post failed deployments.",
                trigger_ref="deploys.finished",
                action_ref="slack.send_message",
                conditions={"var": "status", "==": "failed"},
                action_params={"text": "{{ event.payload.service }} failed"},
                enabled=False,
            ),
        ),
    )


def test_a_pack_without_config_says_nothing_about_it(tmp_path: Path) -> None:
    bundle = read_pack_dir(write(tmp_path, {"pack.yaml": "ref: bare\nlabel: Bare\n"}))
    assert bundle == PackBundle(pack=PackSpec(ref="bare", label="Bare", config=None))


def test_a_directory_without_pack_yaml(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"{tmp_path}: pack.yaml: is missing"]


P = "ref: p\nlabel: L\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ref: [a\n",
            "(file): is not valid YAML at line 2, column 1: expected ',' or ']', "
            "but got '<stream end>'",
        ),
        ("- a\n- b\n", "(file): must hold one mapping (a JSON object)"),
        ("label: L\n", "ref: is required"),
        ("ref: a.b\nlabel: L\n", "ref: may contain only letters, digits, underscores and hyphens"),
        # An unquoted 1.0 is a float to YAML: the hint says what to do.
        (P + "version: 1.0\n", "version: must be a string (quote it)"),
        (
            P + "labl: x\n",
            "labl: is not a known field "
            "(known: ref, label, description, version, config_schema, config)",
        ),
        (P + "config: [1]\n", "config: must be a mapping (a JSON object)"),
        # YAML has dates, non-string keys and NaN; JSON has none of them.
        (P + "config: {d: 2024-01-01}\n", "config.d: is a YAML date, which JSON lacks (quote it)"),
        (P + "config: {1: a}\n", "config: has a key that is not a string (quote it)"),
        (P + "config: {n: .nan}\n", "config.n: must be a finite number"),
        (
            P + "config_schema: {type: nope}\n",
            'config_schema: is not a valid JSON Schema at /type: "nope" is not valid under any '
            "of the schemas listed in the 'anyOf' keyword",
        ),
        (
            # A schema that would fetch a document from the network is refused.
            P + "config_schema: {$ref: 'http://x.test/s.json'}\n",
            "config_schema: is not a valid JSON Schema: Resource 'http://x.test/s.json' is not "
            "present in a registry and retrieving it failed: Retrieval is disabled, cannot fetch "
            "http://x.test/s.json",
        ),
    ],
)
def test_pack_yaml_problems_name_the_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert problems_of(write(tmp_path, {"pack.yaml": text})) == [f"pack.yaml: {expected}"]


PACK = {"pack.yaml": "ref: p\nlabel: P\n"}
REF_PREFIX = "ref: must start with the pack's ref and a dot ('p.')"
RUNNER_LIST = (
    "runner: must be one of noop, echo, http_request, emit_event, slack, local_command, python"
)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("triggers/t.yaml", "ref: other.t\nlabel: T\n", REF_PREFIX),
        # The pack's prefix alone names nothing.
        ("triggers/t.yaml", "ref: p.\nlabel: T\n", REF_PREFIX),
        ("triggers/t.yaml", "ref: p.t\n", "label: is required"),
        (
            "triggers/t.yaml",
            "ref: p.t\nlabel: T\npayload_schema: 3\n",
            "payload_schema: must be a mapping (a JSON object)",
        ),
        ("actions/a.yaml", "ref: p.a\nlabel: A\nrunner: shell\n", RUNNER_LIST),
        (
            "actions/a.yaml",
            "ref: p.a\nlabel: A\nrunner: python\n",
            "entry_point: is required by the python runner",
        ),
        (
            "actions/a.yaml",
            "ref: p.a\nlabel: A\nrunner: echo\nentry_point: x\n",
            "entry_point: is only for the python runner",
        ),
        (
            "actions/a.yaml",
            "ref: p.a\nlabel: A\nrunner: echo\ntimeout_seconds: 0\n",
            "timeout_seconds: must be > 0 and <= 3600",
        ),
        (
            "actions/a.yaml",
            "ref: p.a\nlabel: A\nrunner: echo\nmax_attempts: 21\n",
            "max_attempts: must be between 1 and 20",
        ),
        (
            "actions/a.yaml",
            "ref: p.a\nlabel: A\nrunner: echo\nmax_attempts: yes\n",
            "max_attempts: must be an integer",  # yes is YAML 1.1 for true
        ),
        (
            "rules/r.yaml",
            "ref: p.r\nlabel: R\ntrigger_ref: p.t\naction_ref: p.a\n",
            "description: is required",
        ),
        (
            "rules/r.yaml",
            "ref: p.r\nlabel: R\ndescription: D\ntrigger_ref: p.t\naction_ref: p.a\n"
            "conditions: {nope: [1]}\n",
            "conditions: $.nope: unknown operator 'nope'",
        ),
        (
            "rules/r.yaml",
            "ref: p.r\nlabel: R\ndescription: D\ntrigger_ref: p.t\naction_ref: p.a\n"
            "action_params: {text: '{{ event.payload. }}'}\n",
            "action_params: $.text: expected name or number (line 1)",
        ),
        (
            "rules/r.yaml",
            "ref: p.r\nlabel: R\ndescription: D\ntrigger_ref: p.t\naction_ref: p.a\n"
            "enabled: maybe\n",
            "enabled: must be true or false",
        ),
    ],
)
def test_definition_problems_name_the_file_and_field(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    assert problems_of(write(tmp_path, {**PACK, name: text})) == [f"{name}: {expected}"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    files = {
        **PACK,
        "triggers/a.yaml": "ref: p.t\nlabel: A\n",
        "triggers/b.yaml": "ref: p.t\nlabel: B\n",
        "actions/a.yaml": "ref: p.a\nlabel: A\n",
    }
    assert problems_of(write(tmp_path, files)) == [
        "triggers/b.yaml: ref: is also defined in triggers/a.yaml",
        "actions/a.yaml: runner: is required",
    ]


def test_yaml_errors_never_quote_the_file(tmp_path: Path) -> None:
    secret = "xoxb-very-secret"
    text = f"ref: p\nlabel: P\nconfig: {{token: {secret}: oops}}\n"
    found = problems_of(write(tmp_path, {"pack.yaml": text}))
    assert len(found) == 1
    assert secret not in found[0]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object"}, None),
        (True, "must be a JSON Schema object"),
        ({"minimum": "x"}, 'is not a valid JSON Schema at /minimum: "x" is not of type "number"'),
    ],
)
def test_schema_problem(schema: object, expected: str | None) -> None:
    assert schema_problem(schema) == expected  # type: ignore[arg-type]


def test_the_builtin_packs_pass_their_own_checks() -> None:
    for bundle in BUILTIN_PACKS:
        ref = bundle.pack.ref
        assert pack_problems(bundle.pack) == []
        assert [p for t in bundle.triggers for p in trigger_problems(t, pack_ref=ref)] == []
        assert [p for a in bundle.actions for p in action_problems(a, pack_ref=ref)] == []
