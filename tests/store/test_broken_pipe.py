"""Output into a pipe whose reader has gone (``| head -1``) ends quietly: no traceback, no 255."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "histories" / "examples" / "partition-sim")


def run_into_closed_pipe(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command whose stdout is a pipe already closed at the reading end (what `| head` leaves)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, *args], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=120, cwd=ROOT, env={**os.environ, **(env or {})})
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "minikeydb", "--help"],
        ["-m", "minikeydb", "stats", "--config", "{config}"],
        ["harness.py", "--help"],
        ["harness.py", "export", EXAMPLE, "--edn", "--out", "-"],
        ["harness.py", "--mode", "sim", "--time-limit", "1", "--seed", "2", "--keys", "3", "--out", "{tmp}"],
    ],
    ids=["minikeydb-help", "minikeydb-stats", "harness-help", "harness-export", "harness-run-summary"],
)
def test_closed_stdout_ends_quietly(tmp_path: Path, args: list[str]) -> None:
    """Every command whose reader went away exits without a traceback or 'Exception ignored' noise."""
    from minikeydb.config import write_config

    from .cluster_fixture import make_config

    config = tmp_path / "cluster.toml"
    cfg = make_config(tmp_path / "data", 2, replicas=2)
    write_config(cfg, config)
    config.write_text(config.read_text().replace("client = 2.0", "client = 0.3"))
    done = run_into_closed_pipe([a.replace("{config}", str(config)).replace("{tmp}", str(tmp_path)) for a in args])
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode in (0, 1, 2), done.stderr
