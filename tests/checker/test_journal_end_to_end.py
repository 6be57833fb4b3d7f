"""End to end: a simulated run with a partition, its journal, and the convergence figure the checker derives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checker.api import check
from checker.findings import SOURCE_FINAL_READS, SOURCE_JOURNAL

ROOT = Path(__file__).resolve().parents[2]


def _run(out: Path, quiesce: int, name: str, *extra: str) -> tuple[Path, dict[str, Any], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "harness.py"), "run", "--mode", "sim", "--nemesis", "partition",
         "--time-limit", "12", "--seed", "11", "--quiesce", str(quiesce), "--out", str(out), "--name", name, *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 1, 2), proc.stderr[-2000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and p.name.endswith(name)]
    return run_dir, json.loads((run_dir / "results.json").read_text()), proc.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, dict[str, Any], str]]:
    out = tmp_path_factory.mktemp("runs")
    return {q: _run(out, q, f"q{q}") for q in (3, 10)}


def test_convergence_after_the_last_heal_does_not_depend_on_the_quiescence_wait(
    runs: dict[int, tuple[Path, dict[str, Any], str]],
) -> None:
    """The same seed with --quiesce 3 and 10 reports the same journal-measured convergence after the last heal."""
    c3, c10 = runs[3][1]["convergence"], runs[10][1]["convergence"]
    assert c3["source"] == c10["source"] == SOURCE_JOURNAL and c3["complete"] and c10["complete"]
    assert c3["keys_not_agreed"] == 0 and isinstance(c3["after_last_heal_s"], float)
    assert c3["after_last_heal_s"] == c10["after_last_heal_s"]
    # The final reads' figure, by contrast, includes the wait: at least 3 s, resp. 10 s, after the heal.
    began = [e for e in runs[10][1]["stats"]["convergence"] if "final_reads_began_after_s" in e]
    assert began and began[-1]["final_reads_began_after_s"] >= 10 > c10["after_last_heal_s"]


def test_replication_lag_percentiles_and_the_summary_line(runs: dict[int, tuple[Path, dict[str, Any], str]]) -> None:
    """replication_lag_ms has p50/p99/max over the acknowledged writes, split by the partition; the summary prints it."""
    run_dir, results, stdout = runs[3]
    rl = results["convergence"]["replication_lag_ms"]
    assert rl["n"] == results["convergence"]["writes"]["acknowledged"] > 0
    assert 0 <= rl["p50"] <= rl["p99"] <= rl["max"]
    assert rl["by_fault"]["partition"]["n"] + rl["healthy"]["n"] == rl["n"]
    assert f"converged {results['convergence']['after_last_heal_s']:.3f} s after the last heal" in stdout
    assert "the faults bit:" in stdout and results["faults"]["changed_nothing"] is False
    partition = [b for b in results["faults"]["bite"] if b["kind"] == "partition"]
    assert partition and partition[0]["datagrams"]["dropped"] > 0


def test_without_the_journal_the_figure_is_the_final_reads_upper_bound(
    runs: dict[int, tuple[Path, dict[str, Any], str]], tmp_path: Path
) -> None:
    """The same run directory checked without its journal falls back to the final reads' bound, labelled as such."""
    run_dir = runs[3][0]
    for name in ("history.jsonl", "run.json"):
        (tmp_path / name).write_bytes((run_dir / name).read_bytes())
    c = check(tmp_path).results["convergence"]
    assert c["source"] == SOURCE_FINAL_READS and c["upper_bound"] is True
    assert c["after_last_heal_s"] >= 3 > runs[3][1]["convergence"]["after_last_heal_s"]
