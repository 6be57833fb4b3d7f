"""explore whose --json or --out cannot be written (a full device or disk): one line naming the path, exit 254."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness._tmpfs import small_tmpfs

ROOT = Path(__file__).resolve().parents[2]


def _explore(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", "--nemesis", "partition", *args],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=300)


@pytest.mark.realtime
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_json_report_on_a_full_device_is_one_line_and_254(workers: str, tmp_path: Path) -> None:
    """``explore --json /dev/full``: one line naming --json and the device, exit 254 (was 255, internal error)."""
    done = _explore(["--runs", "1", "--time-limit", "3", "--workers", workers, "--out", str(tmp_path),
                     "--json", "/dev/full"])
    assert done.returncode == 254, done.stderr
    last = done.stderr.splitlines()[-1]
    assert "--json /dev/full could not be written" in last and "No space left on device" in last, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 KB tmpfs (root only): too small for the minimal failing run's files."""
    with small_tmpfs(tmp_path / "small", "200k") as mount:
        yield mount


@pytest.mark.realtime
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_minimal_run_on_a_full_disk_is_one_line_and_254(workers: str, full_disk: Path) -> None:
    """``explore --out`` on a disk too small for the minimal failing run: one line naming --out and what failed,
    exit 254 (was 255, ``internal error: OSError: [Errno 28]``), and no half-written run directory left there
    (was ``...-shrunk/`` with only run.json and nodes/, which check, report and replay then met), no ``latest``."""
    out = full_disk / "out"
    done = _explore(["--bug", "no-repair", "--runs", "1", "--shrink-runs", "2", "--workers", workers,
                     "--out", str(out)])
    assert done.returncode == 254, done.stderr
    last = done.stderr.splitlines()[-1]
    assert f"could not be written in {out}" in last and "No space left on device" in last, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    left = sorted(p.name for p in out.iterdir())
    assert left == ["explore-ledgers"], left  # the ledger stays; no run directory, no `latest` naming one
