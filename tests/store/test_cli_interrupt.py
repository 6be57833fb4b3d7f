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


def test_help_says_servers_stop_with_0_and_clients_with_130(capsys: pytest.CaptureFixture[str]) -> None:
    """--help's exit-code table says that Ctrl-C/SIGTERM ends serve and cluster with 0, not 130 (what they do)."""
    from minikeydb.cli import main

    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "130 interrupted (Ctrl-C) before it finished; serve and cluster exit 0 when Ctrl-C or SIGTERM" in out, out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_serve_with_0_and_one_line(tmp_path: Path, sig: signal.Signals) -> None:
    """serve stopped by Ctrl-C or SIGTERM (how a server is meant to stop) exits 0 with 'node n1 stopped', no traceback."""
    import time

    from minikeydb.cli import probe_ports
    from minikeydb.config import load_config
    from minikeydb.transport import free_udp_ports

    config = tmp_path / "cluster.toml"
    config.write_text(f'[cluster]\nreplicas = 1\ndata_dir = "data"\n\n'
                      f'[[nodes]]\nid = "n1"\nhost = "127.0.0.1"\nport = {free_udp_ports(1)[0]}\n')
    parsed = load_config(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikeydb", "serve", "--node", "n1", "--config", str(config)], cwd=tmp_path,
        env={**os.environ, "MINIKEYDB_SECRET": "an-interrupt-test-secret", "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        # Its port is bound inside trio.run, after the SIGTERM receiver is open (SIGINT is trio's from its start).
        while not probe_ports(parsed, ["n1"], wait=0.05)["n1"]:
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "node n1 stopped" in err and "Traceback" not in err
