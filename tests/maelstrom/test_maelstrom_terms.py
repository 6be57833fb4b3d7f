"""A Maelstrom user's figures in Maelstrom's terms: msgs-per-op counting services, ok/fail/info per
operation kind, results.edn, --latency on replies, a bad --bin refused as a bad argument, messages to
nonexistent destinations, true anomaly counts, the workload's own check name."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from nemesis.link_faults import FaultModel
from runner.maelstrom.command import MaelstromOptions, format_summary, maelstrom_command, run
from runner.maelstrom.router import Router

NODES = Path(__file__).parent / "nodes"

MIXED = '''#!/usr/bin/env python3
"""Echo that asks seq-kv once per echo, writes to a misspelt lin_kv, and fails every other echo."""
import json, sys
node_id, n, echoes = None, 0, 0
def out(dest, body):
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    n += 1
    if body["type"] == "init":
        node_id = body["node_id"]
        out(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"]})
    elif body["type"] == "echo":
        echoes += 1
        out("seq-kv", {"type": "read", "key": "x", "msg_id": 10**6 + n})
        out("lin_kv", {"type": "write", "key": "x", "value": n, "msg_id": 2 * 10**6 + n})
        if echoes % 2:
            out(msg["src"], {"type": "error", "code": 11, "text": "later", "in_reply_to": body["msg_id"]})
        else:
            out(msg["src"], {"type": "echo_ok", "echo": body["echo"], "in_reply_to": body["msg_id"]})
'''


def _run(tmp_path: Path, bin_: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"workload": "echo", "bin": bin_, "node_count": 2, "time_limit": 2.0, "rate": 20.0,
                            "concurrency": 2, "seed": 5, "out": str(tmp_path / "out"), "quiesce": 0.2}
    base.update(kw)
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    return run(MaelstromOptions(**base), run_dir, ["test"], report=False)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("mixed")
    node = tmp / "mixed.py"
    node.write_text(MIXED)
    node.chmod(0o755)
    return _run(tmp, str(node))


def test_msgs_per_op_counts_service_messages_as_maelstroms_servers(mixed: dict[str, Any]) -> None:
    """:servers (every message not involving a client) includes node<->service messages; inter-node is named apart."""
    m = mixed["results"]["maelstrom"]
    counts, net = m["messages"], m["net"]
    assert counts["service"] > 0
    inter = counts.get("inter_node", 0)  # this node sends nothing to other nodes
    assert net["servers"]["msg_count"] == inter + counts["service"]
    assert net["servers"]["msgs_per_op"] == round((inter + counts["service"]) / m["ops"], 2) > 0
    assert net["all"]["msg_count"] == inter + counts["service"] + counts["client"]
    assert f"msgs-per-op {net['servers']['msgs_per_op']}" in format_summary(mixed)


def test_summary_prints_ok_fail_info_per_operation_kind(mixed: dict[str, Any]) -> None:
    """An echo node failing half its echoes: the summary says how many failed, not only 'ops N'."""
    echo = mixed["results"]["maelstrom"]["stats"]["echo"]
    assert echo["fail"] > 0
    assert f"echo: ok {echo['ok']}, fail {echo['fail']}, info {echo['info']}" in format_summary(mixed)


def test_results_edn_has_maelstroms_keys(mixed: dict[str, Any]) -> None:
    """results.edn holds :valid?, :stats, :net with :servers :msgs-per-op, as Maelstrom's does."""
    text = (mixed["run_dir"] / "results.edn").read_text()
    net = mixed["results"]["maelstrom"]["net"]
    assert re.search(r":valid\? (true|false|:unknown)", text)
    assert ":stats {" in text and ":net {:all {:send-count" in text
    assert f":servers {{:send-count {net['servers']['send_count']}" in text
    assert f":msgs-per-op {net['servers']['msgs_per_op']}" in text


def test_messages_to_nonexistent_destinations_are_named(mixed: dict[str, Any]) -> None:
    """Messages to a misspelt service are counted and the summary names the destination."""
    assert mixed["results"]["maelstrom"]["messages"]["unknown_dest"] > 0
    assert re.search(r"to nonexistent destinations: \d+ \(lin_kv\b", format_summary(mixed))


def test_a_maelstrom_run_names_its_workloads_check(mixed: dict[str, Any]) -> None:
    """results.json of an echo run says the echo check, not the store's convergence/lww/kv words."""
    r = mixed["results"]
    assert r["checker"] == "echo" and "conflict" not in r and "model" not in r


