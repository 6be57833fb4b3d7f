"""A client away from the nodes' secret: it never makes one of its own, and says what it tried and why it failed.

Real node processes (``python -m minikeydb serve``) started in one directory create the cluster
secret there; clients run from other directories, as a user in the wrong directory would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikeydb.config import SECRET_ENV
from minikeydb.transport import free_udp_ports

ROOT = Path(__file__).resolve().parents[2]


def env_without_secret() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"] if "PYTHONPATH" in os.environ else "")
    return env


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minikeydb", *args], cwd=cwd, env=env_without_secret(),
                          capture_output=True, text=True, timeout=60)


def write_config(path: Path, ports: list[int]) -> None:
    """Relative data_dir and secret_file, as in the shipped config: they resolve from the current directory."""
    lines = ["[cluster]", "replicas = 3", 'data_dir = "minikeydb-data"', 'secret_file = "minikeydb-data/cluster.secret"',
             "", "[timeouts]", "client = 0.6", "client_resend = 0.2"]
    for i, port in enumerate(ports):
        lines += ["", "[[nodes]]", f'id = "n{i + 1}"', 'host = "127.0.0.1"', f"port = {port}"]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Three real node processes started in ``nodes_dir`` (their secret is created there); yields (config, nodes_dir)."""
    base = tmp_path_factory.mktemp("secret")
    nodes_dir = base / "nodes"
    nodes_dir.mkdir()
    config = base / "cluster.toml"
    write_config(config, free_udp_ports(3))
    logs = [(base / f"n{i}.log").open("w") for i in (1, 2, 3)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "minikeydb", "serve", "--config", str(config), "--node", f"n{i}"],
                         cwd=nodes_dir, env=env_without_secret(), stdout=subprocess.DEVNULL, stderr=log)
        for i, log in zip((1, 2, 3), logs, strict=True)
    ]
    try:
        deadline = time.monotonic() + 30
        while cli("stats", "--config", str(config), cwd=nodes_dir).returncode != 0 or any(
            "no answer" in line for line in cli("stats", "--config", str(config), cwd=nodes_dir).stdout.splitlines()
        ):
            assert time.monotonic() < deadline, "nodes did not start"
            assert all(p.poll() is None for p in procs), [(base / f"n{i}.log").read_text() for i in (1, 2, 3)]
            time.sleep(0.2)
        yield config, nodes_dir
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()


def test_nodes_answer_a_client_in_their_own_directory(cluster: tuple[Path, Path]) -> None:
    """The same config from the nodes' directory works: the failures below are the secret, not the nodes."""
    config, nodes_dir = cluster
    assert cli("put", "k", "v", "--config", str(config), cwd=nodes_dir).returncode == 0
    done = cli("get", "k", "--config", str(config), cwd=nodes_dir)
    assert (done.returncode, done.stdout) == (0, "v\n"), done.stderr


def test_client_without_the_secret_refuses_and_creates_none(cluster: tuple[Path, Path], tmp_path: Path) -> None:
    """From a directory with no secret, a client exits 254 saying where it looked, and writes no secret there."""
    config, _ = cluster
    done = cli("get", "k", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 254, done.stderr
    assert f"no cluster secret at {tmp_path / 'minikeydb-data' / 'cluster.secret'}" in done.stderr
    assert "directory the nodes were started in" in done.stderr
    assert not (tmp_path / "minikeydb-data").exists()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("op", ["get", "put", "delete"])
def test_client_with_another_secret_says_what_it_tried_and_why(cluster: tuple[Path, Path], tmp_path: Path,
                                                               op: str) -> None:
    """With a different secret every node stays silent: the message names the operation, the nodes tried,
    the time, says nothing about a write for a read, and points at the secret the client used."""
    config, _ = cluster
    own = tmp_path / "minikeydb-data" / "cluster.secret"
    own.parent.mkdir()
    own.write_text("not-the-nodes-secret-0123456789\n")
    own.chmod(0o600)
    args = [op, "k", *(["v"] if op == "put" else []), "--config", str(config)]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    first, hint = done.stderr.strip().splitlines()
    assert f"{op} 'k'" in first
    assert "no answer from n" in first and "each tried for 0.6s" in first and "s in all" in first
    assert len(first.split("no answer from ")[1].split(" (")[0].split(", ")) == 3  # every replica was tried
    if op == "get":
        assert "may or may not have happened" not in first
    else:
        assert f"the {op} may or may not have happened" in first
    assert "something listens at n" in hint and "127.0.0.1:" in hint  # the probe saw the nodes' ports open
    assert "another secret" in hint and str(own) in hint and "not running" not in hint


def test_stats_with_another_secret_says_no_answer_not_down(cluster: tuple[Path, Path], tmp_path: Path) -> None:
    """Running nodes that drop a wrongly signed stats request show as 'no answer', and the probe says they listen."""
    config, _ = cluster
    own = tmp_path / "minikeydb-data" / "cluster.secret"
    own.parent.mkdir()
    own.write_text("not-the-nodes-secret-0123456789\n")
    own.chmod(0o600)
    done = cli("stats", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    state = next(line for line in done.stdout.splitlines() if line.startswith("state"))
    assert "down" not in state and state.count("no answer") == 3
    assert "(down, or signing with another secret" in done.stderr
    assert "something listens at n" in done.stderr


def test_no_secret_error_names_the_default_config_file_and_what_the_variable_holds(tmp_path: Path) -> None:
    """Without --config, the no-secret error gives the default config's real file path and says
    $MINIKEYDB_SECRET holds the secret itself, not a path."""
    from minikeydb.config import default_config_path

    done = cli("get", "k", cwd=tmp_path)
    assert done.returncode == 254, done.stderr
    assert "<default config" not in done.stderr
    assert default_config_path() in done.stderr and Path(default_config_path()).is_file()
    assert f"${SECRET_ENV} to the secret itself" in done.stderr and "not a path" in done.stderr


def test_secret_variable_naming_a_file_is_warned_about(tmp_path: Path) -> None:
    """$MINIKEYDB_SECRET set to a file's path (a common mistake) gets a warning that it holds the secret, not a path."""
    path = tmp_path / "cluster.secret"
    path.write_text("0123456789abcdef0123456789abcdef\n")
    env = {**env_without_secret(), SECRET_ENV: str(path)}
    done = subprocess.run([sys.executable, "-m", "minikeydb", "stats", "--node", "n1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert f"${SECRET_ENV} is the path of a file" in done.stderr, done.stderr
    assert "not a path" in done.stderr
