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
