"""The Maelstrom run's fairness and bounds: availability under the harness's own crashes, reply matching,
the services' byte budget, node log caps and escaped processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.maelstrom.command import MaelstromOptions, run

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


def test_a_reply_from_another_node_is_a_stray_not_the_answer(tmp_path: Path) -> None:
    """F1: n0's echo_ok to c0 carrying n1's and n2's init msg_ids is not taken as their init reply; it is counted
    as a stray reply and the run (otherwise correct) is judged valid."""
    script = tmp_path / "spoofer.py"
    script.write_text(SPOOFER)
    script.chmod(0o755)
    results = _run(tmp_path, bin=str(script), node_count=3, concurrency=3)["results"]
    assert results["valid"] is True, results.get("reason")
    assert results["maelstrom"]["messages"].get("stray_reply", 0) >= 2, results["maelstrom"]["messages"]
