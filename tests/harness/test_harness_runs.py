"""End-to-end harness runs: a cluster, a workload, faults, a history, a verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker.history import read_events
from runner.options import RunOptions
from runner.run import run as run_test

ROOT = Path(__file__).resolve().parents[2]
SHORT = dict(time_limit=3.0, fault_interval=1.0, quiesce=1.5, rate=120.0, concurrency=6, keys=8,
             converge_timeout=8.0)


def short_options(tmp_path: Path, **changes: object) -> RunOptions:
    values = {**SHORT, "out": str(tmp_path), "seed": 7, **changes}
    return RunOptions(**values).validate()  # type: ignore[arg-type]


def anomaly_types(results: dict) -> set[str]:
    return {a["type"] for a in results["anomalies"]}


@pytest.mark.parametrize("kind", ["none", "partition", "drop", "delay", "duplicate", "reorder", "crash", "pause"])
def test_udp_run_per_nemesis_kind_is_valid(tmp_path: Path, kind: str) -> None:
    """A short real-UDP run of the correct store under each fault kind converges and checks valid."""
    nemesis = () if kind == "none" else (kind,)
    result = run_test(short_options(tmp_path, nemesis=nemesis), ["test"])
    assert result.final.converged, result.final
    assert result.results["valid"] is True, result.results["anomalies"][:3]
    if nemesis:
        assert result.faults.get(kind, 0) >= 1


def test_clock_skew_run_converges_and_only_loses_writes_to_skew(tmp_path: Path) -> None:
    """Under clock skew replicas still converge; any anomaly is a write lost to last-writer-wins."""
    result = run_test(short_options(tmp_path, nemesis=("clock-skew",)), ["test"])
    assert result.final.converged
    assert anomaly_types(result.results) <= {"lost-write", "resurrected-delete"}


def test_run_directory_holds_a_checkable_history_and_its_metadata(tmp_path: Path) -> None:
    """A run writes history.jsonl in the HISTORY.md format, run.json, results.json, report.html, latest."""
    result = run_test(short_options(tmp_path, nemesis=("partition",)), ["harness.py", "--nemesis", "partition"])
    run_dir = result.run_dir
    events = read_events(run_dir / "history.jsonl")
    assert [e["index"] for e in events] == list(range(len(events)))
    assert any(e.get("final") for e in events)
    assert events[-1].get("final") is True
    nemesis_fs = [e["f"] for e in events if e["process"] == "nemesis"]
    assert "partition-start" in nemesis_fs and "heal" in nemesis_fs
    run = json.loads((run_dir / "run.json").read_text())
    assert run["seed"] == 7 and run["options"]["nemesis"] == ["partition"] and run["schedule"]["windows"]
    assert json.loads((run_dir / "results.json").read_text())["valid"] is True
    assert (run_dir / "report.html").stat().st_size > 1000
    assert (tmp_path / "latest").resolve() == run_dir.resolve()


def test_every_invocation_is_completed_before_the_final_phase(tmp_path: Path) -> None:
    """Workers finish their in-flight operation at heal, so no client invocation is left open."""
    result = run_test(short_options(tmp_path, nemesis=("pause",)), ["test"])
    open_ops: dict[object, dict] = {}
    for event in read_events(result.run_dir / "history.jsonl"):
        if event["process"] == "nemesis":
            continue
        if event["type"] == "invoke":
            open_ops[event["process"]] = event
        else:
            open_ops.pop(event["process"], None)
    assert open_ops == {}


# Seeded bugs, in simulation: deterministic for a seed, so a detection test cannot flake.
BUG_CASES = [
    ("no-tombstones", "partition", "resurrected-delete"),
    ("no-repair", "partition", "divergent"),
    ("ack-before-durable", "crash", "lost-write"),
    ("first-writer-wins", "partition", "lost-write"),
]


@pytest.mark.parametrize(("bug", "nemesis", "anomaly"), BUG_CASES)
def test_seeded_bug_is_caught_in_simulation(tmp_path: Path, bug: str, nemesis: str, anomaly: str) -> None:
    """Each seeded defect makes the verdict invalid with the anomaly it is meant to cause."""
    options = RunOptions(nemesis=(nemesis,), bug=bug, time_limit=10.0, fault_interval=2.5, mode="sim",
                         out=str(tmp_path), seed=3).validate()
    result = run_test(options, ["test"], quiet=True)
    assert result.results["valid"] is False
    assert anomaly in anomaly_types(result.results)


@pytest.mark.parametrize("bug", ["no-repair", "no-tombstones"])
def test_seeded_bug_is_caught_when_the_run_length_is_an_odd_number_of_fault_intervals(tmp_path: Path, bug: str) -> None:
    """At --time-limit 15 with 5 s windows the last fault still ends with the load, so later writes cannot hide the damage."""
    options = RunOptions(nemesis=("partition",), bug=bug, time_limit=15.0, fault_interval=5.0, mode="sim",
                         out=str(tmp_path), seed=11).validate()
    result = run_test(options, ["test"], quiet=True)
    windows = json.loads((result.run_dir / "run.json").read_text())["schedule"]["windows"]
    assert windows and windows[-1]["stop"] == 15.0
    assert result.results["valid"] is False, "the seeded bug went unseen"


def test_correct_store_in_simulation_is_valid_under_all_faults(tmp_path: Path) -> None:
    """The store without bugs checks valid in a simulated run with every fault kind but clock skew."""
    kinds = ("partition", "drop", "delay", "duplicate", "reorder", "crash", "pause")
    options = RunOptions(nemesis=kinds, time_limit=20.0, fault_interval=1.0, mode="sim", out=str(tmp_path),
                         seed=11).validate()
    result = run_test(options, ["test"], quiet=True)
    assert result.final.converged
    assert result.results["valid"] is True, result.results["anomalies"][:3]


def run_harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--nodes", "zero"], "--nodes"),
        (["--nemesis", "meteor"], "partition"),
        (["--mode", "cloud"], "udp"),
        (["--write-quorum", "4"], "--write-quorum"),
        (["--mix", "1:2"], "put:get:delete"),
        (["--partition", "thirds"], "majorities-ring"),
        (["--bug", "typo"], "no-tombstones"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_flags_exit_254_with_a_message(args: list[str], mentions: str) -> None:
    """A wrong flag gets one line saying what to use, exit 254, and no traceback."""
    done = run_harness(*args)
    assert done.returncode == 254, done.stderr
    assert mentions in done.stderr
    assert "Traceback" not in done.stderr
