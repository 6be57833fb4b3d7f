"""Benchmark: how well shrinking's speculation uses W workers, independent of the machine's load.

``explore --workers 2`` against ``--workers 1`` on a shared 2-core machine measures the neighbours
as much as the search (bench/explore.py moved from 0.8 to 1.7 with the load). This replays the
shrink of a failing seed on W *simulated* workers instead: each trial runs once, in this process,
its outcome and wall seconds cached (``--cache``, shared between checkouts so that two versions of
``runner/shrink.py`` are judged on the same trial times), and a clock advances by those times as W
workers would; the makespan is the time at which the shrink's last judged trial completes. Printed
per (bug, seed): the makespan with W workers and with 1, their ratio, and the speculative runs.

The shrink's result must be the same for every W (it is the sequential search's); that is checked.

``--sweep N`` replays a whole explore instead: ``runner.explore.explore`` itself (the sweep of
seeds 1..N, the shrink runs ahead while a seed runs, cancellations, the shrink) on a
``SimulatedExecutor`` whose W workers take each trial's measured time; printed per bug: the
makespan of the trials with W workers and with 1, and their ratio, and that ratio again with the
explore's serial start-up and the writing of the minimal run added (``--serial``, measured apart:
the same for any W). The outcome (failing seed, shrunk run, trials) must not depend on W.

Usage: python bench/shrink_schedule.py [--bugs no-repair,no-tombstones,first-writer-wins] [--seeds 1,2,3]
                                       [--workers 2] [--cache FILE] [--sweep 40 [--serial 0.8] [--dispatch S] [--timeline]]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sim import BUG_NEMESIS  # noqa: E402
from runner.explore_trial import TrialReport, TrialTask, run_task  # noqa: E402
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


class SimulatedExecutor:
    """A ``SeedExecutor`` of ``workers`` simulated workers: each trial takes its measured time on a clock.

    A free worker pulls the next task at the clock's time; results come in completion order;
    ``cancel`` and closing free the workers of tasks no longer wanted at once (a real pool forks a
    replacement: some 50 ms, ``fork_cost``); with 2 workers or more a task starts ``dispatch`` seconds
    after its worker is free (its result goes to explore, which judges, picks and sends the next).
    """

    def __init__(self, workers: int, cache: Cache, fork_cost: float = 0.05, dispatch: float = 0.0,
                 contention: float = 0.0) -> None:
        self.workers = workers
        self.cache = cache
        self.fork_cost = fork_cost
        self.dispatch = dispatch if workers > 1 else 0.0
        """Seconds a worker waits between two tasks (the result to explore, its pick, the task back; none inline)."""
        self.contention = contention
        """Each task runs 1 + contention * (others running) times slower (two vCPUs sharing a core, caches)."""
        self.clock = 0.0
        self.free_at = [0.0] * workers
        self._running: list[list[Any]] | None = None
        """[work left, task index, worker, task, report, start, timeline entry] per task handed out."""
        self.timeline: list[tuple[int, float, float, int, str]] = []
        """(worker, start, end, task index, what) of every task run, cancelled ones ending when cancelled."""

    def map_unordered(self, fn: Any, items: Any) -> Iterator[Any]:
        source = iter(items)
        running: list[list[Any]] = []
        self._running = running
        exhausted = False
        try:
            while True:
                while not exhausted and len(running) < self.workers:
                    w = min((w for w in range(self.workers) if w not in {r[2] for r in running}),
                            key=lambda w: self.free_at[w])
                    try:
                        task = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    report, seconds = measured_report(self.cache, task.candidate)
                    start = max(self.clock, self.free_at[w]) + self.dispatch
                    self.timeline.append((w, start, start + seconds, task.index, task.candidate.key()))
                    running.append([seconds, task.index, w, task, attrs.evolve(report, index=task.index), start,
                                    len(self.timeline) - 1])
                if not running:
                    return
                done = self._advance(running)
                running.remove(done)
                self.free_at[done[2]] = self.clock
                w, start, _, index, key = self.timeline[done[6]]
                self.timeline[done[6]] = (w, start, self.clock, index, key)
                yield done[4]
        finally:
            self._running = None
            for r in running:  # left early: those tasks are cancelled now
                self.free_at[r[2]] = self.clock + self.fork_cost
                self._cut(r)

    def _advance(self, running: list[list[Any]]) -> list[Any]:
        """Move the clock to the next completion (tasks started share the machine: ``contention``); the task done."""
        while True:
            active = [r for r in running if r[5] <= self.clock + 1e-12]
            speed = 1.0 / (1.0 + self.contention * max(0, len(active) - 1))
            finish = min(((self.clock + r[0] / speed, r[1]) for r in active), default=(float("inf"), 0))
            begin = min((r[5] for r in running if r[5] > self.clock + 1e-12), default=float("inf"))
            until = min(finish[0], begin)
            for r in active:
                r[0] -= (until - self.clock) * speed
            self.clock = until
            if finish[0] <= begin:
                return next(r for r in active if r[1] == finish[1])

    def cancel(self, unwanted: Any) -> int:
        if self._running is None:
            return 0
        dropped = [r for r in self._running if unwanted(r[3])]
        for r in dropped:
            self._running.remove(r)
            self.free_at[r[2]] = self.clock + self.fork_cost
            self._cut(r)
        return len(dropped)

    def _cut(self, r: list[Any]) -> None:
        """The timeline's entry of a task cancelled now ends now."""
        w, start, _, index, key = self.timeline[r[6]]
        self.timeline[r[6]] = (w, start, max(start, self.clock), index, key + " (cancelled)")

    def close(self) -> None:
        pass

    def __enter__(self) -> SimulatedExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()




