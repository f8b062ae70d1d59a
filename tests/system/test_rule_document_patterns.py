"""The "Common Patterns" of Attune's rule document (`seeds/001_…txt`) end to end on a real
`tidings serve`, with the harness of test_rule_document_examples.py.

Each pattern is the document's JSON as printed, completed with what the API requires and the
document leaves out: `pack_ref` (the first segment of the ref), `label` and `description`, and
`action_params`, without which no action can run (see the examples module). Then an event that
matches and one that does not: the enforcement's verdict and clause results, the execution, and
the one request the action sends to the receiver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.receivers import Receiver
from tests.system.conftest import LiveServer
from tests.system.test_rule_document_examples import (
    assert_not_run,
    assert_posted,
    assert_ran,
    call,
    delivered,
    example_server,
    ok,
    post_event,
)

pytestmark = pytest.mark.system

# 001_…txt, "Common Patterns", as printed.
ALERT_ON_THRESHOLD = """{
"ref": "monitoring.disk_space_alert",
"trigger_ref": "system.disk_check",
"action_ref": "slack.notify",
"conditions": {
"var": "disk_usage_percent",
">": 85
}
}"""
MULTI_CONDITION_FILTER = """{
"ref": "security.suspicious_activity",
"trigger_ref": "security.access_log",
"action_ref": "security.investigate",
"conditions": {
"and": [
{"var": "request.method", "==": "POST"},
{"var": "response.status", "==": 401},
{"var": "ip_reputation_score", "<": 50}
]
}
}"""
TIME_BASED_RULE = """{
"ref": "backup.daily_backup",
"trigger_ref": "schedule.daily",
"action_ref": "backup.full_backup",
"conditions": {
"var": "hour",
"==": 2
}
}"""


@dataclass(frozen=True)
class Pattern:
    """A pattern, what the test adds to it, and what its events should lead to."""

    document: str
    label: str
    action_params: dict[str, Any]
    hit: dict[str, Any]
    hit_clauses: dict[str, bool]
    miss: dict[str, Any]
    miss_clauses: dict[str, bool]
    path: str  # where the action's request arrives
    sent: dict[str, Any]  # the JSON body it carries

    def rule(self) -> dict[str, Any]:
        """The document's rule with the missing fields filled in."""
        rule: dict[str, Any] = json.loads(self.document)
        completed = {
            "pack_ref": rule["ref"].split(".", 1)[0],
            "label": self.label,
            "description": f"{self.label} (001_…txt, Common Patterns)",
            "action_params": self.action_params,
        }
        return rule | completed


def _http(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"url": "{{ pack.config.receiver_url }}" + path, "method": "POST", "body": body}


ACCESS = {"request": {"method": "POST", "path": "/login"}, "ip": "203.0.113.9"}
PATTERNS = {
    "alert on threshold": Pattern(
        ALERT_ON_THRESHOLD,
        label="Disk space alert",
        # slack.notify is a `slack` action: it posts to the slack pack's webhook_url.
        action_params={"text": "Disk {{ event.payload.disk_usage_percent }}% full on db-1"},
        hit={"disk_usage_percent": 91},
        hit_clauses={"$": True},
        miss={"disk_usage_percent": 85},  # `>`, not `>=`
        miss_clauses={"$": False},
        path="/slack",
        sent={"text": "Disk 91% full on db-1"},
    ),
    "multi-condition filter": Pattern(
        MULTI_CONDITION_FILTER,
        label="Suspicious activity",
        action_params=_http(
            "/security/investigate",
            {"ip": "{{ event.payload.ip }}", "score": "{{ event.payload.ip_reputation_score }}"},
        ),
        hit=ACCESS | {"response": {"status": 401}, "ip_reputation_score": 12},
        hit_clauses={"$.and[0]": True, "$.and[1]": True, "$.and[2]": True},
        miss=ACCESS | {"response": {"status": 200}, "ip_reputation_score": 12},
        miss_clauses={"$.and[0]": True, "$.and[1]": False, "$.and[2]": True},
        path="/security/investigate",
        sent={"ip": "203.0.113.9", "score": 12},
    ),
    "time-based rule": Pattern(
        TIME_BASED_RULE,
        label="Daily backup",
        action_params=_http("/backup/full", {"hour": "{{ event.payload.hour }}"}),
        hit={"hour": 2},
        hit_clauses={"$": True},
        miss={"hour": 14},
        miss_clauses={"$": False},
        path="/backup/full",
        sent={"hour": 2},
    ),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Receiver]]:
    """One example server for the module: each pattern has its own trigger, rule and path."""
    with example_server(tmp_path_factory.mktemp("patterns")) as both:
        yield both


@pytest.mark.parametrize("pattern", PATTERNS.values(), ids=PATTERNS.keys())
def test_common_pattern(served: tuple[LiveServer, Receiver], pattern: Pattern) -> None:
    server, receiver = served
    rule = pattern.rule()
    created = ok(call(server, "POST", "/api/v1/rules", rule), 201)["data"]
    assert (created["ref"], created["conditions"]) == (rule["ref"], rule["conditions"])
    trigger = rule["trigger_ref"]
    seen = len(receiver.received())  # earlier patterns' requests, all sent before they ended

    missed = post_event(server, trigger, pattern.miss)
    assert_not_run(server, missed, "failed", pattern.miss_clauses)
    rendered = pattern.sent
    if pattern.path != "/slack":
        rendered = {"url": receiver.url + pattern.path, "method": "POST", "body": pattern.sent}
    assert_ran(server, post_event(server, trigger, pattern.hit), pattern.hit_clauses, rendered)
    [request] = delivered(receiver, seen)
    assert_posted(request, pattern.path, pattern.sent)


def test_the_shipped_triggers_and_actions_of_the_builtin_packs_stay_read_only(
    served: tuple[LiveServer, Receiver],
) -> None:
    # The document's `core.error_event` and `slack.notify` were added beside them (the harness).
    live_server, _ = served
    for method, path, ref in [
        ("PUT", "/api/v1/triggers/core.event", "core.event"),
        ("DELETE", "/api/v1/actions/slack.send_message", "slack.send_message"),
    ]:
        answer = call(live_server, method, path, {"label": "Mine"} if method == "PUT" else None)
        pack = ref.split(".", 1)[0]
        error = f"'{ref}' is built into pack '{pack}' and cannot be changed"
        assert (answer.status_code, answer.json()) == (409, {"error": error, "status": 409})
