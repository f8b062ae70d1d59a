"""Tracker's CI examples (`seeds/003_…txt`, "Integration Examples") run through bash against a
real server, as the CI systems would run them.

Each snippet is the document's, with one added line: the Authorization header, read from
`$TRACKER_API_KEY` (the document's examples show none, and every Tidings route needs one). The
template variables are substituted the way each CI system does before the shell sees the
command: GitHub Actions expands `${{ … }}` expressions, and Jenkins' Groovy triple-quoted `sh`
string expands `${NAME}` and turns `\\$` into `$`. docs/tracker.md shows the same snippets.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.system.conftest import LiveServer

pytestmark = pytest.mark.system

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "tracker.md"

# The `run:` script of the document's GitHub Actions step, plus the Authorization line.
GITHUB_RUN = """\
curl -X POST ${{ secrets.TRACKER_URL }}/api/v1alpha1/event \\
  -H "Content-Type: application/json" \\
  -H "Authorization: Bearer $TRACKER_API_KEY" \\
  -d '{
    "title": "Deploy ${{ github.repository }} ${{ github.ref_name }}",
    "attributes": {
      "type": 1,
      "service": "${{ github.repository }}",
      "status": 3,
      "environment": 7,
      "owner": "${{ github.actor }}"
    },
    "links": {
      "pullRequestLink": "${{ github.event.pull_request.html_url }}"
    }
  }'
"""

# The Groovy string of the document's Jenkins `sh """…"""` step, plus the Authorization line
# (`\\$` so that the shell, not Groovy, reads the secret from the environment).
JENKINS_SH = """\
curl -X POST ${TRACKER_URL}/api/v1alpha1/event \\
  -H 'Content-Type: application/json' \\
  -H "Authorization: Bearer \\$TRACKER_API_KEY" \\
  -d '{
    "title": "Deploy ${JOB_NAME} #${BUILD_NUMBER}",
    "attributes": {
      "type": 1,
      "service": "${JOB_NAME}",
      "status": 3,
      "environment": 7
    }
  }'
"""

_ACTIONS_EXPRESSION = re.compile(r"\$\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_GROOVY_EXPRESSION = re.compile(r"(?<!\\)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def actions_expand(script: str, context: dict[str, str]) -> str:
    """What the GitHub Actions runner hands to bash: every `${{ name }}` replaced."""
    return _ACTIONS_EXPRESSION.sub(lambda m: context[m.group(1)], script)


def groovy_expand(script: str, binding: dict[str, str]) -> str:
    """What Jenkins hands to `sh`: Groovy's `${NAME}` replaced and `\\$` unescaped."""
    return _GROOVY_EXPRESSION.sub(lambda m: binding[m.group(1)], script).replace("\\$", "$")


def run_bash(script: str, api_key: str) -> dict[str, Any]:
    """Run a CI step's shell command; the JSON it printed."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "TRACKER_API_KEY": api_key},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def ci_key(server: LiveServer) -> str:
    """An API key of a `writer` service account, as a CI system would hold it."""
    account = {"name": "ci", "roles": ["writer"], "groups": []}
    url = server.url + "/api/v1/service-accounts"
    created = httpx.post(url, headers=server.headers, json=account)
    assert created.status_code == 201, created.text
    key = httpx.post(
        server.url + "/api/v1/tokens", headers=server.headers, json={"name": "ci", "account": "ci"}
    )
    assert key.status_code == 201, key.text
    token: str = key.json()["data"]["token"]
    return token


def fetch(server: LiveServer, created: dict[str, Any]) -> dict[str, Any]:
    """The stored event a create answered for, read back through Tracker's GET."""
    response = httpx.get(f"{server.url}/api/v1alpha1/event/{created['id']}", headers=server.headers)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()
    assert event["createdAt"] == created["createdAt"]
    return event


def attributes(**given: Any) -> dict[str, Any]:
    """A Tracker event's attributes: `given`, and null (or []) for the rest."""
    names = "message source type priority relatedId service status environment impact"
    names += " startDate endDate owner notification notifications"
    return dict.fromkeys(names.split()) | {"stakeHolders": []} | given


def test_docs_show_the_tested_snippets() -> None:
    page = DOCS_PAGE.read_text()
    assert textwrap.indent(GITHUB_RUN, " " * 4) in page  # under `run: |`
    assert textwrap.indent(JENKINS_SH, " " * 12) in page  # inside `sh """ … """`


def test_github_actions_step(live_server: LiveServer) -> None:
    context = {
        "secrets.TRACKER_URL": live_server.url,
        "github.repository": "acme/shop",
        "github.ref_name": "v1.4.2",
        "github.actor": "octocat",
        "github.event.pull_request.html_url": "https://github.com/acme/shop/pull/7",
    }
    created = run_bash(actions_expand(GITHUB_RUN, context), ci_key(live_server))
    assert (created["id"], created["title"]) == ("1", "Deploy acme/shop v1.4.2")
    assert fetch(live_server, created) == {
        "id": "1",
        "title": "Deploy acme/shop v1.4.2",
        "eventType": "deployment",
        "attributes": attributes(
            type=1, service="acme/shop", status=3, environment=7, owner="octocat"
        ),
        "links": {"pullRequestLink": "https://github.com/acme/shop/pull/7"},
        "createdAt": created["createdAt"],
        "updatedAt": created["createdAt"],
        "revisions": [],
    }


def test_jenkins_pipeline_step(live_server: LiveServer) -> None:
    binding = {"TRACKER_URL": live_server.url, "JOB_NAME": "shop-deploy", "BUILD_NUMBER": "42"}
    created = run_bash(groovy_expand(JENKINS_SH, binding), ci_key(live_server))
    assert (created["id"], created["title"]) == ("1", "Deploy shop-deploy #42")
    assert fetch(live_server, created) == {
        "id": "1",
        "title": "Deploy shop-deploy #42",
        "eventType": "deployment",
        "attributes": attributes(type=1, service="shop-deploy", status=3, environment=7),
        "links": {},
        "createdAt": created["createdAt"],
        "updatedAt": created["createdAt"],
        "revisions": [],
    }


def test_without_the_added_header_the_step_is_refused(live_server: LiveServer) -> None:
    added = '  -H "Authorization: Bearer \\$TRACKER_API_KEY" \\\n'
    as_in_the_document = JENKINS_SH.replace(added, "")
    assert as_in_the_document != JENKINS_SH
    binding = {"TRACKER_URL": live_server.url, "JOB_NAME": "shop-deploy", "BUILD_NUMBER": "42"}
    answer = run_bash(groovy_expand(as_in_the_document, binding), "unused")
    assert answer == {"error": "Missing bearer token", "status": 401}
