"""A real SIGKILL of a writing process loses nothing that process acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import LogEngine

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_keeps_every_acknowledged_record(tmp_path):
    """Every record whose apply() returned in a SIGKILLed child is present (or superseded) after reopening."""
    log = LogEngine(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.sigkill_writer", str(log.path())],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: list[str] = []
    deadline = time.monotonic() + 20
    try:
        while len(acked) < 400 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acked.append(line)
        os.kill(child.pid, signal.SIGKILL)
        rest, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    acked.extend(rest.splitlines())  # printed before the kill: acknowledged too
    # Up to 400 are awaited, for at most 20 s: a loaded machine may acknowledge fewer, and the claim
    # is about whatever was acknowledged.
    assert acked, f"child acknowledged nothing; stderr: {err[-2000:]}"
    assert child.returncode == -signal.SIGKILL

    newest: dict[str, int] = {}
    for line in acked:
        key, physical = line.split()
        newest[key] = max(newest.get(key, 0), int(physical))
    store = log.open()
    try:
        for key, physical in newest.items():
            record = store.get(key)
            assert record is not None, f"acknowledged key {key} lost"
            assert record.stamp[0] >= physical, f"{key}: acknowledged stamp {physical}, found {record.stamp}"
            assert record.value == f"v{record.stamp[0]}"
    finally:
        store.crash()
