"""How executions are rendered on /api/v1/executions, in Attune's vocabulary (`enforcement`,
`rule`, `event`, `action` ids beside their refs; `created`/`updated` as RFC 3339).

The result is stored as JSON bytes and spliced into the answer as they are (`orjson.Fragment`):
a 4 MB result is neither parsed nor re-encoded to be served.
"""

from __future__ import annotations

from typing import Any

import orjson

from tidings.domain.automation import Attempt, Execution
from tidings.domain.timestamps import NS_PER_SECOND, format_rfc3339
from tidings.services.executions import ExecutionDetail

_NS_PER_MS = NS_PER_SECOND // 1000


def _ts(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)


def _ms(start: int | None, end: int | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start) / _NS_PER_MS


def summary_json(item: Execution) -> dict[str, Any]:
    """An execution in a list: where it came from, where it is, and when (and, for a delivery,
    its subscription)."""
    out = {
        "id": item.id,
        "enforcement": item.enforcement_id,
        "rule": item.rule_id,
        "rule_ref": item.rule_ref,
        "event": item.event_id,
        "action": item.action_id,
        "action_ref": item.action_ref,
        "status": item.status.value,
        "attempts": item.attempts,
        "max_attempts": item.max_attempts,
        "error": item.error,
        "started": _ts(item.started_at),
        "finished": _ts(item.finished_at),
        "created": format_rfc3339(item.created_at),
        "updated": format_rfc3339(item.updated_at),
    }
    if item.subscription_id is not None:
        out["subscription"] = item.subscription_id
    return out


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """One try by one worker, with what it saw when the action reports that (a delivery's
    status code and response excerpt, under `detail`)."""
    out = {
        "number": attempt.number,
        "worker": attempt.worker,
        "outcome": attempt.outcome,
        "error": attempt.error,
        "started": format_rfc3339(attempt.started_at),
        "finished": _ts(attempt.finished_at),
        "duration_ms": _ms(attempt.started_at, attempt.finished_at),
    }
    if attempt.detail is not None:
        out["detail"] = attempt.detail
    return out


def detail_json(detail: ExecutionDetail) -> dict[str, Any]:
    """An execution with its (redacted) parameters, attempts, timings and result."""
    item = detail.execution
    return {
        **summary_json(item),
        "runner": item.runner,
        "parameters": item.parameters,
        "timeout_seconds": item.timeout_seconds,
        "available": format_rfc3339(item.available_at),
        "timings": {
            "queued_ms": _ms(item.created_at, item.started_at),
            "running_ms": _ms(item.started_at, item.finished_at),
            "total_ms": _ms(item.created_at, item.finished_at),
        },
        "attempt_log": [attempt_json(a) for a in item.attempt_log],
        "result_size": item.result_size,
        "result": None if detail.result is None else orjson.Fragment(detail.result),
    }
