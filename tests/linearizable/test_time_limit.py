"""The overall time limit (issue 16) bounds the whole check: reading, pairing and compiling too, and
parts already decided keep their verdicts when it runs out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import checker.linearizable.search as search_module
import checker.linearizable.walk as walk_module
from checker.api import CheckOptions, check
from checker.linearizable import check_events
from checker.linearizable.models import K_READ, K_WRITE
from tests.linearizable.test_budget import _hard_part

ROOT = Path(__file__).resolve().parents[2]


def _easy_events(n_ops: int, keys: int) -> list[dict]:
    """n_ops sequential put-then-get pairs spread over `keys` keys: trivially linearizable."""
    rows: list[dict] = []
    for i in range(n_ops):
        key, p = f"k{i % keys}", i % 8
        rows.append({"process": p, "type": "invoke", "f": "put", "key": key, "value": i})
        rows.append({"process": p, "type": "ok", "f": "put", "key": key, "value": i})
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_limit_running_out_while_reading_is_unknown_naming_the_reading(tmp_path: Path) -> None:
    """A limit too small to read the file ends the check while reading: unknown, the phase and line named."""
    history = _write(tmp_path / "history.jsonl", _easy_events(20_000, 50))
    result = check(history, CheckOptions(checkers=("linearizable",), model="kv", time_limit=1e-6))
    assert result.valid == "unknown"
    (unknown,) = result.unknown
    assert "the overall time limit of 1e-06 s ran out while reading the history (line " in unknown["reason"]
    assert "of 40,000 lines" not in unknown["reason"]  # it stopped before the end
    assert result.results["checker"] == "linearizable" and result.linearizable is not None


def test_limit_running_out_while_parsing_an_edn_history_is_unknown_naming_the_line(tmp_path: Path) -> None:
    """An EDN history is parsed under the limit too: unknown, the reading phase and an EDN line named."""
    rows = [
        f"{{:process {i % 8}, :type :{t}, :f :write, :value {i}}}" for i in range(20_000) for t in ("invoke", "ok")
    ]
    history = tmp_path / "history.edn"
    history.write_text("\n".join(rows) + "\n")
    result = check(history, CheckOptions(checkers=("linearizable",), model="register", time_limit=1e-6))
    assert result.valid == "unknown"
    (unknown,) = result.unknown
    assert "ran out while reading the history (line " in unknown["reason"] and "EDN" in unknown["reason"]


def test_cli_exits_2_when_the_limit_runs_out_while_reading(tmp_path: Path) -> None:
    """harness.py check ends promptly with exit 2 and the reading phase named, not a verdict or a crash."""
    history = _write(tmp_path / "history.jsonl", _easy_events(20_000, 50))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "harness.py"), "check", str(history), "--checker", "linearizable",
         "--model", "kv", "--time-limit", "0.000001"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "ran out while reading the history" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_limit_running_out_while_compiling_is_unknown_naming_the_phase() -> None:
    """Given events in memory and a tiny limit, the check stops while pairing/compiling and says so."""
    result = check_events(_easy_events(100_000, 50), "kv", time_limit=1e-6)
    assert result["valid"] == "unknown"
    (unknown,) = result["unknown"]
    assert "ran out while pairing and compiling the operations (event " in unknown["reason"]
    assert result["stats"]["parts"] == 0


def test_the_general_path_also_stops_at_the_limit_while_pairing() -> None:
    """A history the direct path does not take (cas-register with an observed failed cas) stops while pairing."""
    rows = []
    for i in range(100_000):
        rows.append({"process": 0, "type": "invoke", "f": "write", "value": i})
        rows.append({"process": 0, "type": "ok", "f": "write", "value": i})
    result = check_events(rows, "cas-register", fail_cas="observed", time_limit=1e-6)
    assert result["valid"] == "unknown"
    assert "ran out while pairing and compiling the operations" in result["unknown"][0]["reason"]


def test_easy_parts_keep_their_verdicts_when_a_hard_part_uses_up_the_limit() -> None:
    """Many small parts and one intractable, larger part under an overall limit: the small ones are valid,
    only the hard one is unknown (it does not hold the others back)."""
    easy = _easy_events(60, 30)  # 30 keys of 2 puts each
    hard = [{**r, "process": r["process"] + 100} for r in _hard_part(24, "hard")]
    result = check_events(hard + easy, "kv", time_limit=1.5, workers=1)
    verdicts = {p["key"]: p["valid"] for p in result["stats"]["per_part"]}
    assert verdicts.pop("hard") == "unknown"
    assert set(verdicts.values()) == {True}, verdicts
    assert result["valid"] == "unknown"
    assert [u["key"] for u in result["unknown"]] == ["hard"]
    assert "overall time limit of 1.5 s ran out" in result["unknown"][0]["reason"]


def test_unknown_part_of_the_direct_path_is_reported_as_the_general_path_reports_it() -> None:
    """An unknown part reported from the direct path's arrays (no second pairing) says what the general path says."""
    hard = _hard_part(12, "hard")
    hard.insert(5, {"process": 50, "type": "invoke", "f": "put", "value": "x", "key": "hard"})
    hard.append({"process": 50, "type": "info", "f": "put", "value": "x", "key": "hard"})
    rows = hard + [{**r, "process": 60} for r in _easy_events(3, 1)]
    direct = check_events(rows, "kv", memory_budget=50_000, workers=1)
    general = check_events(rows, "kv", memory_budget=50_000, workers=1, fail_cas="observed")  # (no direct path)
    assert direct["valid"] == general["valid"] == "unknown"
    strip = [{k: v for k, v in u.items() if k not in ("seconds", "explanation")} for u in direct["unknown"]]
    assert strip == [{k: v for k, v in u.items() if k not in ("seconds", "explanation")} for u in general["unknown"]]
    assert strip[0]["must_place"] == 13 and strip[0]["reached_index"] is not None


