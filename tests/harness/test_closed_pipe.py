"""A reader that goes away (``| head -1``) never changes the exit code: the verdict decides it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "histories" / "examples"


def run_with_stdout_closed(args: list[str]) -> tuple[int, str]:
    """Run ``harness.py ARGS`` with its stdout a pipe whose reader has already gone; (exit code, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}  # every print meets the closed pipe
    proc = subprocess.Popen([sys.executable, str(ROOT / "harness.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    return proc.wait(timeout=300), stderr


def test_check_of_an_invalid_then_a_valid_run_exits_1_into_a_closed_pipe() -> None:
    """``check INVALID VALID | head -1`` exits 1, the worst verdict, with no traceback."""
    code, stderr = run_with_stdout_closed(["check", str(EXAMPLES / "bug-no-repair"), str(EXAMPLES / "partition")])
    assert code == 1, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


def test_check_json_exits_1_into_a_closed_pipe() -> None:
    """``check --json VALID INVALID | head -c 10`` exits 1 although the first write already failed."""
    code, stderr = run_with_stdout_closed(["check", "--json", str(EXAMPLES / "partition"),
                                           str(EXAMPLES / "bug-no-repair")])
    assert code == 1, stderr


def test_an_invalid_simulated_run_exits_1_into_a_closed_pipe(tmp_path: Path) -> None:
    """A sim run whose verdict is INVALID exits 1 even when printing its summary meets a closed pipe."""
    code, stderr = run_with_stdout_closed(["--mode", "sim", "--bug", "no-repair", "--nemesis", "partition",
                                           "--time-limit", "10", "--seed", "3", "--out", str(tmp_path)])
    assert '"valid": false' in next(tmp_path.glob("*/results.json")).read_text()
    assert code == 1, stderr
    assert "Traceback" not in stderr


def test_a_run_whose_stdout_is_a_full_device_exits_with_its_verdict(tmp_path: Path) -> None:
    """``run > /dev/full``: the run's files are written, the exit code is the verdict's, one line says stdout failed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for bug, verdict in ((None, 0), ("no-repair", 1)):
        out = tmp_path / str(verdict)
        args = ["--mode", "sim", "--nemesis", "partition", "--time-limit", "10", "--seed", "3", "--out", str(out),
                *(["--bug", bug] if bug else [])]
        with open("/dev/full", "w") as full:
            proc = subprocess.run([sys.executable, str(ROOT / "harness.py"), "run", *args], cwd=ROOT, env=env,
                                  stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
        assert proc.returncode == verdict, proc.stderr
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
        assert [line for line in proc.stderr.splitlines() if "could not be written to stdout" in line], proc.stderr
        assert (next(out.glob("*/results.json")).parent / "report.html").exists()
