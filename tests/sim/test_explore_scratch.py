"""explore closes its worker pool before it removes its scratch directory, so no trial can write there after."""

from __future__ import annotations

import io
import signal
import tempfile
from pathlib import Path

import pytest

from runner.explore import explore
from runner.explore_pool import InlineExecutor
from runner.interrupt import InterruptGuard, RunInterrupted
from runner.options import RunOptions


class _Watching(InlineExecutor):
    """An executor that records what the temporary directory holds when it is closed."""

    def __init__(self, tmp: Path) -> None:
        super().__init__()
        self.tmp = tmp
        self.at_close: list[list[str]] = []

    def close(self) -> None:
        self.at_close.append(sorted(p.name for p in self.tmp.iterdir()))


def test_the_pool_is_closed_while_the_scratch_directory_still_exists(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """One valid 2 s seed: the executor's close comes while minikeydb-explore-* is still there, and nothing is
    left in the temporary directory afterwards (before: the scratch was removed first, close came after)."""
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    executor = _Watching(scratch_root)
    base = RunOptions(mode="sim", nemesis=("partition",), time_limit=2.0, seed=1, out=str(tmp_path / "out"),
                      journal="off")
    with executor:
        explore(base, [1], shrink_budget=0, argv=["harness.py", "explore"], stream=io.StringIO(), executor=executor)
    assert executor.at_close, "explore never closed its pool"
    assert any(name.startswith("minikeydb-explore-") for name in executor.at_close[0]), executor.at_close
    assert list(scratch_root.iterdir()) == []


class _InterruptedWhileClosing(InlineExecutor):
    """An executor whose close() takes a second SIGINT halfway through (after it marks itself closed, as
    ``ProcessExecutor.close`` does, before its workers are killed): ``finished`` says whether it got to the end."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.finished = False

    def close(self) -> None:
        self.calls += 1
        if self.calls > 1:
            return  # closed already (idempotent, as ProcessExecutor's)
        signal.raise_signal(signal.SIGINT)  # a Ctrl-C Ctrl-C: this one while the first's cleanup runs
        self.finished = True  # the workers killed


def test_a_sigint_during_the_pools_cleanup_does_not_cut_it_short(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGINT while explore closes its pool: the close goes to its end and the scratch directory is removed,
    then the signal stops explore (RunInterrupted); before, it cut close() short (workers left, the scratch
    directory left when they wrote to it: a double Ctrl-C left minikeydb-explore-* 3 times in 11)."""
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    executor = _InterruptedWhileClosing()
    base = RunOptions(mode="sim", nemesis=("partition",), time_limit=2.0, seed=1, out=str(tmp_path / "out"),
                      journal="off")
    with InterruptGuard(), pytest.raises((RunInterrupted, KeyboardInterrupt)):
        explore(base, [1], shrink_budget=0, argv=["harness.py", "explore"], stream=io.StringIO(), executor=executor)
    assert executor.finished, "the pool's close() was cut short by the signal"
    assert list(scratch_root.iterdir()) == []
