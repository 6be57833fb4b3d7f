"""Short simulated runs for the sim tests: small enough for seconds, busy enough to exercise faults."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import attrs

from runner.options import RunOptions
from runner.phases import make_schedule
from runner.run import RunResult, run

SHORT: dict[str, Any] = {
    "mode": "sim", "nemesis": ("partition", "drop", "crash", "pause"), "time_limit": 3.0, "fault_interval": 0.5,
    "rate": 100.0, "concurrency": 4, "keys": 8, "quiesce": 1.0, "converge_timeout": 3.0,
}


def short_options(out: Path, **changes: Any) -> RunOptions:
    """A few virtual seconds with every kind of fault but clock skew, written under ``out``."""
    return attrs.evolve(RunOptions(out=str(out), **SHORT), **changes).validate()


def run_short(out: Path, *, report: bool = False, **changes: Any) -> RunResult:
    """``run`` with the seed's own schedule (report.html skipped unless asked: it costs seconds)."""
    options = short_options(out, **changes)
    schedule = make_schedule(options, tuple(f"n{i + 1}" for i in range(options.nodes)))
    return run(options, ["test"], schedule=schedule, quiet=True, report=report)


def history_digest(result: RunResult) -> str:
    return hashlib.sha256((result.run_dir / "history.jsonl").read_bytes()).hexdigest()
