"""The command line end to end: real `python -m minikeydb` processes against a running cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikeydb.cli import UsageError, format_stats, parse_script
from minikeydb.config import write_config

from .cluster_fixture import make_config, running_cluster
from .subprocesses import run_cli


def config_file(tmp_path: Path, nodes: int = 3) -> tuple:
    config = make_config(tmp_path / "data", nodes)
    path = tmp_path / "cluster.toml"
    write_config(config, path)
    return config, path


async def test_put_get_delete_and_exit_codes(tmp_path):
    """put exits 0; get prints the value alone and exits 0; after delete, get exits 1 with a message on stderr."""
    config, path = config_file(tmp_path)
    async with running_cluster(config):
        put = await run_cli("put", "greeting", "hello world", "--config", path, "--node", "n1")
        assert (put.returncode, put.stderr) == (0, "")
        get = await run_cli("get", "greeting", "--config", path, "--node", "n2")
        assert (get.returncode, get.stdout) == (0, "hello world\n")
        delete = await run_cli("delete", "greeting", "--config", path)
        assert delete.returncode == 0
        absent = await run_cli("get", "greeting", "--config", path, "--node", "n3")
        assert absent.returncode == 1 and absent.stdout == ""
        assert "not found" in absent.stderr and len(absent.stderr.splitlines()) == 1


async def test_unavailable_cluster_exits_2(tmp_path):
    """With no node running, get and put exit 2 with a one-line timeout message and a one-line hint."""
    _, path = config_file(tmp_path)
    for args in (["get", "k", "--node", "n1"], ["put", "k", "v", "--node", "n2"]):
        result = await run_cli(*args, "--config", path)
        assert result.returncode == 2, result
        message, hint = result.stderr.splitlines()
        assert "timed out" in message and f"{args[0]} 'k'" in message
        assert "nothing listens at" in hint and "not running" in hint


@pytest.mark.parametrize(
    "args, message",
    [
        (["get"], "KEY"),
        (["frobnicate"], "invalid choice"),
        (["put", "k", "v", "--nodes", "n1"], "unrecognized"),
        (["get", "k", "--node", "n9"], "no node 'n9'"),
        (["get", "k", "--config", "{missing}"], "cannot read"),
        (["get", "k", "--config", "{bad}"], "port"),
        (["put", "k", "x" * 40_000], "32768"),
        (["script", "{bad_script}"], "script.txt:2"),
    ],
)
async def test_usage_errors_exit_254_with_one_line(tmp_path, args, message):
    """Bad flags, configs, node ids, sizes and script lines exit 254 with one line on stderr and no traceback."""
    config, path = config_file(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace(f"port = {config.nodes[1].port}", 'port = "oops"'))
    script = tmp_path / "script.txt"
    script.write_text("put a 1\nput onlykey\n")
    subs = {"{missing}": str(tmp_path / "missing.toml"), "{bad}": str(bad), "{bad_script}": str(script)}
    args = [subs.get(a, a) for a in args]
    if "--config" not in args:
        args += ["--config", str(path)]
    result = await run_cli(*args)
    assert result.returncode == 254, result
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


async def test_script_runs_every_line_and_prints_each_result(tmp_path):
    """A script mixing commands, comments and the original key:value lines prints one result per operation."""
    config, path = config_file(tmp_path)
    script = tmp_path / "ops.txt"
    script.write_text("# setup\nput a first value\nget a\n\nremove a\nget a\nb:2\nget missing\n")
    async with running_cluster(config):
        result = await run_cli("script", script, "--config", path)
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == [
        "put a first value -> ok",
        "get a -> first value",
        "delete a -> ok",
        "get a -> (absent)",
        "put b 2 -> ok",
        "get b -> 2",
        "delete b -> ok",
        "get b -> (absent)",
        "get missing -> (absent)",
    ]


async def test_stats_lists_every_node_and_reports_a_down_one(tmp_path):
    """stats prints a counter table with one column per node; a stopped node shows as no answer, probed as not running."""
    config, path = config_file(tmp_path)
    async with running_cluster(config) as cluster:
        await run_cli("put", "k", "v", "--config", path, "--node", "n1")
        await cluster.stop("n3")
        result = await run_cli("stats", "--config", path)
        one = await run_cli("stats", "--config", path, "--node", "n1")
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["counter", "n1", "n2", "n3"]
    assert lines[2].split() == ["state", "up", "up", "no", "answer"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    for counter in ("keys", "tombstones", "hints_pending", "datagrams_sent", "datagrams_received"):
        assert counter in rows
    assert rows["keys"][2] == "-"
    assert "no answer from n3" in result.stderr and "(down, or signing with another secret" in result.stderr
    assert "nothing listens at n3" in result.stderr  # the port probe tells which: n3 is not running
    assert one.returncode == 0 and one.stdout.splitlines()[0].split() == ["counter", "n1"]


def test_parse_script_reports_file_and_line():
    """A script line that is not a command names its file and line number."""
    with pytest.raises(UsageError, match=r"s\.txt:3"):
        parse_script("put a b\n# ok\nfly away\n", "s.txt")
    assert [s.op for s in parse_script("k:v\n", "s")] == ["put", "get", "delete", "get"]
    assert parse_script("put k a:b c\n", "s")[0].value == "a:b c"


def test_format_stats_marks_silent_nodes_no_answer():
    """The stats table says 'no answer' (not 'down') for a silent node and lists headline counters first."""
    table = format_stats({"n1": {"keys": 3, "zeta": 1}, "n2": None}).splitlines()
    assert table[2].split() == ["state", "up", "no", "answer"]
    assert table[3].split() == ["keys", "3", "-"]
    assert table[-1].split() == ["zeta", "1", "-"]


@pytest.mark.realtime  # 8-14 s of real processes: with .ci/run's second step (default suite: 602 s at 4263674)
async def test_siblings_and_crdt_commands(tmp_path):
    """Under siblings, get prints each sibling and the context and put --context resolves them; under
    crdt, incr/decr/add/remove work and another type's operation is refused, naming both types."""
    config = make_config(tmp_path / "data", 3, conflict="siblings")
    path = tmp_path / "cluster.toml"
    write_config(config, path)
    async with running_cluster(config):
        assert (await run_cli("put", "k", "a", "--config", path, "--node", "n1")).returncode == 0
        assert (await run_cli("put", "k", "b", "--config", path, "--node", "n1")).returncode == 0
        get = await run_cli("get", "k", "--config", path, "--node", "n1")
        lines = get.stdout.splitlines()
        assert get.returncode == 0 and lines[:2] == ["a", "b"] and lines[2].startswith("context: ")
        assert "2 siblings" in get.stderr
        put = await run_cli("put", "k", "c", "--context", lines[2].removeprefix("context: "), "--config", path, "--node", "n1")
        assert put.returncode == 0, put
        again = await run_cli("get", "k", "--config", path, "--node", "n1")
        assert again.stdout.splitlines()[0] == "c" and len(again.stdout.splitlines()) == 2
        bad = await run_cli("put", "k", "d", "--context", "not-a-context", "--config", path)
        assert bad.returncode == 254 and "--context" in bad.stderr
        wrong_mode = await run_cli("incr", "n", "1", "--config", path)
        assert wrong_mode.returncode == 254 and "conflict mode crdt" in wrong_mode.stderr
    config = make_config(tmp_path / "data2", 3, conflict="crdt")
    path = tmp_path / "crdt.toml"
    write_config(config, path)
    async with running_cluster(config):
        for args in (["incr", "c", "5"], ["decr", "c", "2"], ["add", "s", "x"], ["add", "s", "y"], ["remove", "s", "x"]):
            assert (await run_cli(*args, "--config", path, "--node", "n1")).returncode == 0, args
        assert (await run_cli("get", "c", "--config", path, "--node", "n1")).stdout == "3\n"
        assert (await run_cli("get", "s", "--config", path, "--node", "n1")).stdout == "y\n"
        refused = await run_cli("add", "c", "x", "--config", path, "--node", "n1")
        assert refused.returncode == 254 and "refused" in refused.stderr and "counter" in refused.stderr


