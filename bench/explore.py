"""Benchmark: ``explore --workers 2`` against ``--workers 1``, same outcome, less wall time.

For each configuration (a seeded bug under the nemesis that exposes it, so that a failure exists
among the seeds; and the correct store, so that every seed runs and none fails), runs
``harness.py explore --runs N`` with ``--workers 1`` and with ``--workers W`` as subprocesses, as a
user would, alternating A/B so that a shared machine's load falls on both alike; prints each wall
time, the ratio W/1 and the load average, and checks that the outcomes are equal: the same failing
seed, the same shrunk run (steps, trial count, sizes, history sha256 of the shrunk run) and the
same ledger (every seed's line but its wall time). Exit 1 when an outcome differs.

Bar (issue #18): ratio <= 0.6 on a 2-core machine for the failing configuration.

Only an idle machine says what W workers give. Linux's scheduler shares the CPU between sessions
(``/proc/sys/kernel/sched_autogroup_enabled`` = 1 here): explore's workers were in explore's session
until they became sessions of their own (``runner.explore_pool``), and then, when other sessions kept
the cores busy, W workers got about the share one process gets (measured at load 7: two busy loops
in one session ran at 20% of a core each, in two sessions 46% each), so the ratio tended to 1
whatever explore did; now each worker gets a session's share, and the ratio under load still
depends on how many other sessions run. ``bench/shrink_schedule.py --sweep`` replays whole explores
on simulated workers for a figure that does not depend on the load, and ``bench/explore_timeline.py``
prints a real explore's timeline (per-worker busy time, idle gaps, the parent's CPU, bytes sent).

Each explore runs as a user's Python runs it, with its compiled bytecode cached (as in
``bench/sim.py``'s whole-process figure): a scratch ``PYTHONPYCACHEPREFIX`` filled by a short explore
first, ``PYTHONDONTWRITEBYTECODE`` lifted for these processes only. With it set, as on some machines
here, every explore compiled the project's sources again (about 0.5 s, the same for 1 and for W
workers, so it weighed on the ratio as serial work).

Usage: python bench/explore.py [--runs 40] [--workers 2] [--repeats 1] [--bug no-repair] [--skip-valid]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sim import BUG_NEMESIS  # noqa: E402


def environment(pycache: Path) -> dict[str, str]:
    """The explores' environment: this checkout first on the path, bytecode cached in ``pycache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def warm_up(env: dict[str, str], out: Path) -> None:
    """A short explore that fills the bytecode cache (and the page cache) before anything is timed."""
    subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", "--runs", "1", "--time-limit", "0.5",
                    "--workers", "1", "--out", str(out)], env=env, capture_output=True, text=True)


def explore(flags: list[str], workers: int, out: Path,
            env: dict[str, str]) -> tuple[float, dict[str, Any], list[dict[str, Any]], str]:
    """One explore as its own process: wall seconds, its --json, its ledger lines (wall times dropped), shrunk sha."""
    out.mkdir(parents=True)
    summary, ledger = out / "explore.json", out / "ledger.jsonl"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", *flags, "--workers", str(workers),
                           "--out", str(out / "h"), "--json", str(summary), "--ledger", str(ledger)],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"explore --workers {workers} exited {done.returncode}:\n{done.stderr[-2000:]}")
    result = json.loads(summary.read_text())
    lines = [json.loads(line) for line in ledger.read_text().splitlines()[1:]]
    for line in lines:
        line.pop("wall_s")
    sha = ""
    if result.get("replay_command"):
        run_dir = Path(result["replay_command"].split()[-1])
        sha = hashlib.sha256((run_dir / "history.jsonl").read_bytes()).hexdigest()
    return wall, result, lines, sha


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("failing_seed", "anomaly", "original", "shrunk", "shrink_trials", "steps", "findings", "runs")
    return {k: result.get(k) for k in keys}


def compare(name: str, flags: list[str], workers: int, repeats: int) -> bool:
    print(f"{name}: explore {' '.join(flags)}", flush=True)
    walls: dict[int, list[float]] = {1: [], workers: []}
    same = True
    reference: tuple[dict[str, Any], list[dict[str, Any]], str] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-explore-") as tmp:
        env = environment(Path(tmp) / "pycache")
        warm_up(env, Path(tmp) / "warm-up")
        for r in range(repeats):
            order = (1, workers) if r % 2 == 0 else (workers, 1)
            for w in order:
                load = os.getloadavg()[0]
                wall, result, lines, sha = explore(flags, w, Path(tmp) / f"{r}-{w}", env)
                walls[w].append(wall)
                print(f"  --workers {w}: {wall:.1f} s wall (load {load:.1f} before); failing seed "
                      f"{result.get('failing_seed')}, shrink trials {result.get('shrink_trials')}, "
                      f"{len(lines)} ledger line(s)", flush=True)
                got = (comparable(result), lines, sha)
                if reference is None:
                    reference = got
                elif got != reference:
                    same = False
                    for label, a, b in zip(("outcome", "ledger", "shrunk history sha256"), reference, got, strict=True):
                        if a != b:
                            print(f"  DIFFERENT {label}: {a!r:.300} vs {b!r:.300}")
    one, many = sum(walls[1]) / len(walls[1]), sum(walls[workers]) / len(walls[workers])
    pairs = [b / a for a, b in zip(walls[1], walls[workers], strict=True)]
    print(f"  => {workers} workers / 1 worker = {many:.1f} / {one:.1f} s = {many / one:.2f}; per pair "
          + " ".join(f"{r:.2f}" for r in pairs) + f", median {statistics.median(pairs):.2f} "
          f"(outcomes {'EQUAL' if same else 'DIFFERENT'}; load now {os.getloadavg()[0]:.1f})", flush=True)
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="A/B pairs per configuration (alternating order)")
    parser.add_argument("--bug", default="no-repair", choices=sorted(BUG_NEMESIS))
    parser.add_argument("--valid-time-limit", type=float, default=4.0,
                        help="virtual seconds of each run of the sweep without failure (default 4)")
    parser.add_argument("--skip-valid", action="store_true", help="only the configuration with a failure")
    args = parser.parse_args()
    print(f"bench/explore.py on {os.cpu_count()} cores; load {os.getloadavg()}", flush=True)
    ok = compare(f"with a failure (--bug {args.bug})",
                 ["--runs", str(args.runs), "--bug", args.bug, "--nemesis", BUG_NEMESIS[args.bug]],
                 args.workers, args.repeats)
    if not args.skip_valid:
        ok = compare("without a failure (the correct store)",
                     ["--runs", str(args.runs), "--nemesis", "partition", "--time-limit", str(args.valid_time_limit)],
                     args.workers, args.repeats) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
