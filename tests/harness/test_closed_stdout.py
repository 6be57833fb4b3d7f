"""A harness started with no stdout at all (``>&-``) still exits with its verdict's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "histories" / "examples"


def run_without_stdout(args: list[str]) -> tuple[int, str]:
    """Run ``harness.py ARGS`` with file descriptor 1 closed (Python's ``sys.stdout`` is None); (exit code, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: os.close(1), timeout=300)
    return proc.returncode, proc.stderr


def test_check_of_a_valid_run_exits_0_without_stdout() -> None:
    """``check VALID >&-`` exits 0 (not 1, the INVALID code) and prints no traceback."""
    code, stderr = run_without_stdout(["check", str(EXAMPLES / "partition")])
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_check_of_an_invalid_run_exits_1_without_stdout() -> None:
    """``check INVALID >&-`` exits 1 with no traceback."""
    code, stderr = run_without_stdout(["check", str(EXAMPLES / "bug-no-repair")])
    assert code == 1, stderr
    assert "Traceback" not in stderr
