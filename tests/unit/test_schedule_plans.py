"""The scheduler's decisions for one due schedule, as values: the ticks to fire (retries first,
BLOCKED, one at a time without concurrency, the end), and the row after the fires were tried
(failures counted, queued with backoff, quit into ERROR, cleared by a success)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tidings.domain.schedule_times import NS
from tidings.domain.timestamps import format_rfc3339, parse_rfc3339
from tidings.services.schedule_plans import FailurePolicy, Tick, plan_ticks, settled
from tidings.storage.schedules import ScheduleRow

POLICY = FailurePolicy(delays=(10 * NS, 60 * NS), max_failures=3)


def at(text: str) -> int:
    return parse_rfc3339(text)


def shown(ticks: list[int]) -> list[str]:
    return [format_rfc3339(t) for t in ticks]


def every_minute(**changes: object) -> ScheduleRow:
    """A NORMAL every-minute cron schedule due at 12:01, saved at 12:00."""
    row = ScheduleRow(
        id=1,
        tenant_id=1,
        name="tick",
        group_name="DEFAULT",
        description=None,
        timing="cron",
        cron="* * * * *",
        interval_seconds=None,
        start_at=None,
        end_at=None,
        time_zone="UTC",
        misfire="fire_once",
        concurrent=True,
        state="NORMAL",
        next_fire_at=at("2026-03-02T12:01:00Z"),
        last_fire_at=None,
        policy_locator=None,
        transaction_locator=None,
        custom_event_id=None,
        event_type="core.cron_timer",
        event={},
        failure_count=0,
        failed_job_state=None,
        failed_job_created_at=None,
        failed_job_updated_at=None,
        last_error=None,
        resumed_by=None,
        resumed_at=None,
        created_by=None,
        created_at=at("2026-03-02T12:00:00Z"),
        updated_at=at("2026-03-02T12:00:00Z"),
    )
    return replace(row, **changes)  # type: ignore[arg-type]


NOW = at("2026-03-02T12:05:30Z")  # 12:01 to 12:04 misfired (older than 60 s); 12:05 on time


@pytest.mark.parametrize(
    ("changes", "retry", "fires", "following"),
    [
        ({}, None, ["12:04", "12:05"], "12:06"),
        ({"misfire": "fire_all"}, None, ["12:01", "12:02", "12:03", "12:04", "12:05"], "12:06"),
        ({"misfire": "skip"}, None, ["12:05"], "12:06"),
        # Without concurrency one tick at a time: the latest, or under fire_all the oldest (its
        # next fire is the following missed tick, due at once).
        ({"concurrent": False}, None, ["12:05"], "12:06"),
        ({"concurrent": False, "misfire": "fire_all"}, None, ["12:01"], "12:02"),
        # A failed tick is tried again first; the misfire policy counts from it.
        ({}, "12:01", ["12:01", "12:04", "12:05"], "12:06"),
        ({"concurrent": False}, "12:01", ["12:01"], "12:02"),
        # The end caps the fires and the next one; fire_once takes the latest before the end.
        ({"end_at": at("2026-03-02T12:02:30Z")}, None, ["12:02"], None),
        ({"end_at": at("2026-03-02T12:05:00Z")}, None, ["12:04", "12:05"], None),
    ],
)
def test_ticks_to_fire(
    changes: dict[str, object], retry: str | None, fires: list[str], following: str | None
) -> None:
    retry_tick = None if retry is None else at(f"2026-03-02T{retry}:00Z")
    tick = plan_ticks(every_minute(**changes), now=NOW, retry_tick=retry_tick, in_progress=False)
    assert [t[11:16] for t in shown(tick.fires)] == fires
    assert (None if tick.next_ns is None else format_rfc3339(tick.next_ns)[11:16]) == following
    assert tick.blocked is False


def test_a_non_concurrent_schedule_whose_previous_fire_runs_is_blocked() -> None:
    row = every_minute(concurrent=False)
    assert plan_ticks(row, now=NOW, retry_tick=None, in_progress=True) == Tick(
        [], row.next_fire_at, blocked=True
    )
    # A concurrent one fires regardless.
    assert plan_ticks(every_minute(), now=NOW, retry_tick=None, in_progress=True).fires != []


def test_recorded_fires_move_the_schedule_on() -> None:
    tick = Tick(
        [at("2026-03-02T12:04:00Z"), at("2026-03-02T12:05:00Z")], at("2026-03-02T12:06:00Z")
    )
    values = settled(
        every_minute(), tick, recorded=tick.fires, failure=None, now=NOW, policy=POLICY
    )
    assert values == {
        "next_fire_at": at("2026-03-02T12:06:00Z"),
        "state": "NORMAL",
        "last_fire_at": at("2026-03-02T12:05:00Z"),
    }
    done = settled(
        every_minute(),
        Tick(tick.fires, None),
        recorded=tick.fires,
        failure=None,
        now=NOW,
        policy=POLICY,
    )
    assert (done["state"], done["next_fire_at"]) == ("COMPLETE", None)


def test_a_success_clears_the_failed_job() -> None:
    failed = every_minute(
        failure_count=2, failed_job_state="queued", failed_job_created_at=1, failed_job_updated_at=2
    )
    tick = Tick([at("2026-03-02T12:01:00Z")], at("2026-03-02T12:06:00Z"))
    values = settled(failed, tick, recorded=tick.fires, failure=None, now=NOW, policy=POLICY)
    assert (
        values["failure_count"],
        values["failed_job_state"],
        values["failed_job_created_at"],
        values["failed_job_updated_at"],
    ) == (0, None, None, None)


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        # The first failure: queued, retried after the first delay.
        (
            {},
            {"failure_count": 1, "failed_job_state": "queued", "next_fire_at": NOW + 10 * NS},
        ),
        # The second: the second delay; the job keeps its first creation time.
        (
            {"failure_count": 1, "failed_job_state": "queued", "failed_job_created_at": 5},
            {"failure_count": 2, "failed_job_state": "queued", "next_fire_at": NOW + 60 * NS},
        ),
        # The third is the last allowed: it quits and the schedule is in ERROR, with no next fire.
        (
            {"failure_count": 2, "failed_job_state": "queued", "failed_job_created_at": 5},
            {
                "failure_count": 3,
                "failed_job_state": "quit",
                "state": "ERROR",
                "next_fire_at": None,
            },
        ),
    ],
)
def test_failures_are_counted_then_give_up(
    before: dict[str, object], expected: dict[str, object]
) -> None:
    row = every_minute(**before)
    tick = Tick([at("2026-03-02T12:04:00Z"), at("2026-03-02T12:05:00Z")], None)
    values = settled(
        row,
        tick,
        recorded=[at("2026-03-02T12:04:00Z")],
        failure="Invalid request data: payload: boom",
        now=NOW,
        policy=POLICY,
    )
    assert values == {
        "last_fire_at": at("2026-03-02T12:04:00Z"),
        "last_error": "Invalid request data: payload: boom",
        "failed_job_created_at": before.get("failed_job_created_at", NOW),
        "failed_job_updated_at": NOW,
        **expected,
    }


def test_a_blocked_schedule_only_changes_state() -> None:
    tick = Tick([], at("2026-03-02T12:01:00Z"), blocked=True)
    assert settled(every_minute(), tick, recorded=[], failure=None, now=NOW, policy=POLICY) == {
        "state": "BLOCKED"
    }
