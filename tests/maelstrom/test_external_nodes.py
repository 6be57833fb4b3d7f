"""Nodes written elsewhere (tests/maelstrom/external/, from Maelstrom's documentation only, by an author who
never saw this harness; kept unmodified) run under ``harness.py maelstrom test`` and get the verdict their
behaviour deserves: issue #19's first bar. JavaScript nodes need ``node`` on the PATH (skipped without it).

Verdicts and anomaly types only, never a timing; seeded runs of a few seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.maelstrom import concurrent_runs

pytestmark = pytest.mark.realtime  # real processes in real time: .ci/run's second step, not the default suite

EXTERNAL = Path(__file__).resolve().parent / "external"


def flags(workload: str, node: str, *extra: str, nodes: int = 3) -> list[str]:
    """The flags of one seeded run of ``external/<node>``."""
    return ["-w", workload, "--bin", str(EXTERNAL / node), "--node-count", str(nodes), "--time-limit", "4",
            "--rate", "20", "--quiesce", "5", "--seed", "11", *extra]


PARTITIONS = ("--nemesis", "partition", "--nemesis-interval", "1")
CORRECT = [
    ("echo", "echo.js", (), 3),
    ("broadcast", "broadcast.js", PARTITIONS, 5),
    ("g-set", "g-set.js", PARTITIONS, 3),
    ("pn-counter", "pn_counter.py", PARTITIONS, 3),
    ("unique-ids", "unique_ids.py", ("--availability", "total"), 3),
    ("g-counter", "g_counter_seqkv.py", (), 3),
]


COMMANDS: dict[str, list[str]] = {
    **{node: flags(workload, node, *extra, nodes=nodes) for workload, node, extra, nodes in CORRECT},
    "g-set-crash": flags("g-set", "g-set.js", "--nemesis", "crash", "--nemesis-interval", "1", "--rate", "50"),
}
NEEDS_NODE_JS = shutil.which("node") is None


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every selected test's run, started together a few at a time (none of the JavaScript ones without node)."""
    wanted = concurrent_runs.selected(request, __file__)
    if "test_an_external_memory_only_g_set_loses_acknowledged_adds_to_a_crash" in wanted:
        wanted.add("g-set-crash")
    if NEEDS_NODE_JS:
        wanted = {key for key in wanted if not COMMANDS.get(key, ["", "", "", ""])[3].endswith(".js")}
    return concurrent_runs.run_all(COMMANDS, tmp_path_factory.mktemp("external-runs"), wanted)


def _skip_without_node_js(node: str) -> None:
    if node.endswith(".js") and NEEDS_NODE_JS:
        pytest.skip("Node.js is not installed")


@pytest.mark.parametrize("node", [c[1] for c in CORRECT], ids=[c[1] for c in CORRECT])
def test_an_external_node_is_valid(runs: dict[str, dict[str, Any]], node: str) -> None:
    """An external node of each workload (broadcast on 5 nodes under partitions; CRDTs under partitions) is VALID."""
    _skip_without_node_js(node)
    results = concurrent_runs.result(runs, node)
    assert results["valid"] is True, (results.get("anomalies"), results.get("unknown"), results["_stdout"])
    assert results["_exit"] == 0


def test_an_external_memory_only_g_set_loses_acknowledged_adds_to_a_crash(runs: dict[str, dict[str, Any]]) -> None:
    """The external g-set keeps its set only in memory: under crashes it is INVALID, lost-element, crash named."""
    _skip_without_node_js("g-set.js")
    results = concurrent_runs.result(runs, "g-set-crash")
    lost = [a for a in results.get("anomalies") or [] if a["type"] == "lost-element"]
    assert results["valid"] is False and lost, (results.get("anomalies"), results["_stdout"])
    assert all("crashed at" in a["explanation"] for a in lost)
    assert results["_exit"] == 1
