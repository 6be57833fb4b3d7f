"""Fixes for the second adversarial pass on the Maelstrom mode: pid namespaces and the reaper, nested cgroups,
availability excuses, replies from another node, counters, results.edn and bad --bin programs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.maelstrom import proctree

pytestmark = pytest.mark.realtime  # real node processes in real time (~20-35 s a file): .ci/run's second step

NS_HOLDER = """
import subprocess, sys, time
from runner.maelstrom import proctree
cgroups = proctree.RunCgroups.create()
life = cgroups.new_life("n0", 1)
child = subprocess.Popen(["sh", "-c", "exec env G1TAG=%s sleep 986" % sys.argv[1]],
                         preexec_fn=proctree.join_cgroup(life, None))
print(cgroups.path, flush=True)
time.sleep(60)
"""


def _tagged(var: str, tag: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"{var}={tag}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _wait_for(predicate: object, rounds: int = 200) -> None:
    for _ in range(rounds):
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or not proctree.cgroups_usable():
        return False
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="no unshare --pid or no writable cgroup v2 here")
def test_a_live_run_in_another_pid_namespace_is_not_reaped() -> None:
    """G1: reap_orphans leaves alone the run cgroup of a live harness in another pid namespace (its pid means
    nothing here), so its node is not SIGKILLed."""
    tag = f"g1{os.getpid()}"
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", NS_HOLDER, tag],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        path = Path(holder.stdout.readline().strip())
        _wait_for(lambda: _tagged("G1TAG", tag))
        node = _tagged("G1TAG", tag)
        assert node and path.is_dir()
        proctree.reap_orphans()
        time.sleep(0.2)
        assert _tagged("G1TAG", tag) == node and path.is_dir(), "the other namespace's live node was killed"
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
        _wait_for(lambda: not _tagged("G1TAG", tag))
        for pid in _tagged("G1TAG", tag):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not proctree.cgroups_usable(), reason="no writable cgroup v2 here")
def test_the_watchdog_removes_nested_cgroups_depth_first() -> None:
    """G6: the watchdog kills a run cgroup with a node's own sub-sub-cgroup in it and removes every level."""
    base = proctree._cgroup2_base()
    assert base is not None
    run = base / f"minikeydb-g6test-{os.getpid()}"
    (run / "n0-1" / "x" / "y").mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "985"], preexec_fn=proctree.join_cgroup(run / "n0-1" / "x" / "y", None))
    try:
        subprocess.run(["sh", "-c", proctree._WATCHDOG, "watchdog", str(run)], stdin=subprocess.DEVNULL, timeout=30)
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert not run.exists(), sorted(str(p) for p in run.rglob("*") if p.is_dir())
    finally:
        sleeper.kill()
        sleeper.wait()
        proctree.kill_cgroup(run)


def _history(tmp_path: Path, events: list[dict[str, object]]) -> Path:
    import json

    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps({"index": i, **e}) + "\n" for i, e in enumerate(events)))
    return path


S = 1_000_000_000


def test_a_pause_long_over_does_not_excuse_a_missing_answer(tmp_path: Path) -> None:
    """G2: a node resumed 3 s before an op's time-out still held the request, so the op's failure counts; one
    whose node crashed while it was in flight is still excused."""
    from runner.maelstrom.command import _not_ok

    events: list[dict[str, object]] = [
        {"process": 0, "type": "invoke", "f": "echo", "time": int(0.5 * S), "node": "n0"},
        {"process": "nemesis", "type": "info", "f": "pause-start", "value": {"nodes": ["n0"]}, "time": 1 * S},
        {"process": "nemesis", "type": "info", "f": "pause-stop", "time": int(2.5 * S)},
        {"process": 0, "type": "info", "f": "echo", "time": int(5.5 * S), "node": "n0", "error": "timeout"},
        {"process": 1, "type": "invoke", "f": "echo", "time": 6 * S, "node": "n1"},
        {"process": "nemesis", "type": "info", "f": "crash-start", "value": {"nodes": ["n1"]}, "time": 7 * S},
        {"process": "nemesis", "type": "info", "f": "crash-stop", "time": 8 * S},
        {"process": 1, "type": "info", "f": "echo", "time": 11 * S, "node": "n1", "error": "timeout"},
    ]
    assert _not_ok(_history(tmp_path, events)) == (1, 1)


QUITTER = """#!/usr/bin/env python3
import json, sys
me, n = None, 0
for line in sys.stdin:
    m = json.loads(line); b = m["body"]
    if b["type"] == "init":
        me = b["node_id"]
    elif b["type"] == "echo":
        n += 1
        if n > 5:
            sys.exit(3)  # a node that dies on its own: the run ends UNKNOWN
    out = {"type": b["type"] + "_ok", "in_reply_to": b["msg_id"], "echo": b.get("echo")}
    sys.stdout.write(json.dumps({"src": me, "dest": m["src"], "body": out}) + "\\n"); sys.stdout.flush()
"""


