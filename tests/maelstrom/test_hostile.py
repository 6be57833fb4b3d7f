"""The Maelstrom mode against hostile nodes (tests/maelstrom/nodes/hostile.py): never a crash, never a wrong verdict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.maelstrom.command import MaelstromOptions, run

pytestmark = pytest.mark.realtime  # real node processes in real time (~20-35 s a file): .ci/run's second step

HOSTILE = Path(__file__).parent / "nodes" / "hostile.py"


def _run(tmp_path: Path, mode: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"workload": "echo", "bin": str(HOSTILE), "args": (mode,), "node_count": 1,
                            "time_limit": 1.0, "rate": 10.0, "concurrency": 1, "seed": 3,
                            "out": str(tmp_path / "out"), "quiesce": 0.2}
    base.update(kw)
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    outcome = run(MaelstromOptions(**base), run_dir, ["test"])
    assert (run_dir / "results.json").is_file()
    return outcome


def _survivors(mode: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(HOSTILE) in line and f" {mode}" in line]


def test_a_deeply_nested_msg_id_fails_the_run_naming_the_node(tmp_path: Path) -> None:
    """A node-to-node msg_id nested 300 deep is a one-line unknown naming the node, not a harness crash."""
    results = _run(tmp_path, "deepmsgid", node_count=2)["results"]
    assert results["valid"] == "unknown"
    assert "node n" in results["reason"] and "nested more than" in results["reason"], results["reason"]


def test_a_deeply_nested_service_key_fails_the_run(tmp_path: Path) -> None:
    """A lin-kv write whose key is nested 300 deep is a one-line unknown, not a harness crash."""
    results = _run(tmp_path, "deepkey")["results"]
    assert results["valid"] == "unknown" and "nested more than" in results["reason"], results["reason"]


def test_a_deeply_nested_echo_fails_the_run(tmp_path: Path) -> None:
    """An echo_ok nested 990 deep is a one-line unknown, not a crash while writing the history."""
    results = _run(tmp_path, "deepecho")["results"]
    assert results["valid"] == "unknown" and "nested more than" in results["reason"], results["reason"]
    assert "\n" not in results["reason"]


def test_ids_beyond_64_bits_stay_exact(tmp_path: Path) -> None:
    """A correct unique-ids node with ids (node << 100) + counter is valid, its ids exact in the history."""
    outcome = _run(tmp_path, "bigid", workload="unique-ids", node_count=2, concurrency=2, rate=20.0)
    assert outcome["results"]["valid"] is True, outcome["results"]
    lines = (outcome["run_dir"] / "history.jsonl").read_text().splitlines()
    ids = [json.loads(line).get("value") for line in lines[1:] if json.loads(line).get("type") == "ok"]
    assert ids and all(type(i) is int and i >> 100 in (0, 1) for i in ids), ids[:5]
    assert (1 << 100) + 1 in ids or 1 in ids


def test_clients_stop_at_the_time_limit_when_a_node_stops_answering(tmp_path: Path) -> None:
    """n0 stops reading: its client's call times out once (5 s), and no client issues past the time limit."""
    outcome = _run(tmp_path, "stopread", node_count=2, concurrency=2, rate=20.0)
    events = [json.loads(line) for line in (outcome["run_dir"] / "history.jsonl").read_text().splitlines()[1:]]
    invokes = [e for e in events if e.get("type") == "invoke" and e.get("node") == "n0"]
    assert len(invokes) == 1, len(invokes)  # the one that timed out; the time limit (1 s) was over by then


def test_a_node_that_never_answers_a_client_is_invalid(tmp_path: Path) -> None:
    """A node that answers init and then nothing fails the run, as Maelstrom's stats checker does."""
    for workload in ("echo", "g-set"):
        results = _run(tmp_path / workload, "silent", workload=workload)["results"]
        assert results["valid"] is False, results
        assert "none ok" in results["reason"] and "stats checker" in results["reason"], results["reason"]



