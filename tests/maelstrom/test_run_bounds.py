"""The Maelstrom run's fairness and bounds: availability under the harness's own crashes, reply matching,
the services' byte budget, node log caps and escaped processes."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.maelstrom import proctree
from runner.maelstrom.command import MaelstromOptions, run

pytestmark = pytest.mark.realtime  # real node processes in real time (~20-35 s a file): .ci/run's second step

NODES = Path(__file__).parent / "nodes"


def _run(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"workload": "echo", "bin": str(NODES / "echo.py"), "node_count": 2, "time_limit": 1.5,
                            "rate": 10.0, "concurrency": 2, "seed": 1, "out": str(tmp_path / "out"), "quiesce": 0.5}
    base.update(kw)
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    return run(MaelstromOptions(**base), run_dir, ["test"], report=False)


def test_total_availability_excuses_requests_to_a_node_the_harness_had_crashed(tmp_path: Path) -> None:
    """F9: the correct unique_ids.py under --nemesis crash with --availability total is valid; the op sent to the
    killed node is left out of the rule and counted as such."""
    outcome = _run(tmp_path, workload="unique-ids", bin=str(NODES / "unique_ids.py"), availability="total",
                   node_count=3, time_limit=6.0, rate=10.0, concurrency=3, nemesis=("crash",),
                   nemesis_interval=2.0, quiesce=1.0, seed=1)
    results = outcome["results"]
    history = [json.loads(x) for x in (Path(outcome["run_dir"]) / "history.jsonl").read_text().splitlines()]
    timeouts = [e for e in history if e.get("error") == "timeout"]
    assert timeouts, "the seed no longer sends an op to the crashed node: the test proves nothing"
    assert results["valid"] is True, results.get("reason")
    avail = results["maelstrom"]["availability"]
    assert avail["not_ok"] == 0 and avail["excused"] == len(timeouts), avail


SPOOFER = """#!/usr/bin/env python3
import json, sys, time
me = None
def out(dest, body):
    sys.stdout.write(json.dumps({"src": me, "dest": dest, "body": body}) + "\\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line); b = m["body"]
    if b["type"] == "init":
        me = b["node_id"]
        if me != "n0":
            time.sleep(0.5)  # n0's spoofed replies reach c0 first
        out(m["src"], {"type": "init_ok", "in_reply_to": b["msg_id"]})
        if me == "n0":
            for i in range(1, 10):  # every msg_id the init client may be waiting on, the others' inits included
                out("c0", {"type": "echo_ok", "in_reply_to": i, "echo": "spoof"})
    elif b["type"] == "echo":
        out(m["src"], {"type": "echo_ok", "in_reply_to": b["msg_id"], "echo": b["echo"]})
"""


def test_a_reply_from_another_node_answers_the_call_and_the_reason_names_its_sender(tmp_path: Path) -> None:
    """G3 (was F1): as in Maelstrom, n0's echo_ok to c0 carrying n1's init msg_id answers that init (a reply is
    matched on client and in_reply_to, whatever its sender); the run fails and the reason names n0, the sender."""
    script = tmp_path / "spoofer.py"
    script.write_text(SPOOFER)
    script.chmod(0o755)
    results = _run(tmp_path, bin=str(script), node_count=3, concurrency=3)["results"]
    assert results["valid"] == "unknown", results
    assert "node n0 answered c0's init to n" in results["reason"] and "'echo_ok', not init_ok" in results["reason"], \
        results["reason"]


def test_a_forwarding_node_passes_and_its_replies_are_counted(tmp_path: Path) -> None:
    """G3: n1 forwards to n0 and n0 answers the client itself: every op succeeds (valid under --availability
    total), the replies from another node are counted, and the history names n0 as the replier."""
    outcome = _run(tmp_path, bin=str(NODES / "forward.py"), node_count=2, availability="total", time_limit=2.0)
    results = outcome["results"]
    assert results["valid"] is True, results.get("reason")
    assert results["maelstrom"]["messages"].get("reply_from_other_node", 0) >= 1, results["maelstrom"]["messages"]
    history = [json.loads(x) for x in (Path(outcome["run_dir"]) / "history.jsonl").read_text().splitlines()]
    assert not [e for e in history if e.get("type") in ("info", "fail") and e.get("process") != "nemesis"]
    assert {e.get("node") for e in history if e.get("type") == "ok"} == {"n0"}


def test_a_wrong_answer_from_a_forwarded_request_blames_the_node_that_sent_it(tmp_path: Path) -> None:
    """G3: n0 garbles the echoes n1 forwards it; the echo mismatch names n0, the node that replied, not n1."""
    results = _run(tmp_path, bin=str(NODES / "forward.py"), args=("wrong",), node_count=2)["results"]
    assert results["valid"] is False, results
    mismatches = [a for a in results.get("anomalies", []) if a.get("type") == "echo-mismatch"]
    assert mismatches and {a["node"] for a in mismatches} == {"n0"}, mismatches[:2]


def test_service_values_have_a_byte_budget(monkeypatch: Any) -> None:
    """F11: past the services' byte budget a write or cas that would store more is refused with error 11 (definite:
    nothing was written); overwriting a lin-kv key, or seq-kv forgetting old versions, frees its bytes."""
    import random

    from runner.maelstrom import services

    monkeypatch.setattr(services, "MAX_VALUE_BYTES", 10_000, raising=False)
    svcs = services.make_services(1)
    seq, lin = svcs["seq-kv"], svcs["lin-kv"]
    big = "x" * 3000
    replies = [seq("n0", {"type": "write", "key": i, "value": big, "msg_id": i}) for i in range(5)]
    assert [r["type"] for r in replies[:3]] == ["write_ok"] * 3
    assert (replies[3]["type"], replies[3]["code"]) == ("error", 11) and "bytes" in replies[3]["text"], replies[3]
    refused = lin("n0", {"type": "cas", "key": 9, "from": 0, "to": big, "create_if_not_exists": True, "msg_id": 9})
    assert refused.get("code") == 11, refused  # one budget for every service
    assert seq("n0", {"type": "read", "key": 3, "msg_id": 10})["code"] == 20  # nothing was written
    assert sum(s.refused for s in svcs.values() if hasattr(s, "refused")) == 3
    small = services.KVService("lin-kv", "lin", random.Random(0), services.ByteBudget(10_000))
    for i in range(20):  # a lin-kv overwrite replaces the key's value: the budget holds one value
        assert small("n0", {"type": "write", "key": 0, "value": big, "msg_id": i})["type"] == "write_ok"


WRITER = """#!/usr/bin/env python3
import json, sys
me = None
def out(dest, body):
    sys.stdout.write(json.dumps({"src": me, "dest": dest, "body": body}) + "\\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line); b = m["body"]
    if b["type"] == "init":
        me = b["node_id"]
        out(m["src"], {"type": "init_ok", "in_reply_to": b["msg_id"]})
        for i in range(30):
            out("seq-kv", {"type": "write", "key": f"{me}-{i}", "value": "v" * 20000, "msg_id": i + 1})
    elif b["type"] == "echo":
        out(m["src"], {"type": "echo_ok", "in_reply_to": b["msg_id"], "echo": b["echo"]})
"""


def test_a_run_past_the_byte_budget_says_so_in_its_summary(tmp_path: Path, monkeypatch: Any) -> None:
    """F11 end to end: writes past the services' byte budget are refused, counted and named in one summary line."""
    from runner.maelstrom import services
    from runner.maelstrom.command import format_summary

    monkeypatch.setattr(services, "MAX_VALUE_BYTES", 200_000, raising=False)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    script.chmod(0o755)
    outcome = _run(tmp_path, bin=str(script))
    assert outcome["results"]["valid"] is True, outcome["results"].get("reason")
    assert outcome["results"]["maelstrom"]["services_refused"] == {"seq-kv": 60 - 9}
    assert "services refused (error 11, nothing written)" in format_summary(outcome)


CHATTY = """#!/usr/bin/env python3
import json, sys
me = None
def out(dest, body):
    sys.stdout.write(json.dumps({"src": me, "dest": dest, "body": body}) + "\\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line); b = m["body"]
    if b["type"] == "init":
        me = b["node_id"]
        sys.stderr.write(("x" * 999 + "\\n") * 3000); sys.stderr.flush()  # 3 MB
        out(m["src"], {"type": "init_ok", "in_reply_to": b["msg_id"]})
    elif b["type"] == "echo":
        out(m["src"], {"type": "echo_ok", "in_reply_to": b["msg_id"], "echo": b["echo"]})
"""


def test_a_nodes_log_and_its_echo_are_capped(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    """A node writing 3 MB on stderr past a 100 kB log cap: its log stops at the cap with a line saying how much
    was dropped, and --log-stderr echoes no more than the cap either."""
    from runner.maelstrom import node_process

    monkeypatch.setattr(node_process, "MAX_LOG", 100_000, raising=False)
    script = tmp_path / "chatty.py"
    script.write_text(CHATTY)
    script.chmod(0o755)
    outcome = _run(tmp_path, bin=str(script), node_count=1, concurrency=1, log_stderr=True)
    assert outcome["results"]["valid"] is True, outcome["results"].get("reason")
    log = (Path(outcome["run_dir"]) / "nodes" / "n0.log").read_bytes()
    assert len(log) < 101_000, len(log)
    assert b"dropped" in log.splitlines()[-1] and b"2900000 bytes" in log.splitlines()[-1], log.splitlines()[-1]
    echoed = capsys.readouterr().err
    assert echoed.count("n0 stderr: xxx") <= 101 and "n0 stderr: [harness:" in echoed


ESCAPER = """#!/usr/bin/env python3
import json, subprocess, sys
me = None
def out(dest, body):
    sys.stdout.write(json.dumps({"src": me, "dest": dest, "body": body}) + "\\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line); b = m["body"]
    if b["type"] == "init":
        me = b["node_id"]
        # a new session, a double fork and a cleared environment: neither the group nor the mark finds it
        subprocess.Popen(["setsid", "sh", "-c", "env -i F2TAG=%s sleep 987 & exit 0" % sys.argv[1]],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out(m["src"], {"type": "init_ok", "in_reply_to": b["msg_id"]})
    elif b["type"] == "echo":
        out(m["src"], {"type": "echo_ok", "in_reply_to": b["msg_id"], "echo": b["echo"]})
"""


def _sleepers(tag: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                env = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"F2TAG={tag}".encode() in env:
                found.append(int(name))
    return found


@pytest.mark.skipif(not proctree.cgroups_usable(), reason="no writable cgroup v2 here: only the group and mark are used")
def test_a_child_that_detaches_and_clears_its_environment_is_stopped(tmp_path: Path) -> None:
    """F5: a node's child that calls setsid, double-forks and runs under env -i is killed at a crash and at the
    end of the run (each node life runs in its own cgroup, killed whole)."""
    tag = f"t{os.getpid()}"
    script = tmp_path / "escaper.py"
    script.write_text(ESCAPER)
    script.chmod(0o755)
    try:
        outcome = _run(tmp_path, bin=str(script), args=(tag,), time_limit=3.0, nemesis=("crash",),
                       nemesis_interval=1.0, crash_targets="all")
        assert outcome["results"]["valid"] is True, outcome["results"].get("reason")
        left = _sleepers(tag)
        assert left == [], f"{len(left)} detached children survived the run"
    finally:
        for pid in _sleepers(tag):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not proctree.cgroups_usable(), reason="no writable cgroup v2 here")
def test_a_dead_runs_cgroup_is_reaped_by_the_next(tmp_path: Path) -> None:
    """A run cgroup whose harness died (SIGKILL: no cleanup) is killed whole and removed by reap_orphans, which each
    new run calls; a live run's cgroup is left alone."""
    import subprocess

    live = proctree.RunCgroups.create()
    assert live is not None
    dead = live.path.parent / f"{proctree.PREFIX}{proctree._pidns()}-999999999-1-dead"
    dead.mkdir()
    sleeper = subprocess.Popen(["sleep", "989"], preexec_fn=proctree.join_cgroup(dead, None))
    try:
        assert proctree._procs(dead) == [sleeper.pid]
        assert proctree.reap_orphans() >= 1
        assert sleeper.wait(timeout=10) == -signal.SIGKILL and not dead.exists() and live.path.is_dir()
    finally:
        sleeper.kill()
        live.close()
        proctree.kill_cgroup(dead)


def test_a_dest_that_is_no_client_id_is_an_unknown_destination() -> None:
    """F6, router side: a message to "cat" or "c" (no client id: c and digits) is counted unknown_dest, not client."""
    from nemesis.link_faults import FaultModel
    from runner.maelstrom.router import Router

    router = Router({}, FaultModel(random.Random(0)), 1, {}, None, None)
    batch = [(json.dumps(m).encode() + b"\n", m) for m in (
        {"src": "n0", "dest": dest, "body": {"type": "x", "in_reply_to": 1}} for dest in ("cat", "c", "c7", "zz"))]
    router.on_lines("n0", batch)
    assert (router.counts["unknown_dest"], router.counts["client"]) == (3, 1), router.counts


@pytest.mark.skipif(not proctree.cgroups_usable(), reason="no writable cgroup v2 here")
def test_a_pause_reaches_a_child_that_detached_and_cleared_its_environment(tmp_path: Path) -> None:
    """A pause freezes the node life's cgroup, so even a setsid + double fork + env -i child is stopped; resume thaws it."""
    import trio

    from runner.maelstrom.node_process import MaelstromNode

    tag = f"p{os.getpid()}"
    script = tmp_path / "escaper.py"
    script.write_text(ESCAPER)
    script.chmod(0o755)
    cgroups = proctree.RunCgroups.create()
    assert cgroups is not None

    def frozen(pid: int) -> bool:
        own = Path(f"/proc/{pid}/cgroup").read_text().splitlines()[-1].split("::", 1)[1]
        group = next(c for c in cgroups.path.iterdir() if own.endswith("/" + c.name))
        return "frozen 1" in (group / "cgroup.events").read_text()

    async def main() -> tuple[bool, bool]:
        async with trio.open_nursery() as nursery:
            node = MaelstromNode("n0", [str(script), tag], tmp_path / "n0.log", lambda src, batch: None, cgroups)
            node.start(nursery)
            node.send(b'{"src":"c0","dest":"n0","body":{"type":"init","msg_id":1,"node_id":"n0","node_ids":["n0"]}}\n')
            with trio.fail_after(10):
                while not _sleepers(tag):
                    await trio.sleep(0.05)
            child = _sleepers(tag)[0]
            node.pause()
            with trio.fail_after(10):
                while not frozen(child):  # the freeze completes asynchronously
                    await trio.sleep(0.02)
            paused = frozen(child)
            node.resume()
            with trio.fail_after(10):
                while frozen(child):
                    await trio.sleep(0.02)
            node.expect_exit()
            await node.kill()
            nursery.cancel_scope.cancel()
            return paused, frozen(child) if _sleepers(tag) else False

    try:
        assert trio.run(main) == (True, False)
        assert _sleepers(tag) == []
    finally:
        for pid in _sleepers(tag):
            os.kill(pid, signal.SIGKILL)
        cgroups.close()


HOLDER = """
import subprocess, sys, time
from runner.maelstrom import proctree
cgroups = proctree.RunCgroups.create()
life = cgroups.new_life("n0", 1)
child = subprocess.Popen(["setsid", "sh", "-c", "env -i F2TAG=%s sleep 987 & exit 0" % sys.argv[1]],
                         preexec_fn=proctree.join_cgroup(life, None))
child.wait()
print(cgroups.path, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not proctree.cgroups_usable(), reason="no writable cgroup v2 here")
def test_a_sigkilled_harness_leaves_no_node_process_behind(tmp_path: Path) -> None:
    """A harness (or explore worker) SIGKILLed mid-run: its watchdog kills the run's cgroup, a detached env -i child
    in it included, and removes it, with no later run needed."""
    import subprocess
    import time

    tag = f"k{os.getpid()}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, tag], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        path = Path(holder.stdout.readline().strip())
        for _ in range(200):  # env has to exec sleep first
            if _sleepers(tag):
                break
            time.sleep(0.05)
        assert _sleepers(tag) and path.is_dir()
        holder.kill()
        holder.wait()
        for _ in range(200):  # the watchdog acts on its own once the harness is gone
            if not _sleepers(tag) and not path.exists():
                break
            time.sleep(0.05)
        assert _sleepers(tag) == [] and not path.exists()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
        for pid in _sleepers(tag):
            os.kill(pid, signal.SIGKILL)
