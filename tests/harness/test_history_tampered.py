"""A run whose history.jsonl is removed or damaged on disk before its check ends UNKNOWN, said, not a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner import phases
from runner.options import RunOptions
from runner.run import run
from runner.summary import format_summary


def _remove(history: Path) -> None:
    history.unlink()


def _damage(history: Path) -> None:
    data = bytearray(history.read_bytes())
    data[5:25] = b"\0" * 20  # what `truncate` under a writer that goes on leaves: a hole of zeros
    history.write_bytes(bytes(data))


@pytest.mark.parametrize("tamper", [_remove, _damage], ids=["removed", "zeroed"])
def test_a_history_changed_on_disk_is_an_unknown_verdict_with_its_reason(tmp_path: Path, monkeypatch: Any,
                                                                         tamper: Any) -> None:
    """history.jsonl removed or zeroed before the run checks it: results.json says unknown and why, the summary
    counts no operations as zeros (before: internal error, exit 255, no results.json)."""
    real = phases.finish

    def tampered(options: RunOptions, run_dir: Path, *args: Any, **kwargs: Any) -> Any:
        tamper(run_dir / "history.jsonl")
        return real(options, run_dir, *args, **kwargs)

    monkeypatch.setattr(phases, "finish", tampered)
    options = RunOptions(mode="sim", time_limit=1.0, seed=1, out=str(tmp_path)).validate()
    result = run(options, ["test"], quiet=True, report=False)
    written = json.loads((result.run_dir / "results.json").read_text())
    assert written["valid"] == "unknown" and written["reason"] == "history-unreadable", written
    assert "history.jsonl" in written["explanation"]
    summary = format_summary(result)
    assert "operations: not counted" in summary and "verdict: UNKNOWN" in summary
    assert " 0        0" not in summary  # no table of zeros


def test_a_history_replaced_by_something_else_is_named() -> None:
    """A history path that is gone or no regular file (a FIFO would block its reader for ever) is named."""
    assert phases._not_a_regular_file(Path("/nonexistent/history.jsonl")) is not None
    assert phases._not_a_regular_file(Path("/dev/null")) == "/dev/null: no longer a regular file"
    assert phases._not_a_regular_file(Path(__file__)) is None
