"""Attune's rule document (`seeds/001_…txt`) end to end: its requests replayed against a real
`tidings serve`, then events that match and events that do not, down to the HTTP request each
action sends to a receiver on loopback.

The curl examples ("Examples") run through bash exactly as written, with two changes only: the
document's base URL becomes the test server's, and `-H "Authorization: Bearer $TOKEN"` is added
(every Tidings route needs a token). The "Create Rule" and "Update Rule" request bodies are sent
byte for byte. The "Common Patterns" are in test_rule_document_patterns.py.

What the document leaves to the reader, the test sets up, all through the HTTP API:

- The packs, triggers and actions the examples name. `mypack`, `security`, `system`, `auth`,
  `pagerduty`, `monitoring`, `schedule` and `backup` are created; their actions
  (`pagerduty.create_incident`, `security.investigate`, `backup.full_backup`) are `http_request`
  actions. `slack.send_message` is built in; the slack pack's `webhook_url` is the receiver.
- `core.error_event` and `slack.notify` are added to the built-in `core` and `slack` packs,
  which take the user's triggers and actions beside the ones Tidings ships.
- Parameters. Two of the document's rules carry no `action_params`, and no action can run
  without some: `slack.send_message` needs a text, `http_request` a URL, and Tidings has no
  action-level parameter defaults. So after the document's create, one extra
  `PUT /api/v1/rules/{ref}` gives the rule the `action_params` in `ADDED_PARAMS` (templates on
  the event, the URL from `{{ pack.config.receiver_url }}`); the rule's trigger, action and
  conditions stay as the document wrote them.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.receivers import Received, Receiver, running_receiver
from tests.system.conftest import LiveServer

pytestmark = pytest.mark.system

DOCUMENT_URL = "http://localhost:3000"
ERROR = "core.error_event"
CPU = "system.cpu_monitor"
SETTLE_SECONDS = 20.0  # a deadline, not a wait: generous for a loaded CI machine
PACKS = ("mypack", "security", "system", "auth", "pagerduty", "monitoring", "schedule", "backup")
TRIGGERS = (CPU, "system.disk_check", "schedule.daily", "auth.login_failure", "security.access_log")
PER_RUN = frozenset({"id", "pack", "action", "trigger", "created", "updated"})
HTTP_ACTIONS = ("pagerduty.create_incident", "security.investigate", "backup.full_backup")

# 001_…txt, "Create Rule": the request body, as the document prints it.
CREATE_RULE = """{
"ref": "mypack.notify_on_error",
"pack_ref": "mypack",
"label": "Notify on Error",
"description": "Send notification when error event is detected",
"action_ref": "slack.send_message",
"trigger_ref": "core.error_event",
"conditions": {
"and": [
{"var": "event.severity", ">=": 3},
{"var": "event.status", "==": "error"}
]
},
"action_params": {
"channel": "#alerts",
"message": "Error detected: {{ event.payload.message }}",
"severity": "{{ event.payload.severity }}"
},
"enabled": true
}"""

# 001_…txt, "Update Rule": the request body.
UPDATE_RULE = """{
"label": "Notify on Critical Errors",
"description": "Enhanced error notification with filtering",
"conditions": {
"and": [
{"var": "event.severity", ">=": 4},
{"var": "event.status", "==": "error"}
]
},
"action_params": {
"channel": "#critical-alerts",
"message": "CRITICAL: {{ event.payload.service }} - {{ event.payload.message }}",
"priority": "high"
},
"enabled": false
}"""

# 001_…txt, "Examples": every curl command, as written.
CREATE_SIMPLE = r"""curl -X POST http://localhost:3000/api/v1/rules \
-H "Content-Type: application/json" \
-d '{
"ref": "mypack.alert_on_high_cpu",
"pack_ref": "mypack",
"label": "Alert on High CPU",
"description": "Send alert when CPU usage exceeds 90%",
"action_ref": "slack.send_message",
"trigger_ref": "system.cpu_monitor",
"conditions": {
"var": "cpu_percent",
">": 90
},
"enabled": true
}'"""
CREATE_COMPLEX = r"""curl -X POST http://localhost:3000/api/v1/rules \
-H "Content-Type: application/json" \
-d '{
"ref": "security.failed_login_alert",
"pack_ref": "security",
"label": "Failed Login Alert",
"description": "Alert on multiple failed login attempts",
"action_ref": "pagerduty.create_incident",
"trigger_ref": "auth.login_failure",
"conditions": {
"and": [
{"var": "failed_attempts", ">=": 5},
{"var": "time_window_minutes", "<=": 10},
{"var": "user.is_admin", "==": true}
]
}
}'"""
LIST_ENABLED = "curl http://localhost:3000/api/v1/rules/enabled"
LIST_BY_PACK = "curl http://localhost:3000/api/v1/packs/mypack/rules"
UPDATE_CONDITIONS = r"""curl -X PUT http://localhost:3000/api/v1/rules/mypack.alert_on_high_cpu \
-H "Content-Type: application/json" \
-d '{
"conditions": {
"var": "cpu_percent",
">": 95
}
}'"""
DISABLE = "curl -X POST http://localhost:3000/api/v1/rules/mypack.alert_on_high_cpu/disable"
ENABLE = "curl -X POST http://localhost:3000/api/v1/rules/mypack.alert_on_high_cpu/enable"
DELETE = "curl -X DELETE http://localhost:3000/api/v1/rules/mypack.alert_on_high_cpu"

