"""A run confined to one core (`taskset -c 0`, a cgroup cpuset) has no second core for its helper processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import runner.journal as journal_module
import runner.run as run_module
from runner.check_process import CheckProcess
from tests.sim.runs import run_short


def test_no_check_process_when_the_run_may_use_one_core_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an affinity mask of one core, neither the check process nor the sim journal writer process is started."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # what `taskset -c 0` gives
    monkeypatch.setattr(run_module, "CHECK_PROCESS", True)
    monkeypatch.setattr(journal_module, "SIM_WRITER", "process")
    started: list[Any] = []
    init = CheckProcess.__init__

    def spy(self: CheckProcess, *args: Any, **kwargs: Any) -> None:
        started.append(args)
        init(self, *args, **kwargs)

    monkeypatch.setattr(CheckProcess, "__init__", spy)
    run_short(tmp_path / "out", seed=2)
    assert journal_module.journal_writer("sim", "never") == "inline"
    assert started == [], "a check process was started for a run confined to one core"
