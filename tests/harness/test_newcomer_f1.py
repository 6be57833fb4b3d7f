"""Figures a newcomer found misleading (f1): each is what its label says, measured from the run."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from runner.compare import compare, format_table
from runner.final_reads import ROUND_INTERVAL
from runner.options import RunOptions

NS = 1e9


def _final_read_span(history: Path) -> tuple[float, float]:
    """(first final read's invoke, last final read's completion), in seconds of the history's clock."""
    times = [(e["type"], e["time"] / NS) for e in map(json.loads, history.read_text().splitlines()[1:])
             if e.get("final")]
    return min(t for kind, t in times if kind == "invoke"), max(t for kind, t in times if kind != "invoke")


@pytest.mark.realtime
def test_compare_final_read_figure_is_the_final_reads_time_and_is_labelled_an_upper_bound(tmp_path: Path) -> None:
    """compare's convergence figure is the final reads' time to agreement (drain wait plus rounds, as the history
    shows), grows when a seeded bug stops repair, and the table calls it an upper bound with its rounds."""
    base = RunOptions(mode="sim", seed=3, nemesis=("partition",), time_limit=3.0, fault_interval=1.0, keys=5,
                      out=str(tmp_path / "ok"), quiesce=0.0)
    healthy = compare(base, ["lww", "siblings"], "set", ["compare"], report=False)
    broken = compare(attrs.evolve(base, bug="no-repair", out=str(tmp_path / "bug")), ["lww", "siblings"], "set",
                     ["compare"], report=False)
    for comparison in (healthy, broken):
        for figures in comparison["modes"].values():
            first, last = _final_read_span(Path(figures["run_dir"]) / "history.jsonl")
            assert figures["convergence_s"] == pytest.approx(last - first + (figures["final_read_drain_s"] or 0),
                                                             abs=0.005)
            if figures["converged"]:
                reading = figures["convergence_s"] - (figures["final_read_drain_s"] or 0)
                assert (reading >= ROUND_INTERVAL) == (figures["final_read_rounds"] > 1)
            assert "upper bound" in figures["convergence_s_is"]
        table = format_table(comparison["modes"])
        assert "final reads: all agreed within (s, upper bound)" in table
        assert "final reads agreed after (s)" not in table
    for mode in ("lww", "siblings"):
        ok, bad = healthy["modes"][mode], broken["modes"][mode]
        assert ok["converged"] and not bad["converged"]
        assert bad["convergence_s"] > ok["convergence_s"]
    assert "1 round, 0.5 s drain" in format_table(healthy["modes"])
    assert healthy["modes"]["lww"]["journal_convergence_s"] is not None  # measured from the journal
    assert "never (" in format_table(broken["modes"]).split("replicas agreed after last heal")[1].split("\n")[0]
    assert healthy["modes"]["siblings"]["journal_convergence_s"] is None  # no journal rule: shown as '-'
