"""The cost of one simulated run in THIS tree, for comparing two trees (issue #18's speed work).

Runs the 5-node partition test of ``bench/sim.py`` (60 virtual seconds of load, seed 1 by default)
and prints, per round, the CPU and wall seconds of the Trio run alone (``SimMode.trio_run``: the
simulation, without start-up, the run's finish and check, or report.html), the datagrams it
delivered, and the sha256 of history.jsonl and of the journal's records (header and END lines
left out: they carry the run's id and the compressed size). A change that only makes the run
cheaper must leave both hashes alone.

``--calls`` adds a round under cProfile that prints the Trio run's function calls (a count of work
that a loaded machine does not move; it wobbles by about 0.1 % between runs) and the 25 costliest
functions. For a figure of work nearer to time, count instructions with valgrind (the Python
binary itself, not a pyenv shim, which valgrind would measure instead):

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.10 $(python -c 'import sys; print(sys.executable)') \\
        bench/sim_cost.py --rounds 1 --time-limit 10

and the same at ``--time-limit 5``: the difference is five virtual seconds of simulation, start-up
and imports cancelled out (it repeats to 0.003 %). To compare trees, run this in each alternately.

Usage: python bench/sim_cost.py [--rounds 3] [--calls] [--nodes 5] [--time-limit 60] [--seed 1]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_run(nodes: int, time_limit: float, seed: int, profile: bool) -> dict[str, Any]:
    """One run; the Trio run's CPU and wall seconds, datagrams, the two hashes (and calls when profiled)."""
    from runner.options import RunOptions
    from runner.phases import make_schedule
    from runner.run import run
    from runner.simulate import SimMode

    measured: dict[str, Any] = {}
    trio_run = SimMode.trio_run

    def timed(self: SimMode, main: Callable[[], Awaitable[Any]]) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            if not profile:
                return trio_run(self, main)
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            try:
                return profiler.runcall(trio_run, self, main)
            finally:
                measured["stats"] = pstats.Stats(profiler)
        finally:
            measured["cpu"], measured["wall"] = time.process_time() - cpu, time.perf_counter() - wall
            measured["datagrams"] = self.network.delivered

    with tempfile.TemporaryDirectory(prefix="bench-sim-cost-") as out:
        options = RunOptions(mode="sim", nemesis=("partition",), nodes=nodes, time_limit=time_limit, seed=seed,
                             out=out).validate()
        schedule = make_schedule(options, tuple(f"n{i + 1}" for i in range(nodes)))
        SimMode.trio_run = timed  # type: ignore[method-assign]
        try:
            result = run(options, ["bench/sim_cost.py"], schedule=schedule, quiet=True, report=False)
        finally:
            SimMode.trio_run = trio_run  # type: ignore[method-assign]
        measured["history"] = hashlib.sha256((result.run_dir / "history.jsonl").read_bytes()).hexdigest()[:16]
        journal = result.run_dir / "journal.jsonl.gz"
        records = gzip.decompress(journal.read_bytes()).splitlines(True)[1:-1] if journal.exists() else []
        measured["journal"] = hashlib.sha256(b"".join(records)).hexdigest()[:16] if records else "-"
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", action="store_true", help="one more round under cProfile: calls and top costs")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0, help="virtual seconds of load (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cpus, walls = [], []
    for n in range(args.rounds):
        r = one_run(args.nodes, args.time_limit, args.seed, profile=False)
        cpus.append(r["cpu"])
        walls.append(r["wall"])
        print(f"round {n + 1}: Trio run {r['cpu']:.2f} CPU s, {r['wall']:.2f} s wall, {r['datagrams']} datagrams; "
              f"history {r['history']} journal {r['journal']}", flush=True)
    if cpus:
        print(f"median of {len(cpus)}: {statistics.median(cpus):.3f} CPU s, {statistics.median(walls):.3f} s wall "
              f"(load {os.getloadavg()[0]:.1f})")
    if args.calls:
        r = one_run(args.nodes, args.time_limit, args.seed, profile=True)
        print(f"function calls in the Trio run: {r['stats'].total_calls:,} (history {r['history']} "
              f"journal {r['journal']})")
        r["stats"].sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
