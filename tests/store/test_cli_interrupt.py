"""Ctrl-C during a client command: exit 130 and one line, never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("inherited", [signal.SIG_DFL, signal.SIG_IGN], ids=["terminal", "background-job"])
@pytest.mark.parametrize("args", [["get", "k"], ["put", "k", "v"], ["stats"]])
def test_sigint_while_waiting_for_a_node_exits_130(tmp_path: Path, args: list[str], inherited: Any) -> None:
    """The node is a silent UDP socket of the test: once the request arrives, SIGINT; the client says 'interrupted',
    also when it started with SIGINT ignored, as a script's background job does (it kept ignoring it: a3)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.settimeout(60)
    config = tmp_path / "cluster.toml"
    config.write_text(
        "[cluster]\nreplicas = 1\n\n[timeouts]\nclient = 30.0\n\n"
        f'[[nodes]]\nid = "n1"\nhost = "127.0.0.1"\nport = {silent.getsockname()[1]}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikeydb", *args, "--config", str(config)], cwd=tmp_path,
        env={**os.environ, "MINIKEYDB_SECRET": "an-interrupt-test-secret", "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, inherited),
    )
    try:
        silent.recvfrom(65536)  # the client is inside its request now
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        silent.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err == "minikeydb: interrupted\n"
