"""End to end: the test nodes of tests/maelstrom/nodes/ run as processes under ``harness.py maelstrom
test`` (router, nemesis, services, workload, history), and the checkers give each the verdict its
behaviour deserves: every correct node valid, every broken node invalid with the anomaly it makes.

Verdicts and anomaly types only: nothing here asserts a timing. Runs are short (a few seconds of
load on 3 to 5 nodes) and seeded, so the fault schedule is the same every time; the module's runs
start together, a few at a time (``concurrent_runs``), and each test reads its own run's results.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.maelstrom import concurrent_runs

pytestmark = pytest.mark.realtime  # real processes in real time: .ci/run's second step, not the default suite

ROOT = Path(__file__).resolve().parents[2]
NODES = Path(__file__).resolve().parent / "nodes"


def flags(workload: str, node: str, *extra: str, nodes: int = 3, time_limit: float = 3,
          quiesce: float = 2) -> list[str]:
    """The flags of one run of ``nodes/<node>.py``. ``quiesce``: seconds between the heal and the final reads (a
    correct node's gossip needs a few rounds of 0.5 s, given generously so that a loaded machine does not turn a
    correct node invalid)."""
    return ["-w", workload, "--bin", str(NODES / f"{node}.py"), "--node-count", str(nodes), "--time-limit",
            str(time_limit), "--rate", "20", "--quiesce", str(quiesce), "--seed", "7", *extra]


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
MEMORY_ONLY = [("broadcast", "broadcast_memory_only"), ("g-set", "g_set_forgetful")]

COMMANDS: dict[str, list[str]] = {
    **{node: flags(workload, node, *extra, quiesce=6) for workload, node, extra in CORRECT},
    "broadcast5": flags("broadcast", "broadcast", "--nemesis", "partition", "--nemesis-interval", "1", nodes=5,
                        time_limit=5, quiesce=6),
    **{f"{node}-{workload}": flags(workload, node, *extra) for workload, node, extra, _ in BROKEN},
    **{f"{workload}-{node}": flags(workload, node, "--nemesis", "crash", "--nemesis-interval", "1", nodes=5,
                                   time_limit=4) for workload, node in MEMORY_ONLY},
}


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every selected test's run, started together a few at a time."""
    wanted = concurrent_runs.selected(request, __file__)
    if "test_a_gossiping_broadcast_on_five_nodes_survives_partitions" in wanted:
        wanted.add("broadcast5")
    return concurrent_runs.run_all(COMMANDS, tmp_path_factory.mktemp("maelstrom-runs"), wanted)


@pytest.mark.parametrize("node", [c[1] for c in CORRECT], ids=[c[1] for c in CORRECT])
def test_a_correct_node_is_valid(runs: dict[str, dict[str, Any]], node: str) -> None:
    """A correct node of each workload (under partitions where it gossips) gets VALID and exit 0."""
    results = concurrent_runs.result(runs, node)
    assert results["valid"] is True, (results.get("anomalies"), results.get("unknown"), results.get("reason"))
    assert results["_exit"] == 0


def test_a_gossiping_broadcast_on_five_nodes_survives_partitions(runs: dict[str, dict[str, Any]]) -> None:
    """Broadcast with topology gossip and anti-entropy, 5 nodes on a grid under partitions: VALID, and
    the router really did cut messages (the partitions bit)."""
    results = concurrent_runs.result(runs, "broadcast5")
    assert results["valid"] is True, (results.get("anomalies"), results.get("unknown"))
    assert "partitioned" in results["_stdout"]


@pytest.mark.parametrize(("key", "anomaly"), [(f"{b[1]}-{b[0]}", b[3]) for b in BROKEN],
                         ids=[f"{b[1]}-{b[0]}" for b in BROKEN])
def test_a_broken_node_is_caught(runs: dict[str, dict[str, Any]], key: str, anomaly: str | None) -> None:
    """Each broken node gets INVALID (exit 1) with the anomaly its defect makes (lin-kv: the linearizability
    checker refutes the history)."""
    results = concurrent_runs.result(runs, key)
    assert results["valid"] is False and results["_exit"] == 1
    if anomaly is None:
        assert results["checker"] == "linearizable"
    else:
        assert anomaly in types(results), types(results)
    assert all("MinikeyDB" not in a["explanation"] for a in results["anomalies"])


@pytest.mark.parametrize("key", [f"{w}-{n}" for w, n in MEMORY_ONLY], ids=[f"{w}-{n}" for w, n in MEMORY_ONLY])
def test_a_memory_only_node_that_crashes_loses_messages_and_the_crash_is_named(
        runs: dict[str, dict[str, Any]], tmp_path: Path, key: str) -> None:
    """A node keeping messages only in memory, without re-sync, under crashes: lost-element on the crashed node,
    the explanation naming that node's crash (issue 19's bar), in `check`'s summary and the report too."""
    results = concurrent_runs.result(runs, key)
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
    assert report.returncode == 1, report.stderr  # the verdict, as check's
    assert "crashed at" in (tmp_path / "r.html").read_text()
