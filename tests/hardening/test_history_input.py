"""Malformed history input: check and report exit 254 with file, line and field, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "histories" / "examples" / "partition" / "history.jsonl"
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"


def cases() -> dict[str, tuple[bytes, str, str]]:
    """name -> (file content, file suffix, text the one-line error must contain besides the path)."""
    good = EXAMPLE.read_bytes()
    lines = good.splitlines(keepends=True)
    cut = sum(len(line) for line in lines[:25]) + 40  # into the middle of line 26
    return {
        "truncated": (good[:cut], ".jsonl", "line 26"),
        "random bytes": (bytes(range(256)) * 8, ".jsonl", "line 1"),
        "png header": (PNG_HEADER, ".jsonl", "line 1"),
        "png named edn": (PNG_HEADER, ".edn", "line"),
        "top-level array": (b"[1, 2, 3]\n", ".jsonl", "line 1"),
        "wrong field type": (lines[0].replace(b'"index":0', b'"index":"zero"'), ".jsonl", "'index'"),
        "object of the wrong shape": (b'{"results": {"valid": true}}\n', ".jsonl", "line 1"),
        "truncated edn": (b'{:index 0, :type :invoke, :f :read, :process 0, :val', ".edn", "line"),
    }


@pytest.mark.parametrize("command", ["check", "report"])
@pytest.mark.parametrize("name", list(cases()))
def test_a_malformed_history_exits_254_with_a_located_one_line_error(tmp_path, capsys, command, name):
    """check and report refuse the file with exit 254 and one line naming the file and where it is wrong."""
    content, suffix, where = cases()[name]
    path = tmp_path / f"history{suffix}"
    path.write_bytes(content)
    assert main([command, str(path)]) == 254
    out = capsys.readouterr()
    text = (out.out + out.err).strip()
    assert str(path) in text and where in text, text
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    assert not (tmp_path / "report.html").exists()


def test_binary_input_through_the_real_command_line_shows_no_traceback(tmp_path):
    """`python harness.py check` on a PNG file, as a user runs it, prints one error line and exits 254."""
    path = tmp_path / "picture.png"
    path.write_bytes(PNG_HEADER + os.urandom(512))
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "check", str(path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 254
    assert "Traceback" not in done.stderr + done.stdout
    assert str(path) in done.stderr + done.stdout




@pytest.mark.parametrize("command", ["check", "report"])
def test_an_empty_history_exits_254(tmp_path, capsys, command):
    """An empty history file is refused with exit 254 rather than given a vacuous verdict."""
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n\n")
    assert main([command, str(path)]) == 254
