"""Benchmark: how much faster than real time simulated runs go, and what explore detects.

Speed (the default): one simulated run of the default 5-node partition test for 60 virtual seconds
of load, then one of 50 nodes, and for each prints the virtual seconds covered (load, quiescence
and final reads: the last history event's time) per wall second. The wall time is split into the
simulation itself and the checker's verdict, measured again apart on the same history; report.html
is not written (it is presentation, not simulation). Virtual seconds per CPU second of this
process are printed too: on a shared 2-core machine the wall figure moves with the neighbours'
load, the CPU figure much less. Bar: >= 20x real time at 5 nodes; 50 nodes
completes.

Detection (``--detect``, takes a while): for each seeded bug, ``harness.py explore --runs 200``
with the nemesis that exposes it, reporting the original and shrunk sizes (fault windows,
operations) and the replay command; then ``--detect-correct``: the correct store explored for 200
seeds per nemesis kind (clock-skew aside: last-writer-wins under skew loses writes by design),
reporting anything found. Each explore runs as its own process, exactly as a user would run it.

The journal's cost (issue #15): the 5-node run again with ``--journal off`` and ``full``
(the default), interleaved ``--journal-repeats`` times; medians of simulation and CPU seconds
and the difference (bar: at most 15 % slower).

Usage: python bench/sim.py [--seed S] [--time-limit T] [--large-nodes N] [--skip-large] [--journal-repeats 3]
       python bench/sim.py --detect [--detect-correct] [--runs 200] [--explore-time-limit T] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # first, even when PYTHONPATH has it: else bench/checker.py shadows the package

BUG_NEMESIS = {
    "no-tombstones": "partition",
    "no-repair": "partition",
    "ack-before-durable": "crash",
    "first-writer-wins": "partition",
}
"""The fault that exposes each seeded bug (ack-before-durable needs a crash, as the harness says)."""


def speed(nodes: int, time_limit: float, seed: int, journal: str = "full") -> dict[str, Any]:
    """One default partition run of ``nodes`` nodes; virtual seconds per wall second."""
    import orjson

    from checker.api import check, harness_run_options
    from runner.options import RunOptions
    from runner.replay import run_with_schedule
    from runner.run import make_schedule

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as out:
        options = RunOptions(mode="sim", nemesis=("partition",), nodes=nodes, time_limit=time_limit, seed=seed,
                             out=out, journal=journal).validate()
        schedule = make_schedule(options, tuple(f"n{i + 1}" for i in range(nodes)))
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_with_schedule(options, schedule, ["bench/sim.py"], quiet=True, report=False)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        history = result.run_dir / "history.jsonl"
        lines = history.read_bytes().splitlines()
        virtual = orjson.loads(lines[-1])["time"] / 1e9
        started = time.perf_counter()
        check(history, harness_run_options(options.checkers))
        check = time.perf_counter() - started
    simulation = max(wall - check, 1e-9)
    return {"nodes": nodes, "load": time_limit, "journal": journal, "virtual": virtual, "wall": wall, "cpu": cpu, "check": check,
            "simulation": simulation, "events": len(lines), "valid": result.results.get("valid"),
            "converged": result.final.converged}


def print_speed(row: dict[str, Any]) -> None:
    print(f"{row['nodes']:>3} nodes, {row['load']:g} s of load, journal {row['journal']}: {row['virtual']:.1f} virtual s "
          f"({row['events']} events, verdict {row['valid']}) in {row['wall']:.1f} s wall "
          f"(simulation {row['simulation']:.1f} s + check {row['check']:.1f} s)")
    print(f"      {row['virtual'] / row['simulation']:.1f}x real time (simulation alone), "
          f"{row['virtual'] / row['wall']:.1f}x including the checker; {row['virtual'] / row['cpu']:.1f} virtual s "
          f"per CPU second ({row['cpu']:.1f} CPU s: the figure a busy shared machine disturbs least)", flush=True)


def journal_cost(nodes: int, time_limit: float, seed: int, repeats: int) -> None:
    """The same run with ``--journal off`` and ``full``, interleaved ``repeats`` times: median
    simulation seconds and CPU seconds of each, and how much slower the journal makes it (bar: 15 %)."""
    import statistics

    rows: dict[str, list[dict[str, Any]]] = {"off": [], "full": []}
    for _ in range(repeats):
        for journal in ("off", "full"):
            rows[journal].append(speed(nodes, time_limit, seed, journal))
            row = rows[journal][-1]
            print(f"  journal {journal:<4}: simulation {row['simulation']:.2f} s, CPU {row['cpu']:.2f} s", flush=True)
    median = {j: {k: statistics.median(r[k] for r in rs) for k in ("simulation", "cpu")} for j, rs in rows.items()}
    for k, what in (("simulation", "simulation wall"), ("cpu", "CPU")):
        off, full = median["off"][k], median["full"][k]
        print(f"journal cost, {nodes} nodes, median of {repeats} (interleaved): {what} {off:.2f} s without, "
              f"{full:.2f} s with: {100 * (full / off - 1):+.1f} % (bar: <= +15 %)", flush=True)


def explore(args: list[str], out: Path) -> tuple[int, dict[str, Any], float]:
    """``harness.py explore ARGS --json``, as a separate process; its exit code, JSON and wall time."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        summary = Path(f.name)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", *args, "--out", str(out),
                           "--json", str(summary)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
    wall = time.perf_counter() - started
    try:
        data = json.loads(summary.read_text()) if summary.stat().st_size else {}
    finally:
        summary.unlink(missing_ok=True)
    if done.returncode not in (0, 1):
        data = {"error": f"exit {done.returncode}: {done.stdout.strip()[-300:]}"}
    return done.returncode, data, wall


