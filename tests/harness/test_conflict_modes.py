"""Conflict modes in the harness: --conflict / --workload, the history header, the workloads, compare."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from checker.workloads import read_header
from runner.compare import parse_conflicts, siblings_figures
from runner.options import OptionError, RunOptions
from runner.run import run as run_test

ROOT = Path(__file__).resolve().parents[2]
SHORT = dict(time_limit=4.0, fault_interval=1.0, quiesce=1.5, rate=150.0, concurrency=6, keys=6,
             converge_timeout=8.0, mode="sim")


def short_options(tmp_path: Path, **changes: object) -> RunOptions:
    return RunOptions(**{**SHORT, "out": str(tmp_path), "seed": 5, **changes})  # type: ignore[arg-type]


def history_lines(run_dir: Path) -> list[dict]:
    return [orjson.loads(line) for line in (run_dir / "history.jsonl").read_bytes().splitlines()]


def harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("changes, words", [
    ({"workload": "set"}, "--workload set needs --conflict crdt"),
    ({"workload": "counter", "conflict": "siblings"}, "--workload counter needs --conflict crdt"),
    ({"conflict": "sibling"}, "--conflict: unknown 'sibling' (did you mean 'siblings'?)"),
    ({"workload": "sets", "conflict": "crdt"}, "--workload: unknown 'sets' (did you mean 'set'?)"),
])
def test_conflict_and_workload_are_validated_naming_what_to_use(changes: dict, words: str) -> None:
    """An unknown mode or a set/counter workload without crdt is refused on construction, saying what to use."""
    with pytest.raises(OptionError) as caught:
        RunOptions(**changes)
    assert words in str(caught.value)
    if "needs" in words:
        assert "use --conflict crdt --workload" in str(caught.value)


def test_conflict_flags_exit_254_with_one_line() -> None:
    """harness.py run --workload set (without --conflict crdt) exits 254 with one line naming the fix."""
    done = harness("run", "--mode", "sim", "--workload", "set", "--time-limit", "1")
    assert done.returncode == 254
    assert done.stderr.strip().splitlines() == [
        "error: --workload set needs --conflict crdt (its OR-set is a CRDT type); got --conflict lww; "
        "use --conflict crdt --workload set"]


def test_conflict_and_workload_round_trip_through_run_json() -> None:
    """The options a replay restores keep --conflict and --workload; an old run.json without them means lww/register."""
    options = RunOptions(conflict="crdt", workload="counter")
    assert RunOptions.from_json(options.to_json()) == options
    old = RunOptions().to_json()
    del old["conflict"], old["workload"]
    assert (RunOptions.from_json(old).conflict, RunOptions.from_json(old).workload) == ("lww", "register")


def test_compare_refuses_a_repeated_or_unknown_mode() -> None:
    """compare --conflict takes each known mode once."""
    assert parse_conflicts("lww, siblings,crdt") == ("lww", "siblings", "crdt")
    with pytest.raises(OptionError, match="each mode once"):
        parse_conflicts("lww,lww")
    with pytest.raises(OptionError, match="unknown 'lw'"):
        parse_conflicts("lw")


def test_an_lww_run_starts_with_the_header_and_is_otherwise_unchanged(tmp_path: Path) -> None:
    """The default run's history starts with the lww/register header (no index) and checks valid as before."""
    result = run_test(short_options(tmp_path), ["test"], report=False)
    lines = history_lines(result.run_dir)
    assert lines[0] == {"history": 1, "conflict": "lww", "workload": "register", "meta": {"system": "minikeydb"}}
    assert lines[1]["index"] == 0
    assert read_header(result.run_dir / "history.jsonl").system == "minikeydb"
    assert result.results["valid"] is True
    assert json.loads((result.run_dir / "run.json").read_text())["options"]["conflict"] == "lww"


def test_siblings_figures_count_created_resolved_and_stale_from_a_history(tmp_path: Path) -> None:
    """Siblings created/resolved and stale gets are measured from the events, per docs/HISTORY.md's example."""
    events = [
        {"history": 1, "conflict": "siblings", "workload": "register"},
        {"index": 0, "process": 0, "type": "invoke", "f": "put", "key": "k", "value": "a"},
        {"index": 1, "process": 0, "type": "ok", "f": "put", "key": "k", "value": "a"},
        {"index": 2, "process": 1, "type": "invoke", "f": "put", "key": "k", "value": "b"},
        {"index": 3, "process": 1, "type": "ok", "f": "put", "key": "k", "value": "b"},
        {"index": 4, "process": 2, "type": "invoke", "f": "get", "key": "k", "value": None},
        {"index": 5, "process": 2, "type": "ok", "f": "get", "key": "k", "value": ["a"]},  # missed b: stale
        {"index": 6, "process": 2, "type": "invoke", "f": "get", "key": "k", "value": None},
        {"index": 7, "process": 2, "type": "ok", "f": "get", "key": "k", "value": ["a", "b"]},
        {"index": 8, "process": 2, "type": "invoke", "f": "put", "key": "k", "value": "c", "context_from": 7},
        {"index": 9, "process": 2, "type": "ok", "f": "put", "key": "k", "value": "c", "context_from": 7},
        {"index": 10, "process": 3, "type": "invoke", "f": "get", "key": "k", "value": None},
        {"index": 11, "process": 3, "type": "ok", "f": "get", "key": "k", "value": ["c"]},  # a, b superseded
    ]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    assert siblings_figures(path) == {"siblings_created": 2, "siblings_resolved": 2, "stale_reads": 1}


