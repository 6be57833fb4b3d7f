"""Every harness.py command keeps its own exit code when stderr, too, cannot be written (/dev/full)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "histories" / "examples"


def _code(args: list[str], stdout: str, stderr: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(stdout, "w") as out, open(stderr, "w") as err:
        return subprocess.run([sys.executable, "harness.py", *args], cwd=REPO, env=env, stdout=out, stderr=err,
                              timeout=120).returncode


@pytest.mark.parametrize(("args", "expected"), [
    (["check", str(EX / "partition-sim")], 0),
    (["export", str(EX / "bug-no-repair"), "--edn"], 0),
    (["check", "/nonexistent-a1"], 254),
    (["check", "--no-such-flag"], 254),
    # whole runs (4-15 s each on 2 loaded cores): outside the default suite, which must stay under 10 minutes
    pytest.param(["run", "--mode", "sim", "--seed", "1", "--time-limit", "3", "--nemesis", "partition", "--out",
                  "{tmp}"], 0, marks=pytest.mark.realtime),
    pytest.param(["explore", "--workers", "2", "--runs", "2", "--nemesis", "partition", "--out", "{tmp}",
                  "--ledger", "{tmp}/ledger.jsonl"], 0, marks=pytest.mark.realtime),
    pytest.param(["maelstrom", "test", "-w", "echo", "--bin", str(REPO / "tests" / "maelstrom" / "nodes" / "echo.py"),
                  "--node-count", "1", "--time-limit", "1", "--rate", "10", "--out", "{tmp}"], 0,
                 marks=pytest.mark.realtime),
])
@pytest.mark.parametrize("streams", ["both-full", "stderr-full"])
def test_exit_code_is_the_commands_own_when_stderr_is_full(args: list[str], expected: int, streams: str,
                                                           tmp_path: Path) -> None:
    """stdout and stderr at /dev/full (or only stderr): a valid check, export, sim run or explore exits 0, a bad
    path or flag 254, as with a writable stderr (fails: 1; a run with stderr full does not even start)."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    stdout = "/dev/full" if streams == "both-full" else os.devnull
    assert _code(args, stdout, "/dev/full") == expected


@pytest.mark.parametrize(("args", "expected"), [(["--help"], 0), (["get", "k", "--config", "/nonexistent-a1"], 254),
                                                (["frobnicate"], 254)])
@pytest.mark.parametrize("streams", ["both-full", "stdout-full", "stdout-closed", "stderr-closed"])
def test_the_stores_command_line_keeps_its_exit_code(args: list[str], expected: int, streams: str) -> None:
    """``python -m minikeydb`` with stdout or stderr full or closed exits as with working ones: 0 for --help, 254
    for an unreadable config or a bad command, no traceback (failed: 1 with both full or stdout closed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    full = open("/dev/full", "w")  # noqa: SIM115 (closed below)
    with full, open(os.devnull, "w") as null:
        out = {"both-full": full, "stdout-full": full, "stdout-closed": null, "stderr-closed": None}[streams]
        err = {"both-full": full, "stderr-closed": null}.get(streams, subprocess.PIPE)
        closed = {"stdout-closed": 1, "stderr-closed": 2}.get(streams)
        done = subprocess.run([sys.executable, "-m", "minikeydb", *args], cwd=REPO, env=env, stdout=out, stderr=err,
                              preexec_fn=(lambda: os.close(closed)) if closed else None, timeout=60, text=True)
    assert done.returncode == expected, done.stderr
    assert "Traceback" not in (done.stderr or "")
