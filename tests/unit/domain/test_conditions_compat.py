"""The community JsonLogic suite (json-logic/compat-tables), with Tidings' deviations pinned.

Source: `json-logic/compat-tables:suites/` at ee046c743a548bfaf08afbf7afed299e7bf1305a (suite
files last changed in 81cbc477147dee706fa053fab69b307518c8f1e9; Apache-2.0), copied file for file
from shared/conformance/jsonlogic/compat-tables into tests/conformance/jsonlogic/compat-tables so
that a clean clone runs it. MANIFEST pins each file's sha256: the copy is never edited.

How a case is judged: a `result` must come back exactly (floats approximately where the case says
`"decimal": true`); an `error` must be raised as an `EvaluationError` carrying that error value —
except that an expected `{"type": "Invalid Arguments"}` is also met by a `ConditionError` at
compile time, since Tidings refuses such a rule when it is saved (the same verdict, earlier; the
count of those is pinned below). A case in DEVIATIONS must give the answer written there instead,
which is not the suite's: fixing one or breaking another fails. docs/conditions.md lists the
deviations for users, with the same reasons.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from tidings.domain.conditions import ConditionError, EvaluationError, compile_condition
from tidings.domain.json import JSONValue

SUITE = Path(__file__).resolve().parents[2] / "conformance" / "jsonlogic" / "compat-tables"
# `sha256sum` lines, so that `sha256sum -c` can check the copy too.
MANIFEST_LINES = """\
2f838e86db4c20a3be38f10bad8f534a09228111f6adcd4b5dfdd831985f5bc3  additional.json
8260b93d765e4b0d52fc849c933f3efb67c3f7719d015db58f538d9dea2c6965  arithmetic/divide.extra.json
d008e915013aed0e8faa6a6f6f04c3bfa50a97c3452eedc4e15f6b1851e51a9c  arithmetic/divide.json
d1a79871863cfdddc9a4678ff78d504e9cb6913eb9513dab34cbfb891d1e6c22  arithmetic/minus.extra.json
efe33c59f19a7357f4084aa47cffe5983cdde1ef6e50ea209cb53cdf55498d06  arithmetic/minus.json
3c2927148122359020c8237527631d0f2fb7d8c2bf1e87a7a97ec7a341d2fb23  arithmetic/modulo.extra.json
452424c6db3836deede6880cce29a52e90f234dbd1f3ed681b51f3a96d81eda0  arithmetic/modulo.json
18beacb29e2ee9acd5e3e1ad83262f2e5d30e9d2bad4a7fe1693d071d3e62438  arithmetic/multiply.extra.json
0fb95eb5911dabf0f9a1c5cacf86a05b159c36a6cbf1d0381b7370f91074d4f7  arithmetic/multiply.json
901a192356e7054b7407d942b12363bf1dca65ddc68ae2bd110c18f151bfb0cd  arithmetic/plus.extra.json
c74c9140b592be865b499976752ddbb6b2255cc6247ef24719e29059b4ff4f61  arithmetic/plus.json
03d94fcbba43a83ef5ddc445b9a875b5fcef26e4840fd1cd11caa4e07d6823b5  array/all.json
dcf52671e556dc7e187885fa21b4b2be6ddd13b73980f79e3e7bcbb4011379b8  array/filter.json
c490641b1cdfab9b0651874d9a4e87a45f9046f9f39a51204368c1a702fea058  array/map.json
4fb510ef41b9be5735dee54235766b690c7c09f6b419287b8e01fc3828aeb24c  array/merge.json
2de5a142e68aa63ff508836ff6095fa57efcd8efb137f64a59339125aaf70a54  array/none.json
92bfe0f4cda3197b3b7f545f637d88433578061137c369a385534f7c4046afc3  array/reduce.json
f8cea2fa4a008228bdb12491f9238baabb0f6765ee54873ae8277ba6ab474436  array/some.json
8715bdf4ca627459af1ec104d03358290e32d8bed59656760ac7e7fba387e75d  chained.json
a26c2fbcb17932dab2d1d09943f4a2b39609b4629a90013316bfbe76dbeb3caa  coalesce.json
4479da73edb665c384a0d159673a44184ced8b185937123073c56c6616cdbc11  comparison/greaterThan.json
85c44391bd3fb813dc7933b117f2fe7546af5d5ef0ce87f7874b8688b9c9fbe8  comparison/greaterThanEquals.json
8a31db7c9c5b314ad257d8c186482a06eb719801f092c7c1ab2ce95ee6a753e8  comparison/lessThan.json
a854616e7545c7297f944e8f93b9f43c4cd71161cb59e8731d287d45e3bf75ae  comparison/lessThanEquals.json
baf5bddc7aed61e25fba59a2cb1014898125abb81ecd4d09600d13bce63c2f05  comparison/softEquals.json
c80313bca70c73a94b60896b8348d4ed2a4c22305eee781358917787a1d9aeaa  comparison/softNotEquals.json
3bb0f3496e4a045e9569a009c10ae669a2eeeab62d6274ec9f63a61732faf076  comparison/strictEquals.json
233f99f20c411569172b72b58cc1b6b9b0469e0cd6f059b7ec08826a902847e8  comparison/strictNotEquals.json
883b7b241969803ffe0112b1ac52722d3386e6c68ed7d8220f3f27a097808d72  compatible.json
424ef7bab74d4d01207b9906e7f547f4b51801f251159e0c12829040c1c6b1a3  control/and.json
6d523a4c0cb014569d5a5fa45ee8eea40e306b14df51c2f20859db732fef86c7  control/doublebang.json
b5bbdd0117a00465f6c891f22a348c413a2de20971658888c6071c01eab84790  control/if.json
8747013b4de15d8df435b7d27b77951ea6fbfe2adf7d2edacd8b8033b1a1095e  control/not.json
09e9fb37b440e343cac7d9f557408a67f1b52c1257ff1ea279750f183658bc81  control/or.json
cd7c3a12ede1734729c6d76818205dfb3595296659e31f8959ab79195c36c327  exists.json
8b5f282054c6ded189df1d4455854fd824c338bb182b4655c01b8d502153a886  index.json
50f706109490fae007a6254f5fda3e0d82ff4e75f7eac8be9e9fd2058b2b5a5a  iterators.extra.json
db49a16d377642cf0f767da2eb10a0b5b1e82cde162f0519b28c534699cde0fe  scopes.json
69465974333d839323600fc2654042e8ad1e33700dca479d90f0c6084640f6be  string/cat.json
9c159cd6757b823e0bf5c3b12fadabb56a3750357352658bb101fa06f33a4fd1  string/in.json
e2325a33c1408659f64ccec413acf68c8bcd873f51b871a1944d50fb5374bcb3  string/substr.json
74ea12f6086b8ec3f3594981deb66b5b2af78accd11f1c3c7b1c3e897ba72ddd  throw.json
bf764b79e84940106708c8c96622e0e47814bcccd16944039646428fc781e81f  truthiness.json
799db288760ba515d91eb8b7faeccf9fa7add13ffe2f37c184a2d26df9dddeea  try.extra.json
bc94c400a916cb7f6cc758376c1a706a94343e91bf6dccdfe78ae290f338c4bd  try.json
baa4d8ebc967fb5ff65678d718dadcfb2950c47235262c9721c66263c47460bb  val-compat.json
549704a3b129bd074ab38e7047b6cfbb55d569ba1afd11f00ab5ea4f09fe8832  val.extra.json
499ea596e96967bf9ee3099a75e008ff9d5280d84270e7a3024d6e097e73b056  val.json
86dfe7b375543f223e5bf820d568311a23172830b0d507ea13270ec86ac01f0d  var.extra.json
"""
MANIFEST = {
    path: digest for digest, path in (line.split("  ") for line in MANIFEST_LINES.splitlines())
}
FILES: list[str] = json.loads((SUITE / "index.json").read_text())
INVALID_ARGUMENTS: JSONValue = {"type": "Invalid Arguments"}

# The reasons, one per group; docs/conditions.md ("Deviations from the community suite") says
# the same to users.
JS_COMPARISON = (
    "a comparison answers as JavaScript's (json-logic-js, the official suite) and never fails; "
    "the suite raises NaN when a side is no number"
)
JS_NULL = "JavaScript's ==: null equals only null (json-logic-js); the suite treats null as 0"
EMPTY_ITEMS = (
    "a missing array is an empty one for every iterator, as the suite has it for map, filter "
    "and reduce; the suite raises for all, some and none"
)

# (file, index in the file) -> (the case's description, our answer, why it differs).
DEVIATIONS: dict[tuple[str, int], tuple[str, JSONValue, str]] = {
    ("comparison/greaterThan.json", 16): ("> with (2023n, 2024-01-01s)", False, JS_COMPARISON),
    ("comparison/greaterThan.json", 24): ("> with (1n, As)", False, JS_COMPARISON),
    ("comparison/greaterThan.json", 31): ("> with [] and [1]", False, JS_COMPARISON),
    ("comparison/greaterThan.json", 32): ("> with [1] and 5", False, JS_COMPARISON),
    ("comparison/greaterThan.json", 33): ("> with {} and 1", False, JS_COMPARISON),
    ("comparison/greaterThan.json", 34): ("> with 1 and {}", False, JS_COMPARISON),
    ("comparison/greaterThanEquals.json", 16): (">= with (1n, As)", False, JS_COMPARISON),
    ("comparison/greaterThanEquals.json", 17): (">= with (1n, As)", False, JS_COMPARISON),
    ("comparison/greaterThanEquals.json", 24): (">= with [] and [1]", False, JS_COMPARISON),
    ("comparison/greaterThanEquals.json", 25): (">= with [1] and 5", False, JS_COMPARISON),
    ("comparison/greaterThanEquals.json", 26): (">= with {} and 1", False, JS_COMPARISON),
    ("comparison/greaterThanEquals.json", 27): (">= with 1 and {}", False, JS_COMPARISON),
    ("comparison/lessThan.json", 16): ("< with (2023n, 2024-01-01s)", False, JS_COMPARISON),
    ("comparison/lessThan.json", 34): ("< with (1n, As)", False, JS_COMPARISON),
    ("comparison/lessThan.json", 41): ("< with [] and [1]", True, JS_COMPARISON),  # "" < "1"
    ("comparison/lessThan.json", 42): ("< with [1] and 5", True, JS_COMPARISON),  # 1 < 5
    ("comparison/lessThan.json", 43): ("< with {} and 1", False, JS_COMPARISON),
    ("comparison/lessThan.json", 44): ("< with 1 and {}", False, JS_COMPARISON),
    ("comparison/lessThanEquals.json", 1): ("<= with (2023n, 2024-01-01s)", False, JS_COMPARISON),
    ("comparison/lessThanEquals.json", 9): ("<= with (1n, As)", False, JS_COMPARISON),
    ("comparison/lessThanEquals.json", 16): ("<= with [] and [1]", True, JS_COMPARISON),
    ("comparison/lessThanEquals.json", 17): ("<= with [1] and 5", True, JS_COMPARISON),
    ("comparison/lessThanEquals.json", 18): ("<= with {} and 1", False, JS_COMPARISON),
    ("comparison/lessThanEquals.json", 19): ("<= with 1 and {}", False, JS_COMPARISON),
    ("comparison/softEquals.json", 16): ("== with (2023n, 2024-01-01s)", False, JS_COMPARISON),
    ("comparison/softEquals.json", 24): ("== with (1n, As)", False, JS_COMPARISON),
    ("comparison/softEquals.json", 27): ("== with (null, 0)", False, JS_NULL),
    ("comparison/softEquals.json", 31): ("== with [] and [1]", False, JS_COMPARISON),
    ("comparison/softEquals.json", 32): ("== with [1] and 5", False, JS_COMPARISON),
    ("comparison/softEquals.json", 33): ("== with {} and 1", False, JS_COMPARISON),
    ("comparison/softEquals.json", 34): ("== with 1 and {}", False, JS_COMPARISON),
    ("comparison/softNotEquals.json", 15): ("!= with (2023n, 2024-01-01s)", True, JS_COMPARISON),
    ("comparison/softNotEquals.json", 23): ("!= with (1n, As)", True, JS_COMPARISON),
    ("comparison/softNotEquals.json", 26): ("!= with (null, 0)", True, JS_NULL),
    ("comparison/softNotEquals.json", 30): ("!= with [] and [1]", True, JS_COMPARISON),
    ("comparison/softNotEquals.json", 31): ("!= with [1] and 5", True, JS_COMPARISON),
    ("comparison/softNotEquals.json", 32): ("!= with {} and 1", True, JS_COMPARISON),
    ("comparison/softNotEquals.json", 33): ("!= with 1 and {}", True, JS_COMPARISON),
    ("array/all.json", 9): ("Missing array returns error", False, EMPTY_ITEMS),
    ("array/some.json", 9): ("Missing array returns error", False, EMPTY_ITEMS),
    ("array/none.json", 9): ("Missing array returns error", True, EMPTY_ITEMS),
}


@dataclass(frozen=True)
class Outcome:
    """What compiling and evaluating one case gave."""

    kind: Literal["result", "error", "refused"]
    value: JSONValue


def _cases(name: str) -> list[tuple[int, dict[str, JSONValue]]]:
    entries: list[JSONValue] = json.loads((SUITE / name).read_text())
    return [(i, case) for i, case in enumerate(entries) if isinstance(case, dict)]


def _run(case: dict[str, JSONValue]) -> Outcome:
    try:
        condition = compile_condition(case["rule"])
    except ConditionError as error:
        return Outcome("refused", str(error))
    try:
        return Outcome("result", condition.evaluate(case.get("data")))
    except EvaluationError as error:
        return Outcome("error", error.error)


def _same(got: JSONValue, expected: JSONValue, *, decimal: bool = False) -> bool:
    """Deep JSON equality that tells true from 1; floats approximately when `decimal`."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return isinstance(got, bool) and isinstance(expected, bool) and got == expected
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(
            _same(g, e, decimal=decimal) for g, e in zip(got, expected, strict=True)
        )
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(
            _same(got[k], expected[k], decimal=decimal) for k in got
        )
    if isinstance(got, int | float) and isinstance(expected, int | float):
        return math.isclose(got, expected, rel_tol=1e-9) if decimal else got == expected
    return type(got) is type(expected) and got == expected


