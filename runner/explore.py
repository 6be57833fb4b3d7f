"""``python harness.py explore --runs N [run options]``: search seeds for a failing simulated run.

Every seed is a different simulated run of the same configuration (different workload, latencies,
fault schedule, scheduling), each a pure function of its seed. Explore runs seeds 1..N (``--seed S``
starts at S; ``--random`` draws them) on a ``SeedExecutor`` (``--workers N``, default every core;
``--cluster ADDRESS``), stops at the first invalid run in seed order (``--keep-going``: runs them
all), and shrinks it (``runner.shrink``) while it stays invalid with the same anomaly type. The
minimal failing run is then written to ``--out`` (``histories/`` by default) like any other run,
with its edited schedule in run.json and a failure.txt saying what reproduces it, and explore
prints the one command that replays it. Which seeds run, the ledger, the failure and the shrunk
run do not depend on the number of workers. With two workers or more, the shrink of the lowest
seed still running may begin while it runs (``sweep``'s ``shrink_ahead``, ``_worth_running_ahead``):
a worker with no likelier use runs its candidates, so that when that seed fails its shrink has
begun (a trial of the sweep is not cut short; only when trials run changes, never what is judged).

Every seed's result goes to the ledger (``runner.explore_ledger``; ``--resume`` continues one).
Trial runs go to a temporary directory and are deleted (without report.html, which costs more than
a short run). Exit 1 when an invalid run was found, 0 when every run was valid (unknown verdicts,
if any, are counted and reported but do not stop the search).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import random
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from minikeydb.cli import decided
from minikeydb.testing.seeds import Seeds
from runner import ROOT

from .exit_codes import EXPLORE_EXIT_ALL_VALID, EXPLORE_EXIT_FOUND
from .explore_ledger import (
    SEED_RANGE,
    LedgerError,
    LedgerWriteError,
    LedgerWriter,
    commit,
    findings,
    open_ledger,
    seed_line,
    summary_lines,
)
from .explore_pool import InlineExecutor, ProcessExecutor, SeedExecutor, WorkerDied
from .explore_trial import ScratchWriteError, TrialReport, TrialTask, disk_error, run_task, warm_up
from .flags import add_run_options, options_with_config
from .interrupt import SIGNALS, InterruptGuard, RunInterrupted
from .journal_writer import usable_cores
from .options import (
    EXPLORE_FAULT_INTERVAL,
    EXPLORE_TIME_LIMIT,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    RATE_MAX,
    OptionError,
    RunOptions,
    SizeSpec,
    min_key_bytes,
    parse_size,
)
from .phases import make_schedule, run_nodes
from .replay import sha256_of
from .run import run
from .run_dir import Latest, check_out_writable, new_run_dir, read_latest, restore_latest
from .shrink import Candidate, Evaluate, Outcome, Shrinker, ShrinkResult
from .usage import Parser, UsageError, add_config_option

WORKLOAD_RANGES: dict[str, tuple[Any, ...]] = {
    "key_size": (None, "uniform:1-64", "uniform:100-300", "uniform:600-1024", "1024"),
    "value_size": (None, "uniform:10-1000", "uniform:1000-8000", "uniform:8000-32768"),
    "keys": (20, 200, 5_000, 100_000),
    "rate": (100.0, 200.0, 500.0, 1000.0, RATE_MAX),
    "key_dist": ("uniform", "zipf"),
}
"""What ``--vary-workload`` draws from, per seed: long keys, large values, large key spaces, saturation."""


FAILURE_FILE = "failure.txt"
"""Written into the minimal failing run's directory: what reproduces the failure (seed, options, commit, commands)."""


@attrs.frozen
class FailureReport:
    """What reproduces a failure anywhere: the seed, its options, the commit, and the command that reruns it."""

    seed: int
    options: RunOptions
    commit: str
    seed_command: str
    """``harness.py run`` of the original failing seed (no run directory needed)."""
    anomaly: str | None
    history_sha256: str

    def to_json(self) -> dict[str, Any]:
        options = self.options.to_json()
        options.pop("out", None)
        options.pop("name", None)
        return {"seed": self.seed, "commit": self.commit, "options": options, "seed_command": self.seed_command,
                "anomaly": self.anomaly, "history_sha256": self.history_sha256}


@attrs.frozen
class ExploreResult:
    runs: int
    """Seeds run by this explore (all of them when none failed; a resumed ledger's not counted)."""
    unknown: int
    failing_seed: int | None
    shrunk: ShrinkResult | None
    run_dir: Path | None
    """Where the minimal failing run was written."""
    replay_identical: bool | None
    """Whether writing the minimal run reproduced the shrinking trial's history byte for byte."""
    wall_seconds: float
    lines: list[dict[str, Any]] = attrs.field(factory=list)
    """The ledger lines of the sweep's seeds (those run and those the resumed ledger held)."""
    workers: int = 1
    failure: FailureReport | None = None
    ledger: Path | None = None

    @property
    def replay_command(self) -> str | None:
        return None if self.run_dir is None else f"python harness.py replay {self.run_dir}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runs": self.runs, "unknown": self.unknown, "failing_seed": self.failing_seed,
            "wall_seconds": round(self.wall_seconds, 2), "replay_command": self.replay_command,
            "replay_identical": self.replay_identical, "workers": self.workers,
            "ledger": None if self.ledger is None else str(self.ledger),
            "findings": [{"signature": f.signature, "witnesses": len(f.seeds), "seeds": list(f.seeds),
                          "anomalies": f.anomalies} for f in findings(self.lines)],
            "faults_changed_nothing": sum(1 for line in self.lines if line.get("faults_changed_nothing")),
        }
        if self.failure is not None:
            out["failure"] = self.failure.to_json()
        if self.shrunk is not None:
            s = self.shrunk
            out["anomaly"] = s.original_outcome.main_anomaly
            out["original"] = _size(s.original, s.original_outcome)
            out["shrunk"] = _size(s.candidate, s.outcome)
            out["shrink_trials"] = s.trials
            out["shrink_seconds"] = round(s.seconds, 2)  # the shrink's own; wall_seconds is the session's
            out["shrink_speculative"] = s.speculative
            out["shrink_budget_exhausted"] = s.exhausted
            out["steps"] = [step.reduction for step in s.steps]
        return out


