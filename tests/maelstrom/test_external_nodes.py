"""Nodes written elsewhere (tests/maelstrom/external/, from Maelstrom's documentation only, by an author who
never saw this harness; kept unmodified) run under ``harness.py maelstrom test`` and get the verdict their
behaviour deserves: issue #19's first bar. JavaScript nodes need ``node`` on the PATH (skipped without it).

Verdicts and anomaly types only, never a timing; seeded runs of a few seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = Path(__file__).resolve().parent / "external"


def run(tmp_path: Path, workload: str, node: str, *flags: str, nodes: int = 3) -> dict[str, Any]:
    """One seeded ``harness.py maelstrom test`` of ``external/<node>``: its results.json (plus exit and stdout)."""
    if node.endswith(".js") and shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    out = tmp_path / "runs"
    cmd = [sys.executable, "harness.py", "maelstrom", "test", "-w", workload, "--bin", str(EXTERNAL / node),
           "--node-count", str(nodes), "--time-limit", "4", "--rate", "20", "--quiesce", "5",
           "--seed", "11", "--out", str(out), *flags]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    (run_dir,) = [d for d in out.iterdir() if d.is_dir() and not d.is_symlink() and (d / "results.json").is_file()]
    results: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    results["_exit"], results["_stdout"] = proc.returncode, proc.stdout
    return results


PARTITIONS = ("--nemesis", "partition", "--nemesis-interval", "1")
CORRECT = [
    ("echo", "echo.js", (), 3),
    ("broadcast", "broadcast.js", PARTITIONS, 5),
    ("g-set", "g-set.js", PARTITIONS, 3),
    ("pn-counter", "pn_counter.py", PARTITIONS, 3),
    ("unique-ids", "unique_ids.py", ("--availability", "total"), 3),
    ("g-counter", "g_counter_seqkv.py", (), 3),
]


@pytest.mark.parametrize(("workload", "node", "flags", "nodes"), CORRECT, ids=[c[1] for c in CORRECT])
def test_an_external_node_is_valid(tmp_path: Path, workload: str, node: str, flags: tuple[str, ...],
                                   nodes: int) -> None:
    """An external node of each workload (broadcast on 5 nodes under partitions; CRDTs under partitions) is VALID."""
    results = run(tmp_path, workload, node, *flags, nodes=nodes)
    assert results["valid"] is True, (results.get("anomalies"), results.get("unknown"), results["_stdout"])
    assert results["_exit"] == 0


def test_an_external_memory_only_g_set_loses_acknowledged_adds_to_a_crash(tmp_path: Path) -> None:
    """The external g-set keeps its set only in memory: under crashes it is INVALID, lost-element, crash named."""
    results = run(tmp_path, "g-set", "g-set.js", "--nemesis", "crash", "--nemesis-interval", "1", "--rate", "50")
    lost = [a for a in results.get("anomalies") or [] if a["type"] == "lost-element"]
    assert results["valid"] is False and lost, (results.get("anomalies"), results["_stdout"])
    assert all("crashed at" in a["explanation"] for a in lost)
    assert results["_exit"] == 1
