"""Run every benchmark in sequence with its default (target-sized) parameters: `make bench`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bench import (
    action_latency,
    batch_ingest,
    conditions,
    delivery_latency,
    delivery_lease_recovery,
    delivery_throughput,
    dialect_latency,
    execution_throughput,
    grpc_vs_rest,
    ingest_memory,
    list_latency,
    result_storage,
    schedule_fires,
    single_ingest,
)

BENCHMARKS: tuple[tuple[str, Callable[[Sequence[str] | None], None]], ...] = (
    ("batch_ingest", batch_ingest.main),
    ("single_ingest", single_ingest.main),
    ("list_latency", list_latency.main),
    ("dialect_latency", dialect_latency.main),
    ("ingest_memory", ingest_memory.main),
    ("grpc_vs_rest", grpc_vs_rest.main),
    ("conditions", conditions.main),
    ("execution_throughput", execution_throughput.main),
    ("action_latency", action_latency.main),
    ("result_storage", result_storage.main),
    ("schedule_fires", schedule_fires.main),
    ("delivery_throughput", delivery_throughput.main),
    ("delivery_latency", delivery_latency.main),
    ("delivery_lease_recovery", delivery_lease_recovery.main),
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run each benchmark's `main` with no arguments, and say how long each took."""
    del argv
    for name, run in BENCHMARKS:
        began = time.perf_counter()
        run([])
        print(f"({name} took {time.perf_counter() - began:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
