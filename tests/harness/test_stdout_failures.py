"""Every harness.py subcommand keeps its own exit code when stdout fails: a full device (``> /dev/full``),
no stdout at all (``>&-``) or a reader that has gone (``| head -c1``); no traceback, and one line on stderr saying
stdout failed (for a full device), besides the command's own notes there (replay's banner, progress)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "histories" / "examples"
NODES = ROOT / "tests" / "maelstrom" / "nodes"

MAELSTROM_ECHO_ALTERING = ["-w", "echo", "--bin", str(NODES / "echo_altering.py"), "--node-count", "1",
                           "--time-limit", "1", "--rate", "10"]


def _different_replay(tmp: Path) -> list[str]:
    """A copy of the partition-sim example whose recorded history lost its last line: the replay differs (exit 1)."""
    run = tmp / "recorded"
    shutil.copytree(EXAMPLES / "partition-sim", run)
    history = run / "history.jsonl"
    history.write_bytes(b"".join(history.read_bytes().splitlines(keepends=True)[:-1]))
    return ["replay", str(run), "--out", str(tmp / "replayed")]


COMMANDS: dict[str, tuple[Callable[[Path], list[str]], int]] = {
    # name: (the arguments, given a scratch directory; the exit code with a working stdout)
    "run": (lambda tmp: ["run", "--mode", "sim", "--bug", "no-repair", "--nemesis", "partition", "--time-limit", "10",
                         "--seed", "3", "--out", str(tmp)], 1),
    "check": (lambda tmp: ["check", str(EXAMPLES / "bug-no-repair")], 1),
    "report": (lambda tmp: ["report", str(EXAMPLES / "bug-no-repair"), "--out", str(tmp / "r.html")], 1),
    "export": (lambda tmp: ["export", "--edn", str(EXAMPLES / "partition")], 0),
    "replay": (_different_replay, 1),
    "explore": (lambda tmp: ["explore", "--bug", "no-repair", "--nemesis", "partition", "--runs", "1",
                             "--shrink-runs", "0", "--workers", "1", "--out", str(tmp)], 1),
    "compare": (lambda tmp: ["compare", "--bug", "no-repair", "--nemesis", "partition", "--conflict", "lww",
                             "--time-limit", "10", "--seed", "3", "--out", str(tmp)], 1),
    "maelstrom-test": (lambda tmp: ["maelstrom", "test", *MAELSTROM_ECHO_ALTERING, "--out", str(tmp)], 1),
    "maelstrom-explore": (lambda tmp: ["maelstrom", "explore", *MAELSTROM_ECHO_ALTERING, "--quiesce", "0", "--runs",
                                       "1", "--shrink-runs", "0", "--workers", "1", "--out", str(tmp)], 1),
    "maelstrom-help": (lambda tmp: ["maelstrom", "--help"], 0),
}


def _harness(args: list[str], stdout: str) -> tuple[int, str]:
    """Run ``harness.py ARGS`` with stdout ``full`` (/dev/full), ``closed`` (``>&-``) or ``gone`` (a pipe whose
    reader has closed it); (exit code, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}  # every print meets the failing stdout
    argv = [sys.executable, str(ROOT / "harness.py"), *args]
    if stdout == "gone":
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        with proc.stderr:
            stderr = proc.stderr.read().decode()
        return proc.wait(timeout=120), stderr
    if stdout == "closed":
        done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: os.close(1), timeout=120)
        return done.returncode, done.stderr
    with open("/dev/full", "w") as full:
        done = subprocess.run(argv, cwd=ROOT, env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    return done.returncode, done.stderr


REALTIME = {"maelstrom-test", "maelstrom-explore"}
"""Real processes in real time (about 2-5 s each): under the ``realtime`` marker, as the other Maelstrom runs."""
SLOW = {"run", "explore", "compare", "replay"}
"""Whole simulated runs (1-4 s each): their ``full`` case stays in the default suite, the closed and reader-less
cases run under ``realtime`` (the default suite must stay under 10 minutes on 2 cores)."""


def _case(name: str, stdout: str) -> Any:
    slow = name in REALTIME or (name in SLOW and stdout != "full")
    return pytest.param(name, stdout, marks=[pytest.mark.realtime] if slow else [], id=f"{name}-{stdout}")


@pytest.mark.parametrize(("name", "stdout"), [_case(name, stdout) for stdout in ("full", "closed", "gone")
                                               for name in COMMANDS])
def test_a_failing_stdout_keeps_the_commands_exit_code(name: str, stdout: str, tmp_path: Path) -> None:
    """``harness.py NAME ...`` with a full, closed or reader-less stdout exits with the code it has with a working
    one, with no traceback and, for a full device, one line saying stdout could not be written."""
    make_args, expected = COMMANDS[name]
    code, stderr = _harness(make_args(tmp_path), stdout)
    assert code == expected, stderr[-3000:]
    for word in ("Traceback", "internal error", "Exception ignored", "No space left on device (check the path"):
        assert word not in stderr, stderr[-3000:]
    said = [line for line in stderr.splitlines() if "could not be written to stdout" in line]
    writes_stdout = name != "export"  # export writes its file and says so on stderr: stdout is never written
    assert len(said) == (1 if stdout == "full" and writes_stdout else 0), stderr[-3000:]


@pytest.mark.parametrize("stdout", ["full", "closed"])
def test_export_to_a_stdout_that_cannot_take_it_exits_254(stdout: str) -> None:
    """``export --out -`` (the export is the product) to /dev/full or a closed stdout: 254 and one line, not 0."""
    code, stderr = _harness(["export", "--edn", str(EXAMPLES / "partition"), "--out", "-"], stdout)
    assert code == 254, stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "stdout" in lines[0] and "Traceback" not in stderr, stderr[-3000:]
