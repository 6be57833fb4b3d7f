"""End to end: a crash that loses acknowledged, not yet durable applies (--bug ack-before-durable) shows in the
journal-measured convergence figures, not only in the anomaly explanations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.journal import load_journal
from runner.options import RunOptions
from runner.run import run as run_test


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A simulated ack-before-durable run whose crashes lose acknowledged writes (INVALID: lost-write)."""
    out = tmp_path_factory.mktemp("runs")
    options = RunOptions(mode="sim", seed=2, nemesis=("crash",), bug="ack-before-durable", time_limit=20.0,
                         out=str(out))
    result = run_test(options, ["test"], quiet=True)
    return result.run_dir, json.loads((result.run_dir / "results.json").read_text())


def test_writes_a_crash_lost_are_not_counted_as_converged(crashed: tuple[Path, dict[str, Any]]) -> None:
    """The last heal's per-heal figure is null (writes lost, never on all replicas again), not 0.0 from lost applies."""
    _, results = crashed
    c = results["convergence"]
    last = [h for h in c["after_heal"] if h.get("last")][0]
    assert last["converged_after_s"] is None and last["writes_never_converged"] > 0
    assert c["writes"]["never_on_all_replicas"] > 0 and c["replication_lag_ms"]["max"] > 1000


def test_the_headline_agrees_with_the_lost_write_explanations(crashed: tuple[Path, dict[str, Any]]) -> None:
    """Every key with a lost-write anomaly has an acknowledged write the figures count as never on all replicas."""
    _, results = crashed
    lost_keys = {a["key"] for a in results["anomalies"] if a["type"] == "lost-write"}
    assert lost_keys
    never = {e["key"] for e in results["convergence"]["writes"]["examples_never_on_all_replicas"]}
    assert results["convergence"]["writes"]["never_on_all_replicas"] > len(never) or lost_keys <= never


def test_the_journal_says_what_each_restart_lost(crashed: tuple[Path, dict[str, Any]]) -> None:
    """R records give each restart's recovered versions; results.json's crash_losses names the versions lost."""
    run_dir, results = crashed
    restarts = [r for r in load_journal(run_dir / "journal.jsonl.gz").records(("R",)) if type(r).__name__ == "Recovered"]
    assert len(restarts) > 5  # one per node start, then one per restart
    losses = results["convergence"]["crash_losses"]
    assert losses["recorded"] is True and losses["keys_lost"] > 0
    ex = losses["by_restart"][0]["examples"][0]
    assert ex["had"] != ex["kept"] and "without" in losses["summary"]
