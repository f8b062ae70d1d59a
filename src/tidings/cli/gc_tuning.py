"""Garbage-collector settings for long-running server processes.

CPython's cyclic collector runs a young-generation pass every 700 net allocations of container
objects and, every so often, a full pass over every object alive. A server that evaluates a
hundred rules per event allocates a few thousand containers per event, so those passes ran
hundreds of times a second, and the full ones walked the whole heap of compiled conditions,
templates, caches and imported modules each time. The action-latency benchmark's capacity run
gained about a tenth on both databases from this (BENCHMARKS.md §10).

Two standard remedies, both from the `gc` module: `gc.freeze()` once startup is done, which moves
everything alive then (modules, compiled catalogues, the app) out of the collector's sight for
good; and a higher young-generation threshold, so passes are rarer and each handles more
objects. Reference counting still frees almost everything at once; only objects in reference
cycles wait a little longer for a pass.
"""

from __future__ import annotations

import gc

# Container allocations between young-generation passes (CPython's default: 700), and how many
# passes of each generation before the next one up is collected (defaults: 10 and 10).
_THRESHOLDS = (50_000, 20, 100)


def tune_for_serving() -> None:
    """Collect what startup left behind, freeze the survivors, and raise the thresholds; call
    once, when the process has finished starting."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)
