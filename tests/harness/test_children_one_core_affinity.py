"""A run confined to one core (`taskset -c 0`, a cgroup cpuset) has no second core for its helper processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import runner.journal as journal_module
import runner.run as run_module
from runner.check_process import CheckProcess
from tests.sim.runs import run_short

ROOT = Path(__file__).resolve().parents[2]


def _on_core_0(args: list[str]) -> subprocess.CompletedProcess[str]:
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        pytest.skip("needs taskset and a machine of two cores or more")
    return subprocess.run(["taskset", "-c", "0", sys.executable, str(ROOT / "harness.py"), *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)


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


@pytest.mark.realtime
def test_explore_under_taskset_starts_one_worker_per_usable_core(tmp_path: Path) -> None:
    """``taskset -c 0 harness.py explore``: one worker ("1 at a time"), and --help says the default is 1 (before: 2
    workers on 1 core, from ``os.cpu_count()``); maelstrom explore's default counts the same core."""
    done = _on_core_0(["explore", "--nemesis", "partition", "--runs", "1", "--time-limit", "1", "--out",
                       str(tmp_path / "out")])
    assert done.returncode == 0, done.stderr
    assert ", 1 at a time;" in done.stderr, done.stderr
    helped = _on_core_0(["explore", "--help"])
    assert "(default every core this process may use: 1)" in " ".join(helped.stdout.split()), helped.stdout
    from runner.maelstrom.explore import default_workers

    maelstrom = _on_core_0(["maelstrom", "explore", "--help"])
    assert f"{default_workers(1)} here;" in " ".join(maelstrom.stdout.split()), maelstrom.stdout
