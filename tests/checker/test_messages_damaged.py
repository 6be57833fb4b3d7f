"""A Maelstrom run's messages file damaged in its header (cut short, not gzip at all): the report still comes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker.maelstrom_messages import MessagesError, read_messages
from checker.report import write_report
from tests.checker.test_messages_maelstrom import _broadcast_run

ROOT = Path(__file__).resolve().parents[2]


def _cut_in_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:10])


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(300))


@pytest.mark.parametrize("damage", [_cut_in_header, _random_bytes], ids=["cut-in-header", "not-gzip"])
def test_a_messages_file_damaged_in_its_header_is_one_error_naming_it(tmp_path: Path, damage: object) -> None:
    """Reading a messages file cut inside its header line, or of random bytes, raises MessagesError saying the
    file is damaged (not an UnboundLocalError)."""
    run_dir = tmp_path / "run"
    _broadcast_run(run_dir)
    path = run_dir / "messages.jsonl.gz"
    damage(path)  # type: ignore[operator]
    with pytest.raises(MessagesError, match="damaged"):
        read_messages(path)


@pytest.mark.parametrize("damage", [_cut_in_header, _random_bytes], ids=["cut-in-header", "not-gzip"])
def test_report_of_a_run_with_a_damaged_messages_file_says_so_and_reports(tmp_path: Path, damage: object) -> None:
    """``harness.py report`` on such a run: exit 1 (its verdict; the report is written) with report.html drawn without the
    message diagrams, and one line saying the messages file is damaged."""
    run_dir = tmp_path / "run"
    _broadcast_run(run_dir)
    damage(run_dir / "messages.jsonl.gz")  # type: ignore[operator]
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "report", str(run_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    (note,) = [line for line in done.stderr.splitlines() if "messages.jsonl.gz" in line]
    assert "damaged" in note
    html = (run_dir / "report.html").read_text()
    assert "could not be read" in html and 'class="spacetime"' not in html
    assert write_report(run_dir).is_file()
