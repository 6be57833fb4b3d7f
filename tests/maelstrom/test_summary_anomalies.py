"""The Maelstrom summary says when it writes out only some of the anomalies it counts."""

from __future__ import annotations

from typing import Any

from runner.maelstrom.command import SUMMARY_ANOMALIES, MaelstromOptions, format_summary


def _outcome(n: int, totals: int | None = None) -> dict[str, Any]:
    anomalies = [{"type": "nonlinearizable", "key": f"k{i}", "explanation": f"Key k{i} is not linearizable."}
                 for i in range(n)]
    stats = {"anomaly_counts": {"nonlinearizable": totals}} if totals is not None else {}
    return {"results": {"valid": False, "anomalies": anomalies, "stats": stats, "maelstrom": {}},
            "options": MaelstromOptions(workload="lin-kv", bin="node.py", node_count=3), "run_dir": "histories/x"}


def test_five_anomalies_three_written_out_says_two_more() -> None:
    """anomalies: nonlinearizable 5 with 3 explanations is followed by a line saying 2 more are not shown."""
    lines = format_summary(_outcome(5)).splitlines()
    assert "  anomalies: nonlinearizable 5" in lines
    assert sum(1 for ln in lines if ln.startswith("  nonlinearizable: ")) == SUMMARY_ANOMALIES == 3
    (note,) = [ln for ln in lines if "more not shown" in ln]
    assert note == "  ... 2 more not shown here (the first 3 of the 5 listed are above; results.json has them all)"
    assert lines.index(note) == lines.index("  nonlinearizable: Key k2 is not linearizable.") + 1


def test_no_note_when_every_anomaly_is_written_out() -> None:
    """Three anomalies or fewer: all are written out and no 'more not shown' line appears."""
    assert "more not shown" not in format_summary(_outcome(3))


def test_a_checker_that_listed_fewer_than_it_counted_is_said_on_both_lines() -> None:
    """120 counted, 50 listed by the checker, 3 written out: the counts line and the note say each part."""
    text = format_summary(_outcome(50, totals=120))
    assert "  anomalies: nonlinearizable 120 (50 listed)" in text
    assert "  ... 47 more not shown here (the first 3 of the 50 listed are above; results.json has them all)" in text