def detect(runs: int, extra: list[str], out: Path) -> None:
    print(f"\nseeded bugs: explore --runs {runs} each {' '.join(extra)}", flush=True)
    for bug, nemesis in BUG_NEMESIS.items():
        code, data, wall = explore(["--runs", str(runs), "--bug", bug, "--nemesis", nemesis, *extra], out)
        if "error" in data:
            print(f"  {bug:<19} ERROR {data['error']}", flush=True)
            continue
        if code == 0:
            print(f"  {bug:<19} NOT FOUND in {data['runs']} runs ({wall:.0f} s)", flush=True)
            continue
        a, b = data["original"], data["shrunk"]
        print(f"  {bug:<19} found at seed {data['failing_seed']} ({data['anomaly']}) after {data['runs']} run(s); "
              f"faults {a['faults']} -> {b['faults']}, operations {a['operations']} -> {b['operations']}, "
              f"nodes {a['nodes']} -> {b['nodes']}, keys {a['keys']} -> {b['keys']}, "
              f"{a['time_limit']:g} s -> {b['time_limit']:g} s, {data['shrink_trials']} shrink runs, {wall:.0f} s"
              + ("" if data.get("replay_identical") else ", REPLAY NOT IDENTICAL"), flush=True)
        print(f"  {'':<19} {data['replay_command']}", flush=True)


def detect_correct(runs: int, extra: list[str], out: Path) -> None:
    from nemesis import FAULT_KINDS

    print(f"\ncorrect store: explore --runs {runs} per nemesis kind (clock-skew aside) {' '.join(extra)}", flush=True)
    for kind in FAULT_KINDS:
        if kind == "clock-skew":
            continue
        code, data, wall = explore(["--runs", str(runs), "--nemesis", kind, *extra], out)
        if "error" in data:
            print(f"  {kind:<10} ERROR {data['error']}", flush=True)
        elif code == 0:
            unknown = f", {data['unknown']} unknown" if data.get("unknown") else ""
            print(f"  {kind:<10} nothing found in {data['runs']} runs{unknown} ({wall:.0f} s)", flush=True)
        else:
            b = data["shrunk"]
            print(f"  {kind:<10} FOUND at seed {data['failing_seed']} ({data['anomaly']}), shrunk to "
                  f"{b['faults']} faults / {b['operations']} operations: {data['replay_command']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0, help="virtual seconds of load (default 60)")
    parser.add_argument("--large-nodes", type=int, default=50, help="nodes in the large run (default 50)")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-speed", action="store_true", help="only the detection sweeps")
    parser.add_argument("--journal-repeats", type=int, default=3,
                        help="interleaved runs with --journal off and full for the journal's cost (0: skip; default 3)")
    parser.add_argument("--detect", action="store_true", help="explore each seeded bug and report what was found")
    parser.add_argument("--detect-correct", action="store_true", help="explore the correct store per nemesis kind")
    parser.add_argument("--runs", type=int, default=200, help="seeds per explore (default 200)")
    parser.add_argument("--explore-time-limit", type=float, default=None, help="--time-limit for explore runs")
    parser.add_argument("--explore-fault-interval", type=float, default=None, help="--fault-interval for explore")
    parser.add_argument("--out", default="histories", help="where explore writes minimal failing runs")
    args = parser.parse_args()
    if not args.skip_speed:
        print(f"simulated partition runs, seed {args.seed} (bar: >= 20x real time at 5 nodes; 50 nodes completes)")
        five = speed(5, args.time_limit, args.seed)
        print_speed(five)
        print_speed(speed(5, args.time_limit, args.seed, "off"))
        if not args.skip_large:
            print_speed(speed(args.large_nodes, args.time_limit, args.seed))
        if args.journal_repeats > 0:
            journal_cost(5, args.time_limit, args.seed, args.journal_repeats)
    extra: list[str] = []
    if args.explore_time_limit is not None:
        extra += ["--time-limit", f"{args.explore_time_limit:g}"]
    if args.explore_fault_interval is not None:
        extra += ["--fault-interval", f"{args.explore_fault_interval:g}"]
    if args.detect:
        detect(args.runs, extra, Path(args.out))
    if args.detect_correct:
        detect_correct(args.runs, extra, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