def measured_report(cache: Cache, candidate: Candidate) -> tuple[TrialReport, float]:
    """A trial's whole report (for the sweep's ledger) and its measured wall seconds, run once."""
    key = "report:" + candidate.key()
    if key not in cache:
        report = run_task(TrialTask(0, candidate, ("bench/shrink_schedule.py",)))
        cache[key] = (report, report.wall_seconds)  # type: ignore[assignment]
        cache.setdefault(candidate.key(), (report.outcome, report.wall_seconds))
    return cache[key]  # type: ignore[return-value]


def outcome_of(result: Any) -> tuple[Any, ...]:
    """What must not depend on W: the failing seed, the shrink (steps, trials, outcomes) and the ledger lines."""
    s = result.shrunk
    shrink = None if s is None else (s.original.key(), s.candidate.key(), s.outcome, s.trials, s.exhausted,
                                     [(step.reduction, step.candidate.key(), step.outcome) for step in s.steps])
    return result.failing_seed, shrink, [{k: v for k, v in line.items() if k != "wall_s"} for line in result.lines]


def whole_explore(bug: str, runs: int, workers: int, cache: Cache, serial: float, timeline: bool = False,
                  dispatch: float = 0.0, contention: float = 0.0) -> None:
    """Replay ``explore --runs N --bug BUG`` on W and on 1 simulated worker(s): makespans and their ratio.

    ``none``: the correct store under partitions, 4 s runs, so that every seed runs (what running a
    shrink ahead costs a sweep that finds nothing)."""
    import tempfile

    from runner.explore import explore

    if bug == "none":  # the correct store: every seed runs (bench/explore.py's configuration without a failure)
        base = RunOptions(mode="sim", nemesis=("partition",), seed=1, time_limit=4, fault_interval=2).validate()
    else:
        base = RunOptions(mode="sim", nemesis=(BUG_NEMESIS[bug],), seed=1, bug=bug, time_limit=8, fault_interval=2,
                          rate=200).validate()
    got: dict[int, tuple[Any, float]] = {}
    lines: dict[int, list[tuple[int, float, float, int, str]]] = {}
    for w in sorted({1, workers}):
        executor = SimulatedExecutor(w, cache, dispatch=dispatch, contention=contention)
        with tempfile.TemporaryDirectory() as out:
            result = explore(attrs.evolve(base, out=out), list(range(1, runs + 1)), shrink_budget=100,
                             argv=["bench"], stream=open(os.devnull, "w"), executor=executor)  # noqa: SIM115
        got[w] = (result, executor.clock)
        lines[w] = executor.timeline
    (one_r, one_t), (many_r, many_t) = got[1], got[workers]
    same = outcome_of(one_r) == outcome_of(many_r)
    trials = one_r.shrunk.trials if one_r.shrunk else 0
    spec = many_r.shrunk.speculative if many_r.shrunk else 0
    print(f"{bug:<18} explore --runs {runs}: failing seed {one_r.failing_seed}, {trials} shrink trials; "
          f"{workers} workers {many_t:6.2f} s (+{spec} speculative), 1 worker {one_t:6.2f} s: ratio "
          f"{many_t / one_t:.2f}; with {serial:g} s serial: {(many_t + serial) / (one_t + serial):.2f}"
          f"{'' if same else '  DIFFERENT RESULT'}", flush=True)
    if timeline:
        order = [entry[4] for entry in lines[1] if entry[3] < 0]  # one worker runs exactly what is judged, in order
        print_timeline(lines[workers], {key: n + 1 for n, key in enumerate(order)}, workers)