def test_an_unknown_runs_results_edn_counts_the_operations_done(tmp_path: Path) -> None:
    """G8: a run cut short by a node's exit (UNKNOWN) still has results.edn :stats from the history (5 ok echoes)
    and names the workload's checker, as results.json's ops say."""
    from runner.maelstrom.command import MaelstromOptions, run

    script = tmp_path / "quitter.py"
    script.write_text(QUITTER)
    script.chmod(0o755)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outcome = run(MaelstromOptions(workload="echo", bin=str(script), node_count=1, time_limit=3.0, rate=10.0,
                                   concurrency=1, seed=1, out=str(tmp_path / "out")), run_dir, ["test"], report=False)
    results = outcome["results"]
    assert results["valid"] == "unknown", results
    assert results["maelstrom"]["stats"]["echo"]["ok"] == 5, results["maelstrom"].get("stats")
    text = (Path(outcome["run_dir"]) / "results.edn").read_text()
    assert ":ok-count 5" in text and ':checker "echo"' in text, text


@pytest.mark.parametrize(("text", "said"), [
    (b"#!/nonexistent/interp\n", "names /nonexistent/interp, which is no such file"),
    (b"#!/usr/bin/env no-such-interpreter-g10\n", "no no-such-interpreter-g10 is on PATH"),
    (b"just some text, not a program\n", "not a program"),
])
def test_a_bin_the_kernel_cannot_run_is_refused_before_the_run(tmp_path: Path, text: bytes, said: str) -> None:
    """G10: a --bin whose '#!' names a missing interpreter, or a file that is no program (ENOEXEC), is one line
    and exit 254 with no run directory, like a missing or non-executable file."""
    path = tmp_path / "node"
    path.write_bytes(text)
    path.chmod(0o755)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "harness.py", "maelstrom", "test", "-w", "echo", "--bin", str(path),
                           "--node-count", "1", "--time-limit", "1", "--out", str(tmp_path / "out")],
                          cwd=root, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 254, (proc.returncode, proc.stdout, proc.stderr)
    assert said in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_message_cut_in_flight_by_a_partition_is_counted_once(tmp_path: Path) -> None:
    """G9: under --latency and a partition nemesis, every node-to-node message is counted either passed or
    partitioned, never both: the two add up to the messages sent between nodes."""
    from runner.maelstrom.command import MaelstromOptions, run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outcome = run(MaelstromOptions(workload="broadcast", bin=str(Path(__file__).parent / "nodes" / "broadcast.py"),
                                   node_count=3, time_limit=4.0, rate=20.0, concurrency=3, seed=1, latency=30.0,
                                   nemesis=("partition",), nemesis_interval=0.5, quiesce=1.0,
                                   out=str(tmp_path / "out")), run_dir, ["test"], report=False)
    m = outcome["results"]["maelstrom"]
    faults, sent = m["faults"], m["messages"]["inter_node"]
    assert faults.get("partitioned", 0) > 0, faults  # else the seed proves nothing
    assert faults.get("passed", 0) + faults.get("partitioned", 0) == sent, (faults, m["messages"])


def test_tiny_versions_count_their_overhead_in_the_byte_budget() -> None:
    """G5: 64 versions of `0` on each of 20 seq-kv keys (1,280 versions, ~128 KB of Python objects) go past a
    10,000-byte budget: each version counts its per-object overhead, not only its one byte of JSON."""
    import random

    from runner.maelstrom import services

    seq = services.KVService("seq-kv", "seq", random.Random(0), services.ByteBudget(10_000))
    replies = [seq("n0", {"type": "write", "key": k, "value": 0, "msg_id": 64 * k + i})
               for k in range(20) for i in range(64)]
    assert any(r.get("code") == 11 for r in replies)
    assert seq.budget.used <= 10_000


@pytest.mark.skipif(not proctree.cgroups_usable(), reason="no writable cgroup v2 here")
def test_a_harness_of_the_old_naming_does_not_reap_a_live_run(tmp_path: Path) -> None:
    """G1 follow-up: the reap_orphans of the harness before this change (pid-start-token names) run beside a live
    run of this one leaves it alone (it would read the pid namespace as the owner's pid and kill the run)."""
    import importlib.util

    old = subprocess.run(["git", "show", "fa0e346:runner/maelstrom/proctree.py"], capture_output=True,
                         cwd=Path(__file__).resolve().parents[2])
    if old.returncode != 0:
        pytest.skip("the old proctree is not in this repository's history")
    (tmp_path / "old_proctree.py").write_bytes(old.stdout)
    spec = importlib.util.spec_from_file_location("old_proctree", tmp_path / "old_proctree.py")
    assert spec is not None and spec.loader is not None
    old_proctree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old_proctree)
    live = proctree.RunCgroups.create()
    assert live is not None
    life = live.new_life("n0", 1)
    sleeper = subprocess.Popen(["sleep", "984"], preexec_fn=proctree.join_cgroup(life, None))
    try:
        old_proctree.reap_orphans()
        assert sleeper.poll() is None and live.path.is_dir()
    finally:
        sleeper.kill()
        sleeper.wait()
        live.close()
