"""Benchmark: how much faster than real time simulated runs go, and what explore detects.

Speed (the default): one simulated run of the default 5-node partition test for 60 virtual seconds
of load, then one of 50 nodes, and for each prints the virtual seconds covered (load, quiescence
and final reads: the last history event's time) per wall second. The wall time is split into the
simulation itself and the checker's verdict, measured again apart on the same history; report.html
is not written (it is presentation, not simulation). Virtual seconds per CPU second of this
process are printed too: on a shared 2-core machine the wall figure moves with the neighbours'
load, the CPU figure much less. Bars (issue #18): >= 30x real time at 5 nodes; 50 nodes completes.

Machines differ by 2x from day to day, so the 5-node run is followed by a bare baseline from the
same process: Trio under the same autojumping clock and seeded scheduler passing the same number of
datagrams, between as many tasks as the run had endpoints, through Trio memory channels, each
datagram after a virtual millisecond's sleep, with no node logic (``baseline``). The ratio of the
two rates (the run's datagrams per second over the baseline's) is the figure that travels between
machines. Then the whole process (``--skip-process`` leaves it out): ``harness.py run --mode sim``
of the same test as a user runs it (bytecode cached), from start to exit, report.html included, timed from outside;
bar: >= 12x real time for 60 virtual seconds of load.

Detection (``--detect``, takes a while): for each seeded bug, ``harness.py explore --runs 200``
with the nemesis that exposes it, reporting the original and shrunk sizes (fault windows,
operations) and the replay command; then ``--detect-correct``: the correct store explored for 200
seeds per nemesis kind (clock-skew aside: last-writer-wins under skew loses writes by design),
reporting anything found. Each explore runs as its own process, exactly as a user would run it.

The journal's cost (``--journal-ab ROUNDS``, issue #15): the 5-node run with ``--journal off`` and
``full`` alternating, medians of the simulation's wall and CPU seconds; bar: at most 15 % slower.

Usage: python bench/sim.py [--seed S] [--journal-ab ROUNDS] [--time-limit T] [--large-nodes N] [--skip-large] [--skip-process]
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
sys.path.insert(0, str(ROOT))  # first, even with PYTHONPATH set: bench/checker.py must not shadow the checker package

BUG_NEMESIS = {
    "no-tombstones": "partition",
    "no-repair": "partition",
    "ack-before-durable": "crash",
    "first-writer-wins": "partition",
}
"""The fault that exposes each seeded bug (ack-before-durable needs a crash, as the harness says)."""


def speed(nodes: int, time_limit: float, seed: int, journal: str | None = None) -> dict[str, Any]:
    """One default partition run of ``nodes`` nodes; virtual seconds per wall second."""
    import orjson

    from checker.api import check, harness_run_options
    from runner.options import RunOptions
    from runner.phases import make_schedule
    from runner.run import run
    from runner.simulate import SimMode

    passed: dict[str, int] = {}
    trio_run = SimMode.trio_run

    def counting_run(self: SimMode, main: Any) -> Any:  # how many datagrams and endpoints the run had
        try:
            return trio_run(self, main)
        finally:
            passed["datagrams"] = self.network.delivered
            passed["endpoints"] = len(self.network._endpoints)

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as out:
        options = RunOptions(mode="sim", nemesis=("partition",), nodes=nodes, time_limit=time_limit, seed=seed,
                             out=out, journal=journal).validate()
        schedule = make_schedule(options, tuple(f"n{i + 1}" for i in range(nodes)))
        started, cpu_started = time.perf_counter(), time.process_time()
        SimMode.trio_run = counting_run  # type: ignore[method-assign]
        try:
            result = run(options, ["bench/sim.py"], schedule=schedule, quiet=True, report=False)
        finally:
            SimMode.trio_run = trio_run  # type: ignore[method-assign]
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        history = result.run_dir / "history.jsonl"
        lines = history.read_bytes().splitlines()
        virtual = orjson.loads(lines[-1])["time"] / 1e9
        started = time.perf_counter()
        check(history, harness_run_options(options.checkers))
        checking = time.perf_counter() - started
    simulation = max(wall - checking, 1e-9)
    return {"nodes": nodes, "load": time_limit, "virtual": virtual, "wall": wall, "cpu": cpu, "check": checking,
            "simulation": simulation, "events": len(lines), "valid": result.results.get("valid"),
            "converged": result.final.converged, **passed}


def baseline(datagrams: int, tasks: int, seed: int) -> dict[str, Any]:
    """Bare Trio: ``datagrams`` handed between ``tasks`` tasks through memory channels, no node logic.

    The same clock (``MockClock(autojump_threshold=0)``) and seeded scheduler as a simulated run
    (``run_deterministic``). Each task holds one datagram at the start; a task that receives one
    sleeps a virtual millisecond (the simulation's delivery tick) and sends it on to a task drawn
    from a seeded generator. Wall and CPU seconds for all of them.
    """
    import random

    import trio

    from minikeydb.testing.determinism import run_deterministic

    payload = bytes(200)

    async def main() -> None:
        channels = [trio.open_memory_channel[bytes](tasks * 2) for _ in range(tasks)]
        left = [datagrams]
        rng = random.Random(seed)

        async def hop(me: int, done: trio.CancelScope) -> None:
            receive = channels[me][1]
            while True:
                data = await receive.receive()
                await trio.sleep(0.001)
                left[0] -= 1
                if left[0] <= 0:
                    done.cancel()
                    return
                channels[rng.randrange(tasks)][0].send_nowait(data)

        async with trio.open_nursery() as nursery:
            for i in range(tasks):
                nursery.start_soon(hop, i, nursery.cancel_scope)
            for i in range(tasks):
                channels[i][0].send_nowait(payload)

    started, cpu_started = time.perf_counter(), time.process_time()
    run_deterministic(main, seed)
    return {"datagrams": datagrams, "tasks": tasks, "wall": time.perf_counter() - started,
            "cpu": time.process_time() - cpu_started}


def whole_process(nodes: int, time_limit: float, seed: int) -> dict[str, Any]:
    """``harness.py run --mode sim`` as its own process, start to exit (report.html included).

    As a user's Python runs it: with its compiled bytecode cached. The cache is a scratch directory
    (``PYTHONPYCACHEPREFIX``; ``PYTHONDONTWRITEBYTECODE`` is lifted for these processes only, so
    nothing is written into the tree), filled by a 2-second run of the same command first: with
    ``PYTHONDONTWRITEBYTECODE`` set, as on some machines here, every start compiled the project's
    sources again (about 0.5 s).
    """
    import os

    import orjson

    with tempfile.TemporaryDirectory(prefix="bench-sim-process-") as scratch:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")

        def command(limit: float, out: Path) -> list[str]:
            return [sys.executable, str(ROOT / "harness.py"), "run", "--mode", "sim", "--nodes", str(nodes),
                    "--nemesis", "partition", "--time-limit", f"{limit:g}", "--seed", str(seed), "--out", str(out)]

        subprocess.run(command(2, Path(scratch) / "warm-up"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        out = Path(scratch) / "timed"
        started = time.perf_counter()
        done = subprocess.run(command(time_limit, out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        runs = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()] if out.is_dir() else []
        if done.returncode not in (0, 1) or len(runs) != 1 or not (runs[0] / "report.html").is_file():
            raise SystemExit(f"bench/sim.py: {' '.join(command(time_limit, out))} failed (exit {done.returncode}): "
                             f"{done.stderr.strip()[-300:]}")
        last = (runs[0] / "history.jsonl").read_bytes().rstrip(b"\n").rpartition(b"\n")[2]
        virtual = orjson.loads(last)["time"] / 1e9
    return {"wall": wall, "virtual": virtual, "load": time_limit}


def print_baseline(row: dict[str, Any], base: dict[str, Any]) -> None:
    sim_rate = row["datagrams"] / row["simulation"]
    base_rate = base["datagrams"] / base["wall"]
    sim_cpu_rate = row["datagrams"] / row["cpu"]
    base_cpu_rate = base["datagrams"] / base["cpu"]
    print(f"      bare baseline: {base['datagrams']} datagrams between {base['tasks']} Trio tasks (memory channels, "
          f"same autojump clock) in {base['wall']:.2f} s wall = {base_rate:,.0f} datagrams/s; the run: "
          f"{sim_rate:,.0f} datagrams/s (simulation alone)")
    print(f"      ratio run/baseline: {sim_rate / base_rate:.3f} by wall time, {sim_cpu_rate / base_cpu_rate:.3f} "
          f"by CPU time (the figure that travels between machines)", flush=True)
    ceiling = row["virtual"] * base_rate / row["datagrams"]
    print(f"      the bare baseline's own pace, for this run's {row['datagrams']} datagrams: {ceiling:.1f}x real time "
          f"(an estimate of what a run that only handed its datagrams between Trio tasks would reach on this machine "
          f"now; the 30x bar needs a ratio of {30 / ceiling:.2f} here)", flush=True)


def print_process(row: dict[str, Any]) -> None:
    print(f"whole process (harness.py run --mode sim, 5 nodes, {row['load']:g} s of load, report.html included, bytecode cached): "
          f"{row['virtual']:.1f} virtual s in {row['wall']:.1f} s wall = {row['virtual'] / row['wall']:.1f}x real "
          f"time (bar: >= 12x)", flush=True)


def print_speed(row: dict[str, Any]) -> None:
    print(f"{row['nodes']:>3} nodes, {row['load']:g} s of load: {row['virtual']:.1f} virtual s "
          f"({row['events']} events, verdict {row['valid']}) in {row['wall']:.1f} s wall "
          f"(simulation {row['simulation']:.1f} s + check {row['check']:.1f} s)")
    print(f"      {row['virtual'] / row['simulation']:.1f}x real time (simulation alone), "
          f"{row['virtual'] / row['wall']:.1f}x including the checker; {row['virtual'] / row['cpu']:.1f} virtual s "
          f"per CPU second ({row['cpu']:.1f} CPU s: the figure a busy shared machine disturbs least)", flush=True)


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


def journal_ab(rounds: int, time_limit: float, seed: int) -> None:
    """Issue #15's simulation bar: the same 5-node run with the journal off and full, alternating
    (off first in odd rounds, full first in even ones); medians of the simulation's wall and CPU
    seconds (the checker's verdict left out, as in the speed figure). Bar: at most 15 % slower."""
    import statistics

    times: dict[str, list[tuple[float, float]]] = {"off": [], "full": []}
    for n in range(rounds):
        for level in (("off", "full") if n % 2 == 0 else ("full", "off")):
            r = speed(5, time_limit, seed, journal=level)
            times[level].append((r["simulation"], r["cpu"] - r["check"]))
            print(f"  round {n + 1}, journal {level:<4}: simulation {r['simulation']:.2f} s wall, "
                  f"{r['cpu'] - r['check']:.2f} s CPU", flush=True)
    off_w, off_c = (statistics.median(t[i] for t in times["off"]) for i in (0, 1))
    full_w, full_c = (statistics.median(t[i] for t in times["full"]) for i in (0, 1))
    print(f"journal cost in simulation (5 nodes, partition, {time_limit:g} virtual s, seed {seed}, {rounds} rounds "
          f"interleaved, medians): wall {off_w:.2f} -> {full_w:.2f} s ({100 * (full_w / off_w - 1):+.1f} %), "
          f"CPU {off_c:.2f} -> {full_c:.2f} s ({100 * (full_c / off_c - 1):+.1f} %) (bar: <= +15 %)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0, help="virtual seconds of load (default 60)")
    parser.add_argument("--large-nodes", type=int, default=50, help="nodes in the large run (default 50)")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--journal-ab", type=int, default=0, metavar="ROUNDS",
                        help="instead: the journal's cost in simulation, ROUNDS rounds of off/full interleaved (issue #15)")
    parser.add_argument("--skip-process", action="store_true", help="leave out the whole-process figure")
    parser.add_argument("--skip-speed", action="store_true", help="only the detection sweeps")
    parser.add_argument("--detect", action="store_true", help="explore each seeded bug and report what was found")
    parser.add_argument("--detect-correct", action="store_true", help="explore the correct store per nemesis kind")
    parser.add_argument("--runs", type=int, default=200, help="seeds per explore (default 200)")
    parser.add_argument("--explore-time-limit", type=float, default=None, help="--time-limit for explore runs")
    parser.add_argument("--explore-fault-interval", type=float, default=None, help="--fault-interval for explore")
    parser.add_argument("--out", default="histories", help="where explore writes minimal failing runs")
    args = parser.parse_args()
    if args.journal_ab:
        journal_ab(args.journal_ab, args.time_limit, args.seed)
        return 0
    if not args.skip_speed:
        print(f"simulated partition runs, seed {args.seed} (bar: >= 30x real time at 5 nodes; 50 nodes completes)")
        five = speed(5, args.time_limit, args.seed)
        print_speed(five)
        print_baseline(five, baseline(five["datagrams"], five["endpoints"], args.seed))
        if not args.skip_process:
            print_process(whole_process(5, args.time_limit, args.seed))
        if not args.skip_large:
            print_speed(speed(args.large_nodes, args.time_limit, args.seed))
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
