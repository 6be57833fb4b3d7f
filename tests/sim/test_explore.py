"""``harness.py explore`` finds a seeded bug, shrinks it, and writes a run that replays identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli import main
from runner.replay import load_recorded_run, replay_command

SHORT = ["--time-limit", "4", "--fault-interval", "1", "--quiesce", "1", "--converge-timeout", "3"]


@pytest.mark.realtime  # 8-14 s of real processes: with .ci/run's second step (default suite: 602 s at 4263674)
def test_explore_finds_and_shrinks_a_seeded_bug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no-repair under partitions, explore exits 1 with a smaller divergent run that replays identically."""
    summary = tmp_path / "explore.json"
    code = main(["explore", "--runs", "5", "--bug", "no-repair", "--nemesis", "partition", *SHORT,
                 "--shrink-runs", "25", "--out", str(tmp_path / "h"), "--json", str(summary)])
    assert code == 1
    out = capsys.readouterr().out
    report = json.loads(summary.read_text())
    assert report["anomaly"] == "divergent"
    assert report["shrunk"]["anomalies"].get("divergent", 0) >= 1
    original, shrunk = report["original"], report["shrunk"]
    assert shrunk["operations"] < original["operations"]
    assert shrunk["faults"] <= original["faults"]
    assert shrunk["nodes"] <= original["nodes"] and shrunk["nodes"] >= shrunk["replicas"]
    assert report["replay_identical"] is True
    command = report["replay_command"]
    assert command in out and command.startswith("python harness.py replay ")
    run_dir = Path(command.split()[-1])
    recorded = load_recorded_run(run_dir)
    assert recorded.options.bug == "no-repair" and recorded.options.nodes == shrunk["nodes"]
    assert len(recorded.schedule.windows) == shrunk["faults"]
    assert replay_command([str(run_dir), "--out", str(tmp_path / "re"), "-q"]) == 0


def test_explore_of_the_correct_store_finds_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a seeded bug, a few partition seeds are all valid: exit 0 and no run written (only the seed ledger)."""
    code = main(["explore", "--runs", "3", "--nemesis", "partition", *SHORT, "--out", str(tmp_path / "h")])
    assert code == 0
    assert "all 3 runs valid" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "h").iterdir()] == ["explore-ledgers"]
    (ledger,) = (tmp_path / "h" / "explore-ledgers").iterdir()
    assert len(ledger.read_text().splitlines()) == 1 + 3


def test_explore_refuses_a_real_time_mode(capsys: pytest.CaptureFixture[str]) -> None:
    """``explore --mode udp`` is a usage error (254) saying explore is simulation only."""
    assert main(["explore", "--mode", "udp", "--runs", "1"]) == 254
    assert "only simulated runs" in capsys.readouterr().err


def test_explore_progress_is_plain_lines_off_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When stderr is not a terminal, progress comes as whole lines naming runs done out of the total."""
    assert main(["explore", "--runs", "2", *SHORT, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "explore: 2/2 runs" in err and "\r" not in err


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_crash_at_explores_fault_interval_exposes_ack_before_durable(tmp_path: Path, seed: int) -> None:
    """Under explore's 2 s fault interval, every crash of ack-before-durable loses acknowledged writes (no flush lands on it)."""
    from tests.sim.runs import run_short

    result = run_short(tmp_path, seed=seed, bug="ack-before-durable", nemesis=("crash",), time_limit=4.0,
                       fault_interval=2.0, rate=200.0, concurrency=10, keys=20)
    assert result.results["valid"] is False
    assert "lost-write" in {a["type"] for a in result.results["anomalies"]}
