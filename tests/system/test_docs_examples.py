"""The examples in `docs/*.md` run against a real server and answer as the pages show.

Conventions the pages follow:

- A fenced block tagged `sh` is a runnable example. It uses `$TIDINGS_URL` and `$TOKEN` (the
  bootstrap admin's API key). The blocks of one page run in order in one bash session
  (`set -euo pipefail`), so a later example can use a variable or a file an earlier one made.
- A block tagged `json output` (or `text output`) after a `sh` block, with only prose between
  them, is that example's answer. JSON is compared as a pattern: every key shown must be
  present, lists must have the length shown, and values must be equal — except values that
  differ on every run (locators, timestamps, tokens, request ids, cursors), of which only "null
  or not" is compared. Text output is compared line by line: every line shown must appear in
  what the example printed.
- A `sh` example with no output block must not print an error body.
- Anything that must not run (`make run`, CLI sessions) uses another tag, such as `console`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.system.conftest import LiveServer

pytestmark = pytest.mark.system

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```(?P<lang>[A-Za-z0-9_-]*)(?:[ \t]+(?P<role>[A-Za-z0-9_-]+))?[ \t]*$")
MARK = "@@tidings-docs-example@@"
SEGMENT = re.compile(rf"\n{MARK} (\d+|end)\n")
ERROR_BODY = re.compile(r'"status"\s*:\s*[45]\d\d\b')
# Values that change from run to run: only whether they are null is compared.
VOLATILE = frozenset(
    {
        "access_token",
        "actor",
        "at",
        "byLocator",
        "created",
        "createdAt",
        "expires",
        "locator",
        "next_cursor",
        "occurred_at",
        "pagingToken",
        "prefix",
        "recorded_at",
        "refresh_token",
        "request_id",
        "requestId",
        "revoked",
        "tenant",
        "timestamp",
        "token",
        "updated",
        "updatedAt",
        "userLocator",
    }
)


@dataclass
class Example:
    """One runnable block and the answer its page shows for it."""

    line: int
    script: str
    json_output: object = None
    text_output: str | None = None
    has_json_output: bool = False


def examples_of(page: Path) -> list[Example]:
    """The `sh` blocks of a page in order, each with the output block that follows it, if any."""
    found: list[Example] = []
    lines = page.read_text().splitlines()
    i = 0
    after_sh = False
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        start = i
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        assert end < len(lines), f"{page.name}:{start + 1}: unclosed code block"
        body = "\n".join(lines[start + 1 : end])
        lang, role = match["lang"], match["role"]
        if role == "output":
            where = f"{page.name}:{start + 1}"
            assert after_sh, f"{where}: an output block must follow a sh block"
            if lang == "json":
                found[-1].json_output = json.loads(body)
                found[-1].has_json_output = True
            else:
                found[-1].text_output = body
            after_sh = False
        elif lang == "sh":
            found.append(Example(line=start + 1, script=body))
            after_sh = True
        else:
            after_sh = False
        i = end + 1
    return found


def mismatches(expected: object, actual: object, path: str = "$") -> list[str]:
    """Where `actual` differs from the pattern `expected` (see the module docstring)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        problems: list[str] = []
        for key, value in expected.items():
            where = f"{path}.{key}"
            if key not in actual:
                problems.append(f"{where}: missing")
            elif key in VOLATILE:
                if (value is None) != (actual[key] is None):
                    problems.append(f"{where}: expected {value!r}, got {actual[key]!r}")
            else:
                problems.extend(mismatches(value, actual[key], where))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected a list of {len(expected)}, got {actual!r}"]
        return [
            problem
            for index, (e, a) in enumerate(zip(expected, actual, strict=True))
            for problem in mismatches(e, a, f"{path}[{index}]")
        ]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def session_script(examples: list[Example]) -> str:
    """One bash script running every example, with a marker line before each."""
    parts = ["set -euo pipefail"]
    for index, example in enumerate(examples):
        parts.append(f"printf '\\n{MARK} {index}\\n'")
        parts.append(example.script)
    parts.append(f"printf '\\n{MARK} end\\n'")
    return "\n".join(parts) + "\n"


def split_outputs(stdout: str) -> dict[int, str]:
    """Each example's stdout, by its index."""
    pieces = SEGMENT.split("\n" + stdout)
    outputs: dict[int, str] = {}
    for label, text in zip(pieces[1::2], pieces[2::2], strict=True):
        if label != "end":
            outputs[int(label)] = text.strip()
    return outputs


def check_output(example: Example, output: str) -> list[str]:
    """What is wrong with one example's output."""
    if example.has_json_output:
        try:
            actual = json.loads(output)
        except ValueError:
            return [f"expected JSON, got {output!r}"]
        return mismatches(example.json_output, actual)
    if example.text_output is not None:
        return [
            f"missing line {line.strip()!r}"
            for line in example.text_output.splitlines()
            if line.strip() and line.strip() not in output
        ]
    if ERROR_BODY.search(output):
        return ["printed an error body, and the page shows no output for it"]
    return []


def test_pages_have_examples() -> None:
    expected = {"authentication.md", "configuration.md", "events-api.md", "quickstart.md"}
    assert expected <= {p.name for p in PAGES}
    for page in PAGES:
        examples = examples_of(page)
        assert examples, f"{page.name} has no runnable examples"
        for example in examples:
            where = f"{page.name}:{example.line}"
            assert "127.0.0.1" not in example.script, f"{where}: use $TIDINGS_URL"
            assert "localhost" not in example.script, f"{where}: use $TIDINGS_URL"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_examples_run(page: Path, live_server: LiveServer, tmp_path: Path) -> None:
    examples = examples_of(page)
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {**os.environ, "TIDINGS_URL": live_server.url, "TOKEN": ADMIN_TOKEN}
    result = subprocess.run(
        ["bash", "-c", session_script(examples)],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = split_outputs(result.stdout)
    if result.returncode != 0:
        failed = max(outputs, default=0)
        pytest.fail(
            f"{page.name}:{examples[failed].line}: example exited with {result.returncode}\n"
            f"--- script\n{examples[failed].script}\n--- stdout\n{outputs.get(failed, '')}\n"
            f"--- stderr\n{result.stderr}"
        )
    assert sorted(outputs) == list(range(len(examples))), result.stdout
    failures = []
    for index, example in enumerate(examples):
        problems = check_output(example, outputs[index])
        if problems:
            failures.append(
                f"{page.name}:{example.line}:\n  "
                + "\n  ".join(problems)
                + f"\n--- script\n{example.script}\n--- stdout\n{outputs[index]}"
            )
    assert not failures, "\n\n".join(failures)