RUN_FLAGS: tuple[tuple[str, str], ...] = (
    ("nodes", "--nodes"), ("replicas", "--replicas"), ("write_quorum", "--write-quorum"),
    ("read_quorum", "--read-quorum"), ("partition", "--partition"), ("crash_targets", "--crash-targets"),
    ("concurrency", "--concurrency"), ("keys", "--keys"), ("key_dist", "--key-dist"), ("key_size", "--key-size"),
    ("value_size", "--value-size"), ("quiesce", "--quiesce"), ("converge_timeout", "--converge-timeout"),
    ("bug", "--bug"), ("journal", "--journal"), ("journal_max_mb", "--journal-max-mb"),
    ("conflict", "--conflict"), ("workload", "--workload"),
)
"""Options that become a flag of the seed's command when they differ from the default."""
CLUSTER_FIELDS = ("nodes", "replicas", "write_quorum", "read_quorum")


def seed_command(options: RunOptions) -> str:
    """The one ``harness.py run`` command that runs this seed again from nothing (sim: byte-identical)."""
    default = RunOptions()
    flags = ["python", "harness.py", "run", "--mode", "sim", "--seed", str(options.seed),
             "--nemesis", ",".join(options.nemesis) or "none", "--time-limit", _number(options.time_limit),
             "--fault-interval", _number(options.fault_interval),
             "--rate", "max" if options.closed_loop else _number(options.rate)]
    config_file = (options.cluster or {}).get("file")
    if config_file:
        flags += ["--config", str(config_file)]
    for field, flag in RUN_FLAGS:
        value = getattr(options, field)
        if value == getattr(default, field) or (config_file and field in CLUSTER_FIELDS):
            continue
        flags += [flag, _number(value) if isinstance(value, float) else str(value)]
    if options.mix != default.mix:
        flags += ["--mix", ":".join(map(str, options.mix))]
    if options.checkers != default.checkers:
        flags += ["--checker", ",".join(options.checkers)]
    return shlex.join(flags)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _size(c: Candidate, o: Outcome) -> dict[str, Any]:
    opts = c.options
    return {"faults": o.faults, "operations": o.operations, "time_limit": opts.time_limit,
            "rate": "max" if opts.closed_loop else opts.rate,
            "nodes": opts.nodes, "replicas": opts.replicas, "clients": opts.concurrency, "keys": opts.keys,
            "anomalies": dict(Counter(o.anomaly_types))}


def draw_workload(base: RunOptions, seed: int) -> RunOptions:
    """``base`` with the workload dimensions drawn for ``seed`` (from ``<seed>/explore-workload``).

    The drawn values are ordinary options: recorded in the seed's run.json, kept by shrinking
    (which may lower the rate or the key count further), and restored by ``replay``.
    """
    rng = Seeds(seed).rng("explore-workload")
    drawn = {name: rng.choice(choices) for name, choices in WORKLOAD_RANGES.items()}
    key_size = parse_size("--key-size", drawn["key_size"], MAX_KEY_BYTES)
    need = min_key_bytes(drawn["keys"])
    if key_size is not None and key_size.low < need:  # "uniform:1-64" over 100,000 keys: from 6 bytes
        drawn["key_size"] = str(SizeSpec(need, max(need, key_size.high)))
    return attrs.evolve(base, seed=seed, **bounded_load(drawn, base.concurrency))


SATURATION_CLIENTS = 4
"""Closed-loop clients at most in a drawn saturation run (each completes some 350 operations per virtual s)."""
SATURATION_VALUE_SIZE = "uniform:10-1000"
MAX_VALUE_BYTES_PER_SECOND = 2_500_000
"""Value bytes a drawn workload may write per virtual second: 8 s of it (each value in the invoke and the ok) is a history of some 40 MB."""