def test_crashes_and_the_end_of_the_run_kill_what_a_node_forked(tmp_path: Path) -> None:
    """A node's forked children die with it: crash and shutdown kill its whole process group."""
    _run(tmp_path, "forkstay", node_count=2, concurrency=2, time_limit=2.0, nemesis=("crash",),
         nemesis_interval=0.5, crash_targets="all")
    assert not _survivors("forkstay")


def test_a_node_that_exits_while_its_child_keeps_the_pipes_is_noticed(tmp_path: Path) -> None:
    """A node exiting after init_ok fails the run even though its forked child holds stdout open; no child survives."""
    results = _run(tmp_path, "fork")["results"]
    assert results["valid"] == "unknown" and "node n0 exited (code 0)" in results["reason"], results
    assert not _survivors("fork")


def test_a_node_that_closes_stdout_but_runs_on_is_said_so(tmp_path: Path) -> None:
    """A node closing its stdout and running on is reported as such, not as 'exited (code None)'."""
    results = _run(tmp_path, "closeout")["results"]
    assert results["valid"] == "unknown" and "closed its stdout but kept running" in results["reason"], results


def test_a_long_line_is_split_in_linear_time() -> None:
    """A 64 MiB line fed in 64 KiB reads is joined once (bytes copied about its length, not quadratic)."""
    from runner.maelstrom.node_process import LineSplitter

    splitter = LineSplitter()
    chunk = b"a" * (1 << 16)
    for _ in range(1024):
        assert splitter.feed(chunk) == []
    assert splitter.pending == 1 << 26
    assert splitter.feed(b"b\nc\n{") == [chunk * 1024 + b"b", b"c"]
    assert splitter.copied <= (1 << 26) + 16, splitter.copied
    assert (splitter.pending, splitter.rest()) == (1, b"{")


def test_a_line_past_the_cap_fails_the_run_naming_the_node(tmp_path: Path, monkeypatch: Any) -> None:
    """A line longer than MAX_LINE (lowered to 1 MiB here) is a one-line unknown naming the node."""
    from runner.maelstrom import node_process

    monkeypatch.setattr(node_process, "MAX_LINE", 1 << 20)
    results = _run(tmp_path, "bigline")["results"]
    assert results["valid"] == "unknown" and "node n0 wrote more than 1048576 bytes" in results["reason"], results


def test_messages_to_a_node_whose_input_is_full_are_recorded_as_dropped(tmp_path: Path, monkeypatch: Any) -> None:
    """Past the outbox cap, a message to a live node is journalled input-full and counted, not 'delivered'."""
    import gzip
    import random

    import trio

    from nemesis.link_faults import FaultModel
    from runner.maelstrom import node_process
    from runner.maelstrom.node_process import MaelstromNode
    from runner.maelstrom.router import MessageJournal, Router

    monkeypatch.setattr(node_process, "MAX_OUTBOX", 150)

    async def main() -> Router:
        nodes: dict[str, MaelstromNode] = {}
        journal = MessageJournal(tmp_path / "messages.jsonl.gz", {})
        router = Router(nodes, FaultModel(random.Random(0)), 1, {}, None, journal)
        for n in ("n0", "n1"):
            nodes[n] = MaelstromNode(n, ["true"], tmp_path / f"{n}.log", router.on_lines)
            nodes[n].alive = True  # a live process that does not read its stdin (none is started)
        for i in range(5):
            line = json.dumps({"src": "n1", "dest": "n0", "body": {"type": "gossip", "msg_id": i, "pad": "x" * 40}})
            router.on_lines("n1", [(line.encode() + b"\n", json.loads(line))])
        router.send_from_outside("c1", "n0", {"type": "echo", "msg_id": 9})
        journal.close()
        return router

    router = trio.run(main)
    records = [json.loads(line) for line in gzip.open(tmp_path / "messages.jsonl.gz").read().splitlines()[1:]]
    fates = [r["fate"] for r in records if "fate" in r]
    assert fates[:2] == ["delivered", "delivered"] and set(fates[2:]) == {"input-full"}, fates
    assert router.counts["input_full"] == 4 and not router.counts["to_dead_node"]