def _passes(case: dict[str, JSONValue], outcome: Outcome) -> bool:
    if "result" in case:
        decimal = case.get("decimal") is True
        return outcome.kind == "result" and _same(outcome.value, case["result"], decimal=decimal)
    if outcome.kind == "refused":  # refused when saved: the suite's verdict, earlier
        return _same(case["error"], INVALID_ARGUMENTS)
    return outcome.kind == "error" and _same(outcome.value, case["error"])


def test_the_vendored_suite_is_unedited_and_whole() -> None:
    on_disk = {
        str(path.relative_to(SUITE)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in SUITE.rglob("*")
        if path.is_file()
    }
    assert on_disk == MANIFEST
    assert sorted(FILES) == sorted(name for name in MANIFEST if name != "index.json")
    assert sum(len(_cases(name)) for name in FILES) == 1138


@pytest.mark.parametrize("name", FILES)
def test_community_suite_file(name: str) -> None:
    wrong: list[str] = []
    for index, case in _cases(name):
        outcome = _run(case)
        deviation = DEVIATIONS.get((name, index))
        if deviation is None:
            if not _passes(case, outcome):
                wrong.append(f"#{index} {case['description']}: {outcome}")
            continue
        description, ours, _reason = deviation
        if case["description"] != description or outcome != Outcome("result", ours):
            wrong.append(f"#{index} {case['description']}: {outcome}, documented {ours!r}")
        elif _passes(case, outcome):
            wrong.append(f"#{index} {case['description']} passes: drop its deviation")
    assert wrong == []


def test_the_tally_of_passes_refusals_and_deviations() -> None:
    outcomes = [(name, index, case, _run(case)) for name in FILES for index, case in _cases(name)]
    refused = [o for _n, _i, case, o in outcomes if o.kind == "refused" and _passes(case, o)]
    passed = [(n, i) for n, i, case, o in outcomes if _passes(case, o)]
    assert (len(outcomes), len(passed), len(refused), len(DEVIATIONS)) == (1138, 1097, 82, 41)
    assert set(passed).isdisjoint(DEVIATIONS)
