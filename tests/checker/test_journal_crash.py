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
    # Issue 15: the lost writes had reached every replica before the crash, so they have a replication lag
    # (the first time all replicas held them) and are counted in crash_losses, not as never on all replicas.
    assert c["crash_losses"]["writes_lost"] > 0 and c["replication_lag_ms"]["n"] == c["writes"]["measured"]


def test_the_headline_agrees_with_the_lost_write_explanations(crashed: tuple[Path, dict[str, Any]]) -> None:
    """Every key with a lost-write anomaly has an acknowledged write the figures count as never on all replicas
    or as lost by a crash after it was on all of them."""
    _, results = crashed
    lost_keys = {a["key"] for a in results["anomalies"] if a["type"] == "lost-write"}
    assert lost_keys
    c = results["convergence"]
    never = {e["key"] for e in c["writes"]["examples_never_on_all_replicas"]}
    never |= {e["key"] for e in c["crash_losses"]["examples_writes_lost"]}
    shown = len(c["writes"]["examples_never_on_all_replicas"]) + len(c["crash_losses"]["examples_writes_lost"])
    assert c["writes"]["never_on_all_replicas"] + c["crash_losses"]["writes_lost"] > shown or lost_keys <= never


def test_the_journal_says_what_each_restart_lost(crashed: tuple[Path, dict[str, Any]]) -> None:
    """R records give each restart's recovered versions; results.json's crash_losses names the versions lost."""
    run_dir, results = crashed
    restarts = [r for r in load_journal(run_dir / "journal.jsonl.gz").records(("R",)) if type(r).__name__ == "Recovered"]
    assert len(restarts) > 5  # one per node start, then one per restart
    losses = results["convergence"]["crash_losses"]
    assert losses["recorded"] is True and losses["keys_lost"] > 0
    ex = losses["by_restart"][0]["examples"][0]
    assert ex["had"] != ex["kept"] and "without" in losses["summary"]


def test_a_write_on_all_replicas_then_lost_by_a_crash_keeps_its_lag(tmp_path: Path) -> None:
    """Lag is the first time every replica held the write: a later crash loss is a crash loss, not 'never on all replicas'."""
    from checker.api import check
    from tests.checker.builder import History
    from tests.checker.journal_builder import JournalBuilder, stamp

    a = stamp(1000)
    h = History()
    h.at(0.009)
    _, ok = h.put(0, "k1", "a")
    h.events[ok]["time"] = 10_000_000
    h.events[ok]["meta"] = {"stamp": a}
    h.t = 100_000_000
    h.nemesis("crash-start", {"nodes": ["n3"]})
    h.t = 300_000_000
    h.nemesis("crash-stop", {"nodes": ["n3"]})
    h.write(tmp_path / "history.jsonl")
    j = JournalBuilder()
    j.recovered(0, "n1", []).recovered(0, "n2", []).recovered(0, "n3", [])
    j.applied_everywhere(8, "k1", a)  # on n1, n2, n3 by 10 ms, at its ok
    j.lifecycle(100, "n3", "crash").recovered(300, "n3", []).lifecycle(300, "n3", "restart").end(400)
    j.write(tmp_path / "journal.jsonl.gz")
    c = check(tmp_path).results["convergence"]
    assert c["writes"]["never_on_all_replicas"] == 0 and c["replication_lag_ms"]["max"] == 0
    assert c["replication_lag_ms"]["n"] == 1
    (last,) = [e for e in c["after_heal"] if e.get("last")]
    assert last["converged_after_s"] is None and last["writes_never_converged"] == 1  # the crash lost it for good
    assert c["crash_losses"]["keys_lost"] == 1 and c["crash_losses"]["writes_lost"] == 1
