"""python -m checker.linearizable keeps the verdict's exit code when stdout fails (a full device, a reader gone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = [{"process": 0, "type": "invoke", "f": "write", "value": 1}, {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 1, "type": "invoke", "f": "read", "value": None}, {"process": 1, "type": "ok", "f": "read", "value": 1}]
BAD = [*GOOD[:2], GOOD[2], {**GOOD[3], "value": 2}]


def _history(tmp_path: Path, name: str, events: list[dict]) -> Path:
    p = tmp_path / f"{name}.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in events))
    return p


def _lin(args: list[str], stdout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "checker.linearizable", "--model", "cas-register", *args],
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120, env=os.environ.copy())


@pytest.mark.parametrize(("name", "events", "code"), [("good", GOOD, 0), ("bad", BAD, 1)])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_full_stdout_is_one_line_and_the_verdicts_exit_code(tmp_path: Path, name: str, events: list[dict],
                                                               code: int, json_flag: list[str]) -> None:
    """stdout on /dev/full: the verdict's exit code (not 1 from an OSError traceback) and one line on stderr."""
    with open("/dev/full", "w") as full:
        done = _lin([str(_history(tmp_path, name, events)), *json_flag], full.fileno())
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not be written to stdout (No space left on device)" in lines[0]


@pytest.mark.parametrize(("name", "events", "code"), [("good", GOOD, 0), ("bad", BAD, 1)])
def test_a_reader_gone_ends_quietly_with_the_verdicts_exit_code(tmp_path: Path, name: str, events: list[dict],
                                                                code: int) -> None:
    """stdout a pipe whose reader has gone (| head -0): no traceback, nothing said, the verdict's exit code."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _lin([str(_history(tmp_path, name, events))], write_end)
    finally:
        os.close(write_end)
    assert done.returncode == code and done.stderr == ""