def bounded_load(drawn: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """Keep a drawn seed cheap: saturation only with few clients and small values, large values at low rates.

    Unbounded, ``--rate max`` with 8-32 KiB values wrote a 378 MB history in 3 virtual seconds and
    explore peaked at 1.2 GB; the dimensions each still get drawn, not all at once at their extremes.
    """
    out = dict(drawn)
    value = parse_size("--value-size", out["value_size"], MAX_VALUE_BYTES)
    mean_value = 0.0 if value is None else (value.low + value.high) / 2
    if math.isinf(out["rate"]):
        out["concurrency"] = min(concurrency, SATURATION_CLIENTS)
        if mean_value > 1000:
            out["value_size"] = SATURATION_VALUE_SIZE
    elif out["rate"] * mean_value > MAX_VALUE_BYTES_PER_SECOND:
        allowed = [r for r in WORKLOAD_RANGES["rate"] if r * mean_value <= MAX_VALUE_BYTES_PER_SECOND]
        out["rate"] = max(allowed) if allowed else min(WORKLOAD_RANGES["rate"])
    return out


def describe_workload(o: RunOptions) -> str:
    rate = "max" if o.closed_loop else f"{o.rate:g}/s"
    return (f"keys {o.keys} ({o.key_dist}), key size {o.key_size or 'k<i>'}, value size {o.value_size or 'p<n>'}, "
            f"rate {rate}")


# -- one trial --------------------------------------------------------------------------------


def candidate_for(base: RunOptions, seed: int, vary_workload: bool) -> Candidate:
    """Seed ``seed`` of the sweep: its options (workload drawn with --vary-workload) and the schedule it generates."""
    options = draw_workload(base, seed) if vary_workload else attrs.evolve(base, seed=seed)
    return Candidate(options, make_schedule(options, run_nodes(options)))


def executor_evaluate(executor: SeedExecutor, argv: tuple[str, ...], scratch: str) -> Evaluate:
    """Shrink candidates run on ``executor``: (number, outcome) as they complete; closing cancels the rest."""

    def evaluate(items: Iterator[tuple[int, Candidate]]) -> Iterator[tuple[int, Outcome]]:
        results = executor.map_unordered(run_task, (TrialTask(i, c, argv, scratch) for i, c in items))
        try:
            for report in results:
                yield report.index, report.outcome
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()

    return evaluate


class TrialStream:
    """One stream of trials on the executor, shared by the sweep and the shrink that follows it.

    A seed's task is numbered by its place in the sweep (0, 1, ...); a shrink candidate's by a
    negative number that maps to (which shrink, its number there). The executor pulls from
    ``source``, which the sweep sets and the shrink replaces: so candidates of a failing seed run
    ahead while it runs (``Shrinker.ahead``) and keep running, not cancelled, when the sweep hands
    the stream over to its shrink. Results of tasks no longer wanted are dropped.
    """

    def __init__(self, executor: SeedExecutor, argv: tuple[str, ...], scratch: str) -> None:
        self.executor = executor
        self.argv = argv
        self.scratch = scratch
        self.source: Iterator[TrialTask] = iter(())
        self.results: Iterator[TrialReport] | None = None
        self.shrinks: dict[int, tuple[int, int]] = {}
        """Task number -> (the shrink's id, the candidate's number in it)."""
        self._last = 0

    def start(self, source: Iterator[TrialTask]) -> Iterator[TrialReport]:
        """Results of the running call (a new one if none runs), now pulling from ``source``."""
        self.source = source
        if self.results is None:
            self.results = self.executor.map_unordered(run_task, self._pull())
        return self.results

    def _pull(self) -> Iterator[TrialTask]:
        while True:
            try:
                item = next(self.source)
            except StopIteration:
                return
            yield item

    def close(self) -> None:
        """End the running call: what is in flight is cancelled."""
        results, self.results = self.results, None
        close = getattr(results, "close", None)
        if close is not None:
            close()

    def cancel(self, unwanted: Callable[[TrialTask], bool]) -> None:
        """Cancel tasks in flight that are no longer wanted, if the executor can (else their results are dropped)."""
        cancel = getattr(self.executor, "cancel", None)
        if cancel is not None:
            cancel(unwanted)

    def candidate_task(self, shrink_id: int, number: int, candidate: Candidate) -> TrialTask:
        self._last -= 1
        self.shrinks[self._last] = (shrink_id, number)
        return TrialTask(self._last, candidate, self.argv, self.scratch)

    def forget(self, shrink_id: int) -> None:
        """A shrink is not wanted (its seed was valid): cancel its candidates in flight."""
        mine = {n for n, (owner, _) in self.shrinks.items() if owner == shrink_id}
        self.cancel(lambda task: task.index in mine)
        for n in mine:
            del self.shrinks[n]

    def evaluate(self, shrink_id: int) -> Evaluate:
        """The ``Evaluate`` of shrink ``shrink_id``: continues the running call when there is one."""

        def evaluate(items: Iterator[tuple[int, Candidate]]) -> Iterator[tuple[int, Outcome]]:
            results = self.start(self.candidate_task(shrink_id, n, c) for n, c in items)
            try:
                for report in results:
                    owner = self.shrinks.pop(report.index, None)
                    if owner is not None and owner[0] == shrink_id:
                        yield owner[1], report.outcome
            finally:
                self.close()

        return evaluate


# -- progress ---------------------------------------------------------------------------------


class ExploreProgress:
    """A bar rewritten in place on a terminal; plain lines now and then when stderr is not one."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_line = 0.0
        self._every = max(1, total // 20)

    def update(self, done: int, seed: int, counts: Counter[str]) -> None:
        elapsed = time.monotonic() - self.started
        per_run = elapsed / done if done else 0.0
        eta = per_run * (self.total - done)
        tally = f"valid {counts['valid']}  invalid {counts['invalid']}  unknown {counts['unknown']}"
        if self.tty:
            width = 24
            filled = int(width * done / self.total) if self.total else width
            bar = "#" * filled + "-" * (width - filled)
            line = f"explore [{bar}] {done}/{self.total}  seed {seed}  {tally}  {per_run:.1f} s/run  ETA {eta:.0f} s"
            self.stream.write("\r" + line[:120].ljust(120))
            self.stream.flush()
        elif done == self.total or done % self._every == 0 or time.monotonic() - self._last_line > 30:
            self._last_line = time.monotonic()
            print(f"explore: {done}/{self.total} runs (last seed {seed}), {tally}, {elapsed:.0f} s",
                  file=self.stream, flush=True)

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()

    def note(self, text: str) -> None:
        self.clear()
        print(text, file=self.stream, flush=True)


# -- the search -------------------------------------------------------------------------------


@attrs.frozen
class Sweep:
    """What the seeds gave: the ledger lines of the sweep's seeds, and the first failure (sweep order)."""

    lines: list[dict[str, Any]]
    runs: int
    """Seeds run by this explore (the ledger's, when resuming, not counted)."""
    failing: tuple[Candidate, TrialReport | None] | None
    """The first failing seed's candidate, and its report when it ran here (None: known from the ledger)."""
    shrinker: Shrinker | None = None
    """The failing seed's shrink, begun while it ran (its candidates may still be running on the stream)."""


def sweep(
    base: RunOptions,
    seeds: Sequence[int],
    executor: SeedExecutor,
    *,
    argv: tuple[str, ...],
    scratch: str,
    progress: ExploreProgress,
    vary_workload: bool = False,
    ledger: LedgerWriter | None = None,
    known: dict[int, dict[str, Any]] | None = None,
    keep_going: bool = False,
    stream: TrialStream | None = None,
    shrink_ahead: Callable[[int, Candidate], Shrinker] | None = None,
) -> Sweep:
    """Run the seeds not ``known`` on ``executor``, writing each result to the ledger in sweep order.

    Unless ``keep_going``, the sweep ends at the first failing seed in sweep order: every seed before
    it finishes, seeds after it are not started (and those already running are cancelled), so the
    seeds run, the ledger and the failure reported are the same for any number of workers.

    With ``shrink_ahead`` (a shrink for the seed at a place, on ``stream``), a worker the sweep has
    no likelier use for runs shrink candidates of the lowest seed still running, as if it failed
    (``_worth_running_ahead``); a failing seed's shrink then starts with those outcomes known, and
    the stream stays open for it (``Sweep.shrinker``). Which seeds run and what the shrink
    finds do not change: only when the trials run.
    """
    known = known or {}
    stream = stream if stream is not None else TrialStream(executor, argv, scratch)
    ahead: dict[int, Shrinker] = {}
    """The shrink of the lowest seed still running, run ahead, by the seed's place."""
    started = 0  # todo entries handed to the executor
    todo = [(i, seed) for i, seed in enumerate(seeds) if seed not in known]
    first_fail = min((i for i, seed in enumerate(seeds) if known.get(seed, {}).get("verdict") == "invalid"),
                     default=None)
    lines: dict[int, dict[str, Any]] = {i: known[seed] for i, seed in enumerate(seeds) if seed in known}
    counts: Counter[str] = Counter()
    waiting: dict[int, TrialReport] = {}
    failing_report: TrialReport | None = None
    written = 0  # todo entries written, in order

    def wanted(i: int) -> bool:
        return keep_going or first_fail is None or i <= first_fail

    def running_ahead() -> TrialTask | None:
        if shrink_ahead is None or keep_going or first_fail is not None or written >= started:
            return None
        i = todo[written][0]  # the lowest seed not done (running: written < started); every one before is valid
        seeds_running = started - written - len(waiting)
        if not _worth_running_ahead(counts, seeds_running, more_seeds=started < len(todo)):
            return None
        shrinker = ahead.get(i)
        if shrinker is None:
            shrinker = ahead[i] = shrink_ahead(i, candidate_for(base, seeds[i], vary_workload))
        task = shrinker.ahead()
        return None if task is None else stream.candidate_task(i, *task)

    def tasks() -> Iterator[TrialTask]:
        nonlocal started
        while True:
            task = running_ahead()
            if task is not None:
                yield task
                continue
            if started >= len(todo) or not wanted(todo[started][0]):
                return
            i, seed = todo[started]
            started += 1
            yield TrialTask(i, candidate_for(base, seed, vary_workload), argv, scratch)

    def write(report: TrialReport) -> None:
        line = ledger.add(report) if ledger is not None else seed_line(report, "", "")
        lines[report.index] = line
        counts[report.verdict] += 1
        progress.update(sum(counts.values()), report.seed, counts)

    handed_over: Shrinker | None = None
    results = stream.start(tasks())
    try:
        for report in results:
            if report.index < 0:  # a shrink candidate run ahead
                owner = stream.shrinks.pop(report.index, None)
                if owner is not None and owner[0] in ahead:
                    ahead[owner[0]].arrived(owner[1], report.outcome)
                continue
            waiting[report.index] = report
            if report.verdict == "invalid" and (first_fail is None or report.index < first_fail):
                first_fail, failing_report = report.index, report
            while written < len(todo) and todo[written][0] in waiting:
                i = todo[written][0]
                if wanted(i):
                    write(waiting.pop(i))
                written += 1
                if i in ahead and i != first_fail:  # valid: its shrink run ahead is not needed
                    del ahead[i]
                    stream.forget(i)
            if written == len(todo) or not wanted(todo[written][0]):
                break  # every seed wanted is written
        if first_fail is not None and first_fail in ahead and failing_report is not None:
            handed_over = ahead.pop(first_fail)  # its candidates in flight go on running for the shrink
            others = {n for n, (owner, _) in stream.shrinks.items() if owner != first_fail}
            stream.cancel(lambda task: task.index >= 0 or task.index in others)  # seeds past it, other shrinks
    except BaseException:
        for i in sorted(waiting):  # interrupted: what arrived out of order is a result too (resume skips it)
            if wanted(i) and i not in lines and (ledger is None or ledger.failed is None):
                write(waiting[i])
        raise
    finally:
        if handed_over is None:
            stream.close()
    ordered = [lines[i] for i in sorted(lines) if wanted(i)]
    failing = None
    if first_fail is not None:
        seed = seeds[first_fail]
        ran = failing_report if failing_report is not None and failing_report.seed == seed else None
        failing = (candidate_for(base, seed, vary_workload), ran)
    return Sweep(ordered, sum(counts.values()), failing, handed_over)


def _worth_running_ahead(counts: Counter[str], seeds_running: int, *, more_seeds: bool) -> bool:
    """Whether a free worker runs the shrink of the lowest running seed rather than the next seed.

    The chance a seed fails is estimated from the seeds done (Laplace's rule: (invalid + 1) / (done + 2),
    so 1/2 before any is done), the shrink is needed if the lowest running seed fails, the next seed
    if every running one is valid. On a tie the shrink runs: its trials are judged one at a time, so
    work done on them early shortens the search, while seeds left for later still keep every worker
    busy. So while seed 1 runs on one worker, another begins its shrink; once a seed is valid
    (estimate 1/3) seeds run first again.
    """
    done = counts["valid"] + counts["invalid"] + counts["unknown"]
    fails = (counts["invalid"] + 1) / (done + 2)
    next_needed = (1 - fails) ** seeds_running if more_seeds else 0.0
    return fails >= next_needed


def explore(
    base: RunOptions,
    seeds: Sequence[int],
    *,
    shrink_budget: int,
    argv: list[str],
    stream: TextIO | None = None,
    vary_workload: bool = False,
    executor: SeedExecutor | None = None,
    ledger: LedgerWriter | None = None,
    known: dict[int, dict[str, Any]] | None = None,
    keep_going: bool = False,
    shrink_again: bool = False,
    phase: list[str] | None = None,
) -> ExploreResult:
    """Run ``seeds`` (all of them with ``keep_going``, else until the first invalid one in sweep
    order), shrink the first failure, and write the minimal run to ``base.out``. ``phase`` gets
    "shrink" appended once the sweep is over (what an interruption stopped)."""
    started = time.monotonic()
    executor = executor if executor is not None else InlineExecutor()
    todo = sum(1 for seed in seeds if seed not in (known or {}))
    progress = ExploreProgress(todo, stream)
    stream = progress.stream
    trial_argv = tuple(argv)
    # ignore_cleanup_errors: whatever else a trial left there (the pool is closed first: see below)
    # closing(executor): the pool is closed (its workers killed and joined) before the scratch directory is
    # removed, so a cancelled trial a worker still runs cannot write into it afterwards and leave it behind.
    # A second Ctrl-C while the first one's cleanup ran cut it short and left the scratch directory (and could
    # leave workers: close() marks itself done first): the cleanup runs with the signals deferred (_cleanup).
    scratch = tempfile.mkdtemp(prefix="minikeydb-explore-")
    with InterruptGuard(), _cleanup(executor, scratch):
        trials = TrialStream(executor, trial_argv, scratch)

        def on_trial(n: int, reduction: str, c: Candidate, o: Outcome, kept: bool) -> None:
            if kept:
                progress.note(f"  shrink {n}: {reduction}: still {_anomaly_text(o)} -> {c.describe()}, "
                              f"{o.operations} operations")
            elif progress.tty:
                stream.write(f"\r  shrink {n}/{shrink_budget}: {reduction} ... no"[:120].ljust(120))
                stream.flush()

        def shrinker(shrink_id: int, candidate: Candidate) -> Shrinker:
            return Shrinker(candidate, trials.evaluate(shrink_id), budget=shrink_budget, on_trial=on_trial)

        try:
            found = sweep(base, seeds, executor, argv=trial_argv, scratch=scratch, progress=progress,
                          vary_workload=vary_workload, ledger=ledger, known=known, keep_going=keep_going,
                          stream=trials, shrink_ahead=shrinker if executor.workers > 1 else None)
            progress.clear()
            verdicts = Counter(line.get("verdict") for line in found.lines)
            if found.failing is None:
                return ExploreResult(found.runs, verdicts["unknown"], None, None, None, None,
                                     time.monotonic() - started, found.lines, executor.workers)
            candidate, report = found.failing
            if phase is not None:
                phase.append("shrink")
            if report is None:  # the ledger holds it: run it again (it must give the same history)
                again = TrialTask(0, candidate, trial_argv, scratch)
                report = next(iter(executor.map_unordered(run_task, [again])))
                held = (known or {}).get(candidate.options.seed, {}).get("history_sha256")
                if report.verdict != "invalid":
                    raise LedgerError(f"seed {candidate.options.seed} did not reproduce (the ledger says "
                                      f"invalid): it ran {report.verdict} here; nothing shrunk, no failure.txt; the "
                                      f"ledger {ledger.path if ledger else ''} does not describe this code: start a "
                                      "new ledger (drop --resume)")
                if held and held != report.outcome.history_sha256:
                    progress.note(f"explore: WARNING: seed {candidate.options.seed} gave another history than the "
                                  "ledger records (another commit or Python?)")
                if found.runs == 0 and not shrink_again:  # nothing left to run: the failure is known, maybe shrunk
                    failure = FailureReport(seed=candidate.options.seed, options=candidate.options, commit=commit(),
                                            seed_command=seed_command(candidate.options),
                                            anomaly=report.outcome.main_anomaly,
                                            history_sha256=report.outcome.history_sha256)
                    return ExploreResult(0, verdicts["unknown"], candidate.options.seed, None, None, None,
                                         time.monotonic() - started, found.lines, executor.workers, failure)
            outcome = report.outcome
            progress.note(
                f"explore: seed {candidate.options.seed} is INVALID ({_anomaly_text(outcome)}) with "
                f"{candidate.describe()}, {outcome.operations} operations"
                + (f" [{describe_workload(candidate.options)}]" if vary_workload else "")
                + f"; shrinking (at most {shrink_budget} runs"
                + (f", {executor.workers} at a time" if executor.workers > 1 else "") + ") ..."
            )

            # Begun while the seed ran (2 workers or more), else now (1 worker, a failure known from the ledger).
            result = (found.shrinker or shrinker(-1, candidate)).run(outcome)
        finally:
            trials.close()
        progress.clear()
    minimal = result.candidate
    name = "-".join(["explore", *([base.bug] if base.bug else []), f"seed{minimal.options.seed}", "shrunk"])
    final_options = attrs.evolve(minimal.options, out=base.out, name=name)
    latest = read_latest(Path(base.out))
    run_dir = new_run_dir(Path(base.out), name)
    try:
        try:
            written = run(final_options, argv, run_dir=run_dir, schedule=minimal.schedule, quiet=True, report=True)
        except (OSError, BaseExceptionGroup) as exc:  # a full disk, a directory that became read-only
            error = exc if isinstance(exc, OSError) else disk_error(exc)
            if error is None:
                raise
            raise MinimalRunError(f"explore: the minimal failing run could not be written in {base.out or '.'}: "
                                  f"{os_error_text(error)} (nothing left there)") from exc
        identical = sha256_of(written.run_dir / "history.jsonl") == result.outcome.history_sha256
        failure = FailureReport(seed=candidate.options.seed, options=candidate.options, commit=commit(),
                                seed_command=seed_command(candidate.options), anomaly=outcome.main_anomaly,
                                history_sha256=outcome.history_sha256)
        out = ExploreResult(found.runs, verdicts["unknown"], candidate.options.seed, result, written.run_dir,
                            identical, time.monotonic() - started, found.lines, executor.workers, failure)
        try:
            (written.run_dir / FAILURE_FILE).write_text("\n".join(failure_lines(out)) + "\n")
        except OSError as exc:
            raise MinimalRunError(f"explore: {written.run_dir / FAILURE_FILE} could not be written: "
                                  f"{os_error_text(exc)} (the run without it removed)") from exc
    except (MinimalRunError, RunInterrupted, KeyboardInterrupt) as exc:  # no half run in --out; latest as it was
        with signals_deferred():
            remove_run(run_dir, latest)
        if isinstance(exc, RunInterrupted):
            exc.run_dir = None  # removed: the CLI's "partial run in ..." would name what is gone
        if phase is not None and not isinstance(exc, MinimalRunError):
            phase.append("minimal")
        raise
    return out


class MinimalRunError(UsageError):
    """The minimal failing run could not be written (a full or read-only ``--out``): one line, 254; the caller
    adds the ``--resume ... --shrink-again`` command that shrinks the ledger's failure again and writes it."""


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT/SIGTERM only remembered while cleanup runs (main thread): a second Ctrl-C cannot cut it short.

    A signal that came is sent again once the handlers are back, unless an exception (the first Ctrl-C's) is
    already on its way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: came.append(signum)) for signum in SIGNALS}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    try:
        yield
    except BaseException:
        restore()
        raise
    restore()
    if came:
        signal.raise_signal(came[0])


