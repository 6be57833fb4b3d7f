"""A terminal's Ctrl-C reaches the whole foreground process group: the run's helper processes must end quietly."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.harness._children import start_run, wait_children


@pytest.mark.realtime
@pytest.mark.parametrize("delay", [0.0, 1.5])  # at 0 s the children are still starting (their "Fatal Python error", racy)
def test_ctrl_c_to_the_process_group_prints_no_traceback_of_a_child(tmp_path: Path, delay: float) -> None:
    """SIGINT to the run's process group, at the children's start or mid-run: exit 130, no child's 'Traceback' or 'Fatal Python error'."""
    run = start_run(tmp_path / "out")
    try:
        found = wait_children(run, ("cp", "jw"))
        assert set(found) == {"cp", "jw"}, found
        time.sleep(delay)
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 130, err[-500:]
    assert "Traceback" not in err and "Fatal Python error" not in err, err[-1500:]
