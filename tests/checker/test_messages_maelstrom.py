"""A Maelstrom run's messages file as the checker reads it: counts, the messages behind an anomaly, old files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from checker.api import CheckOptions, check
from checker.history import iter_events
from checker.maelstrom_messages import NO_BODIES, messages_per_op, read_for_report, read_messages, story
from checker.report import write_report

NODES = ["n0", "n1", "n2"]
MS = 1_000_000


def _write_messages(path: Path, records: list[dict[str, Any]], bodies: bool = True) -> None:
    header: dict[str, Any] = {"maelstrom_journal": 1, "seed": 1, "nodes": NODES, "workload": "broadcast"}
    if bodies:
        header["bodies"] = True
    with gzip.open(path, "wb") as f:
        for r in [header, *records]:
            f.write(json.dumps(r).encode() + b"\n")


def _msg(t_ms: float, src: str, dest: str, body: dict[str, Any], fate: str = "delivered", bodies: bool = True,
         **extra: Any) -> dict[str, Any]:
    rec = {"t": int(t_ms * MS), "src": src, "dest": dest, "type": body["type"], "msg_id": body.get("msg_id"),
           "in_reply_to": body.get("in_reply_to"), "fate": fate, **extra}
    if bodies:
        rec["body"] = body
    return rec


def _broadcast_run(run_dir: Path, bodies: bool = True) -> None:
    """A 3-node broadcast run by hand: c1's broadcast of 7 to n0, acknowledged; n0 forwards it to n1 (delivered,
    then n1 crashes) and to n2 (cut by a partition); final reads: only n0 holds 7."""
    run_dir.mkdir()
    events = [{"history": 1, "workload": "set", "meta": {"system": "maelstrom", "node": "./b.py"}}]
    t = 0

    def ev(ms: float, process: Any, typ: str, f: str, value: Any, node: str | None = None, **kw: Any) -> None:
        nonlocal t
        e = {"index": t, "time": int(ms * MS), "process": process, "type": typ, "f": f, "value": value, **kw}
        if f in ("add", "read"):
            e["key"] = "broadcast"
        if node is not None:
            e["node"] = node
        events.append(e)
        t += 1

    ev(100, 1, "invoke", "add", 7, "n0")
    ev(102, 1, "ok", "add", 7, "n0")
    ev(300, "nemesis", "info", "crash-start", {"nodes": ["n1"]})
    ev(500, "nemesis", "info", "crash-stop", {"nodes": ["n1"]})
    for i, node in enumerate(NODES):
        ev(1000 + i, 10 + i, "invoke", "read", None, node, final=True)
    for i, (node, held) in enumerate([("n0", [7]), ("n1", []), ("n2", [])]):
        ev(1005 + i, 10 + i, "ok", "read", held, node, final=True)
    (run_dir / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    records = [
        _msg(5, "c0", "n0", {"type": "init", "node_id": "n0", "node_ids": NODES, "msg_id": 1}, bodies=bodies),
        _msg(6, "n0", "c0", {"type": "init_ok", "in_reply_to": 1}, bodies=bodies),
        _msg(100, "c1", "n0", {"type": "broadcast", "message": 7, "msg_id": 2}, bodies=bodies),
        _msg(101, "n0", "c1", {"type": "broadcast_ok", "in_reply_to": 2}, bodies=bodies),
        _msg(101.5, "n0", "n1", {"type": "gossip", "message": 7, "msg_id": 5}, bodies=bodies),
        _msg(101.6, "n0", "n2", {"type": "gossip", "message": 7, "msg_id": 6}, fate="partition", bodies=bodies),
        {"t": 300 * MS, "event": "crash", "node": "n1"},
        {"t": 500 * MS, "event": "restart", "node": "n1"},
    ]
    for i, node in enumerate(NODES):
        records.append(_msg(1000 + i, "c0", node, {"type": "read", "msg_id": 20 + i}, bodies=bodies))
        records.append(_msg(1004 + i, node, "c0", {"type": "read_ok", "messages": [7] if node == "n0" else [],
                                                   "in_reply_to": 20 + i}, bodies=bodies))
    _write_messages(run_dir / "messages.jsonl.gz", records, bodies=bodies)


def test_messages_per_op_counts_inter_node_messages_per_client_operation(tmp_path: Path) -> None:
    """A hand-written file with 6 inter-node messages (2 lost), 4 client operations (init and topology are setup,
    not operations) and 2 service messages: 1.5 messages per operation, every kind counted."""
    recs = [_msg(1, "c0", "n0", {"type": "init", "msg_id": 1}), _msg(2, "c0", "n1", {"type": "topology", "msg_id": 2})]
    recs += [_msg(10 + i, "c1", "n0", {"type": "add", "delta": 1, "msg_id": 10 + i}) for i in range(4)]
    recs += [_msg(20 + i, "n0", "c1", {"type": "add_ok", "in_reply_to": 10 + i}) for i in range(4)]
    recs += [_msg(30 + i, "n0", "n1", {"type": "gossip", "msg_id": 30 + i}) for i in range(4)]
    recs += [_msg(40, "n1", "n2", {"type": "gossip"}, fate="drop"), _msg(41, "n2", "n0", {"type": "gossip"}, fate="partition")]
    recs += [_msg(50, "n0", "seq-kv", {"type": "read", "key": "k", "msg_id": 50}),
             _msg(51, "seq-kv", "n0", {"type": "read_ok", "value": 1, "in_reply_to": 50})]
    path = tmp_path / "messages.jsonl.gz"
    _write_messages(path, recs)
    counts = read_messages(path).counts
    assert (counts.inter_node, counts.client_ops, counts.service) == (6, 4, 2)
    assert counts.client == 2 + 4 + 4
    assert dict(counts.lost) == {"drop": 1, "partition": 1}
    assert messages_per_op(counts) == 1.5


def test_lost_element_story_names_the_forward_the_partition_and_the_crash(tmp_path: Path) -> None:
    """For an element lost on two nodes: the client's broadcast and its ack, n0's forwards, the one to n2 lost to
    the partition, and n1's crash after it received the element; the diagram's messages hold it."""
    run_dir = tmp_path / "run"
    _broadcast_run(run_dir)
    result = check(run_dir / "history.jsonl", CheckOptions())
    lost = [a for a in result.anomalies if a["type"] == "lost-element"]
    assert lost and sorted(lost[0]["lost_on"]) == ["n1", "n2"]
    events = [e for e in iter_events(run_dir / "history.jsonl") if e.get("key") == "broadcast"]
    mf = read_for_report(run_dir, lost, {"broadcast": events})
    assert mf is not None and mf.bodies
    st = story(lost[0], events, mf, 0)
    text = " | ".join(f.text for f in st.findings)
    assert "c1's broadcast of 7 reached n0" in text and "n0 then sent 7 to n1, n2" in text
    assert "n2: all 1 message(s) holding 7 sent to it were lost (partition ×1)" in text
    assert "n1 received 7 from n0 at 0.102 s and crashed at 0.300 s" in text
    assert {m.type for m in st.messages if m.carries} >= {"broadcast", "gossip", "read_ok"}
    assert any(m.type == "broadcast_ok" for m in st.messages)  # the reply to the request that held it


def test_report_of_a_maelstrom_run_draws_the_messages_with_their_bodies(tmp_path: Path) -> None:
    """report.html of the hand-made run: the diagram under the lost element, with the gossip's body shortened
    beside its arrow, the partition named at the lost message, the crash marked, and msgs-per-op in the cards."""
    run_dir = tmp_path / "run"
    _broadcast_run(run_dir)
    html = write_report(run_dir).read_text()
    assert "Messages of element 7" in html
    assert "gossip {&quot;message&quot;:7}" in html
    assert ">partition</text>" in html and ">crash</text>" in html
    assert "msgs per op (Maelstrom&#x27;s :servers / operations)" in html
    assert "<b>0.5 (2 messages / 4 operations: 1 client operation and 3 final reads; inter-node only 0.5)</b>" in html


def test_an_old_messages_file_without_bodies_still_reports(tmp_path: Path) -> None:
    """A run recorded before bodies were (no ``bodies`` in the header, no ids): the report is written, says the
    bodies were not recorded, and still draws the messages near the anomaly's operations."""
    run_dir = tmp_path / "run"
    _broadcast_run(run_dir, bodies=False)
    html = write_report(run_dir).read_text()
    assert NO_BODIES in html.lower()
    assert "class=\"spacetime\"" in html
    assert "holding 7" not in html and "Messages of element 7" in html  # nothing claimed about what held it


