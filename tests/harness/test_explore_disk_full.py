"""explore whose ledger or whose workers' scratch directory ($TMPDIR) fills up mid-sweep: one line naming the path
and the OS error, exit 254, the ledger's lines intact, and ``--resume`` continues (was 255, internal error)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.harness._tmpfs import small_tmpfs

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096


def _explore(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", "--nemesis", "partition",
                           "--time-limit", "3", *args],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=300)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs (root only), filled but for one page by ``filler``; unmounted after."""
    with small_tmpfs(tmp_path / "small", "64k") as mount:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            os.write(fd, b"x" * (64 * 1024 - PAGE))
        finally:
            os.close(fd)
        yield mount


def _ledger_seeds(path: Path) -> list[int]:
    """The seeds of a ledger whose every line is whole JSON (ending in a newline): a cut line fails the test."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), f"the ledger's last line is cut short: {data[-80:]!r}"
    lines = [orjson.loads(line) for line in data.splitlines()]
    assert lines[0].get("ledger") == "minikeydb-explore"
    return [line["seed"] for line in lines[1:]]


def _one_clean_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 254, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "Logging error" not in done.stderr, done.stderr
    return done.stderr.splitlines()[-1]


@pytest.mark.realtime
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_ledger_that_fills_mid_sweep_is_one_line_and_254_and_resumes(workers: str, small_disk: Path,
                                                                        tmp_path: Path) -> None:
    """The ledger on a disk with one page free: after a few seed lines, one line naming the ledger and ENOSPC, exit
    254, every line in it whole; with room again, ``--resume LEDGER`` runs the rest (was 255, internal error)."""
    ledger = small_disk / "ledger.jsonl"
    flags = ["--runs", "12", "--workers", workers, "--out", str(tmp_path / "out")]
    done = _explore([*flags, "--ledger", str(ledger)])
    last = _one_clean_line(done)
    assert str(ledger) in last and "No space left on device" in last, done.stderr
    held = _ledger_seeds(ledger)
    assert 1 <= len(held) < 12 and held == list(range(1, len(held) + 1)), held
    (small_disk / "filler").unlink()
    again = _explore([*flags, "--resume", str(ledger)])
    assert again.returncode == 0, again.stderr
    assert f"resuming: {len(held)} seed(s) already in the ledger" in again.stderr, again.stderr
    assert sorted(_ledger_seeds(ledger)) == list(range(1, 13))


def test_a_ledger_on_a_full_device_is_one_line_and_254(tmp_path: Path) -> None:
    """``--ledger /dev/full``: a device is no ledger: one line naming it, exit 254 (was 255; then ENOSPC at its
    header; now refused before it is opened, as every file that is not a regular one)."""
    done = _explore(["--runs", "1", "--workers", "1", "--out", str(tmp_path / "out"), "--ledger", "/dev/full"])
    last = _one_clean_line(done)
    assert "--ledger /dev/full: is a character device, not a regular file" in last, done.stderr


@pytest.mark.realtime
@pytest.mark.parametrize("size", ["64k", "160k"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_scratch_directory_is_one_line_and_254_and_resumes(workers: str, size: str, tmp_path: Path) -> None:
    """$TMPDIR on a tmpfs too small for a trial: one line naming the scratch directory and ENOSPC, exit 254, no
    traceback (a node log's ``Logging error`` neither); the ledger stays whole and resumes (was 255, internal error)."""
    ledger = tmp_path / "ledger.jsonl"
    flags = ["--runs", "3", "--workers", workers, "--out", str(tmp_path / "out")]
    with small_tmpfs(tmp_path / "tmp", size) as tmp:
        done = _explore([*flags, "--ledger", str(ledger)], env={"TMPDIR": str(tmp)})
        leftovers = sorted(p.name for p in tmp.iterdir())
    last = _one_clean_line(done)
    assert str(tmp) in last and "No space left on device" in last and "TMPDIR" in last, done.stderr
    assert leftovers == [], leftovers
    held = _ledger_seeds(ledger)
    again = _explore([*flags, "--resume", str(ledger)])
    assert again.returncode == 0, again.stderr
    assert sorted(_ledger_seeds(ledger)) == [1, 2, 3] and len(held) < 3


def _maelstrom_explore(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    node = ROOT / "tests" / "maelstrom" / "nodes" / "echo.py"
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), "maelstrom", "explore", "-w", "echo", "--bin",
                           str(node), "--node-count", "1", "--time-limit", "1", "--rate", "10", "--quiesce", "0",
                           *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=300)