def test_unknown_facts_from_arrays_match_the_operations_for_every_operation() -> None:
    """For each operation of a direct part (ok, info, never completed), the facts read from its arrays
    (must-take-effect count, completion index) are those of the general path's operations."""
    from checker.linearizable.check import _compile_general, _unknown_facts, direct_parts
    from checker.linearizable.models import Flags, make_model

    rows = [
        {"process": 0, "type": "invoke", "f": "put", "key": "a", "value": 1},
        {"process": 1, "type": "invoke", "f": "put", "key": "a", "value": 2},
        {"process": 9, "type": "invoke", "f": "put", "key": "a", "value": 3},
        {"process": 0, "type": "ok", "f": "put", "key": "a", "value": 1},
        {"process": "nemesis", "type": "info", "f": "start", "value": None},
        {"process": 1, "type": "info", "f": "put", "key": "a", "value": 2},
        {"process": 2, "type": "invoke", "f": "get", "key": "a", "value": None},
        {"process": 2, "type": "ok", "f": "get", "key": "a", "value": 3},
        {"process": 3, "type": "invoke", "f": "get", "key": "a", "value": None},
        {"process": 3, "type": "ok", "f": "get", "key": "a", "value": 2},
    ]
    for index, row in enumerate(rows):
        row["index"] = index * 10
    model, flags = make_model("kv"), Flags()
    direct = direct_parts(rows, model, flags)
    assert direct is not None
    arrays = direct.parts["a"]
    (general,) = _compile_general(rows, model, flags, None)[0]
    cops = general[2]
    assert len(cops) == len(arrays) == 5
    for i in range(len(arrays)):
        assert _unknown_facts(arrays, rows, i) == _unknown_facts(cops, rows, i)
    assert _unknown_facts(arrays, rows, None) == (3, None)
    assert {_unknown_facts(arrays, rows, i)[1] for i in range(5)} == {30, 50, None, 70, 90}


def _wide_part(pending: int, writes: int) -> tuple[list, list, list, list, list]:
    """`walk`'s arrays for `pending` reads of "x" invoked first and returning last, with `writes`
    sequential writes and then the write of "x" between: every placement passes all the reads."""
    call = list(range(pending))
    ret: list[int | None] = [0] * pending
    kinds = [K_READ] * pending
    va: list = ["x"] * pending
    pos = pending
    for value in [*range(writes), "x"]:
        call.append(pos)
        ret.append(pos + 1)
        kinds.append(K_WRITE)
        va.append(value)
        pos += 2
    for i in range(pending):
        ret[i] = pos + i
    return call, ret, kinds, va, [None] * len(call)


def _walk_copies() -> list:
    """The search loop as source, and compiled when a current compiled copy is built."""
    return list({id(w): w for w in (walk_module.walk, search_module.walk)}.values())


@pytest.mark.parametrize("walk", _walk_copies(), ids=lambda w: getattr(w, "__module__", "?"))
def test_the_search_looks_at_the_clock_by_work_done_not_by_placements(walk):
    """A deadline already past stops the search within a few placements when each placement passes
    thousands of pending operations (it used to look only every 1,024 placements, however wide)."""
    for pending, writes, deadline in ((4000, 1100, 0.0), (50, 20, None)):
        arrays = _wide_part(pending, writes)
        n = len(arrays[0])
        valid, why, cached, *_ = walk(*arrays, search_module._bits(n), 1 << n, None, deadline, None, None, None)
        if deadline is None:  # (such a part, small, without a deadline: decided, each operation placed once)
            assert (valid, why, cached) == (True, walk_module.DONE, n + 1)
            continue
        assert (valid, why) == ("unknown", walk_module.TIME)
        assert cached < 100, cached  # (a few: POLL_WORK entries; 1,025 before, 4 million entries looked at)
