"""The Maelstrom router's messages journal: bodies, fates, the bound on bodies, and a real run's report of them."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
import trio

from nemesis.link_faults import DelayDistribution, FaultModel
from nemesis.topology import complete_within
from runner.maelstrom import router as router_module
from runner.maelstrom.command import MaelstromOptions, format_summary, run
from runner.maelstrom.router import BODY_HEAD, MAX_BODY_LINE, MessageJournal, Router

NODES = Path(__file__).parent / "nodes"


class _FakeNode:
    full = False

    def __init__(self) -> None:
        self.alive = True
        self.lines: list[bytes] = []

    def send(self, line: bytes) -> bool:
        self.lines.append(line)
        return True


def _line(src: str, dest: str, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    msg = {"src": src, "dest": dest, "body": body}
    return json.dumps(msg).encode() + b"\n", msg


def _records(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as f:
        return [json.loads(line) for line in f]


def _journalled(tmp_path: Path, act: Any) -> list[dict[str, Any]]:
    """Run ``act(router, nodes)`` inside trio with a journalling router over three fake nodes; the records."""
    path = tmp_path / "messages.jsonl.gz"
    nodes: dict[str, Any] = {"n0": _FakeNode(), "n1": _FakeNode(), "n2": _FakeNode()}

    async def main() -> None:
        journal = MessageJournal(path, {"seed": 1, "nodes": list(nodes)})
        router = Router(nodes, FaultModel(random.Random(0)), 1, {}, None, journal)
        async with trio.open_nursery() as nursery:
            await nursery.start(router.run_timers)
            await act(router, nodes)
            nursery.cancel_scope.cancel()
        journal.close()

    trio.run(main)
    return _records(path)


def test_each_message_is_recorded_with_its_body_and_fate(tmp_path: Path) -> None:
    """A partitioned link's message, a duplicated one and a delayed one are each recorded with the body as the node
    wrote it, the fate the nemesis gave it, the copies and delays; a delayed copy cut by a partition that began
    meanwhile is a not-delivered event naming the message."""
    async def act(router: Router, nodes: dict[str, Any]) -> None:
        graph = complete_within([["n0", "n1", "n2"]])
        graph.remove_edges_from([("n0", "n1")])
        router.model.partition(graph)
        router.on_lines("n0", [_line("n0", "n1", {"type": "gossip", "message": 1, "msg_id": 1})])
        router.model.heal_partition()
        router.model.set_duplicate(1.0, [("n0", "n2")])
        router.on_lines("n0", [_line("n0", "n2", {"type": "gossip", "messages": [2, 3], "msg_id": 2})])
        router.model.clear_link_faults()
        router.model.set_delay(DelayDistribution.constant(0.05), [("n1", "n2")])
        router.on_lines("n1", [_line("n1", "n2", {"type": "gossip", "message": 4, "msg_id": 3})])
        graph = complete_within([["n0", "n1", "n2"]])
        graph.remove_edges_from([("n1", "n2")])
        router.model.partition(graph)
        await trio.sleep(0.15)

    recs = _records_of(_journalled(tmp_path, act))
    header, msgs, events = recs
    assert header["bodies"] is True
    cut, dup, delayed = msgs
    assert cut["fate"] == "partition" and cut["body"] == {"type": "gossip", "message": 1, "msg_id": 1}
    assert dup["fate"] == "duplicate" and dup["copies"] == 2 and dup["body"]["messages"] == [2, 3]
    assert delayed["fate"] == "delay" and delayed["delays_ms"] == [50.0] and delayed["body"]["message"] == 4
    assert [(e["event"], e["id"]) for e in events] == [("not-delivered", delayed["id"])]
    assert "partition" in events[0]["why"]


def _records_of(recs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    return recs[0], [r for r in recs[1:] if "event" not in r], [r for r in recs[1:] if "event" in r]


def test_a_huge_body_is_recorded_by_its_size_and_beginning(tmp_path: Path) -> None:
    """A 2 MB message is forwarded whole, but its record keeps only its size and first characters: the journal
    stays small whatever a node writes."""
    big = {"type": "gossip", "messages": list(range(300_000)), "msg_id": 1}

    async def act(router: Router, nodes: dict[str, Any]) -> None:
        router.on_lines("n0", [_line("n0", "n1", big)])

    recs = _journalled(tmp_path, act)
    rec = recs[1]
    line = _line("n0", "n1", big)[0]
    assert len(line) > MAX_BODY_LINE
    assert "body" not in rec and rec["body_bytes"] == len(line)
    assert rec["body_head"].startswith('{"src": "n0"') and len(rec["body_head"]) == BODY_HEAD
    assert rec["type"] == "gossip" and rec["fate"] == "delivered"
    assert (tmp_path / "messages.jsonl.gz").stat().st_size < 10_000


def test_bodies_stop_past_the_journals_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound on body bytes, records keep their type and fate but no body, and an event says when."""
    monkeypatch.setattr(router_module, "MAX_BODY_TOTAL", 500)

    async def act(router: Router, nodes: dict[str, Any]) -> None:
        router.on_lines("n0", [_line("n0", "n1", {"type": "gossip", "message": i, "msg_id": i}) for i in range(20)])

    _, msgs, events = _records_of(_journalled(tmp_path, act))
    assert len(msgs) == 20 and "body" in msgs[0] and "body" not in msgs[-1]
    assert [e["event"] for e in events] == ["bodies-stopped"]


def test_report_of_a_broadcast_that_never_forwards_draws_the_missing_forwards(tmp_path: Path) -> None:
    """A real run of the broadcast node that never forwards, under partitions: the messages file holds the
    bodies, and report.html draws, under a lost element, the client's broadcast and says the node never sent it
    on; the summary gives msgs-per-op in the Gossip Glomers' terms."""
    options = MaelstromOptions(workload="broadcast", bin=str(NODES / "broadcast_no_forward.py"), node_count=3,
                               time_limit=2.0, rate=10.0, concurrency=3, quiesce=0.5, seed=3,
                               nemesis=("partition",), nemesis_interval=0.5, out=str(tmp_path))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outcome = run(options, run_dir, ["test"])
    assert outcome["results"]["valid"] is False
    recs = _records(run_dir / "messages.jsonl.gz")
    broadcasts = [r for r in recs if r.get("type") == "broadcast"]
    assert broadcasts and all(r["body"]["message"] is not None for r in broadcasts)
    html = (run_dir / "report.html").read_text()
    assert 'class="spacetime"' in html and "Messages of element" in html
    assert "never sent a message holding" in html
    assert "broadcast {&quot;message&quot;:" in html
    summary = format_summary(outcome)
    assert "Gossip Glomers terms: msgs-per-op 0.0 (Maelstrom's :servers:" in summary
    assert "inter-node only 0.0" in summary
    assert "latency of ok operations add median" in summary
