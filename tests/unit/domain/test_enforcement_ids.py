"""Enforcement ids computed from the event and the rule's position, and rule set digests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.enforcement_ids import (
    MAX_RULES_PER_TRIGGER,
    enforcement_id,
    missed_positions,
    rule_set_digest,
    split_enforcement_id,
)


@given(st.integers(1, 2**47 - 1), st.integers(0, MAX_RULES_PER_TRIGGER - 1))
def test_ids_split_back_into_event_and_position(event_id: int, position: int) -> None:
    assert split_enforcement_id(enforcement_id(event_id, position)) == (event_id, position)


@given(
    st.tuples(st.integers(1, 2**37), st.integers(0, MAX_RULES_PER_TRIGGER - 1)),
    st.tuples(st.integers(1, 2**37), st.integers(0, MAX_RULES_PER_TRIGGER - 1)),
)
def test_ids_sort_by_event_then_position(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert (enforcement_id(*a) < enforcement_id(*b)) == (a < b)


def test_ids_stay_exact_in_javascript_up_to_event_2_to_the_37() -> None:
    assert enforcement_id(2**37 - 1, MAX_RULES_PER_TRIGGER - 1) < 2**53


@pytest.mark.parametrize("position", [-1, MAX_RULES_PER_TRIGGER])
def test_positions_outside_the_trigger_limit_are_refused(position: int) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.65535"):
        enforcement_id(5, position)


def test_the_digest_names_the_ordered_rules_of_one_trigger() -> None:
    rules = [(1, "a.one"), (2, "a.two")]
    digest = rule_set_digest("a.t", rules)
    assert len(digest) == 32
    assert int(digest, 16) >= 0
    assert rule_set_digest("a.t", list(rules)) == digest
    assert rule_set_digest("a.t", rules[::-1]) != digest
    assert rule_set_digest("a.u", rules) != digest
    assert rule_set_digest("a.t", [(1, "a.one"), (2, "a.renamed")]) != digest


def test_missed_positions_are_the_letters_other_than_passed_newest_first() -> None:
    assert missed_positions("FPSF") == [3, 2, 0]
    assert missed_positions("PP") == []
    assert missed_positions("") == []
