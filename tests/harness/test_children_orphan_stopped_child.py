"""The run's helper processes die with the run: also one stopped (SIGSTOP) before it read its first message."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.harness._children import start_run, wait_children


def _alive(pid: int) -> str | None:
    """The process's state letter, or None when it is gone (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state in ("Z", "X") else state


@pytest.mark.realtime
def test_a_child_stopped_as_it_starts_does_not_outlive_a_killed_run(tmp_path: Path) -> None:
    """SIGSTOP both children as soon as they exist, SIGKILL the run: neither is left (death signal armed before exec)."""
    run = start_run(tmp_path / "out")
    found: dict[str, int] = {}
    try:
        found = wait_children(run, ("cp", "jw"))
        for pid in found.values():
            os.kill(pid, signal.SIGSTOP)
        assert set(found) == {"cp", "jw"}, found
        time.sleep(1.0)
        run.kill()
        run.communicate()
        time.sleep(1.0)
        left = {name: _alive(pid) for name, pid in found.items() if _alive(pid)}
        assert left == {}, f"left behind after the run was killed: {left} (pids {found})"
    finally:
        run.kill()
        run.communicate()
        for pid in found.values():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