@pytest.mark.realtime
@pytest.mark.parametrize("workers", ["1", "2"])
def test_maelstrom_explore_on_a_full_scratch_directory_or_ledger_is_one_line_and_254(workers: str, small_disk: Path,
                                                                                    tmp_path: Path) -> None:
    """maelstrom explore shares the ledger and the trial machinery: an 8 KB $TMPDIR is one line naming it and ENOSPC,
    exit 254 (was 255, ``TaskFailed``/``OSError``); a ledger filling mid-sweep the same, its lines whole."""
    with small_tmpfs(tmp_path / "tmp", "8k") as tmp:
        done = _maelstrom_explore(["--runs", "2", "--workers", workers, "--out", str(tmp_path / "out"), "--ledger",
                                   str(tmp_path / "l1.jsonl")], env={"TMPDIR": str(tmp)})
    last = _one_clean_line(done)
    assert str(tmp) in last and "No space left on device" in last and "TMPDIR" in last, done.stderr
    ledger = small_disk / "ledger.jsonl"
    done = _maelstrom_explore(["--runs", "12", "--workers", workers, "--out", str(tmp_path / "out"), "--ledger",
                               str(ledger)])
    last = _one_clean_line(done)
    assert str(ledger) in last and "No space left on device" in last, done.stderr
    assert 1 <= len(_ledger_seeds(ledger)) < 12


@pytest.mark.realtime
@pytest.mark.parametrize("size", ["8k", "20k"])  # 32k held a whole minimal run at times (CI, s26)
def test_maelstrom_explore_minimal_run_on_a_full_disk_leaves_no_half_run(size: str, tmp_path: Path) -> None:
    """maelstrom explore --out on a disk too small for the minimal failing run (an echo node that alters the echo):
    one line naming --out and ENOSPC, exit 254, and no ``...-shrunk/`` half run nor ``latest`` left there (was 255,
    ``internal error: OSError``, and a directory of run.json, history.jsonl and nodes/ that ``latest`` named)."""
    with small_tmpfs(tmp_path / "small", size) as disk:
        out = disk / "out"
        node = ROOT / "tests" / "maelstrom" / "nodes" / "echo_altering.py"
        done = _maelstrom_explore(["--bin", str(node), "--runs", "1", "--shrink-runs", "0", "--workers", "1",
                                   "--out", str(out), "--ledger", str(tmp_path / "l.jsonl")])
        left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    last = _one_clean_line(done)
    assert str(out) in last and "No space left on device" in last, done.stderr
    assert left == [], left


@pytest.mark.realtime
def test_resuming_a_ledger_on_a_full_disk_is_one_line_and_254(tmp_path: Path) -> None:
    """``--resume`` of a ledger whose last line lacks its newline, on a full disk: the newline cannot be written:
    one line naming the ledger and ENOSPC, exit 254 (was 255, internal error), the ledger unchanged."""
    made = _explore(["--runs", "1", "--workers", "1", "--out", str(tmp_path / "out"), "--ledger",
                     str(tmp_path / "l.jsonl")])
    assert made.returncode == 0, made.stderr
    data = (tmp_path / "l.jsonl").read_bytes().rstrip(b"\n")
    data += b" " * (2 * PAGE - len(data))  # whitespace ends the last JSON line: the newline needs a page of its own
    with small_tmpfs(tmp_path / "small", "64k") as disk:
        ledger = disk / "ledger.jsonl"
        ledger.write_bytes(data)
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            os.write(fd, b"x" * (64 * 1024 - 2 * PAGE))
        finally:
            os.close(fd)
        done = _explore(["--runs", "2", "--workers", "1", "--out", str(tmp_path / "out"), "--resume", str(ledger)])
        after = ledger.read_bytes()
    last = _one_clean_line(done)
    assert f"--resume {ledger}" in last and "No space left on device" in last, done.stderr
    assert after == data