def test_a_siblings_run_records_contexts_and_gets_a_valid_siblings_verdict(tmp_path: Path) -> None:
    """A sim run with --conflict siblings under clock skew: lists of siblings, puts resolving with context_from, valid."""
    result = run_test(short_options(tmp_path, conflict="siblings", nemesis=("clock-skew",)), ["test"], report=False)
    lines = history_lines(result.run_dir)
    assert lines[0]["conflict"] == "siblings"
    by_index = {e["index"]: e for e in lines[1:]}
    resolving = [e for e in lines[1:] if e.get("context_from") is not None and e["type"] == "invoke"]
    assert resolving, "no put or delete carried a context"
    for e in resolving:
        seen = by_index[e["context_from"]]
        assert (seen["f"], seen["type"], seen["key"]) == ("get", "ok", e["key"]) and seen["index"] < e["index"]
    assert all(isinstance(e["value"], list) for e in lines[1:] if e.get("f") == "get" and e["type"] == "ok")
    assert result.results.get("rule") == "siblings", result.results.get("rule")
    assert result.results["valid"] is True, result.results["anomalies"][:3]
    assert result.final.converged


@pytest.mark.parametrize("workload, fs", [("set", {"add", "remove", "read"}), ("counter", {"incr", "decr", "read"})])
def test_crdt_runs_are_valid_under_partition_and_crash(tmp_path: Path, workload: str, fs: set[str]) -> None:
    """Sets and counters under --conflict crdt with partitions and crashes: their operations, final reads, valid."""
    result = run_test(short_options(tmp_path, conflict="crdt", workload=workload, nemesis=("partition", "crash")),
                      ["test"], report=False)
    lines = history_lines(result.run_dir)
    assert lines[0]["workload"] == workload
    ops = Counter(e["f"] for e in lines[1:] if e.get("process") != "nemesis")
    assert set(ops) == fs, ops
    finals = [e for e in lines[1:] if e.get("final") and e["type"] == "ok"]
    assert finals and all(isinstance(e["value"], list if workload == "set" else int) for e in finals)
    assert result.results["valid"] is True, result.results["anomalies"][:3]


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_final_reads_wait_until_nothing_is_queued_or_hinted(tmp_path: Path) -> None:
    """With no quiescence wait (compare's default) a correct counter is valid: the final reads start once no
    node holds a queued or hinted record (replicas that agreed while hints still waited elsewhere read
    counts missing acknowledged increments: counter-out-of-bounds on a correct store), and the wait is
    measured."""
    options = RunOptions(mode="sim", conflict="crdt", workload="counter", nemesis=("partition",), seed=5,
                         quiesce=0.0, out=str(tmp_path))
    result = run_test(options, ["test"], report=False)
    assert result.results["valid"] is True, result.results["anomalies"][:2]
    assert result.final is not None and result.final.drain_seconds is not None


def test_a_siblings_sim_run_is_deterministic(tmp_path: Path) -> None:
    """The same seed twice under --conflict siblings gives the same history bytes."""
    first = run_test(short_options(tmp_path / "a", conflict="siblings"), ["test"], report=False)
    second = run_test(short_options(tmp_path / "b", conflict="siblings"), ["test"], report=False)
    assert (first.run_dir / "history.jsonl").read_bytes() == (second.run_dir / "history.jsonl").read_bytes()


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_compare_json_has_a_block_per_mode_with_measured_figures(tmp_path: Path) -> None:
    """compare --json runs each mode on one seed and schedule and prints {"modes": {mode: figures}}."""
    done = harness("compare", "--conflict", "lww,siblings,crdt", "--workload", "counter", "--seed", "3",
                   "--nemesis", "partition", "--time-limit", "3", "--fault-interval", "1", "--keys", "5",
                   "--out", str(tmp_path), "--json")
    out = json.loads(done.stdout)
    invalid = any(figures["valid"] is False for figures in out["modes"].values())
    assert done.returncode == (1 if invalid else 0), done.stderr
    assert list(out["modes"]) == ["lww", "siblings", "crdt"]
    for name, figures in out["modes"].items():
        assert {"lost_writes", "acknowledged_writes", "stale_reads", "siblings_created", "siblings_resolved",
                "convergence_s", "valid", "workload"} <= set(figures)
        assert figures["acknowledged_writes"] > 0
        run_json = json.loads((Path(figures["run_dir"]) / "run.json").read_text())
        assert run_json["options"]["conflict"] == name
        assert run_json["options"]["quiesce"] == 0  # compare's default: the final reads time the convergence
        assert run_json["schedule"] == json.loads(
            (Path(out["modes"]["lww"]["run_dir"]) / "run.json").read_text())["schedule"]
    assert out["modes"]["crdt"]["workload"] == "counter"
    assert out["modes"]["siblings"]["siblings_created"] is not None
    assert (Path(out["dir"]) / "compare.html").is_file()


