"""Definite refusals through the command line: exit 254 and one line that says what was refused and why.

A "too-large" answer from a node, a siblings context over the size limit, a delete that deletes
nothing, a second cluster on ports another one holds: each said in one line, never a traceback, and
never exit 2 ("trying again may help") or 1 ("absent") for something that will fail again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from minikeydb.config import write_config
from minikeydb.dvv import Context

from .cluster_fixture import make_config, running_cluster
from .subprocesses import run_cli

pytestmark = pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs them; the default suite stays under 10 minutes


def one_node(tmp_path: Path, conflict: str) -> tuple:
    config = make_config(tmp_path / "data", 1, replicas=1, conflict=conflict)
    path = tmp_path / "cluster.toml"
    write_config(config, path)
    return config, path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


async def test_a_context_over_the_size_limit_exits_254_naming_the_context(tmp_path):
    """put/delete --context with a (valid) context over 32 KiB: one line calling it the context, exit 254
    (an exception group traceback and exit 1, "absent", before; the message said "the value")."""
    _, path = one_node(tmp_path, "siblings")
    context = Context.from_json({"vv": {f"c{i:016x}": 1 for i in range(1500)}, "c": []}).encode("cart")
    assert len(context) > 32768
    for args in (["put", "cart", "v"], ["delete", "cart"]):
        done = await run_cli(*args, "--context", context, "--config", path)
        assert done.returncode == 254, done.stderr[-2000:]
        line = one_line(done.stderr)
        assert "context" in line and "32768" in line and "the value" not in line, line


async def test_a_too_large_refusal_from_a_node_exits_254(tmp_path):
    """Siblings that would outgrow a key's 48 KiB state: the node refuses the put (too-large); the CLI exits 254
    ("nothing was written, trying again will not help"), not 2, and names the key without a stray 's."""
    config, path = one_node(tmp_path, "siblings")
    value = "v" * 12000
    async with running_cluster(config):
        codes = []
        for i in range(5):
            done = await run_cli("put", "big", f"{i}{value}", "--config", path)
            codes.append(done.returncode)
            if done.returncode:
                break
    assert codes[-1] == 254 and set(codes[:-1]) == {0}, (codes, done.stderr)
    line = one_line(done.stderr)
    assert "too large" in line and "nothing was written" in line, line
    assert "key 'big': its siblings state" in line and "'big''s" not in line, line


async def test_a_too_large_set_add_exits_254(tmp_path):
    """Under crdt, an add that would make the set's state over the limit is refused for certain: exit 254."""
    config, path = one_node(tmp_path, "crdt")
    async with running_cluster(config):
        first = await run_cli("add", "s", "a" * 30000, "--config", path)
        assert first.returncode == 0, first.stderr
        done = await run_cli("add", "s", "b" * 30000, "--config", path)
    assert done.returncode == 254, done.stderr
    line = one_line(done.stderr)
    assert "too large" in line and "key 's': its set state" in line, line


async def test_a_delete_without_a_context_under_siblings_says_it_deleted_nothing(tmp_path):
    """Under siblings, delete KEY without --context removes no sibling: exit 0 (it was accepted) with one line
    saying nothing was deleted and what to do (get, then delete --context); the value is still there."""
    config, path = one_node(tmp_path, "siblings")
    async with running_cluster(config):
        assert (await run_cli("put", "o2", "y", "--config", path)).returncode == 0
        done = await run_cli("delete", "o2", "--config", path)
        get = await run_cli("get", "o2", "--config", path)
    assert done.returncode == 0, done.stderr
    line = one_line(done.stderr)
    assert "deletes nothing" in line and "get o2" in line and "--context" in line, line
    assert get.stdout.splitlines()[0] == "y"


async def test_a_second_cluster_on_taken_ports_names_the_node_and_port(tmp_path):
    """cluster on ports another cluster holds: one line naming the node and host:port and what to do, exit 254."""
    config, path = one_node(tmp_path, "lww")
    node = config.nodes[0]
    async with running_cluster(config):
        done = await run_cli("cluster", "--config", path)
    assert done.returncode == 254, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert f"node {node.id}" in line and f"{node.host}:{node.port}" in line, line
    assert "already in use" in line and "stop the other" in line and "port" in line, line


def test_a_client_without_a_secret_is_told_to_use_a_config_of_its_own(tmp_path, capsys, monkeypatch):
    """With the shipped default config and no secret, the message suggests a config of one's own (--config),
    not editing the shipped default_cluster.toml inside the checkout."""
    from minikeydb.cli import main
    from minikeydb.config import default_config_path

    monkeypatch.delenv("MINIKEYDB_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["get", "k"]) == 254
    err = capsys.readouterr().err
    assert "--config" in err and "of your own" in err, err
    assert f"set secret_file in the default config {default_config_path()}" not in err, err
    assert "set secret_file in" not in err.split("copy")[0], err
