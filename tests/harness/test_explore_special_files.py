"""explore's ledger and --out paths that are not what they must be: a ledger that is not a regular file (a device
read forever, a FIFO that blocks the open, a directory), an --out that cannot be written: one line naming it, exit
254, before anything runs (was 255 MemoryError after reading 1.9 GB, a silent hang, a misleading --resume hint)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))  # as the adversary's ulimit -v


def _explore(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", "--runs", "3", "--nemesis",
                           "partition", "--time-limit", "3", "--workers", "1", *args],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, preexec_fn=_limit_memory)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 254, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/full", "link-to-dev-full"])
def test_resume_of_a_device_is_refused_in_one_line(device: str, tmp_path: Path) -> None:
    """``--resume /dev/zero`` (or a ledger that is a symlink to /dev/full): refused as a character device, 254
    (was: read whole, 1.9 GB, then ``internal error: MemoryError``, 255)."""
    path = Path(device)
    if device.startswith("link"):
        path = tmp_path / "ledger.jsonl"
        path.symlink_to("/dev/full")
    last = _one_line(_explore(["--out", str(tmp_path / "out"), "--resume", str(path)]))
    assert f"--resume {path}: is a character device, not a regular file" in last


def test_resume_of_a_huge_file_of_one_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    """A regular file of 3 GB (sparse) without a newline: refused at its first line's bound, 254, not read whole."""
    path = tmp_path / "zeros.jsonl"
    with path.open("wb") as f:
        f.truncate(3_000_000_000)
    last = _one_line(_explore(["--out", str(tmp_path / "out"), "--resume", str(path)]))
    assert f"--resume {path}: not an explore ledger" in last


@pytest.mark.parametrize("flag", ["--ledger", "--resume"])
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_ledger_that_is_a_fifo_or_a_directory_is_refused_up_front(flag: str, kind: str, tmp_path: Path) -> None:
    """``--ledger FIFO`` hung silently in its open; ``--ledger DIR`` said "the file exists; continue it with
    --resume DIR", which then failed "Is a directory": each is now refused naming what it is, 254."""
    path = tmp_path / "ledger"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    last = _one_line(_explore(["--out", str(tmp_path / "out"), flag, str(path)], timeout=30))
    what = "a FIFO (named pipe)" if kind == "fifo" else "a directory"
    assert f"{flag} {path}: is {what}, not a regular file" in last
    assert "continue it with" not in last
