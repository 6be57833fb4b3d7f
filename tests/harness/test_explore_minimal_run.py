"""explore's minimal failing run that cannot be finished (a Ctrl-C while it is written, a full or read-only --out):
no half run left in --out, ``latest`` as it was before, and a line saying what happened with the command that
writes it (``--resume LEDGER --shrink-again``); a read-only --out is refused before the sweep."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness._tmpfs import small_tmpfs

ROOT = Path(__file__).resolve().parents[2]
FAILING = ["--runs", "4", "--bug", "no-repair", "--nemesis", "partition", "--time-limit", "3", "--rate", "1"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _explore(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", *args], cwd=ROOT, env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 100 KB tmpfs (root only): too small for the minimal failing run; unmounted after."""
    with small_tmpfs(tmp_path / "small", "100k") as mount:
        yield mount


def test_a_read_only_out_is_refused_before_the_sweep(tmpfs: Path, tmp_path: Path) -> None:
    """``--out`` on a read-only file system: one line naming --out, 254, before any seed runs (was: the sweep and
    the shrink ran, then the minimal run could not be written and the shrink was lost)."""
    (tmpfs / "out").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    ledger = tmp_path / "l.jsonl"
    done = _explore([*FAILING, "--workers", "1", "--out", str(tmpfs / "out"), "--ledger", str(ledger)])
    assert done.returncode == 254, done.stderr
    assert done.stderr.splitlines() == [f"error: --out {tmpfs / 'out'}: cannot write there: Read-only file system; "
                                        "the minimal failing run goes there (give another --out)"]
    assert not ledger.exists()


@pytest.mark.realtime
def test_a_minimal_run_too_big_for_out_keeps_latest_and_says_how_to_write_it(tmpfs: Path, tmp_path: Path) -> None:
    """A full --out: the half run removed, ``latest -> prior`` still there (was deleted), and the line ends with the
    ``--resume LEDGER --shrink-again`` command (was: none, the shrink thrown away)."""
    out = tmpfs / "out"
    shutil.copytree(ROOT / "histories" / "examples" / "shrunk-no-repair", out / "prior",
                    ignore=shutil.ignore_patterns("report.html"))  # a prior run: the disk left too small for one more
    (out / "latest").symlink_to("prior")
    st = os.statvfs(tmpfs)  # leave 24 KB whatever the prior run's size: too little for a run with its report.html
    (tmpfs / "filler").write_bytes(b"x" * max(0, st.f_bavail * st.f_frsize - 24 * 1024))
    ledger = tmp_path / "l.jsonl"
    done = _explore([*FAILING, "--workers", "1", "--out", str(out), "--ledger", str(ledger)])
    assert done.returncode == 254, done.stderr
    last = done.stderr.splitlines()[-1]
    assert "No space left on device" in last and "internal error" not in done.stderr, done.stderr
    assert last.endswith(f"--shrink-again --resume {ledger}"), last
    assert sorted(p.name for p in out.iterdir()) == ["latest", "prior"]
    assert os.readlink(out / "latest") == "prior"


@pytest.mark.realtime
@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_a_ctrl_c_while_the_minimal_run_is_written_leaves_no_half_run(delay: float, tmp_path: Path) -> None:
    """SIGINT as the minimal run's directory appears: 130, nothing of it in --out and ``latest`` as before (was: a
    half run, ``latest`` naming it), the line says the minimal run was being written (was "while shrinking the
    failure") and gives the command that writes it."""
    out = tmp_path / "out"
    (out / "prior").mkdir(parents=True)
    (out / "latest").symlink_to("prior")
    ledger = tmp_path / "l.jsonl"
    with (tmp_path / "err").open("w") as err:
        proc = subprocess.Popen([sys.executable, str(ROOT / "harness.py"), "explore", *FAILING, "--workers", "2",
                                 "--out", str(out), "--ledger", str(ledger)], cwd=ROOT, env=ENV,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 240
            while proc.poll() is None and time.monotonic() < deadline:
                if any(p.name.endswith("shrunk") for p in out.iterdir()):
                    time.sleep(delay)
                    os.killpg(proc.pid, signal.SIGINT)
                    break
                time.sleep(0.002)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    stderr = (tmp_path / "err").read_text()
    assert code == 130, stderr
    assert "interrupted while the minimal failing run was being written" in stderr, stderr
    assert "while shrinking" not in stderr and "partial run in" not in stderr, stderr
    assert "write it with: " in stderr and f"--shrink-again --resume {ledger}" in stderr, stderr
    assert sorted(p.name for p in out.iterdir()) == ["latest", "prior"]
    assert os.readlink(out / "latest") == "prior"
