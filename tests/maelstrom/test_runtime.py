"""The Maelstrom mode's runtime: real node processes, the router, services, bad nodes, replay."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from nemesis.link_faults import FaultModel
from nemesis.topology import complete_within
from runner.maelstrom import command
from runner.maelstrom.command import MaelstromOptions, compare_histories, options_from_args, run
from runner.maelstrom.protocol import ProtocolError, definite, parse_line
from runner.maelstrom.router import Router
from runner.maelstrom.services import KVService, TSOService
from runner.maelstrom.workloads import make_topology
from runner.usage import UsageError

NODES = Path(__file__).parent / "nodes"
ECHO = NODES / "echo_min.py"
ROOT = Path(__file__).resolve().parents[2]

PROXY = """#!/usr/bin/env python3
import json, sys
svc = sys.argv[1]
me = None; nid = 0; pending = {}
def out(dest, body):
    sys.stdout.write(json.dumps({"src": me, "dest": dest, "body": body}) + "\\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line); b = m["body"]; nid += 1
    if b["type"] == "init":
        me = b["node_id"]; out(m["src"], {"type": "init_ok", "in_reply_to": b["msg_id"]}); continue
    if m["src"] == svc:
        client, cmid = pending.pop(b["in_reply_to"]); r = dict(b); r["in_reply_to"] = cmid; r.pop("msg_id", None)
        out(client, r); continue
    req = dict(b); req["msg_id"] = nid; pending[nid] = (m["src"], b["msg_id"]); out(svc, req)
"""


def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _options(tmp_path: Path, bin_path: Path, **kw: Any) -> MaelstromOptions:
    base: dict[str, Any] = {"workload": "echo", "bin": str(bin_path), "node_count": 2, "time_limit": 1.5,
                            "rate": 40.0, "concurrency": 2, "seed": 5, "out": str(tmp_path / "out"), "quiesce": 0.5}
    base.update(kw)
    return MaelstromOptions(**base)


def _run(tmp_path: Path, options: MaelstromOptions, name: str = "run") -> dict[str, Any]:
    run_dir = tmp_path / name
    run_dir.mkdir()
    return run(options, run_dir, ["test"])


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def _orphans(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and "ps -eo" not in line]


def test_echo_end_to_end(tmp_path: Path) -> None:
    """A real echo node answers init and echoes: the history pairs each echo with what came back."""
    outcome = _run(tmp_path, _options(tmp_path, ECHO))
    run_dir = outcome["run_dir"]
    events = _events(run_dir)
    assert events[0] == {"history": 1, "workload": "echo", "meta": {"system": "maelstrom", "node": str(ECHO)}}
    oks = [e for e in events[1:] if e["type"] == "ok"]
    assert oks and all(e["f"] == "echo" and e["value"].startswith("Please echo") for e in oks)
    invokes = {e["process"]: e for e in events[1:] if e["type"] == "invoke"}
    assert {e["node"] for e in oks} == {"n0", "n1"} and invokes
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["mode"] == "maelstrom" and meta["options"]["seed"] == 5
    results = json.loads((run_dir / "results.json").read_text())
    assert results["maelstrom"]["messages"]["client"] >= 2 * len(oks)
    with gzip.open(run_dir / "messages.jsonl.gz", "rt") as f:
        journal = [json.loads(line) for line in f]
    assert journal[0]["maelstrom_journal"] == 1
    assert any(r.get("type") == "init_ok" for r in journal) and any(r.get("type") == "echo_ok" for r in journal)


def test_replay_of_a_deterministic_node_is_identical(tmp_path: Path) -> None:
    """The same seed and schedule give the same events (times aside) for a deterministic node."""
    options = _options(tmp_path, ECHO, rate=30.0)
    first = _run(tmp_path, options, "a")["run_dir"]
    second = _run(tmp_path, options, "b")["run_dir"]
    sentence = compare_histories(first / "history.jsonl", second / "history.jsonl")
    assert sentence.startswith("identical"), sentence


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("exits.sh", "#!/bin/sh\nread x\nexit 3\n", "node n0 exited (code 3)"),
    ("garbage.sh", "#!/bin/sh\nread x\necho hello world\nsleep 30\n", "at column 1): 'hello world'"),
    ("silent.sh", "#!/bin/sh\nsleep 30\n", "did not answer init within"),
    ("noexec.sh", None, "not executable"),
    ("missing.sh", "", "no such file"),
])
def test_bad_nodes_are_unknown_with_one_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                text: str | None, reason: str) -> None:
    """Each way a node can break the protocol ends the run unknown, with the reason, and no child left."""
    monkeypatch.setattr(command, "INIT_TIMEOUT", 1.0)
    if text is None:
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
    elif text == "":
        path = tmp_path / name
    else:
        path = _script(tmp_path, name, text)
    outcome = _run(tmp_path, _options(tmp_path, path, node_count=1))
    results = outcome["results"]
    assert results["valid"] == "unknown"
    assert reason in results["reason"], results["reason"]
    assert "\n" not in results["reason"]
    assert not _orphans(str(path))


def test_cli_bad_node_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Through harness.py: a node writing garbage is exit 2 with the reason, no traceback on stderr."""
    path = _script(tmp_path, "garbage.sh", "#!/bin/sh\nread x\necho '{oops'\nsleep 30\n")
    proc = subprocess.run([sys.executable, "harness.py", "maelstrom", "test", "-w", "echo", "--bin", str(path),
                           "--node-count", "1", "--time-limit", "1", "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert "node n0 wrote a line that is not a Maelstrom message" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert not _orphans(str(path))


def test_flags_are_maelstroms_with_did_you_mean() -> None:
    """Maelstrom's flags and defaults parse; a mistyped flag is a usage error with a suggestion."""
    o = options_from_args(["-w", "broadcast", "--bin", "x", "--concurrency", "2n", "--node-count", "3",
                           "--nemesis", "partition,crash", "--seed", "9", "--", "--flag-for-node"])
    assert (o.workload, o.concurrency, o.nemesis, o.args) == ("broadcast", 6, ("partition", "crash"),
                                                              ("--flag-for-node",))
    d = options_from_args(["--bin", "x", "--seed", "1"])
    assert (d.workload, d.node_count, d.rate, d.time_limit, d.topology, d.latency) == ("lin-kv", 5, 5.0, 60.0,
                                                                                       "grid", 0.0)
    with pytest.raises(UsageError, match="did you mean '--node-count'"):
        options_from_args(["--bin", "x", "--node-cont", "3"])
    with pytest.raises(UsageError, match="unknown fault 'partiton'"):
        options_from_args(["--bin", "x", "--nemesis", "partiton"])


@pytest.mark.realtime  # 7-9 s of real Maelstrom node processes: with .ci/run's second step (default suite: 597.7 s of 600 in CI)
def test_lin_kv_service_is_linearizable_and_seq_kv_is_not(tmp_path: Path) -> None:
    """A proxy to lin-kv is VALID under the linearizability checker; the same proxy to seq-kv is caught."""
    proxy = _script(tmp_path, "proxy.py", PROXY)
    common = {"workload": "lin-kv", "node_count": 3, "concurrency": 3, "time_limit": 3.0, "rate": 60.0}
    lin = _run(tmp_path, _options(tmp_path, proxy, args=("lin-kv",), **common), "lin")["results"]
    assert lin["valid"] is True, lin.get("reason")
    seq = _run(tmp_path, _options(tmp_path, proxy, args=("seq-kv",), seed=3, **common), "seq")["results"]
    assert seq["valid"] is False
    assert seq["maelstrom"]["messages"]["service"] > 0


def test_kv_service_errors() -> None:
    """read of a missing key is 20, cas against another value is 22, create_if_not_exists creates."""
    kv = KVService("lin-kv", "lin", random.Random(1))
    assert kv("n0", {"type": "read", "key": "a", "msg_id": 1})["code"] == 20
    assert kv("n0", {"type": "cas", "key": "a", "from": 1, "to": 2, "msg_id": 2})["code"] == 20
    assert kv("n0", {"type": "cas", "key": "a", "from": 1, "to": 2, "create_if_not_exists": True,
                     "msg_id": 3})["type"] == "cas_ok"
    assert kv("n0", {"type": "cas", "key": "a", "from": 1, "to": 3, "msg_id": 4})["code"] == 22
    assert kv("n0", {"type": "read", "key": "a", "msg_id": 5}) == {"type": "read_ok", "in_reply_to": 5, "value": 2}
    assert kv("n0", {"type": "frob", "msg_id": 6})["code"] == 10
    assert definite(20) and definite(22) and not definite(0) and not definite(13)


def test_seq_kv_a_callers_write_brings_its_reads_of_every_key_up_to_it() -> None:
    """seq-kv is one total order across keys: after its own write (to any key) a caller never reads a version
    of another key older than that write (the Glomers g-counter trick); another caller still may."""
    for seed in range(20):
        kv = KVService("seq-kv", "seq", random.Random(seed))
        for v in range(30):
            kv("a", {"type": "write", "key": "k", "value": v, "msg_id": v})
        kv("b", {"type": "write", "key": "nonce", "value": seed, "msg_id": 1})
        assert kv("b", {"type": "read", "key": "k", "msg_id": 2})["value"] == 29
        kv("a", {"type": "write", "key": "k", "value": 30, "msg_id": 31})
        assert kv("b", {"type": "cas", "key": "k", "from": -1, "to": 0, "msg_id": 3})["code"] == 22
        assert kv("b", {"type": "read", "key": "k", "msg_id": 4})["value"] == 30  # the failed cas saw the latest


def test_seq_kv_reads_never_go_back_for_one_caller() -> None:
    """seq-kv may return stale versions, but each caller's reads of a key move only forward."""
    kv = KVService("seq-kv", "seq", random.Random(2))
    for v in range(30):
        kv("w", {"type": "write", "key": 0, "value": v, "msg_id": v})
    stale = 0
    for caller in ("r1", "r2", "r3", "r4"):
        replies = [kv(caller, {"type": "read", "key": 0, "msg_id": 100 + i}) or {} for i in range(40)]
        seen = [r.get("value", -1) for r in replies]  # -1: key-does-not-exist, the oldest state
        assert seen == sorted(seen), caller
        stale += sum(v < 29 for v in seen)
    assert stale > 0
    ts = TSOService()
    assert [ts("n0", {"type": "ts", "msg_id": i})["ts"] for i in range(3)] == [0, 1, 2]


class _FakeNode:
    full = False

    def __init__(self) -> None:
        self.alive = True
        self.lines: list[bytes] = []

    def send(self, line: bytes) -> bool:
        self.lines.append(line)
        return True


def _router(seed: int) -> tuple[Router, dict[str, Any]]:
    nodes: dict[str, Any] = {"n0": _FakeNode(), "n1": _FakeNode(), "n2": _FakeNode()}
    return Router(nodes, FaultModel(random.Random(0)), seed, {}, None, None), nodes


def _line(src: str, dest: str, i: int) -> tuple[bytes, dict[str, Any]]:
    msg = {"src": src, "dest": dest, "body": {"type": "gossip", "msg_id": i}}
    return json.dumps(msg).encode() + b"\n", msg


def test_router_partition_blocks_one_way_only() -> None:
    """A one-way cut stops n0 -> n1 and lets n1 -> n0 through; healthy links forward the line unchanged."""
    router, nodes = _router(1)
    graph = complete_within([["n0", "n1", "n2"]])
    graph.remove_edges_from([("n0", "n1")])
    router.model.partition(graph)
    router.on_lines("n0", [_line("n0", "n1", 1), _line("n0", "n2", 2)])
    router.on_lines("n1", [_line("n1", "n0", 3)])
    assert nodes["n1"].lines == [] and len(nodes["n2"].lines) == 1 and len(nodes["n0"].lines) == 1
    assert nodes["n0"].lines[0] == _line("n1", "n0", 3)[0]
    assert router.counts["lost"] == 1 and router.counts["inter_node"] == 3


def test_router_fault_draws_follow_message_identity_not_order() -> None:
    """With 50% drop, which messages survive depends on the messages, not on the order they arrive in."""
    lines = [_line("n0", "n1", i) for i in range(200)]

    def survivors(order: list[tuple[bytes, dict[str, Any]]]) -> set[bytes]:
        router, nodes = _router(7)
        router.model.set_drop(0.5)
        router.on_lines("n0", order)
        return set(nodes["n1"].lines)

    forward = survivors(lines)
    assert 40 < len(forward) < 160
    assert survivors(list(reversed(lines))) == forward


def test_protocol_rejects_what_is_not_a_message() -> None:
    """Not JSON, not an object, or missing src/dest/body/type: each a ProtocolError naming the problem."""
    for line, why in [(b"hello", "not JSON"), (b"[1]", "not a JSON object"),
                      (b'{"dest": "c1", "body": {"type": "x"}}', "'src'"),
                      (b'{"src": "n0", "dest": "c1", "body": {}}', "body.type")]:
        with pytest.raises(ProtocolError, match=why):
            parse_line(line)
    assert parse_line(b'{"src": "n0", "dest": "c1", "body": {"type": "x"}}')["dest"] == "c1"


def test_topologies() -> None:
    """Maelstrom's topologies: every link symmetric, line a chain, tree4 a tree, total complete."""
    nodes = [f"n{i}" for i in range(10)]
    for kind in ("grid", "line", "tree", "tree2", "tree3", "tree4", "total"):
        graph = make_topology(kind, nodes)
        assert set(graph) == set(nodes)
        assert all(a in graph[b] for a in nodes for b in graph[a]), kind
    assert make_topology("line", nodes)["n0"] == ["n1"]
    assert sum(len(v) for v in make_topology("tree4", nodes).values()) == 2 * 9
    assert len(make_topology("total", nodes)["n3"]) == 9


def test_timer_heap_delivers_delayed_copies() -> None:
    """Delayed messages wait in the router's heap and arrive; one task serves them all."""
    router, nodes = _router(3)
    from nemesis.link_faults import DelayDistribution

    router.latency = DelayDistribution.constant(0.02)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(router.run_timers)
            router.on_lines("n0", [_line("n0", "n1", i) for i in range(5)])
            assert nodes["n1"].lines == []
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(nodes["n1"].lines) == 5


def test_divergence_names_the_crash_after_it(tmp_path: Path) -> None:
    """A divergence's explanation names the crash that came after its first operation, once; a lost element's
    crash is the set rule's to name (so it is not named twice)."""
    history = tmp_path / "history.jsonl"
    events = [
        {"index": 0, "time": 10**9, "process": 0, "type": "invoke", "f": "add", "key": "b", "value": 1},
        {"index": 1, "time": 2 * 10**9, "process": "nemesis", "type": "info", "f": "crash-start",
         "value": {"nodes": ["n0", "n1"]}},
    ]
    history.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    results: dict[str, Any] = {"anomalies": [{"type": "divergent", "indexes": [0], "explanation": "differ."},
                                             {"type": "phantom-read", "indexes": [0], "explanation": "x"},
                                             {"type": "lost-element", "indexes": [0], "explanation": "lost 1."}]}
    command.name_crashes(results, history)
    divergent, phantom, lost = results["anomalies"]
    assert divergent["crashes"] == [{"time_s": 2.0, "nodes": ["n0", "n1"]}]
    assert divergent["explanation"].count("Crashed after its first operation: n0, n1 at 2.000 s") == 1
    assert "crashes" not in phantom and lost["explanation"] == "lost 1."


@pytest.mark.realtime  # 7-9 s of real Maelstrom node processes: with .ci/run's second step (default suite: 597.7 s of 600 in CI)
def test_crash_restarts_with_a_fresh_init_and_pause_stops_the_process(tmp_path: Path) -> None:
    """crash kills the node and starts a new process that gets init again; pause SIGSTOPs it (ops time out)."""
    options = _options(tmp_path, ECHO, node_count=3, concurrency=3, time_limit=5.0, nemesis=("crash", "pause"),
                       nemesis_interval=1.0, crash_targets="one")
    outcome = _run(tmp_path, options)
    run_dir = outcome["run_dir"]
    fs = [e.get("f") for e in _events(run_dir)[1:] if e.get("process") == "nemesis"]
    assert "crash-start" in fs and "pause-start" in fs and fs[-1] == "heal"
    with gzip.open(run_dir / "messages.jsonl.gz", "rt") as f:
        journal = [json.loads(line) for line in f][1:]
    events = [r["event"] for r in journal if "event" in r]
    assert "crash" in events and "restart" in events and "pause" in events and "resume" in events
    inits = [r for r in journal if r.get("type") == "init"]
    assert len(inits) == 3 + events.count("restart")
    assert outcome["failure"] is None  # no protocol failure: a restarted node answered its init
    assert not _orphans(str(ECHO))


def test_a_message_to_itself_is_not_link_faulted() -> None:
    """A node's message to itself is delivered even when every link drops everything."""
    router, nodes = _router(1)
    router.model.set_drop(1.0)
    router.on_lines("n0", [_line("n0", "n0", 1), _line("n0", "n1", 2)])
    assert len(nodes["n0"].lines) == 1 and nodes["n1"].lines == []


def test_ctrl_c_stops_every_node_and_says_unknown(tmp_path: Path) -> None:
    """SIGINT mid-run: exit 130, results.json unknown 'interrupted', and no node process left behind."""
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "harness.py", "maelstrom", "test", "-w", "echo", "--bin", str(ECHO),
                             "--node-count", "3", "--time-limit", "60", "--nemesis", "pause",
                             "--nemesis-interval", "0.5", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while len([p for p in _orphans(str(ECHO)) if "harness.py" not in p]) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # into a pause window, so a stopped node must be woken to die
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT" in err and "Traceback" not in err
    results = json.loads(next(out.glob("*-maelstrom-echo/results.json")).read_text())
    assert (results["valid"], results["reason"]) == ("unknown", "interrupted")
    assert not [p for p in _orphans(str(ECHO)) if "harness.py" not in p]


def test_router_delayed_copies_outlive_their_sender_and_lost_in_flight_stays_zero() -> None:
    """A delayed copy waits in the router, not its sender: delivered though its sender crashed meanwhile (the
    store's networks lose it, ``lost_in_flight``); one due at a dead receiver is ``to_dead_node``; so the
    router's ``lost_in_flight`` is 0 by construction (runner/maelstrom/router.py's docstring says why)."""
    from nemesis.link_faults import DelayDistribution

    router, nodes = _router(4)
    router.latency = DelayDistribution.constant(0.02)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(router.run_timers)
            router.on_lines("n0", [_line("n0", "n1", 1)])
            router.on_lines("n2", [_line("n2", "n0", 2)])
            nodes["n0"].alive = False  # n0 crashes with its copy to n1 in flight, before n2's copy to it is due
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    nodes["n0"].send = lambda line: False  # a dead node's send, as MaelstromNode.send
    trio.run(main)
    assert nodes["n1"].lines == [_line("n0", "n1", 1)[0]]
    assert router.counts["to_dead_node"] == 1 and router.model.counters.lost_in_flight == 0
