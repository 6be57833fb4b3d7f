"""explore closes its worker pool before it removes its scratch directory, so no trial can write there after."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest

from runner.explore import explore
from runner.explore_pool import InlineExecutor
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
