"""What the scheduler does with one due schedule, decided as values (no I/O): which ticks to fire,
when to look next, and what the schedule row becomes once the fires are tried.

- A tick whose event could not be recorded is the schedule's newest fire row without an event.
  It is tried again first, before any later tick, and the ticks that came due meanwhile follow
  the misfire policy from it.
- BLOCKED is Quartz's word for a schedule that does not allow concurrent runs (`concurrent:
  false`) while its previous fire still runs: here, while an execution of the previous fire's
  event (a rule's action) is queued or running. Its due tick waits, and fires once those runs
  end, late, under the misfire policy. Such a schedule fires one tick at a time: the latest due
  (the failed one first when retrying; under `fire_all`, the oldest missed).
- A fire that fails counts a failure: the job is `queued` and retried after a growing delay
  (`RETRY_DELAYS`), and after `MAX_FAILURES` it is `quit` and the schedule goes to ERROR with no
  next fire until someone resumes it. A fire that succeeds clears the failed job.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.domain.schedule_times import NS, MisfirePolicy, TriggerState, next_fire, plan
from tidings.services.schedule_specs import timing_of, within_end
from tidings.storage.schedules import ScheduleRow

MISFIRE_THRESHOLD_NS = 60 * NS  # Quartz's default misfire threshold
MAX_FIRES_PER_CLAIM = 100  # fire_all catches up this many ticks at a time
RETRY_DELAYS = (10 * NS, 30 * NS, 60 * NS, 300 * NS)
MAX_FAILURES = 5
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Tick:
    """The ticks to fire now, oldest first, and the next fire after them."""

    fires: list[int]
    next_ns: int | None
    blocked: bool = False


@dataclass(frozen=True)
class FailurePolicy:
    """How failed fires are retried: the delay after each failure, and when to give up."""

    delays: tuple[int, ...] = RETRY_DELAYS
    max_failures: int = MAX_FAILURES

    def delay(self, failures: int) -> int:
        """Nanoseconds to wait after the `failures`-th failure in a row."""
        return self.delays[min(failures, len(self.delays)) - 1]


def plan_ticks(
    row: ScheduleRow,
    *,
    now: int,
    retry_tick: int | None,
    in_progress: bool,
    threshold_ns: int = MISFIRE_THRESHOLD_NS,
) -> Tick:
    """The fires of a due schedule (see the module docstring)."""
    if not row.concurrent and in_progress:
        return Tick([], row.next_fire_at, blocked=True)
    timing = timing_of(row)
    policy = MisfirePolicy(row.misfire)
    if retry_tick is not None and not row.concurrent:
        return Tick([retry_tick], within_end(row, next_fire(timing, retry_tick)))
    one_at_a_time = not row.concurrent and policy is MisfirePolicy.FIRE_ALL
    assert row.next_fire_at is not None  # only schedules with a next fire are due
    after = retry_tick if retry_tick is not None else row.next_fire_at - 1
    if row.end_at is not None and now > row.end_at:
        # Plan as of the end, with the threshold shortened by as much: the same ticks are on time
        # or misfired as at `now`, and the latest misfired one is the latest before the end.
        threshold_ns = max(0, threshold_ns - (now - row.end_at))
        now = row.end_at
    decided = plan(
        timing,
        last_ns=after,
        now_ns=now,
        policy=policy,
        threshold_ns=threshold_ns,
        limit=1 if one_at_a_time else MAX_FIRES_PER_CLAIM,
    )
    fires = decided.fires if row.concurrent else decided.fires[-1:]
    if retry_tick is not None:
        fires = [retry_tick, *fires]
    fires = [f for f in fires if row.end_at is None or f <= row.end_at]
    return Tick(fires, within_end(row, decided.next_ns))


def settled(
    row: ScheduleRow,
    tick: Tick,
    *,
    recorded: list[int],
    failure: str | None,
    now: int,
    policy: FailurePolicy,
) -> dict[str, object]:
    """The schedule's columns after its fires were tried: all recorded (`failure` None), or
    `recorded` then one that failed with `failure`."""
    if tick.blocked:
        return {"state": TriggerState.BLOCKED.value}
    last = max([row.last_fire_at or 0, *recorded]) or None
    if failure is None:
        values: dict[str, object] = {
            "next_fire_at": tick.next_ns,
            "state": (
                TriggerState.NORMAL if tick.next_ns is not None else TriggerState.COMPLETE
            ).value,
            "last_fire_at": last,
        }
        if row.failed_job_state is not None or row.failure_count:
            values.update(
                failure_count=0,
                failed_job_state=None,
                failed_job_created_at=None,
                failed_job_updated_at=None,
            )
        return values
    failures = row.failure_count + 1
    values = {
        "last_fire_at": last,
        "failure_count": failures,
        "last_error": failure[:MAX_ERROR_CHARS],
        "failed_job_created_at": row.failed_job_created_at or now,
        "failed_job_updated_at": now,
    }
    if failures >= policy.max_failures:
        values.update(failed_job_state="quit", state=TriggerState.ERROR.value, next_fire_at=None)
    else:
        values.update(failed_job_state="queued", next_fire_at=now + policy.delay(failures))
    return values
