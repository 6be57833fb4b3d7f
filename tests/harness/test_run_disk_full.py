"""``run --out`` on a disk that fills up mid-run: one line naming the file and the OS error, exit 254, no traceback
(from the run or its journal writer process), and what was written kept usable (was 255, internal error)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.harness._tmpfs import small_tmpfs

ROOT = Path(__file__).resolve().parents[2]


def _fill(mount: Path, kib: int) -> None:
    fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"x" * (kib * 1024))
    finally:
        os.close(fd)


@pytest.mark.realtime
@pytest.mark.parametrize("filled_kib", [500, 600, 900, 950])
def test_a_run_whose_out_fills_up_is_one_line_and_254_and_keeps_its_history(tmp_path: Path, filled_kib: int) -> None:
    """A sim run into a 1 MiB tmpfs pre-filled with N KiB (the history, the journal or the journal writer process
    hits ENOSPC first, by N): exit 254, one line naming a file of the run and the error, no traceback, no
    'Fatal Python error'; history.jsonl left as whole JSON lines (a prefix of the run) for check/report."""
    with small_tmpfs(tmp_path / "small", "1m") as mount:
        _fill(mount, filled_kib)
        done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "run", "--mode", "sim", "--nodes", "3",
                               "--time-limit", "8", "--seed", "3", "--nemesis", "partition", "--fault-interval", "2",
                               "--out", str(mount), "--name", "full"],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                              timeout=300)
        (run_dir,) = mount.glob("*-full")
        for word in ("Traceback", "internal error", "Fatal Python error", "Logging error"):
            assert word not in done.stderr, done.stderr
        assert done.returncode == 254, done.stderr
        lines = [line for line in done.stderr.splitlines() if not line.startswith("MinikeyDB: ")]
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"error: {run_dir}/") and "No space left on device" in lines[0], done.stderr
        assert f"kept in {run_dir}/" in lines[0], done.stderr
        history = run_dir / "history.jsonl"
        if history.exists():
            data = history.read_bytes()
            assert not data or data.endswith(b"\n"), data[-80:]
            events = [orjson.loads(line) for line in data.splitlines()]
            assert [e["index"] for e in events[1:]] == list(range(len(events) - 1))
