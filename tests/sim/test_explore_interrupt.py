"""``harness.py explore`` stops on a SIGINT at any point of its start, even when SIGINT came in ignored."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runner.explore as sexplore
from runner.cli import main


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored as a script's background job inherits it (``cmd &``), which harness.py restores."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sigint_before_the_sweep_starts_exits_130_with_the_resume_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        sigint_ignored: None) -> None:
    """A SIGINT after the ledger is made but before the sweep's guard stops explore: 130, the resume line, no seed."""
    real = sexplore.ExploreProgress

    class Interrupting(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kw: Any) -> None:
            signal.raise_signal(signal.SIGINT)
            super().__init__(*args, **kw)

    monkeypatch.setattr(sexplore, "ExploreProgress", Interrupting)
    ledger = tmp_path / "ledger.jsonl"
    code = main(["explore", "--runs", "3", "--workers", "1", "--time-limit", "2", "--out", str(tmp_path / "h"),
                 "--ledger", str(ledger)])
    err = capsys.readouterr().err
    assert code == 130, err
    assert f"--resume {ledger}" in err
    assert [json.loads(x) for x in ledger.read_text().splitlines()[1:]] == []
