"""Condition evaluation: our compiled JsonLogic against `panzi-json-logic`, in the same run.

Target (issue 4): evaluating conditions is at least 3 times faster than `panzi-json-logic` on the
official suite's rules. Each of the suite's 277 cases is evaluated `--rounds` times by both,
on its own data; ours compiles each rule once beforehand (as a rule is compiled when it is saved
and then evaluates every event), panzi interprets the rule tree on every call. Compiling is
timed too and reported on its own line, so the cost moved out of evaluation is visible.
Both answers are compared first: a case where the two disagree is reported and left out of the
timing (panzi follows the reference implementation, so there should be none or a few).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from json_logic import jsonLogic

from bench import report
from tidings.domain.conditions import compile_condition

SUITE = Path(__file__).resolve().parents[1] / "tests" / "conformance" / "jsonlogic" / "tests.json"
TARGET = 3.0


def main(argv: Sequence[str] | None = None) -> None:
    """Time both evaluators over the official suite."""
    parser = argparse.ArgumentParser(prog="python -m bench.conditions", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2_000, help="evaluations per case")
    args = parser.parse_args(argv)
    cases: list[Any] = [c for c in json.loads(SUITE.read_text()) if isinstance(c, list)]
    report.header("conditions: compiled JsonLogic vs panzi-json-logic on the official suite")

    began = time.perf_counter()
    compiled = [compile_condition(rule) for rule, _data, _expected in cases]
    compile_seconds = time.perf_counter() - began

    agreed = []
    for condition, (rule, data, _expected) in zip(compiled, cases, strict=True):
        if condition.evaluate(data) == jsonLogic(rule, data):
            agreed.append((condition, rule, data))
    print(f"  {len(agreed)} of {len(cases)} cases answered alike (the others are not timed)")

    began = time.perf_counter()
    for _ in range(args.rounds):
        for condition, _rule, data in agreed:
            condition.evaluate(data)
    ours = time.perf_counter() - began

    began = time.perf_counter()
    for _ in range(args.rounds):
        for _condition, rule, data in agreed:
            jsonLogic(rule, data)
    theirs = time.perf_counter() - began

    evaluations = args.rounds * len(agreed)
    print(f"  compiling all {len(cases)} rules once: {compile_seconds * 1e3:.2f} ms")
    for name, seconds in (("ours: ", ours), ("panzi:", theirs)):
        each_us = seconds / evaluations * 1e6
        print(f"  {name} {evaluations / seconds:,.0f} evaluations/s ({each_us:.2f} µs each)")
    speedup = theirs / ours
    verdict = "PASS" if speedup >= TARGET else "FAIL"
    print(f"  speed-up: {speedup:.1f}x (target >= {TARGET:.0f}x: {verdict})")


if __name__ == "__main__":
    main()
