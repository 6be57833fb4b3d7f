"""``replay`` of a sim run a signal stopped: says the original was interrupted and compares the history up to the
interruption (exit 2, nothing whole to compare), instead of 'DIFFERENT: determinism is broken' (exit 1)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.recorder import HistoryRecorder

pytestmark = pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs them; the default suite stays under 10 minutes


def _interrupted_run(out: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A real sim run stopped by SIGINT after 150 events (the signal sent from inside the run, at one event)."""
    operation = HistoryRecorder.operation

    def signalled(self: HistoryRecorder, *args: Any, **kwargs: Any) -> int:
        index = operation(self, *args, **kwargs)
        if index == 150:
            os.kill(os.getpid(), signal.SIGINT)
        return index

    with monkeypatch.context() as patch:
        patch.setattr(HistoryRecorder, "operation", signalled)
        code = main(["run", "--mode", "sim", "--nodes", "3", "--time-limit", "6", "--seed", "5", "--nemesis",
                     "partition", "--fault-interval", "1", "--out", str(out), "--name", "intr"])
    assert code == 130, capsys.readouterr().err
    capsys.readouterr()
    (run_dir,) = out.glob("*-intr")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["reason"] == "interrupted", results
    return run_dir


def test_replay_of_an_interrupted_run_says_so_and_compares_the_history_up_to_the_interruption(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The replay's history holds the interrupted one's events byte for byte up to the interruption (only the heal
    lines the interruption appended differ): said so, exit 2 (was DIFFERENT, determinism broken, exit 1)."""
    run_dir = _interrupted_run(tmp_path / "runs", monkeypatch, capsys)
    assert main(["replay", str(run_dir), "--out", str(tmp_path / "re"), "-q"]) == 2
    out = capsys.readouterr().out
    assert "DIFFERENT" not in out and "determinism is broken" not in out, out
    assert "the recorded run was interrupted (SIGINT" in out, out
    assert "identical up to the interruption" in out, out
    assert "exit 2" in out, out


def test_replay_of_an_interrupted_run_whose_prefix_differs_is_still_different(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An event changed before the interruption is a difference the replay reports (DIFFERENT, exit 1)."""
    run_dir = _interrupted_run(tmp_path / "runs", monkeypatch, capsys)
    history = run_dir / "history.jsonl"
    lines = history.read_text().splitlines(keepends=True)
    lines[20] = lines[20].replace('"type":"invoke"', '"type":"invoke","tampered":1') if '"invoke"' in lines[20] \
        else lines[20].replace('"index":', '"tampered":1,"index":')
    history.write_text("".join(lines))
    assert main(["replay", str(run_dir), "--out", str(tmp_path / "re"), "-q"]) == 1
    out = capsys.readouterr().out
    assert "the recorded run was interrupted (SIGINT" in out and "DIFFERENT" in out, out
    assert "line 21" in out, out
