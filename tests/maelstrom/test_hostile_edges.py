"""The Maelstrom mode's edges: numbers beyond a double, bytes that are not JSON, lying or stray messages,
children in their own session (tests/maelstrom/nodes/hostile.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from runner.maelstrom.command import MaelstromOptions, run

pytestmark = pytest.mark.realtime  # real node processes in real time (~20-35 s a file): .ci/run's second step

HOSTILE = Path(__file__).parent / "nodes" / "hostile.py"


def _run(tmp_path: Path, mode: str, *extra: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"workload": "echo", "bin": str(HOSTILE), "args": (mode, *extra), "node_count": 1,
                            "time_limit": 2.0, "rate": 10.0, "concurrency": 1, "seed": 3,
                            "out": str(tmp_path / "out"), "quiesce": 0.2}
    base.update(kw)
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    outcome = run(MaelstromOptions(**base), run_dir, ["test"])
    assert (run_dir / "results.json").is_file()
    return outcome


def test_ids_beyond_a_doubles_range_are_judged_exactly(tmp_path: Path) -> None:
    """A correct unique-ids node with 321-digit ids is valid: the checker reads them as exact integers."""
    outcome = _run(tmp_path, "hugeid", workload="unique-ids", node_count=2, concurrency=2, rate=20.0)
    assert outcome["results"]["valid"] is True, outcome["results"].get("reason")
    lines = (outcome["run_dir"] / "history.jsonl").read_text().splitlines()
    ids = [json.loads(line).get("value") for line in lines[1:] if json.loads(line).get("type") == "ok"]
    assert ids and all(type(i) is int and len(str(i)) == 321 for i in ids), ids[:2]
    assert outcome.get("report") and not outcome.get("report_error"), outcome.get("report_error")


def test_a_number_beyond_a_doubles_range_is_named(tmp_path: Path) -> None:
    """An echo_ok carrying 1e400 is an unknown run naming the number and the float range, not 'not JSON'."""
    results = _run(tmp_path, "inf")["results"]
    assert results["valid"] == "unknown", results
    assert "1e400 is out of range of a 64-bit float" in results["reason"] and "node n0" in results["reason"], results


def test_a_raw_nul_byte_is_named_with_its_column(tmp_path: Path) -> None:
    """A line with a raw NUL inside a string fails the run saying which byte, where, and how JSON escapes it."""
    results = _run(tmp_path, "nul")["results"]
    assert results["valid"] == "unknown" and "control byte 0x00 at column" in results["reason"], results
    assert "\x00" not in results["reason"]


def test_invalid_utf8_is_named_with_its_column(tmp_path: Path) -> None:
    """A line with the byte 0xff fails the run naming the byte and its column."""
    results = _run(tmp_path, "badutf8")["results"]
    assert results["valid"] == "unknown" and "byte 0xff at column" in results["reason"], results


def test_a_lying_src_fails_the_run_naming_both_ids(tmp_path: Path) -> None:
    """n0 writing src n7 is a one-line unknown naming n0 and the id it claimed."""
    results = _run(tmp_path, "lyingsrc")["results"]
    assert results["valid"] == "unknown" and "node n0" in results["reason"] and "'n7'" in results["reason"], results


def test_stray_replies_are_ignored_and_the_run_judged(tmp_path: Path) -> None:
    """Replies to msg_ids nobody sent (to a client, a node, a service) change nothing: a correct echo is valid."""
    results = _run(tmp_path, "strayreply", node_count=2, concurrency=2)["results"]
    assert results["valid"] is True, results.get("reason")


def test_init_ok_twice_is_harmless(tmp_path: Path) -> None:
    """A second init_ok answers no pending request: ignored, and a correct echo is valid."""
    results = _run(tmp_path, "initok2")["results"]
    assert results["valid"] is True, results.get("reason")


def test_enormous_and_negative_msg_ids_pass_through(tmp_path: Path) -> None:
    """msg_id 10**30 and -5 (replies and gossip) are carried and journalled; the echo run is valid."""
    outcome = _run(tmp_path, "hugemsgid", node_count=2, concurrency=2)
    assert outcome["results"]["valid"] is True, outcome["results"].get("reason")


def test_half_a_line_then_exit_is_named(tmp_path: Path) -> None:
    """A node writing half a message without a newline and exiting is an unknown quoting the partial line."""
    results = _run(tmp_path, "nonewline")["results"]
    assert results["valid"] == "unknown" and "node n0" in results["reason"], results
    assert "partial line" in results["reason"] or "exited" in results["reason"], results


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_children_in_their_own_session_die_with_the_run(tmp_path: Path) -> None:
    """`setsid sleep 1000` started by a node (at each init, crashes included) is gone after the run."""
    pids = tmp_path / "pids"
    _run(tmp_path, "setsid", str(pids), node_count=2, concurrency=2, nemesis=("crash",), nemesis_interval=0.5,
         crash_targets="all")
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) >= 2, started
    survivors = [p for p in started if _alive(p)]
    for p in survivors:  # do not leave them behind even when the test fails
        os.kill(p, 9)
    assert not survivors, f"{len(survivors)} of {len(started)} setsid children survived"


def test_a_lone_surrogate_escape_is_refused_not_a_crash(tmp_path: Path) -> None:
    """A lone surrogate escape (\\udc01) beside a 25-digit number is a one-line unknown, not a crash writing it."""
    results = _run(tmp_path, "surrogate")["results"]
    assert results["valid"] == "unknown" and "lone UTF-16 surrogate" in results["reason"], results


def test_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark before a message is named as such, not a bare 'not JSON'."""
    results = _run(tmp_path, "bom")["results"]
    assert results["valid"] == "unknown" and "byte order mark" in results["reason"], results


