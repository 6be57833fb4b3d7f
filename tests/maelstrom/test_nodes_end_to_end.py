"""End to end: the test nodes of tests/maelstrom/nodes/ run as processes under ``harness.py maelstrom
test`` (router, nemesis, services, workload, history), and the checkers give each the verdict its
behaviour deserves: every correct node valid, every broken node invalid with the anomaly it makes.

Verdicts and anomaly types only: nothing here asserts a timing. Runs are short (a few seconds of
load on 3 to 5 nodes) and seeded, so the fault schedule is the same every time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODES = Path(__file__).resolve().parent / "nodes"


def run(tmp_path: Path, workload: str, node: str, *flags: str, nodes: int = 3,
        time_limit: float = 3, quiesce: float = 2) -> dict[str, Any]:
    """One ``harness.py maelstrom test`` run of ``nodes/<node>.py``: its results.json. ``quiesce``: seconds
    between the heal and the final reads (a correct node's gossip needs a few rounds of 0.5 s, given
    generously so that a loaded machine does not turn a correct node invalid)."""
    out = tmp_path / "runs"
    cmd = [sys.executable, "harness.py", "maelstrom", "test", "-w", workload, "--bin", str(NODES / f"{node}.py"),
           "--node-count", str(nodes), "--time-limit", str(time_limit), "--rate", "20", "--quiesce", str(quiesce),
           "--seed", "7", "--out", str(out), *flags]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    (run_dir,) = [d for d in out.iterdir() if d.is_dir() and not d.is_symlink() and (d / "results.json").is_file()]
    results: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    results["_exit"] = proc.returncode
    results["_stdout"] = proc.stdout
    results["_dir"] = str(run_dir)
    return results


def types(results: dict[str, Any]) -> set[str]:
    return {a["type"] for a in results.get("anomalies") or []}


CORRECT = [
    ("echo", "echo", ()),
    ("unique-ids", "unique_ids", ("--availability", "total")),
    ("g-set", "g_set", ("--nemesis", "partition", "--nemesis-interval", "1")),
    ("g-counter", "g_counter", ("--nemesis", "partition", "--nemesis-interval", "1")),
    ("pn-counter", "pn_counter", ("--nemesis", "partition", "--nemesis-interval", "1")),
    ("lin-kv", "lin_kv", ()),
]


@pytest.mark.parametrize(("workload", "node", "flags"), CORRECT, ids=[c[1] for c in CORRECT])
def test_a_correct_node_is_valid(tmp_path: Path, workload: str, node: str, flags: tuple[str, ...]) -> None:
    """A correct node of each workload (under partitions where it gossips) gets VALID and exit 0."""
    results = run(tmp_path, workload, node, *flags, quiesce=6)
    assert results["valid"] is True, (results.get("anomalies"), results.get("unknown"), results.get("reason"))
    assert results["_exit"] == 0


def test_a_gossiping_broadcast_on_five_nodes_survives_partitions(tmp_path: Path) -> None:
    """Broadcast with topology gossip and anti-entropy, 5 nodes on a grid under partitions: VALID, and
    the router really did cut messages (the partitions bit)."""
    results = run(tmp_path, "broadcast", "broadcast", "--nemesis", "partition", "--nemesis-interval", "1",
                  nodes=5, time_limit=5, quiesce=6)
    assert results["valid"] is True, (results.get("anomalies"), results.get("unknown"))
    assert "partitioned" in results["_stdout"]


BROKEN = [
    ("echo", "echo_altering", (), "echo-mismatch"),
    ("unique-ids", "unique_ids_repeating", (), "duplicate-id"),
    ("unique-ids", "unique_ids_clock", (), "duplicate-id"),
    ("broadcast", "broadcast_no_forward", (), "lost-element"),
    ("g-counter", "counter_double", (), "counter-out-of-bounds"),
    ("pn-counter", "counter_double", (), "counter-out-of-bounds"),
    ("g-set", "g_set_error_after_apply", (), "phantom-read"),
    ("lin-kv", "lin_kv_split_brain", (), None),
]


@pytest.mark.parametrize(("workload", "node", "flags", "anomaly"), BROKEN,
                         ids=[f"{b[1]}-{b[0]}" for b in BROKEN])
def test_a_broken_node_is_caught(tmp_path: Path, workload: str, node: str, flags: tuple[str, ...],
                                 anomaly: str | None) -> None:
    """Each broken node gets INVALID (exit 1) with the anomaly its defect makes (lin-kv: the linearizability
    checker refutes the history)."""
    results = run(tmp_path, workload, node, *flags)
    assert results["valid"] is False and results["_exit"] == 1
    if anomaly is None:
        assert results["checker"] == "linearizable"
    else:
        assert anomaly in types(results), types(results)
    assert all("MinikeyDB" not in a["explanation"] for a in results["anomalies"])


@pytest.mark.parametrize("workload,node", [("broadcast", "broadcast_memory_only"), ("g-set", "g_set_forgetful")])
def test_a_memory_only_node_that_crashes_loses_messages_and_the_crash_is_named(tmp_path: Path, workload: str,
                                                                                node: str) -> None:
    """A node keeping messages only in memory, without re-sync, under crashes: lost-element on the crashed node,
    the explanation naming that node's crash (issue 19's bar), in `check`'s summary and the report too."""
    results = run(tmp_path, workload, node, "--nemesis", "crash", "--nemesis-interval", "1", nodes=5, time_limit=4)
    assert results["valid"] is False
    lost = [a for a in results["anomalies"] if a["type"] == "lost-element"]
    assert lost, types(results)
    assert any(f"{n} crashed at" in a["explanation"] for a in lost for n in a.get("lost_on", ())), \
        lost[0]["explanation"]
    again = subprocess.run([sys.executable, "harness.py", "check", results["_dir"]], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1 and "crashed at" in again.stdout and "MinikeyDB" not in again.stdout
    report = subprocess.run([sys.executable, "harness.py", "report", results["_dir"], "--out", str(tmp_path / "r.html")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "crashed at" in (tmp_path / "r.html").read_text()
