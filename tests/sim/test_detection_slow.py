"""Every seeded bug is found by explore within a few dozen short runs and shrunk (slow: minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli import main

BUG_NEMESIS = {
    "no-tombstones": "partition",
    "no-repair": "partition",
    "ack-before-durable": "crash",
    "first-writer-wins": "partition",
}


@pytest.mark.slow
@pytest.mark.parametrize(("bug", "nemesis"), sorted(BUG_NEMESIS.items()))
def test_explore_finds_and_shrinks_each_seeded_bug(tmp_path: Path, bug: str, nemesis: str) -> None:
    """explore --runs 50 exits 1 for the bug, with fewer operations after shrinking and an identical replay."""
    summary = tmp_path / "summary.json"
    code = main(["explore", "--runs", "50", "--bug", bug, "--nemesis", nemesis, "--shrink-runs", "40",
                 "--out", str(tmp_path / "h"), "--json", str(summary)])
    assert code == 1
    report = json.loads(summary.read_text())
    assert report["shrunk"]["operations"] < report["original"]["operations"]
    assert report["shrunk"]["faults"] <= report["original"]["faults"]
    assert report["replay_identical"] is True