def test_cas_and_keys_compare_objects_whatever_their_member_order() -> None:
    """lin-kv: cas from {"b":2,"a":1} matches a stored {"a":1,"b":2}, and such keys are one key (JSON equality)."""
    import random

    from runner.maelstrom.services import KVService

    svc = KVService("lin-kv", "lin", random.Random(0))
    assert svc("n0", {"type": "write", "key": {"x": 1, "y": 2}, "value": {"a": 1, "b": 2}, "msg_id": 1})["type"] == "write_ok"
    reply = svc("n1", {"type": "cas", "key": {"y": 2, "x": 1}, "from": {"b": 2, "a": 1}, "to": 3, "msg_id": 2})
    assert reply["type"] == "cas_ok", reply
    assert svc("n0", {"type": "read", "key": {"x": 1, "y": 2}, "msg_id": 3})["value"] == 3
    assert svc("n0", {"type": "cas", "key": {"x": 1, "y": 2}, "from": 3.0, "to": 4, "msg_id": 4})["code"] == 22


def test_a_node_killed_by_a_signal_is_said_so(tmp_path: Path) -> None:
    """A node that dies of SIGSEGV is 'killed by SIGSEGV', not 'exited (code -11)'."""
    results = _run(tmp_path, "segv")["results"]
    assert results["valid"] == "unknown" and "node n0 was killed by SIGSEGV (signal 11" in results["reason"], results


def test_a_grandchild_left_to_init_is_found_by_its_mark() -> None:
    """A `setsid sleep` whose parent already exited (reparented to init) is found by the node's mark and killed."""
    import signal
    import subprocess
    import time

    from runner.maelstrom.proctree import MARK_VAR, marked, signal_all

    mark = f"test.{os.getpid()}.{time.monotonic_ns()}"
    parent = subprocess.Popen(["sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 </dev/null & echo $!"],
                              stdout=subprocess.PIPE, env={**os.environ, MARK_VAR: mark})
    out, _ = parent.communicate()
    orphan = int(out.split()[0])
    try:
        assert parent.returncode == 0 and _alive(orphan)
        assert marked(mark) == {orphan}
        assert signal_all([], [], mark, signal.SIGKILL) == 1
        for _ in range(200):
            if not _alive(orphan):
                break
            time.sleep(0.01)
        assert not _alive(orphan)
    finally:
        if _alive(orphan):
            os.kill(orphan, 9)


def test_running_out_of_file_descriptors_names_the_node_and_the_limit(tmp_path: Path) -> None:
    """With `ulimit -n 120`, 60 nodes fail in one line naming the node and the limit; no node survives."""
    import resource
    import subprocess
    import sys

    node = tmp_path / "sleeper.sh"
    node.write_text("#!/bin/sh\nexec sleep 77\n")
    node.chmod(0o755)
    root = Path(__file__).resolve().parents[2]

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120))

    proc = subprocess.run([sys.executable, "harness.py", "maelstrom", "test", "-w", "echo", "--bin", str(node),
                           "--node-count", "60", "--time-limit", "1", "--seed", "1", "--out", str(tmp_path / "out")],
                          cwd=root, capture_output=True, text=True, timeout=120, preexec_fn=low_limit,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 2, (proc.stdout, proc.stderr[-2000:])
    assert "too many open files (the harness may have 120" in proc.stdout and "cannot start node n" in proc.stdout
    assert "Traceback" not in proc.stderr
    left = subprocess.run(["pgrep", "-f", "sleep 77"], capture_output=True, text=True).stdout.split()
    for pid in left:
        os.kill(int(pid), 9)
    assert not left
