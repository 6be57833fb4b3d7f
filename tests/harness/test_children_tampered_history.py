"""A history damaged on disk mid-run: the check process hands back no verdict the files left do not support."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import ROOT
from tests.harness._children import start_run


def _damage_when_grown(run: subprocess.Popen[str], out: Path, how: str) -> None:
    """Once history.jsonl holds 200 kB, remove it or cut its last 50 bytes (as an attacker, a disk tool or a user might)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        found = list(out.glob("*/history.jsonl"))
        if found and found[0].stat().st_size > 200_000:
            if how == "rm":
                found[0].unlink()
            else:
                os.truncate(found[0], found[0].stat().st_size - 50)  # the writer goes on at its offset: a hole of NULs
            return
        time.sleep(0.01)
    pytest.skip("the run ended before its history grew to 200 kB")


@pytest.mark.realtime
@pytest.mark.parametrize("how", ["rm", "tail"])
def test_a_history_damaged_mid_run_is_not_judged_valid_from_bytes_no_longer_on_disk(tmp_path: Path, how: str) -> None:
    """The run's verdict agrees with `harness.py check` of the run directory it leaves (here: the history is refused)."""
    out = tmp_path / "out"
    run = start_run(out, time_limit=60)
    try:
        _damage_when_grown(run, out, how)
        _, err = run.communicate(timeout=600)
    finally:
        run.kill()
        run.wait()
    run_dir = next(p for p in out.iterdir() if p.is_dir() and not p.is_symlink())
    recheck = subprocess.run([sys.executable, str(ROOT / "harness.py"), "check", str(run_dir), "--json"],
                             capture_output=True, text=True, cwd=ROOT)
    assert recheck.returncode == 254, recheck.stdout[:300]  # the files left: the history is missing or corrupt
    # Before: with the check process on, exit 0 and results.json "valid": true from bytes the run directory no
    # longer holds. Now the check process refuses them, the run checks its files, and (test_history_tampered.py)
    # a history it cannot read is verdict unknown, said, exit 2: never a verdict from bytes no longer on disk.
    results = json.loads((run_dir / "results.json").read_text())
    assert run.returncode == 2 and results["reason"] == "history-unreadable", (run.returncode, err[-300:])
