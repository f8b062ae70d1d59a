"""The serving processes' collector settings: frozen startup objects, rarer young passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tidings.cli.gc_tuning import tune_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The collector as it was, afterwards (other tests run in this process)."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_frozen_and_young_passes_are_rarer() -> None:
    tune_for_serving()
    assert gc.get_freeze_count() > 1_000  # everything alive at the call: modules and all
    assert gc.get_threshold() == (50_000, 20, 100)
