"""Helpers of the tests of the run's child processes (a real ``harness.py run --mode sim``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from runner import ROOT


def children(pid: int) -> dict[str, int]:
    """The check process ('cp') and journal writer ('jw') among ``pid``'s children, by pid."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"runner.check_process" in cmd:
            found["cp"] = int(entry.name)
        elif ppid == pid and b"runner.journal_writer" in cmd:
            found["jw"] = int(entry.name)
    return found


def start_run(out: Path, *extra: str, cwd: Path | None = None, time_limit: int = 30) -> subprocess.Popen[str]:
    """A real ``harness.py run --mode sim`` in a session of its own (a terminal's process group)."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "harness.py"), "run", "--mode", "sim", "--time-limit", str(time_limit),
         "--seed", "1", "--nemesis", "partition,crash", "--out", str(out), *extra],
        cwd=cwd or ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})


def wait_children(process: subprocess.Popen[str], want: tuple[str, ...], timeout: float = 120) -> dict[str, int]:
    """Poll until the run's children named in ``want`` all exist (or the run ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        found = children(process.pid)
        if all(w in found for w in want):
            return found
        time.sleep(0.002)
    return children(process.pid)
