"""Hostile configs, secrets and command lines: one line naming the setting, exit 254, never a traceback.

Each case is a file or argument a user (or an attacker with write access to the config) could
hand the store. Before these checks, some crashed every command (``vnodes = 0``), some never let a
node start (``vnodes = 100000000``), and some were silently accepted (two nodes on one address,
a misspelled section) and broke promises later.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from minikeydb.cli import main
from minikeydb.config import ConfigError, load_config, parse_config

from .subprocesses import ROOT, child_env

BASE = """
[cluster]
replicas = 3
vnodes = 64
data_dir = "data"
secret_file = "cluster.secret"

[timeouts]
client = 1.5

[[nodes]]
id = "a"
host = "127.0.0.1"
port = 9001

[[nodes]]
id = "b"
host = "127.0.0.1"
port = 9002

[[nodes]]
id = "c"
host = "127.0.0.1"
port = 9003
"""

HOSTILE = [
    # (name, old, new, words the one-line error must contain)
    ("vnodes-zero", "vnodes = 64", "vnodes = 0", ["vnodes"]),
    ("vnodes-huge", "vnodes = 64", "vnodes = 100000000", ["vnodes"]),
    ("timeout-nan", "client = 1.5", "client = nan", ["client"]),
    ("timeout-inf", "client = 1.5", "client = inf", ["client"]),
    ("timeout-minus-inf", "client = 1.5", "client = -inf", ["client"]),
    ("empty-node-id", 'id = "b"', 'id = ""', ["id"]),
    ("duplicate-address", "port = 9002", "port = 9001", ["a", "b", "127.0.0.1:9001"]),
    ("duplicate-peer-address", "port = 9002", "port = 9002\npeer_port = 9003", ["b", "c", "9003"]),
    ("misspelled-section", "[cluster]", "[clustr]", ["clustr", "did you mean", "cluster"]),
    ("unknown-section", "[timeouts]", "[widgets]\nsize = 1\n[timeouts]", ["widgets"]),
    ("misspelled-setting", "vnodes = 64", "vnode = 64", ["vnode", "did you mean", "vnodes"]),
    ("misspelled-timeout", "client = 1.5", "clinet = 1.5", ["clinet", "did you mean", "client"]),
    ("misspelled-node-setting", 'host = "127.0.0.1"\nport = 9003', 'host = "127.0.0.1"\nprot = 9003', ["prot"]),
    ("replicas-over-nodes", "replicas = 3", "replicas = 4", ["replicas", "4", "3 nodes"]),
    # One address written two ways is still one address (found by adversarial testing).
    ("alias-localhost", 'host = "127.0.0.1"\nport = 9002', 'host = "localhost"\nport = 9001', ["a", "b", "9001"]),
    ("alias-short-ip", 'host = "127.0.0.1"\nport = 9002', 'host = "127.1"\nport = 9001', ["a", "b", "9001"]),
    ("alias-wildcard", 'host = "127.0.0.1"\nport = 9002', 'host = "0.0.0.0"\nport = 9001', ["a", "b", "wildcard"]),
    ("id-parent-dir", 'id = "b"', 'id = ".."', ["id", "data directory"]),
    ("id-absolute-path", 'id = "b"', 'id = "/tmp/elsewhere"', ["id", "data directory"]),
    ("host-unresolvable", 'host = "127.0.0.1"\nport = 9002', 'host = "no.such.host.invalid"\nport = 9002',
     ["no.such.host.invalid", "does not resolve"]),
    ("resend-over-client", "client = 1.5", "client = 0.5\nclient_resend = 30", ["client_resend", "client"]),
    ("grace-under-replay-window", "client = 1.5", "client = 1.5\ntombstone_grace = 2", ["tombstone_grace", "replay"]),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name, old, new, words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_config_is_a_config_error_naming_the_setting(tmp_path, name, old, new, words):
    """Each hostile setting raises ConfigError on one line naming the file and the setting."""
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("name, old, new, words", HOSTILE[:6], ids=[h[0] for h in HOSTILE[:6]])
def test_every_cli_command_exits_254_on_a_hostile_config(tmp_path, capsys, name, old, new, words):
    """get, put, delete and stats with a hostile config exit 254 with one line naming the setting."""
    path = write(tmp_path, BASE.replace(old, new, 1))
    for argv in (["get", "k"], ["put", "k", "v"], ["delete", "k"], ["stats"]):
        assert main([*argv, "--config", str(path)]) == 254
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words[0] in err, err


def secret_config(tmp_path: Path) -> Path:
    return write(tmp_path, BASE.replace('data_dir = "data"', f'data_dir = "{tmp_path / "data"}"').replace(
        'secret_file = "cluster.secret"', f'secret_file = "{tmp_path / "cluster.secret"}"'))


@pytest.mark.parametrize("kind", ["directory", "not-utf8", "empty"])
def test_an_unusable_secret_file_exits_254_naming_secret_file(tmp_path, capsys, monkeypatch, kind):
    """A secret file that is a directory, not UTF-8, or empty gives one line naming secret_file and exit 254."""
    monkeypatch.delenv("MINIKEYDB_SECRET", raising=False)
    path = secret_config(tmp_path)
    secret = tmp_path / "cluster.secret"
    if kind == "directory":
        secret.mkdir()
    else:
        secret.write_bytes(b"\xff\xfe\x00garbage-not-text" if kind == "not-utf8" else b"")
        secret.chmod(0o600)
    assert main(["get", "k", "--config", str(path)]) == 254
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "secret_file" in err and "Traceback" not in err, err


@pytest.mark.parametrize("kind", ["group-readable", "world-writable", "short", "short-env"])
def test_a_weak_secret_gets_a_warning(tmp_path, caplog, monkeypatch, kind):
    """A secret file others can read or write, or a secret under 16 bytes, is used but warned about."""
    monkeypatch.delenv("MINIKEYDB_SECRET", raising=False)
    config = load_config(secret_config(tmp_path))
    secret = tmp_path / "cluster.secret"
    secret.write_text("0123456789abcdef0123456789abcdef\n")
    secret.chmod({"group-readable": 0o640, "world-writable": 0o602}.get(kind, 0o600))
    if kind == "short":
        secret.write_text("tiny\n")
    if kind == "short-env":
        monkeypatch.setenv("MINIKEYDB_SECRET", "tiny")
    with caplog.at_level(logging.WARNING, logger="minikeydb"):
        assert config.load_secret()
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert ("16 bytes" if kind.startswith("short") else "chmod 600") in warned


def test_a_strong_private_secret_gets_no_warning(tmp_path, caplog, monkeypatch):
    """The secret the store creates itself (64 hex characters, mode 600) draws no warning."""
    monkeypatch.delenv("MINIKEYDB_SECRET", raising=False)
    config = load_config(secret_config(tmp_path))
    with caplog.at_level(logging.WARNING, logger="minikeydb"):
        assert len(config.load_secret()) == 64
        config.load_secret()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_replicas_default_to_the_node_count_when_fewer_than_three(tmp_path):
    """Without a replicas setting, a one-node config has N = 1 (only an explicit N over the node count is an error)."""
    config = parse_config({"nodes": [{"id": "a", "host": "127.0.0.1", "port": 1}]}, "x", tmp_path)
    assert config.replicas == 1


@pytest.mark.parametrize("argv", [[b"put", b"\xff", b"v"], [b"get", b"k\xfe"], [b"put", b"k", b"\xc3("]])
def test_a_key_or_value_that_is_not_utf8_on_the_command_line_exits_254(tmp_path, argv):
    """A key or value whose bytes are not UTF-8 is a one-line usage error naming it, exit 254, before any socket."""
    env = {**child_env(), "MINIKEYDB_SECRET": "cli-tests-secret-0123456789"}
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"minikeydb", *argv], cwd=ROOT, env=env, capture_output=True, timeout=30,
        check=False,
    )
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 254, err
    assert len(err.strip().splitlines()) == 1 and "UTF-8" in err and "Traceback" not in err
    assert ("key" if argv[1] != b"k" else "value") in err


def run_limited(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m minikeydb ARGS`` with its memory capped at 800 MB and 60 s to finish (it used to hang or grow)."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (800_000_000, 800_000_000))

    try:
        return subprocess.run([sys.executable, "-m", "minikeydb", *args], cwd=cwd, env=env or child_env(),
                              capture_output=True, text=True, timeout=60, preexec_fn=cap)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{args} hung: {exc.stderr!r}") from None


SPECIAL = ["/dev/zero", "/dev/urandom", "fifo"]


def special(tmp_path: Path, name: str) -> str:
    """A path that is no regular file: a device that never ends, or a FIFO nobody writes to."""
    if name != "fifo":
        return name
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return str(fifo)


@pytest.mark.realtime  # nine real processes (~30 s on a loaded machine); serve's case below stays in the default suite
@pytest.mark.parametrize("name", SPECIAL)
@pytest.mark.parametrize("role", ["config", "secret_file", "script"])
def test_a_special_file_as_config_secret_or_script_is_one_line_254(tmp_path, name, role):
    """A config, secret_file or script that is /dev/zero, /dev/urandom or a FIFO: one line naming it, exit 254,
    no unbounded read (it grew to GBs then MemoryError, or hung)."""
    path = special(tmp_path, name)
    env = child_env()
    if role == "config":
        args, words = ["get", "k", "--config", path], ["--config", path, "not a regular file"]
    elif role == "secret_file":
        env.pop("MINIKEYDB_SECRET", None)
        config = write(tmp_path, BASE.replace('secret_file = "cluster.secret"', f'secret_file = "{path}"'))
        args, words = ["get", "k", "--config", str(config)], ["secret_file", path, "not a regular file"]
    else:
        config = write(tmp_path, BASE)
        args, words = ["script", path, "--config", str(config)], ["script", path, "not a regular file"]
    done = run_limited(args, tmp_path, env)
    assert done.returncode == 254, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert all(w in done.stderr for w in words), done.stderr


def test_serve_with_a_secret_file_that_never_ends_is_one_line_254(tmp_path):
    """serve with secret_file = "/dev/zero" says so in one line and exits 254 (a MemoryError traceback before)."""
    env = child_env()
    env.pop("MINIKEYDB_SECRET", None)
    config = write(tmp_path, BASE.replace('secret_file = "cluster.secret"', 'secret_file = "/dev/zero"'))
    done = run_limited(["serve", "--node", "a", "--config", str(config)], tmp_path, env)
    assert done.returncode == 254, done.stderr[-2000:]
    assert "secret_file" in done.stderr and "not a regular file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("role", ["config", "secret_file", "script"])
def test_an_oversized_regular_file_is_refused_by_its_limit(tmp_path, capsys, monkeypatch, role):
    """A regular config, secret or script over its documented size is refused naming the limit, read no further."""
    from minikeydb.config import MAX_CONFIG_BYTES, MAX_SCRIPT_BYTES, MAX_SECRET_BYTES

    monkeypatch.delenv("MINIKEYDB_SECRET", raising=False)
    big = tmp_path / "big"
    limit = {"config": MAX_CONFIG_BYTES, "secret_file": MAX_SECRET_BYTES, "script": MAX_SCRIPT_BYTES}[role]
    with big.open("wb") as out:
        out.truncate(limit + 1)  # sparse: costs no disk
    if role == "config":
        args = ["get", "k", "--config", str(big)]
    elif role == "secret_file":
        args = ["get", "k", "--config", str(write(tmp_path, BASE.replace('"cluster.secret"', f'"{big}"')))]
    else:
        args = ["script", str(big), "--config", str(write(tmp_path, BASE))]
    assert main(args) == 254
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"over {limit} bytes" in err and role.split("_")[0] in err, err


def test_scripts_named_together_share_one_size_limit(tmp_path, capsys, monkeypatch):
    """One script file named many times is refused once the scripts together pass the script limit (each was
    capped alone, so 40 names of a 1 MiB file held 40 MiB, and at the limit's 16 MiB, 40 names ~5 GB)."""
    import minikeydb.cli
    from minikeydb.config import MAX_SCRIPT_BYTES

    monkeypatch.setattr(minikeydb.cli, "MAX_SCRIPT_BYTES", 1 << 10)  # the same rule, a small limit
    monkeypatch.delenv("MINIKEYDB_SECRET", raising=False)
    script = tmp_path / "s.txt"
    script.write_text("put k v\n" * 100)  # 800 bytes: one fits, two do not
    args = ["script", str(script), str(script), "--config", str(write(tmp_path, BASE))]
    assert main(args) == 254
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "scripts named together are over 1024 bytes" in err, err
    assert MAX_SCRIPT_BYTES == 16 << 20  # the documented limit itself is unchanged