@contextlib.contextmanager
def _cleanup(executor: SeedExecutor, scratch: str) -> Iterator[None]:
    """Close the pool (its workers killed and joined, so a cancelled trial cannot write into the scratch directory
    afterwards), then remove the scratch directory: both with the signals deferred."""
    try:
        yield
    finally:
        with signals_deferred():
            try:
                executor.close()
            finally:
                shutil.rmtree(scratch, ignore_errors=True)


def remove_run(run_dir: Path, previous: Latest | None = None) -> None:
    """Remove a minimal run explore could not finish writing, and ``latest`` if it names it (put back as it was,
    ``previous`` from ``run_dir.read_latest``, else removed), so that ``check``, ``report`` and ``replay`` of
    ``--out`` never meet a half run (run.json and nodes/ alone) and the run ``latest`` named before is named still."""
    shutil.rmtree(run_dir, ignore_errors=True)
    latest = run_dir.parent / "latest"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        named = os.readlink(latest) if latest.is_symlink() else latest.read_text().strip() if latest.is_file() else None
        if named is not None and Path(named).name == run_dir.name:
            restore_latest(run_dir.parent, previous)


def os_error_text(exc: OSError) -> str:
    """What failed, in words (``No space left on device``), with the file when the error names one."""
    return f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")


TIMING_MARK = "(depends on timing)"
"""Ends the summary lines whose figures depend on timing and --workers (the others are the same for any)."""


