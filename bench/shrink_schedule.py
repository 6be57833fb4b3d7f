"""Benchmark: how well shrinking's speculation uses W workers, independent of the machine's load.

``explore --workers 2`` against ``--workers 1`` on a shared 2-core machine measures the neighbours
as much as the search (bench/explore.py moved from 0.8 to 1.7 with the load). This replays the
shrink of a failing seed on W *simulated* workers instead: each trial runs once, in this process,
its outcome and wall seconds cached (``--cache``, shared between checkouts so that two versions of
``runner/shrink.py`` are judged on the same trial times), and a clock advances by those times as W
workers would; the makespan is the time at which the shrink's last judged trial completes. Printed
per (bug, seed): the makespan with W workers and with 1, their ratio, and the speculative runs.

The shrink's result must be the same for every W (it is the sequential search's); that is checked.

Usage: python bench/shrink_schedule.py [--bugs no-repair,no-tombstones,first-writer-wins] [--seeds 1,2,3]
                                       [--workers 2] [--cache FILE]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sim import BUG_NEMESIS  # noqa: E402
from runner.explore_trial import TrialTask, run_task  # noqa: E402
from runner.options import RunOptions  # noqa: E402
from runner.phases import make_schedule  # noqa: E402
from runner.shrink import Candidate, Evaluate, Outcome, ShrinkResult, shrink  # noqa: E402

Cache = dict[str, tuple[Outcome, float]]


def measured(cache: Cache, candidate: Candidate) -> tuple[Outcome, float]:
    """The candidate's outcome and wall seconds: run once (a real trial), then from the cache."""
    key = candidate.key()
    if key not in cache:
        report = run_task(TrialTask(0, candidate, ("bench/shrink_schedule.py",)))
        cache[key] = (report.outcome, report.wall_seconds)
    return cache[key]


def simulated(cache: Cache, workers: int) -> tuple[Evaluate, list[float]]:
    """An ``Evaluate`` on ``workers`` simulated workers; the list holds the clock (makespan so far)."""
    clock = [0.0]

    def evaluate(items: Iterator[tuple[int, Candidate]]) -> Iterator[tuple[int, Outcome]]:
        running: list[tuple[float, int, Outcome]] = []
        while True:
            while len(running) < workers:  # a free worker pulls the search's pick of the moment
                try:
                    number, candidate = next(items)
                except StopIteration:
                    break
                outcome, seconds = measured(cache, candidate)
                running.append((clock[0] + seconds, number, outcome))
            if not running:
                return
            running.sort(key=lambda r: (r[0], r[1]))
            done, number, outcome = running.pop(0)
            clock[0] = done
            yield number, outcome

    return evaluate, clock


def one(bug: str, seed: int, workers: int, cache: Cache) -> None:
    options = RunOptions(mode="sim", nemesis=(BUG_NEMESIS[bug],), seed=seed, bug=bug, time_limit=8,
                         fault_interval=2, rate=200, out=str(ROOT / "histories")).validate()
    start = Candidate(options, make_schedule(options, tuple(f"n{i + 1}" for i in range(options.nodes))))
    outcome, _ = measured(cache, start)
    if outcome.valid is not False:
        print(f"{bug:<18} seed {seed}: valid, nothing to shrink", flush=True)
        return
    results: dict[int, tuple[ShrinkResult, float]] = {}
    for w in sorted({1, workers}):
        evaluate, clock = simulated(cache, w)
        results[w] = (shrink(start, outcome, evaluate=evaluate, budget=100), clock[0])
    (one_result, one_time), (many_result, many_time) = results[1], results[workers]
    same = "" if many_result == one_result else "  DIFFERENT RESULT"
    print(f"{bug:<18} seed {seed}: {many_result.trials} trials; {workers} workers {many_time:6.2f} s "
          f"(+{many_result.speculative} speculative), 1 worker {one_time:6.2f} s: ratio "
          f"{many_time / one_time:.2f}{same}", flush=True)
    return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bugs", default="no-repair,no-tombstones,first-writer-wins")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "shrink-schedule.pickle"),
                        help="trial outcomes and times, kept between runs (delete it after changing the store)")
    args = parser.parse_args()
    path = Path(args.cache)
    cache: Cache = pickle.loads(path.read_bytes()) if path.is_file() else {}
    try:
        for bug in args.bugs.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                one(bug, seed, args.workers, cache)
    finally:
        path.write_bytes(pickle.dumps(cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
