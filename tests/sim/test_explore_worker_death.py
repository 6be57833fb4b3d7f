"""explore whose worker dies on every try (killed, out of memory): one line naming the task and the --resume line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import runner.explore as sexplore
from runner.cli import main
from runner.explore_trial import TrialReport, TrialTask
from runner.options import RunOptions
from runner.shrink import Candidate


def _killed(task: TrialTask) -> TrialReport:
    """A trial whose worker is SIGKILLed (as ``kill -KILL`` of it, or the OOM killer) each time."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def test_a_worker_that_dies_twice_gives_254_with_the_resume_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker running seed 1 (or a shrink candidate of it run ahead: timing's) killed on both tries: 254, one line naming seed 1 and ending with the --resume
    command (was: no way to continue given; the same --ledger again is refused as not empty)."""
    monkeypatch.setattr(sexplore, "run_task", _killed)  # the forked workers run it
    ledger = tmp_path / "l.jsonl"
    code = main(["explore", "--runs", "3", "--workers", "2", "--time-limit", "2", "--out", str(tmp_path / "out"),
                 "--ledger", str(ledger)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 254, err
    assert "seed 1" in err[-1] and "died 2 times" in err[-1], err  # seed 1's trial, or a shrink candidate run ahead
    assert err[-1].endswith(f"; continue with: python harness.py explore --runs 3 --workers 2 --time-limit 2 --out "
                            f"{tmp_path / 'out'} --resume {ledger}"), err


def test_a_shrink_candidates_label_says_it_is_one() -> None:
    """A trial explore numbers below 0 (a shrink candidate, maybe run ahead of its seed's verdict) is named so in an
    error line (a full $TMPDIR under one said "the trial of seed 2", the sweep's seed, which had run fine)."""
    options = RunOptions(mode="sim", seed=2)
    candidate = Candidate(options, None)  # type: ignore[arg-type]
    assert TrialTask(1, candidate, ()).label == "seed 2"
    assert TrialTask(-3, candidate, ()).label.startswith("a shrink candidate of seed 2")
