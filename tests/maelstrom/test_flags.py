"""Maelstrom's own `test` flags: the log flags work, txn-only flags are accepted with a note, Jepsen's
SSH/node-list flags are refused by name with what to use instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.maelstrom.command import MaelstromOptions, maelstrom_command, options_from_args, run
from runner.usage import UsageError

HOSTILE = Path(__file__).parent / "nodes" / "hostile.py"


def _run(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"workload": "echo", "bin": str(HOSTILE), "args": ("chatty",), "node_count": 2,
                            "time_limit": 2.0, "rate": 10.0, "concurrency": 2, "seed": 3,
                            "out": str(tmp_path / "out"), "quiesce": 0.2}
    base.update(kw)
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    return run(MaelstromOptions(**base), run_dir, ["test"])


def test_log_flags_parse_as_maelstroms() -> None:
    """--log-stderr, --log-net-send and --log-net-recv are accepted (they were 'unrecognized arguments')."""
    options = options_from_args(["-w", "echo", "--bin", "x", "--log-stderr", "--log-net-send", "--log-net-recv",
                                 "--seed", "1"])
    assert (options.log_stderr, options.log_net_send, options.log_net_recv) == (True, True, True)
    assert options_from_args(["--bin", "x", "--seed", "1"]).log_stderr is False


def test_log_stderr_shows_each_nodes_stderr_prefixed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With log_stderr, each node's stderr line reaches the console as 'n<k> stderr: ...' (escapes made
    visible), and is still in the node's log file."""
    outcome = _run(tmp_path, log_stderr=True)
    assert outcome["results"]["valid"] is True, outcome["results"].get("reason")
    err = capsys.readouterr().err
    for node in ("n0", "n1"):
        assert f"{node} stderr: hello from {node} \\x1b[31mred" in err, err
        assert f"hello from {node} \x1b[31mred" in (outcome["run_dir"] / "nodes" / f"{node}.log").read_text()
    assert "\x1b" not in err


def test_without_log_stderr_the_console_stays_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without the flag the node's stderr goes only to its log file."""
    outcome = _run(tmp_path)
    assert "hello from" not in capsys.readouterr().err
    assert "hello from n0" in (outcome["run_dir"] / "nodes" / "n0.log").read_text()


def test_log_net_send_and_recv_show_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--log-net-send shows messages entering the network, --log-net-recv those reaching their destination."""
    _run(tmp_path / "send", log_net_send=True)
    err = capsys.readouterr().err
    assert " send c0 -> n0 {" in err and " send n0 -> c0 {" in err and '"type":"init_ok"' in err, err[:500]
    assert " recv " not in err
    _run(tmp_path / "recv", log_net_recv=True)
    err = capsys.readouterr().err
    assert " recv c0 -> n0 {" in err and " recv n1 -> c0 {" in err and '"type":"echo_ok"' in err, err[:500]
    assert " send " not in err


def test_txn_only_flags_are_accepted_with_a_note() -> None:
    """--consistency-models, --key-count, --max-txn-length, --max-writes-per-key: accepted, one note each."""
    notes: list[str] = []
    options_from_args(["--bin", "x", "--seed", "1", "--consistency-models", "read-committed", "--key-count", "3",
                       "--max-txn-length", "4", "--max-writes-per-key", "16"], notes)
    assert len(notes) == 4 and all(n.startswith("note: --") and "ignored" in n for n in notes), notes


@pytest.mark.parametrize("argv, named", [
    (["--test-count", "3"], "--test-count"),
    (["--nodes", "n1,n2"], "--nodes"),
    (["--nodes-file=nodes.txt"], "--nodes-file"),
    (["--username", "admin"], "--username"),
    (["--leave-db-running"], "--leave-db-running"),
    (["--logging-json"], "--logging-json"),
    (["-w", "kafka"], "-w kafka"),
    (["--workload=txn-rw-register"], "-w txn-rw-register"),
])
def test_unsupported_maelstrom_flags_are_refused_by_name(argv: list[str], named: str) -> None:
    """A Maelstrom/Jepsen flag we do not support is a one-line error naming it and saying what to do instead."""
    with pytest.raises(UsageError) as info:
        options_from_args(["--bin", "x", *argv])
    text = str(info.value)
    assert text.startswith(named) and "unrecognized" not in text and "\n" not in text, text
    assert "use" in text or "leave it out" in text or "runs" in text or "run the command" in text, text


def test_a_refused_flag_after_double_dash_goes_to_the_node() -> None:
    """After --, a word like --nodes is the node's own argument, not refused."""
    assert options_from_args(["--bin", "x", "--seed", "1", "--", "--nodes", "3"]).args == ("--nodes", "3")


def test_maelstrom_serve_says_what_to_open() -> None:
    """`harness.py maelstrom serve` names report.html instead of a generic 'expected test'."""
    with pytest.raises(UsageError, match="report.html"):
        maelstrom_command(["serve"])
