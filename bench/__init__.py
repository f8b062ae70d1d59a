"""Benchmarks: each prints its figure beside a baseline measured in the same run, and the ratio.

Run one with `python -m bench.<name>` (each has `--help`), or all of them with
`python -m bench.run_all` (`make bench`). Results are recorded in BENCHMARKS.md.
"""