def test_latency_applies_to_replies_to_clients(tmp_path: Path) -> None:
    """--latency delays the node's *_ok replies too: the journal gives them delays."""
    outcome = _run(tmp_path, str(NODES / "echo_min.py"), latency=20.0, time_limit=1.0)
    assert outcome["results"]["valid"] is True
    with gzip.open(outcome["run_dir"] / "messages.jsonl.gz", "rt") as f:
        oks = [r for r in map(json.loads, f) if r.get("type") == "echo_ok"]
    assert oks and all(r.get("delays_ms") == [20.0] for r in oks)


def test_a_missing_bin_is_a_bad_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--bin naming no program exits 254 with one line and writes no run directory."""
    from runner.options import OptionError
    from runner.usage import UsageError

    out = tmp_path / "out"
    with pytest.raises((UsageError, OptionError), match="--bin .*no such file"):
        maelstrom_command(["test", "-w", "echo", "--bin", str(tmp_path / "nope"), "--out", str(out)])
    assert not out.exists()


def test_a_message_to_a_down_node_is_counted_as_such_not_as_lost() -> None:
    """A node-to-node message whose destination is down counts under to_dead_node, not lost to faults."""

    class Node:
        full = False
        alive = False

        def send(self, line: bytes) -> bool:
            return False

    nodes: dict[str, Any] = {"n0": Node(), "n1": Node()}
    router = Router(nodes, FaultModel(random.Random(0)), 1, {}, None, None)
    msg = {"src": "n0", "dest": "n1", "body": {"type": "gossip"}}
    router.on_lines("n0", [(json.dumps(msg).encode() + b"\n", msg)])
    assert router.counts["to_dead_node"] == 1 and router.counts["lost"] == 0


def test_the_anomaly_count_is_the_true_total(tmp_path: Path) -> None:
    """More mismatches than the 100 listed: the summary counts them all and says how many are listed."""
    outcome = _run(tmp_path, str(NODES / "echo_altering.py"), rate=0.0, time_limit=1.0, concurrency=2)
    total = outcome["results"]["stats"]["anomaly_counts"]["echo-mismatch"]
    assert total > 100
    assert f"anomalies: echo-mismatch {total} (100 listed)" in format_summary(outcome)


def test_the_report_heads_a_maelstrom_check_by_its_name(mixed: dict[str, Any]) -> None:
    """report.html of an echo run says 'echo check', not 'convergence (echo rule)'."""
    from checker.report import write_report

    page = write_report(mixed["run_dir"], mixed["results"]).read_text()
    assert "echo check: VALID" in page and "convergence (echo rule)" not in page


def test_maelstrom_help_lists_its_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    """`harness.py maelstrom --help` names test and explore and where each one's flags are, not only test's."""
    assert maelstrom_command(["--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+test\s", out, re.M) and re.search(r"^\s+explore\s", out, re.M)
    assert "harness.py maelstrom test --help" in out


def test_an_unsupported_workload_says_what_to_do_instead() -> None:
    """-w kafka is refused naming the workloads run here and pointing to Maelstrom itself for it."""
    from runner.usage import UsageError

    with pytest.raises(UsageError, match=r"kafka.*not supported.*Maelstrom itself.*maelstrom test -w kafka"):
        maelstrom_command(["test", "-w", "kafka", "--bin", "x"])


def test_replay_differences_cut_lists_at_whole_items(tmp_path: Path) -> None:
    """A replay that differs in a long read shows whole elements and how many more, not '55, , replayed'."""
    from runner.maelstrom.command import compare_histories

    def history(path: Path, values: list[int]) -> Path:
        ev = {"index": 0, "time": 1, "process": 0, "type": "ok", "f": "read", "key": None, "value": values}
        path.write_text(json.dumps({"history": 1}) + "\n" + json.dumps(ev) + "\n")
        return path

    text = compare_histories(history(tmp_path / "a.jsonl", list(range(1000, 1100))),
                             history(tmp_path / "b.jsonl", list(range(1000, 1101))))
    recorded = text.split("recorded ", 1)[1].split(", replayed ", 1)[0]
    shown = re.findall(r"\[([^\]]*)\]", recorded)[0].split(", ")
    assert shown[-1].startswith("... ") and shown[-1].endswith(" more")
    assert all(x.isdigit() and 1000 <= int(x) < 1100 for x in shown[:-1])