def print_timeline(entries: list[tuple[int, float, float, int, str]], judged: dict[str, int], workers: int) -> None:
    """Each task of the W-worker explore (worker, start, end, judged or speculative) and each worker's idle gaps."""
    for w, start, end, index, key in sorted(entries, key=lambda e: e[1]):
        cancelled = key.endswith(" (cancelled)")
        key = key.removesuffix(" (cancelled)")
        what = "seed" if index >= 0 else (f"judged {judged[key]}" if key in judged else "speculative")
        print(f"    w{w} {start:6.2f}-{end:6.2f} ({end - start:5.2f} s) task {index:>4} {what}"
              f"{' CANCELLED' if cancelled else ''}")
    for w in range(workers):
        mine = sorted((e[1], e[2]) for e in entries if e[0] == w)
        busy = sum(end - start for start, end in mine)
        last = max((end for _, end in mine), default=0.0)
        gaps = [(a_end, b_start) for (_, a_end), (b_start, _) in zip(mine, mine[1:], strict=False) if b_start - a_end > 1e-6]
        print(f"    worker {w}: busy {busy:.2f} s of {last:.2f}; idle gaps " +
              (", ".join(f"{a:.2f}-{b:.2f}" for a, b in gaps) or "none"))


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
    parser.add_argument("--sweep", type=int, default=0, metavar="N",
                        help="replay whole explores of seeds 1..N (sweep, shrink run ahead, shrink) instead")
    parser.add_argument("--serial", type=float, default=0.8,
                        help="with --sweep: seconds of start-up and writing the minimal run, the same for any W")
    parser.add_argument("--dispatch", type=float, default=0.0,
                        help="with --sweep: seconds between two tasks on a worker of a pool (real explores: a median of "
                        "2 ms at load 1, 8 ms at load 4, bench/explore.py's pairs; 0 inline)")
    parser.add_argument("--contention", type=float, default=0.0,
                        help="with --sweep: each trial runs 1 + C x (trials running beside it) slower (two vCPUs of one "
                        "core: a trial's CPU time rose 10-20%% with another beside it, /tmp pair runs at load 5)")
    parser.add_argument("--timeline", action="store_true",
                        help="with --sweep: print the W-worker explore's tasks per worker (judged, speculative, cancelled)")
    args = parser.parse_args()
    path = Path(args.cache)
    cache: Cache = pickle.loads(path.read_bytes()) if path.is_file() else {}
    try:
        for bug in args.bugs.split(","):
            if args.sweep:
                whole_explore(bug, args.sweep, args.workers, cache, args.serial, args.timeline, args.dispatch,
                              args.contention)
                continue
            for seed in (int(s) for s in args.seeds.split(",")):
                one(bug, seed, args.workers, cache)
    finally:
        path.write_bytes(pickle.dumps(cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