def test_an_unknown_verdict_from_the_checker_gives_its_reason(tmp_path: Path) -> None:
    """A run with no operations is unknown, and results.json and the summary say why."""
    from runner.maelstrom.command import format_summary

    outcome = _run(tmp_path, "silent", rate=0.01, time_limit=0.3)  # the first op is planned after the limit
    results = outcome["results"]
    assert results["valid"] == "unknown" and "no client operations" in results.get("reason", ""), results
    assert "reason: " in format_summary(outcome)


def test_a_seed_beyond_63_bits_is_a_usage_error() -> None:
    """--seed 99999999999999999999999 is a one-line usage error (it was an internal error)."""
    import pytest

    from runner.maelstrom.command import options_from_args
    from runner.usage import UsageError

    with pytest.raises(UsageError, match="--seed"):
        options_from_args(["--bin", "x", "--seed", "99999999999999999999999"])
    with pytest.raises(UsageError, match="--seed"):
        options_from_args(["--bin", "x", "--seed", "-1"])


def test_bin_is_stored_absolute_and_an_empty_bin_is_named(tmp_path: Path, monkeypatch: Any) -> None:
    """A relative --bin is kept absolute (replay from elsewhere finds it); --bin '' says it is empty."""
    import pytest

    from runner.maelstrom.command import options_from_args
    from runner.usage import UsageError

    monkeypatch.chdir(HOSTILE.parent)
    assert options_from_args(["--bin", "hostile.py", "--seed", "1"]).bin == str(HOSTILE)
    with pytest.raises(UsageError, match="--bin must name a program"):
        options_from_args(["--bin", "", "--seed", "1"])


def test_a_read_of_a_list_on_lin_kv_is_judged_not_refused(tmp_path: Path) -> None:
    """lin-kv reads answered with [1, 2] (never written) are not linearizable, not an unreadable history."""
    results = _run(tmp_path, "", bin=str(HOSTILE.parent / "kv_weird_read.py"), args=(), workload="lin-kv",
                   rate=20.0)["results"]
    assert results["valid"] is False, results.get("reason")
    assert "header line" not in str(results.get("reason"))


def test_service_memory_is_bounded(monkeypatch: Any) -> None:
    """lin-kv keeps only a key's latest value, and past MAX_KEYS a new key is refused with error 11."""
    import random

    from runner.maelstrom import services

    monkeypatch.setattr(services, "MAX_KEYS", 3)
    svc = services.KVService("lin-kv", "lin", random.Random(0))
    for i in range(10):
        assert svc("n0", {"type": "write", "key": 0, "value": i, "msg_id": i})["type"] == "write_ok"
    assert svc.versions[b"0"] == [9] and not svc.times
    assert svc("n0", {"type": "read", "key": 0, "msg_id": 1})["value"] == 9
    for key in (1, 2):
        assert svc("n0", {"type": "write", "key": key, "value": 1, "msg_id": 1})["type"] == "write_ok"
    refused = svc("n0", {"type": "cas", "key": 3, "from": 1, "to": 2, "create_if_not_exists": True, "msg_id": 2})
    assert (refused["type"], refused["code"]) == ("error", 11) and "cap" in refused["text"]
    assert svc("n0", {"type": "cas", "key": 2, "from": 1, "to": 2, "msg_id": 3})["type"] == "cas_ok"


def test_a_kept_key_costs_its_size_not_orjsons_spare_capacity() -> None:
    """1000 lin-kv keys hold well under 1 KiB each (orjson's bytes carried ~1 KiB of spare capacity each)."""
    import random
    import tracemalloc

    from runner.maelstrom import services

    svc = services.KVService("lin-kv", "lin", random.Random(0))
    tracemalloc.start()
    try:
        for i in range(1000):
            svc("n0", {"type": "write", "key": f"n0-{i}", "value": i, "msg_id": i})
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 500 * 1000, held