async def test_crdt_cli_amount_defaults_to_one_and_absent_remove_is_said(tmp_path):
    """incr/decr without an amount count 1; removing an absent element says so (exit 0); a type
    mismatch is a definite refusal (exit 254, as a wrong command), not "unavailable" (2)."""
    config = make_config(tmp_path / "data", 3, conflict="crdt")
    path = tmp_path / "crdt.toml"
    write_config(config, path)
    async with running_cluster(config):
        for args in (["incr", "c"], ["incr", "c"], ["decr", "c"], ["add", "s", "apple"]):
            done = await run_cli(*args, "--config", path, "--node", "n1")
            assert (done.returncode, done.stderr) == (0, ""), (args, done)
        assert (await run_cli("get", "c", "--config", path, "--node", "n1")).stdout == "1\n"
        absent = await run_cli("remove", "s", "banana", "--config", path, "--node", "n1")
        assert absent.returncode == 0 and "'banana' was not in set 's'" in absent.stderr, absent
        present = await run_cli("remove", "s", "apple", "--config", path, "--node", "n1")
        assert (present.returncode, present.stderr) == (0, ""), present
        mismatch = await run_cli("incr", "s", "--config", path, "--node", "n1")
        assert mismatch.returncode == 254 and "refused" in mismatch.stderr, mismatch


async def test_help_documents_the_exit_codes():
    """`minikeydb --help` lists the CLI's exit codes, 254 for a refused command included."""
    done = await run_cli("--help")
    assert done.returncode == 0
    for line in ("0 ", "1 ", "2 ", "130 ", "254 "):
        assert f"\n  {line}" in done.stdout, (line, done.stdout)


async def test_config_before_the_command_says_where_it_goes(tmp_path):
    """`minikeydb --config FILE cluster` (the option before the command) is refused with the command line that works."""
    done = await run_cli("--config", tmp_path / "c.toml", "cluster")
    assert done.returncode == 254 and len(done.stderr.splitlines()) == 1, done
    assert f"python -m minikeydb cluster --config {tmp_path / 'c.toml'}" in done.stderr, done.stderr