def _cell(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _anomaly_text(o: Outcome) -> str:
    counts = Counter(o.anomaly_types)
    return ", ".join(f"{t} x{n}" for t, n in counts.most_common()) or "no anomaly listed"


def failure_lines(result: ExploreResult) -> list[str]:
    """What reproduces the failure (printed, and written to failure.txt in the minimal run's directory)."""
    f = result.failure
    if f is None:
        return []
    return [
        f"failure: seed {f.seed}, {f.anomaly or 'invalid'}, commit {f.commit}",
        f"  options: {json.dumps(f.to_json()['options'], sort_keys=True)}",
        f"  reproduce the seed:   {f.seed_command}",
        *([f"  replay the shrunk run: {result.replay_command}"] if result.replay_command else []),
    ]


def counted(n: int, noun: str) -> str:
    """``1 worker``, ``2 workers``: a count and its noun, plural as English has it."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _runs_text(result: ExploreResult) -> str:
    """"3 runs", or after a resume "5 runs (2 in this session, 3 from the ledger)"."""
    held = len(result.lines) - result.runs
    if held <= 0:
        return counted(result.runs, "run")
    return f"{len(result.lines)} runs ({result.runs} in this session, {held} from the ledger)"


def format_report(result: ExploreResult) -> str:
    summary = summary_lines(result.lines) + ([f"  ledger: {result.ledger}"] if result.ledger is not None else [])
    if result.shrunk is None and result.failing_seed is not None:
        return "\n".join([f"explore: no seed left to run (the ledger holds all {len(result.lines)} seed(s) this sweep needs); "
                          f"its first failure, seed {result.failing_seed}, ran invalid again here "
                          "and is not shrunk again (add --shrink-again to shrink it)", *summary,
                          *failure_lines(result)])
    if result.shrunk is None:
        unknown = f" ({result.unknown} unknown)" if result.unknown else ""
        return "\n".join([f"explore: all {len(result.lines)} runs valid{unknown}; nothing found (the explore "
                          f"command took {result.wall_seconds:.0f} s of wall-clock time; "
                          f"{counted(result.workers, 'worker')})", *summary])
    s = result.shrunk
    a, b = _size(s.original, s.original_outcome), _size(s.candidate, s.outcome)
    rows = [
        f"explore: found an invalid run at seed {result.failing_seed} after {_runs_text(result)}; "
        f"shrunk in {counted(s.trials, 'trial run')}"
        + (" (budget spent; it may shrink further)" if s.exhausted else "")
        # The shrink's own wall-clock seconds, then the whole command's (the sweep of seeds before it included).
        + f" (the shrink took {s.seconds:.0f} s of wall-clock time, of the {result.wall_seconds:.0f} s this explore "
        f"command took in all, its sweep included; {counted(result.workers, 'worker')})",
        f"  anomaly kept: {s.original_outcome.main_anomaly}",
        "                 original    shrunk",
    ]
    for field in ("faults", "operations", "time_limit", "rate", "nodes", "replicas", "clients", "keys"):
        rows.append(f"  {field:<12} {_cell(a[field]):>11} {_cell(b[field]):>9}")
    rows.append(f"  anomalies: {_anomaly_text(s.original_outcome)}  ->  {_anomaly_text(s.outcome)}")
    if result.replay_identical is False:
        rows.append("  WARNING: writing the minimal run did not reproduce the trial's history byte for byte")
    if s.speculative:  # how many ran ahead unjudged depends on timing and --workers: apart, marked so
        rows.append(f"  also {s.speculative} speculative shrink run(s) whose outcome was not needed {TIMING_MARK}")
    rows += [f"  minimal failing run: {result.run_dir}", f"  replay it with: {result.replay_command}"]
    rows += summary + failure_lines(result)
    return "\n".join(rows)


# -- the command ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="harness.py explore",
        description="Run seeds 1..N (or random seeds) in sim mode, stop at the first invalid run, shrink it while it "
        "stays invalid with the same anomaly type, write it to --out and print the command that replays it. "
        f"Explore's own defaults are shorter runs: --time-limit {EXPLORE_TIME_LIMIT:g} "
        f"--fault-interval {EXPLORE_FAULT_INTERVAL:g}.",
    )
    g = parser.add_argument_group("explore")
    g.add_argument("--runs", type=int, default=100, help="number of seeds to try (default 100)")
    g.add_argument("--random", action="store_true", help="draw random seeds instead of 1..N (each is reported)")
    g.add_argument("--shrink-runs", type=int, default=100, help="budget of trial runs for shrinking (default 100)")
    g.add_argument("--json", default=None, metavar="FILE", help="also write the outcome as JSON to FILE")
    add_config_option(parser)
    g.add_argument("--vary-workload", action="store_true",
                   help="draw each seed's key size, value size, key count and distribution, and rate (up to "
                   "max: saturation) from explore's ranges, replacing those flags; what was drawn is in each "
                   "run's options, so replay reproduces it")
    add_run_options(parser)
    for action in parser._actions:
        if action.dest == "time_limit":
            action.help = f"seconds of load per run (explore's default {EXPLORE_TIME_LIMIT:g})"
        elif action.dest == "fault_interval":
            action.help = f"seconds a fault is on, then off (explore's default {EXPLORE_FAULT_INTERVAL:g})"
        elif action.dest == "mode":
            action.help = "sim (explore runs only simulated runs)"
        elif action.dest == "seed":
            action.help = "first seed (default 1): seeds S..S+N-1"
    g = parser.add_argument_group("scale and ledger")
    g.add_argument("--workers", type=int, default=None,
                   help=f"seeds run at once, each in a worker process (default every core this process may use: "
                   f"{usable_cores()}); "
                   "1 runs them in this process. The outcome does not depend on it")
    g.add_argument("--cluster", dest="cluster_address", default=None, metavar="ADDRESS",
                   help="run the seeds on that cluster of the distributed engine (needs pip install -e '.[cluster]')")
    g.add_argument("--keep-going", action="store_true",
                   help="run every seed even after a failure; failures are grouped by signature (anomaly types and "
                   "fault kinds), and the first is shrunk")
    g.add_argument("--ledger", default=None, metavar="PATH",
                   help="the seed ledger, one JSON line per seed (default <out>/explore-ledgers/<time>-<hash>.jsonl)")
    g.add_argument("--resume", default=None, metavar="LEDGER",
                   help="continue the sweep of LEDGER (same flags): run only the seeds it does not hold, "
                   "appending to it")
    g.add_argument("--resume-other-commit", action="store_true",
                   help="with --resume: take a ledger written at another commit, keeping its valid seeds and running "
                   "its failures again (their verdicts may not hold at this commit)")
    g.add_argument("--shrink-again", action="store_true",
                   help="with --resume: shrink the first failure even when the ledger held every seed (by default "
                   "it is run once to confirm it and reported)")
    parser.set_defaults(mode="sim", time_limit=EXPLORE_TIME_LIMIT, fault_interval=EXPLORE_FAULT_INTERVAL)
    return parser


def explore_command(argv: Sequence[str]) -> int:
    """``harness.py explore``: exit 1 when an invalid run was found (and shrunk), 0 when all were valid.

    SIGINT/SIGTERM are explore's from its first line: harness.py hands back the handler it started with, which
    is "ignore" in a script's background job (``cmd &``), and a signal then was lost until the sweep's guard."""
    with InterruptGuard():
        return _explore_command(argv)


def _explore_command(argv: Sequence[str]) -> int:
    parser = _parser()
    args = parser.parse_args(list(argv))
    if args.mode != "sim":
        raise OptionError(f"explore runs only simulated runs; drop --mode {args.mode} (or use --mode sim)")
    if not 1 <= args.runs <= 1_000_000:
        raise OptionError(f"--runs must be between 1 and 1,000,000, got {args.runs}")
    if args.shrink_runs < 0:
        raise OptionError(f"--shrink-runs must be zero or more, got {args.shrink_runs}")
    if args.random and args.seed is not None:
        raise OptionError("--random draws the seeds; drop --seed (or drop --random to start at --seed)")
    if args.workers is not None and args.cluster_address is not None:
        raise OptionError("--workers and --cluster both say where seeds run; give one")
    if args.workers is not None and not 1 <= args.workers <= 1024:
        raise OptionError(f"--workers must be between 1 and 1024, got {args.workers}")
    if args.resume is not None and args.random:
        raise OptionError("--resume continues seeds S..S+N-1; --random draws new seeds each time, so it cannot resume")
    if args.resume is not None and args.ledger is not None and Path(args.ledger) != Path(args.resume):
        raise OptionError("--resume LEDGER appends to that ledger; drop --ledger")
    if (args.resume_other_commit or args.shrink_again) and args.resume is None:
        raise OptionError(f"--{'resume-other-commit' if args.resume_other_commit else 'shrink-again'} goes with "
                          "--resume LEDGER")
    first = 1 if args.seed is None else args.seed
    if not (SEED_RANGE[0] <= first and first + args.runs - 1 <= SEED_RANGE[1]):
        raise OptionError(f"--seed: explore's seeds must lie in 0..2**63-1, got {first}..{first + args.runs - 1}")
    args.seed = first
    base = options_with_config(args, argv, parser)
    check_out_writable(Path(base.out))  # before the sweep: a minimal run that cannot be written lost the shrink
    if args.random:
        draw = random.SystemRandom()
        seeds = [draw.randrange(1, 2**31) for _ in range(args.runs)]
    else:
        seeds = list(range(first, first + args.runs))
    here = commit()
    phase: list[str] = []  # "shrink" once the sweep is over
    ledger_path, ledger, known = open_ledger(LedgerWriter, base, args.vary_workload, here, out=base.out,
                                             resume=args.resume, ledger=args.ledger,
                                             other_commit=args.resume_other_commit, command="explore",
                                             refuse=OptionError)
    held = sum(1 for seed in seeds if seed in known)
    try:
        workers = pool_size(args.workers, len(seeds) - held, usable_cores())
        executor = make_executor(workers, args.cluster_address)
        if ledger is None:  # created once the seeds have somewhere to run (no header-only ledger left behind)
            try:
                ledger = LedgerWriter(ledger_path, base, args.vary_workload, here)
            except BaseException:
                executor.close()
                raise
        print(f"MinikeyDB explore: {args.runs} simulated runs, seeds {_seed_text(seeds, args.random)}, nemesis "
              f"{','.join(base.nemesis) or 'none'}" + (f", bug {base.bug}" if base.bug else "")
              + f", {base.time_limit:g} virtual s each"
              + (", workload drawn per seed (--vary-workload)" if args.vary_workload else "")
              + f", {executor.workers} at a time" + (f" on {args.cluster_address}" if args.cluster_address else "")
              + (f"; resuming: {held} seed(s) already in the ledger" if args.resume else "")
              + f"; ledger {ledger_path}", file=sys.stderr, flush=True)
        with executor:
            result = explore(base, seeds, shrink_budget=args.shrink_runs, argv=["harness.py", "explore", *argv],
                             vary_workload=args.vary_workload, executor=executor, ledger=ledger, known=known,
                             keep_going=args.keep_going, shrink_again=args.shrink_again, phase=phase)
    except (LedgerWriteError, ScratchWriteError, WorkerDied) as exc:  # a full disk, a worker killed: the ledger's
        # whole lines are kept
        written = exc.written if isinstance(exc, LedgerWriteError) else ledger.written if ledger is not None else 0
        # a ledger made (even of its header alone) must be resumed: the same --ledger again is refused as not empty
        again = "" if args.random or not (written or held or ledger is not None) else \
            f"; continue with: {resume_command(argv, ledger_path, shrink_again=bool(phase))}"
        raise UsageError(f"{'' if str(exc).startswith('explore:') else 'explore: '}{exc}{again}") from None
    except MinimalRunError as exc:  # the shrink's result is lost, the failing seed is in the ledger
        again = ("; --random seeds cannot be resumed" if args.random else
                 f"; shrink it again and write it with: {resume_command(argv, ledger_path, shrink_again=True)}")
        raise MinimalRunError(f"{exc}{again}") from None
    except (RunInterrupted, KeyboardInterrupt):
        if ledger is None:
            raise
        writing = bool(phase) and phase[-1] == "minimal"
        again = ("--random seeds cannot be resumed" if args.random
                 else f"{'write it' if writing else 'continue'} with: "
                 f"{resume_command(argv, ledger_path, shrink_again=bool(phase))}")
        where = (" while the minimal failing run was being written (the shrink had finished; nothing of the run "
                 f"left in {base.out or '.'})" if writing else " while shrinking the failure" if phase else "")
        print(f"explore: interrupted{where}; the seeds done are in the ledger {ledger_path}; {again}",
              file=sys.stderr, flush=True)
        raise
    finally:
        if ledger is not None:
            ledger.close()
    result = attrs.evolve(result, ledger=ledger_path)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(result.to_json(), indent=2) + "\n")
        except OSError as exc:
            raise UsageError(f"explore: --json {args.json} could not be written: {os_error_text(exc)}") from exc
    found = result.failing_seed is not None
    code = decided(EXPLORE_EXIT_FOUND if found else EXPLORE_EXIT_ALL_VALID)  # a closed stdout must not change it
    print(format_report(result))
    return code


def resume_command(argv: Sequence[str], ledger: Path, shrink_again: bool = False) -> str:
    """The explore command line ``argv`` with ``--resume LEDGER`` in place of its --ledger/--resume (and
    ``--shrink-again`` when the sweep was over: the failure is in the ledger, its shrink was stopped)."""
    words: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in ("--ledger", "--resume"):
            skip = True
        elif not word.startswith(("--ledger=", "--resume=")):
            words.append(word)
    if shrink_again and "--shrink-again" not in words:
        words.append("--shrink-again")
    here = Path.cwd()
    harness = ROOT / "harness.py"
    if harness.parent == here.resolve():
        return shlex.join(["python", "harness.py", "explore", *words, "--resume", str(ledger)])
    # Started elsewhere: the relative paths in argv (--out, the ledger) are this directory's.
    return shlex.join(["cd", str(here)]) + " && " + shlex.join(
        ["python", str(harness), "explore", *words, "--resume", str(ledger)])


CLUSTER_MISSING = ("explore --cluster needs the optional cluster engine: pip install -e '.[cluster]' "
                   "(from the MinikeyDB checkout)")
WORKERS_PER_CORE = 4
"""At most this many local workers per core: simulated runs are CPU-bound, more only adds processes."""


def pool_size(requested: int | None, todo: int, cores: int) -> int:
    """Local workers to start: ``--workers`` (default every core), at most one per seed to run (but never
    fewer than the cores, which shrinking uses too) and ``WORKERS_PER_CORE`` per core; says when N > cores."""
    n = requested if requested is not None else cores
    used = max(1, min(n, max(todo, cores), WORKERS_PER_CORE * cores))
    if requested is not None and requested > cores:
        print(f"explore: --workers {requested} is more than the {cores} core(s) this process may use (its affinity), "
              "which the runs then share "
              f"(no faster); using {used} (at most one per seed to run, {WORKERS_PER_CORE} per core)",
              file=sys.stderr, flush=True)
    return used


def make_executor(workers: int, cluster: str | None) -> SeedExecutor:
    """``--cluster ADDRESS``: the engine's executor (imported only then); else N worker processes, or this process for 1."""
    if cluster is not None:
        try:
            engine = importlib.import_module("runner.explore_cluster")
            executor: SeedExecutor = engine.ClusterExecutor(cluster)
        except (ImportError, AttributeError) as e:  # the module, or the engine it imports, is not installed
            raise OptionError(f"{CLUSTER_MISSING} ({e})") from None
        return executor
    if workers == 1:
        return InlineExecutor()
    warm_up()
    return ProcessExecutor(workers, stall_seconds=STALL_NOTE_SECONDS)


STALL_NOTE_SECONDS = 20.0
"""A worker whose trial (CPU-bound: simulated) has used no CPU time for this long is said on stderr (a SIGSTOPped
worker made explore wait forever, silently); explore still waits for it."""


def _seed_text(seeds: Sequence[int], drawn: bool) -> str:
    if drawn:
        return "drawn at random (" + ", ".join(map(str, seeds[:3])) + (" ..." if len(seeds) > 3 else "") + ")"
    return f"{seeds[0]}..{seeds[-1]}"