def test_explore_ledger_hash_is_unchanged_by_the_conflict_options_at_their_defaults() -> None:
    """A sweep of lww/register hashes as before the options existed (old ledgers resume); another mode does not."""
    import hashlib

    from runner.explore_ledger import HASHED_AWAY, options_hash

    base = RunOptions(mode="sim")
    before = {k: v for k, v in base.to_json().items() if k not in (*HASHED_AWAY, "conflict", "workload")}
    old = hashlib.sha256(orjson.dumps({"options": before, "vary_workload": False},
                                      option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    assert options_hash(base, False) == old
    assert options_hash(RunOptions(mode="sim", conflict="siblings"), False) != old


def _figures(workload: str, anomalies: dict[str, int], acked: int, **extra: object) -> dict[str, object]:
    return {"workload": workload, "valid": not anomalies, "operations": acked * 2, "acknowledged_writes": acked,
            "lost_writes": None, "lost_as": None, "anomalies": anomalies, "siblings_created": None,
            "siblings_resolved": None, "reads_with_siblings": None, "stale_reads": 0, "convergence_s": 0.1,
            "converged": True, "run_dir": "/tmp/x", **extra}


def test_compare_table_shows_every_anomaly_type_explains_the_modes_and_labels_counters_honestly(
        tmp_path: Path) -> None:
    """compare's table lists each mode's every anomaly type (a resurrected-delete too), says what each mode does
    and that siblings' workload differs, and never calls counter-out-of-bounds reads 'acknowledged writes lost'."""
    from runner.compare import format_table, write_html

    modes = {
        "lww": _figures("register", {"lost-write": 3, "resurrected-delete": 1}, 2616, lost_writes=3,
                        lost_as="lost-write"),
        "siblings": _figures("register", {}, 4346, lost_writes=0, lost_as="lost-write", siblings_created=9,
                             siblings_resolved=8, reads_with_siblings=5),
        "crdt": _figures("counter", {"counter-out-of-bounds": 46}, 900),
    }
    write_html(tmp_path / "compare.html", {"seed": 3, "mode": "sim", "nemesis": "partition", "modes": modes})
    page = (tmp_path / "compare.html").read_text()
    for text in (format_table(modes), page):
        assert "resurrected-delete 1" in text and "counter-out-of-bounds 46" in text
        assert "46 (counter-out-of-bounds)" not in text
    assert "last-writer-wins" in page and "dotted version vectors" in page and "PN-counter" in page
    assert "operations differ" in page and "lww 2616, siblings 4346" in page


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_compare_exits_1_when_a_mode_is_invalid(tmp_path: Path) -> None:
    """compare exits with the worst verdict like a run (1 when a mode is INVALID), says so in --help, and the
    table prints the mode's anomalies."""
    done = harness("compare", "--conflict", "crdt", "--workload", "counter", "--bug", "counter-merge-adds",
                   "--seed", "3", "--nemesis", "partition", "--time-limit", "3", "--fault-interval", "1",
                   "--keys", "5", "--out", str(tmp_path))
    assert "INVALID" in done.stdout and "counter-out-of-bounds" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert "when any mode's verdict is INVALID" in " ".join(harness("compare", "--help").stdout.split())


def test_compare_table_says_lww_agreed_without_the_writes_it_lost(tmp_path: Path) -> None:
    """A mode whose replicas agreed at once after the heal but lost acknowledged writes shows "0.000 (8 lost)",
    not a bare 0.000, and the legend no longer says every replica held every acknowledged write."""
    from runner.compare import describe, format_table, write_html

    modes = {
        "lww": _figures("register", {"lost-write": 8}, 2616, lost_writes=8, lost_as="lost-write",
                        journal_convergence_s=0.0, journal_keys_not_agreed=0),
        "siblings": _figures("register", {}, 4346, lost_writes=0, lost_as="lost-write",
                             journal_convergence_s=0.25, journal_keys_not_agreed=0),
    }
    table = format_table(modes)
    row = next(line for line in table.splitlines() if "after last heal" in line)
    assert "0.000 (8 lost)" in row and "0.250" in row and "0.250 (" not in row
    assert "replicas agreed after last heal" in row
    write_html(tmp_path / "compare.html", {"seed": 3, "mode": "sim", "nemesis": "clock-skew", "modes": modes})
    page = (tmp_path / "compare.html").read_text()
    legend = " ".join(describe(modes))
    for text in (legend, page):
        assert "until every replica held every acknowledged write" not in text
        assert "agreed without them" in text
