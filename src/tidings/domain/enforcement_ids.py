"""Enforcement ids, and the compact record of the rules an event did not match.

An event of a trigger with a hundred rules has a hundred enforcements, and usually ninety-nine of
them say only "this rule's condition failed". Written as rows of the indexed enforcements table
they were most of ingest's cost (BENCHMARKS.md, §10), so ingest writes a row only for a rule
that passed (it has a lifecycle: scheduled, running, completed…) and records the others of the
event in one compact row: which rule set was evaluated (the trigger's rules, in order, stored
once), a letter per rule for its outcome, and the failed clauses. The enforcements API expands
that row back into Attune's enforcement objects, so every evaluation is still on record.

Both kinds need ids from one space that sort like the history they describe, without a row per
enforcement to draw them from. So an enforcement's id is computed: the event's id shifted left
by POSITION_BITS, plus the rule's position in the rule set evaluated. Ids ascend with events and
within an event by position; a trigger holds at most MAX_RULES_PER_TRIGGER rules; and ids stay
below 2**53 (exact in JavaScript) until event ids pass 2**37.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

from tidings.domain.automation import ConditionOutcome

POSITION_BITS = 16
MAX_RULES_PER_TRIGGER = 1 << POSITION_BITS
_POSITION_MASK = MAX_RULES_PER_TRIGGER - 1

# One letter per rule of the rule set: how the event's evaluation of it came out.
OUTCOME_LETTER: dict[ConditionOutcome, str] = {
    ConditionOutcome.PASSED: "P",
    ConditionOutcome.FAILED: "F",
    ConditionOutcome.SKIPPED: "S",
}
LETTER_OUTCOME: dict[str, ConditionOutcome] = {v: k for k, v in OUTCOME_LETTER.items()}
PASSED_LETTER = OUTCOME_LETTER[ConditionOutcome.PASSED]


def enforcement_id(event_id: int, position: int) -> int:
    """The id of the enforcement of the rule at `position` for the event `event_id`."""
    if not 0 <= position < MAX_RULES_PER_TRIGGER:
        raise ValueError(f"rule position {position} is outside 0..{MAX_RULES_PER_TRIGGER - 1}")
    return (event_id << POSITION_BITS) | position


def split_enforcement_id(value: int) -> tuple[int, int]:
    """(event id, rule position) of an enforcement id."""
    return value >> POSITION_BITS, value & _POSITION_MASK


def rule_set_digest(trigger_ref: str, rules: Sequence[tuple[int, str]]) -> str:
    """A content address for an ordered list of (rule id, rule ref) of one trigger: two
    evaluations over the same rules share one stored rule set."""
    blob = orjson.dumps([trigger_ref, [list(rule) for rule in rules]])
    return hashlib.sha256(blob).hexdigest()[:32]


def missed_positions(outcomes: str) -> list[int]:
    """Positions of the rules a compact record holds (all but those that passed), descending."""
    return [i for i in range(len(outcomes) - 1, -1, -1) if outcomes[i] != PASSED_LETTER]