def test_a_cut_short_messages_file_keeps_what_came_before(tmp_path: Path) -> None:
    """A gzip file cut in the middle (a run killed): the records before the cut are read, the damage said."""
    path = tmp_path / "messages.jsonl.gz"
    _write_messages(path, [_msg(i, "n0", "n1", {"type": "gossip", "message": i, "msg_id": i}) for i in range(3000)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    mf = read_messages(path)
    assert 0 < mf.counts.inter_node < 3000
    assert mf.damage is not None and "cut short" in mf.damage


def test_a_body_with_an_integer_beyond_64_bits_is_read_and_matched(tmp_path: Path) -> None:
    """A node's id beyond 64 bits (the journal writes it with the stdlib): the record is read, not skipped as
    malformed, and a duplicate-id anomaly about that id finds the messages holding it."""
    big = 2**70 + 3
    path = tmp_path / "messages.jsonl.gz"
    _write_messages(path, [_msg(1, "c1", "n0", {"type": "generate", "msg_id": 1}),
                           _msg(2, "n0", "c1", {"type": "generate_ok", "id": big, "in_reply_to": 1})])
    from checker.maelstrom_messages import Want

    mf = read_messages(path, {0: Want(needle=big, has_needle=True)})
    assert mf.damage is None and mf.counts.client == 2
    assert [m.type for m in mf.kept[0] if m.carries] == ["generate_ok"]