# The parameters the test adds to the document's rules that have none (see the docstring).
ADDED_PARAMS: dict[str, dict[str, Any]] = {
    "mypack.alert_on_high_cpu": {
        "text": "CPU at {{ event.payload.cpu_percent }}% on {{ event.payload.host }}"
    },
    "security.failed_login_alert": {
        "url": "{{ pack.config.receiver_url }}/pagerduty/incidents",
        "method": "POST",
        "body": {
            "user": "{{ event.payload.user.name }}",
            "failed_attempts": "{{ event.payload.failed_attempts }}",
            "admin": "{{ event.payload.user.is_admin }}",
        },
    },
}


@contextmanager
def example_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Receiver]]:
    """A server that may call loopback, a receiver, and the document's catalogue registered."""
    # SQLite in the data dir (even if the shell names a database): a fresh database per server.
    env = {"TIDINGS_ALLOW_PRIVATE_TARGETS": "true", "TIDINGS_DATABASE_URL": ""}
    server = LiveServer(data_dir=tmp_path / "data", extra_env=env)
    server.start()
    try:
        with running_receiver() as receiver:
            register_catalogue(server, receiver)
            yield server, receiver
    finally:
        server.stop()


def call(server: LiveServer, method: str, path: str, body: Any = None) -> httpx.Response:
    """One request with the admin's token; a `str` body is JSON sent byte for byte."""
    headers = server.headers | {"Content-Type": "application/json"}
    content = body if isinstance(body, str) else None if body is None else json.dumps(body)
    return httpx.request(method, server.url + path, headers=headers, content=content, timeout=10)


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of a response that has `status`."""
    assert response.status_code == status, response.text
    return response.json()


def register_catalogue(server: LiveServer, receiver: Receiver) -> None:
    """The packs, triggers and actions the document names, the URLs pointing at `receiver`."""
    slack_config = {"config": {"webhook_url": receiver.url + "/slack"}}
    ok(call(server, "PUT", "/api/v1/packs/slack", slack_config))
    for ref in PACKS:
        pack = {"ref": ref, "label": ref.title(), "config": {"receiver_url": receiver.url}}
        ok(call(server, "POST", "/api/v1/packs", pack), 201)
    for ref in TRIGGERS:
        ok(call(server, "POST", "/api/v1/triggers", {"ref": ref, "label": ref}), 201)
    for ref in HTTP_ACTIONS:
        action = {"ref": ref, "label": ref, "runner": "http_request"}
        ok(call(server, "POST", "/api/v1/actions", action), 201)
    # The built-in packs take triggers and actions of the user's beside the shipped ones.
    ok(call(server, "POST", "/api/v1/triggers", {"ref": ERROR, "label": "Error event"}), 201)
    notify = {"ref": "slack.notify", "label": "Notify", "runner": "slack"}
    ok(call(server, "POST", "/api/v1/actions", notify), 201)


def run_curl(server: LiveServer, example: str) -> Any:
    """Run a curl example of the document in bash, plus the token, against `server`."""
    assert example.startswith("curl ")
    assert example.count(DOCUMENT_URL) == 1
    script = example.replace(DOCUMENT_URL, server.url).replace(
        "curl ", 'curl -H "Authorization: Bearer $TOKEN" ', 1
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "TOKEN": ADMIN_TOKEN},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def post_event(server: LiveServer, trigger_ref: str, payload: dict[str, Any]) -> int:
    """Record an event; it exists, with its payload, once the answer is back."""
    event_id: int = ok(
        call(server, "POST", "/api/v1/events", {"trigger_ref": trigger_ref, "payload": payload}),
        201,
    )["data"]["id"]
    stored = get_data(server, f"/api/v1/events/{event_id}")
    assert (stored["trigger_ref"], stored["payload"]) == (trigger_ref, payload)
    return event_id


def get_data(server: LiveServer, path: str) -> Any:
    """The `data` of a GET that succeeds."""
    return ok(call(server, "GET", path))["data"]


def enforcements(server: LiveServer, event_id: int) -> list[dict[str, Any]]:
    """The enforcements of an event (recorded with it: no waiting)."""
    found: list[dict[str, Any]] = get_data(server, f"/api/v1/enforcements?event={event_id}")
    return found


def settled(server: LiveServer, event_id: int) -> dict[str, Any]:
    """The one enforcement of an event, once its execution (if any) has finished."""
    [summary] = enforcements(server, event_id)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        detail: dict[str, Any] = get_data(server, f"/api/v1/enforcements/{summary['id']}")
        if detail["status"] not in ("scheduled", "running"):
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.05)


def assert_not_run(
    server: LiveServer, event_id: int, condition: str, clauses: dict[str, bool]
) -> None:
    """The rule `failed` (with these clause results) or was `skipped` (`{}`): nothing ran."""
    enforcement = settled(server, event_id)
    said = [enforcement[k] for k in ("condition", "conditions", "status", "execution")]
    assert said == [condition, clauses, "completed", None]


def assert_ran(
    server: LiveServer, event_id: int, clauses: dict[str, bool], parameters: dict[str, Any]
) -> None:
    """The condition passed with these clause results and the action succeeded at once."""
    enforcement = settled(server, event_id)
    said = [enforcement[k] for k in ("condition", "conditions", "status", "config")]
    assert said == ["passed", clauses, "completed", parameters]
    execution = get_data(server, f"/api/v1/executions/{enforcement['execution']}")
    outcome = [execution[k] for k in ("status", "attempts", "event", "parameters")]
    assert outcome == ["succeeded", 1, event_id, parameters]
    assert (execution["result"]["status"], execution["result"]["json"]) == (200, {"ok": True})


def delivered(receiver: Receiver, seen: int) -> list[Received]:
    """What the receiver got after its first `seen` requests."""
    return receiver.received()[seen:]


def assert_posted(request: Received, path: str, body: dict[str, Any]) -> None:
    """A JSON POST to `path` with exactly `body`."""
    sent = (request.method, request.path, request.headers["content-type"])
    assert sent == ("POST", path, "application/json")
    assert json.loads(request.body) == body


def rule_as_stored(answer: dict[str, Any]) -> dict[str, Any]:
    """A rule answer without the values that differ per run (ids and timestamps)."""
    return {k: v for k, v in answer.items() if k not in PER_RUN}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LiveServer, Receiver]]:
    """The example server and its receiver."""
    with example_server(tmp_path) as both:
        yield both


def test_create_and_update_rule_bodies(served: tuple[LiveServer, Receiver]) -> None:
    server, receiver = served
    created = ok(call(server, "POST", "/api/v1/rules", CREATE_RULE), 201)
    assert created["message"] == "Rule created successfully"
    stored = rule_as_stored(created["data"])
    assert stored == json.loads(CREATE_RULE) | {"strict_params": False}
    error = {"service": "billing", "message": "disk full", "status": "error"}
    low = {"$.and[0]": False, "$.and[1]": True}
    high = {"$.and[0]": True, "$.and[1]": True}
    assert_not_run(server, post_event(server, ERROR, error | {"severity": 2}), "failed", low)
    # `severity` keeps its type (a number); Slack's message format has no such field, so the
    # slack runner sends `message` as `text` and leaves `severity` out.
    rendered = {"channel": "#alerts", "message": "Error detected: disk full", "severity": 4}
    assert_ran(server, post_event(server, ERROR, error | {"severity": 4}), high, rendered)
    [slack] = delivered(receiver, 0)
    assert_posted(slack, "/slack", {"text": "Error detected: disk full", "channel": "#alerts"})

    updated = ok(call(server, "PUT", "/api/v1/rules/mypack.notify_on_error", UPDATE_RULE))
    assert updated["message"] == "Rule updated successfully"
    assert rule_as_stored(updated["data"]) == stored | json.loads(UPDATE_RULE)
    assert_not_run(server, post_event(server, ERROR, error | {"severity": 5}), "skipped", {})

    enabled = ok(call(server, "POST", "/api/v1/rules/mypack.notify_on_error/enable"))
    assert (enabled["data"]["enabled"], enabled["message"]) == (True, "Rule enabled successfully")
    # The updated threshold: 4.
    assert_not_run(server, post_event(server, ERROR, error | {"severity": 3}), "failed", low)
    critical = "CRITICAL: billing - disk full"
    rendered = {"channel": "#critical-alerts", "message": critical, "priority": "high"}
    assert_ran(server, post_event(server, ERROR, error | {"severity": 4}), high, rendered)
    [slack] = delivered(receiver, 1)
    assert_posted(slack, "/slack", {"text": critical, "channel": "#critical-alerts"})


def test_simple_rule_lifecycle(served: tuple[LiveServer, Receiver]) -> None:
    server, receiver = served
    created = run_curl(server, CREATE_SIMPLE)
    assert (created["message"], created["data"]["enabled"]) == ("Rule created successfully", True)
    rule_id = created["data"]["id"]
    params = {"action_params": ADDED_PARAMS["mypack.alert_on_high_cpu"]}
    ok(call(server, "PUT", "/api/v1/rules/mypack.alert_on_high_cpu", params))
    for example in (LIST_ENABLED, LIST_BY_PACK):
        listed = run_curl(server, example)
        assert [rule["ref"] for rule in listed["data"]] == ["mypack.alert_on_high_cpu"]
        assert listed["pagination"] == {"page": 1, "per_page": 20, "total": 1, "total_pages": 1}

    assert_not_run(server, post_event(server, CPU, cpu(90)), "failed", {"$": False})
    assert_ran(server, post_event(server, CPU, cpu(93)), {"$": True}, text(93))
    [message] = delivered(receiver, 0)
    assert_posted(message, "/slack", text(93))

    updated = run_curl(server, UPDATE_CONDITIONS)
    assert updated["data"]["conditions"] == {"var": "cpu_percent", ">": 95}
    assert_not_run(server, post_event(server, CPU, cpu(93)), "failed", {"$": False})
    assert_ran(server, post_event(server, CPU, cpu(97)), {"$": True}, text(97))
    [message] = delivered(receiver, 1)
    assert_posted(message, "/slack", text(97))

    disabled = run_curl(server, DISABLE)
    said = (disabled["message"], disabled["data"]["enabled"])
    assert said == ("Rule disabled successfully", False)
    assert run_curl(server, LIST_ENABLED)["data"] == []
    assert_not_run(server, post_event(server, CPU, cpu(99)), "skipped", {})

    enabled = run_curl(server, ENABLE)
    assert (enabled["message"], enabled["data"]["enabled"]) == ("Rule enabled successfully", True)
    assert_ran(server, post_event(server, CPU, cpu(99)), {"$": True}, text(99))
    [message] = delivered(receiver, 2)
    assert_posted(message, "/slack", text(99))

    deleted = run_curl(server, DELETE)
    expected = "Rule 'mypack.alert_on_high_cpu' deleted successfully"
    assert deleted == {"success": True, "message": expected}
    gone = call(server, "GET", "/api/v1/rules/mypack.alert_on_high_cpu")
    assert gone.status_code == 404
    assert gone.json() == {"error": "Rule 'mypack.alert_on_high_cpu' not found", "status": 404}
    assert enforcements(server, post_event(server, CPU, cpu(99))) == []
    history = get_data(server, f"/api/v1/enforcements?rule={rule_id}")
    conditions = [item["condition"] for item in history]  # newest first
    assert conditions == ["passed", "skipped", "passed", "failed", "passed", "failed"]
    assert len(receiver.received()) == 3


def cpu(percent: int) -> dict[str, Any]:
    """A `system.cpu_monitor` payload."""
    return {"cpu_percent": percent, "host": "web-01"}


def text(percent: int) -> dict[str, Any]:
    """The Slack message (and the rendered parameters) of `ADDED_PARAMS` for a CPU sample."""
    return {"text": f"CPU at {percent}% on web-01"}


def test_rule_with_complex_conditions(served: tuple[LiveServer, Receiver]) -> None:
    server, receiver = served
    created = run_curl(server, CREATE_COMPLEX)
    assert created["message"] == "Rule created successfully"
    assert (created["data"]["pack_ref"], created["data"]["enabled"]) == ("security", True)
    params = {"action_params": ADDED_PARAMS["security.failed_login_alert"]}
    ok(call(server, "PUT", "/api/v1/rules/security.failed_login_alert", params))

    attempts = {"failed_attempts": 7, "time_window_minutes": 4}
    # Every clause is evaluated and recorded, not only those the verdict needed.
    misses: list[tuple[dict[str, Any], list[bool]]] = [
        (attempts | {"user": {"name": "ann", "is_admin": False}}, [True, True, False]),
        ({"failed_attempts": 3, "time_window_minutes": 30}, [False, False, False]),
    ]
    for payload, verdicts in misses:
        results = {f"$.and[{i}]": verdict for i, verdict in enumerate(verdicts)}
        assert_not_run(server, post_event(server, "auth.login_failure", payload), "failed", results)
    admin = attempts | {"user": {"name": "root", "is_admin": True}}
    matching = post_event(server, "auth.login_failure", admin)
    url = receiver.url + "/pagerduty/incidents"
    # Lone expressions keep their JSON types: a number and a boolean, not strings.
    body = {"user": "root", "failed_attempts": 7, "admin": True}
    clauses = {"$.and[0]": True, "$.and[1]": True, "$.and[2]": True}
    assert_ran(server, matching, clauses, {"url": url, "method": "POST", "body": body})
    [incident] = delivered(receiver, 0)
    assert_posted(incident, "/pagerduty/incidents", body)
