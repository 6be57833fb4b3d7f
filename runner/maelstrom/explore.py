"""``harness.py maelstrom explore -w WORKLOAD --bin PATH --runs N [maelstrom test flags]``: search seeds of a node.

Every seed is a different real-time Maelstrom run of the same configuration (operations, values,
fault schedule, per-message fault draws all follow from the seed). Explore runs seeds S..S+N-1
(``--seed S``, default 1) on a ``SeedExecutor`` (``--workers W``: runs at once, each in a worker
process; they mostly wait, so more than the cores is fine), writes each seed's line to the ledger
(``runner.explore_ledger``, the format of ``harness.py explore``; the options hash also covers the
mode and the node program's sha256), stops at the first invalid seed in seed order (``--keep-going``:
runs them all; failures are grouped by signature), runs that seed again to see how often it fails,
and shrinks it (``runner.maelstrom.explore_shrink``: smaller configurations, each kept only when it
fails again on re-runs). The minimal failing run is then run once more into ``--out`` as a normal
Maelstrom run directory (``check``, ``report``, ``replay`` work on it) with a failure.txt, and the
summary prints the command that replays it and how many times it reproduced out of how many tries:
a real-time run reproduces only as far as the node itself is deterministic.

Exit 1 when an invalid run was found, 0 when none was (unknown verdicts, a node that broke the
protocol, are counted and reported, not shrunk), 2 when every run was unknown; 130 on Ctrl-C, after which ``--resume
LEDGER`` runs only the seeds the ledger does not hold.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from runner import ROOT
from runner.exit_codes import EXIT_UNKNOWN, EXPLORE_EXIT_ALL_VALID, EXPLORE_EXIT_FOUND
from runner.explore import ExploreProgress, os_error_text, remove_run
from runner.explore_ledger import (
    SEED_RANGE,
    LedgerError,
    LedgerWriter,
    commit,
    open_ledger,
    seed_line,
    summary_lines,
)
from runner.explore_pool import InlineExecutor, ProcessExecutor, SeedExecutor
from runner.explore_trial import disk_error
from runner.interrupt import InterruptGuard, RunInterrupted
from runner.journal_writer import usable_cores
from runner.run_dir import new_run_dir, read_latest
from runner.shrink import Outcome, fails_like
from runner.usage import Parser, UsageError

from . import proctree
from .command import MaelstromOptions, bin_problem, options_from_args, parser, schedule_for
from .explore_shrink import MaelstromShrink, shrink
from .explore_trial import MaelstromCandidate, MaelstromTask, MaelstromTrial, anomaly_text, run_trial, warm_up

EXPLORE_TIME_LIMIT = 10.0
"""Explore's default --time-limit (maelstrom test's is Maelstrom's 60 s): many seeds, each real time."""
EXPLORE_NEMESIS_INTERVAL = 2.0
"""Explore's default --nemesis-interval (maelstrom test's is 10 s): several fault windows per run."""
WORKERS_PER_CORE = 2
"""Default runs at once per core: a Maelstrom run mostly waits (load at a rate, quiescence, gossip)."""
MAX_DEFAULT_WORKERS = 8
MAX_WORKERS_PER_CORE = 4
"""At most this many workers per core, whatever --workers says (``harness.py explore``'s bound)."""
WRITE_TRIES = 3
"""Runs at most of the minimal configuration into --out until one fails like the trials did."""
FAILURE_FILE = "failure.txt"


@attrs.frozen
class LedgerOptions:
    """What the ledger hashes for a Maelstrom sweep: the options, the mode, and the node program's bytes."""

    options: MaelstromOptions
    bin_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {**self.options.to_json(), "mode": "maelstrom", "bin_sha256": self.bin_sha256}


def bin_digest(path: str) -> str:
    """sha256 of the node program (a ledger of another program is refused on --resume)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise UsageError(f"--bin {path}: cannot read it ({exc.strerror or exc})") from None


def seed_command(options: MaelstromOptions) -> str:
    """The one ``harness.py maelstrom test`` that runs this seed again (as far as the node is deterministic)."""
    default = MaelstromOptions(workload=options.workload, bin=options.bin)
    words = ["python", "harness.py", "maelstrom", "test", "-w", options.workload, "--bin", options.bin,
             "--seed", str(options.seed), "--time-limit", f"{options.time_limit:g}"]
    flags = (("node_count", "--node-count"), ("rate", "--rate"), ("concurrency", "--concurrency"),
             ("latency", "--latency"), ("latency_dist", "--latency-dist"), ("topology", "--topology"),
             ("availability", "--availability"), ("nemesis_interval", "--nemesis-interval"),
             ("partition", "--partition"), ("crash_targets", "--crash-targets"), ("quiesce", "--quiesce"))
    for field, flag in flags:
        value = getattr(options, field)
        if field == "concurrency" and value == options.node_count:
            continue  # the flag's default, 1n
        if field in ("nemesis_interval", "partition", "crash_targets") and not options.nemesis:
            continue  # no fault is injected: these change nothing
        if value != getattr(default, field) and value is not None:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if options.nemesis:
        words += ["--nemesis", ",".join(options.nemesis)]
    if options.args:
        words += ["--", *options.args]
    return shlex.join(words)


def candidate_for(base: MaelstromOptions, seed: int) -> MaelstromCandidate:
    options = attrs.evolve(base, seed=seed)
    return MaelstromCandidate(options, schedule_for(options))


@attrs.frozen
class Reproduction:
    """How often a configuration failed the same way, out of how many runs."""

    failed: int
    tries: int

    def text(self) -> str:
        return f"{self.failed} of {self.tries}"


@attrs.frozen
class ExploreResult:
    runs: int
    """Seeds run in this session (a resumed ledger's not counted)."""
    lines: list[dict[str, Any]]
    """The ledger lines of the sweep's seeds (run here or held by the resumed ledger)."""
    workers: int
    wall_seconds: float
    failing_seed: int | None = None
    original: MaelstromCandidate | None = None
    original_outcome: Outcome | None = None
    seed_again: Reproduction | None = None
    """The failing seed run again: how many of those runs failed the same way."""
    seed_ran: bool = False
    """The failing seed's sweep run was in this session (not known from the ledger)."""
    shrunk: MaelstromShrink | None = None
    run_dir: Path | None = None
    written: Reproduction | None = None
    """Runs of the minimal configuration into --out (until one failed): how many failed."""
    commit: str = ""
    ledger: Path | None = None
    reasons: dict[int, str] = attrs.field(factory=dict)
    """Why seeds run here were unknown or invalid (the results' reason), by seed."""

    @property
    def replay_command(self) -> str | None:
        return None if self.run_dir is None else f"python harness.py replay {self.run_dir}"

    @property
    def minimal_reproduction(self) -> Reproduction | None:
        """The runs of the kept configuration made after the run that chose it: its confirmations (a shrunk one's)
        or re-runs (the seed's), and the runs writing it. The run that chose it (the seed's sweep run, the
        candidate's first shrink run) is left out: it was picked because it failed, and would only inflate it."""
        if self.written is None:
            return None
        if self.shrunk is not None and self.shrunk.steps:
            confirmations = max(0, self.shrunk.kept_tries - 1)
            before = Reproduction(confirmations, confirmations)
        else:
            before = self.seed_again or Reproduction(0, 0)
        return Reproduction(before.failed + self.written.failed, before.tries + self.written.tries)

    @property
    def reproduction_counts(self) -> str:
        """What ``minimal_reproduction`` counts, in words."""
        written = self.written or Reproduction(0, 0)
        if self.shrunk is not None and self.shrunk.steps:
            n = max(0, self.shrunk.kept_tries - 1)
            return (f"its {n} confirmation(s) and the {written.tries} run(s) writing it; the shrink run that chose "
                    "it is not counted")
        again = self.seed_again or Reproduction(0, 0)
        return (f"the seed's {again.tries} re-run(s) and the {written.tries} run(s) writing it; the seed's sweep run "
                "is not counted")

    def to_json(self) -> dict[str, Any]:
        from runner.explore_ledger import findings

        out: dict[str, Any] = {
            "mode": "maelstrom", "runs": self.runs, "seeds": len(self.lines), "workers": self.workers,
            "wall_seconds": round(self.wall_seconds, 2), "failing_seed": self.failing_seed,
            "ledger": None if self.ledger is None else str(self.ledger),
            "findings": [{"signature": f.signature, "witnesses": len(f.seeds), "seeds": list(f.seeds),
                          "anomalies": f.anomalies} for f in findings(self.lines)],
            "run_dir": None if self.run_dir is None else str(self.run_dir), "replay_command": self.replay_command,
        }
        if self.original is not None:
            out["failure"] = {"seed": self.failing_seed, "commit": self.commit,
                              "options": _public(self.original.options), "seed_command": seed_command(self.original.options),
                              "anomaly": None if self.original_outcome is None else self.original_outcome.main_anomaly}
        if self.seed_again is not None:
            out["seed_reproduced"] = {"failed": self.seed_again.failed, "tries": self.seed_again.tries}
        if self.shrunk is not None:
            s = self.shrunk
            out.update({"anomaly": s.original_outcome.main_anomaly, "original": _size(s.original, s.original_outcome),
                        "shrunk": _size(s.candidate, s.outcome), "shrink_trials": s.trials, "shrink_runs": s.runs,
                        "shrink_speculative": s.speculative, "shrink_budget_exhausted": s.exhausted,
                        "steps": [step.reduction for step in s.steps]})
        minimal = self.minimal_reproduction
        if minimal is not None:
            out["minimal_reproduced"] = {"failed": minimal.failed, "tries": minimal.tries}
        return out


def _public(options: MaelstromOptions) -> dict[str, Any]:
    data = options.to_json()
    data.pop("out", None)
    return data


def _size(c: MaelstromCandidate, o: Outcome) -> dict[str, Any]:
    opts = c.options
    return {"faults": o.faults, "fault_kinds": sorted({w.kind for w in c.schedule.windows}),
            "operations": o.operations, "time_limit": opts.time_limit, "rate": "max" if opts.rate == 0 else opts.rate,
            "nodes": opts.node_count, "clients": opts.concurrency, "latency": opts.latency,
            "anomalies": dict(Counter(o.anomaly_types))}


# -- the sweep --------------------------------------------------------------------------------


@attrs.frozen
class Sweep:
    lines: list[dict[str, Any]]
    runs: int
    failing: tuple[int, MaelstromTrial | None] | None
    """The first failing seed (sweep order) and its trial when it ran here (None: known from the ledger)."""
    reasons: dict[int, str]


class MaelstromLedger(LedgerWriter):
    """The explore ledger, with a Maelstrom seed's ``reason`` (why it was not valid) on its line."""

    def add_trial(self, trial: MaelstromTrial) -> dict[str, Any]:
        line = seed_line(trial.report, self.hash, self.commit)
        if trial.reason and trial.report.verdict != "valid":
            line["reason"] = trial.reason[:500]
        self._write(line)
        return line


def sweep(base: MaelstromOptions, seeds: Sequence[int], executor: SeedExecutor, *, argv: tuple[str, ...],
          scratch: str, progress: ExploreProgress, ledger: MaelstromLedger | None,
          known: dict[int, dict[str, Any]], keep_going: bool) -> Sweep:
    """Run the seeds not ``known``, writing each to the ledger in seed order; unless ``keep_going``, stop
    feeding seeds past the first failing one (every seed before it still finishes)."""
    todo = [(i, seed) for i, seed in enumerate(seeds) if seed not in known]
    first_fail = min((i for i, seed in enumerate(seeds) if known.get(seed, {}).get("verdict") == "invalid"),
                     default=None)
    lines: dict[int, dict[str, Any]] = {i: known[seed] for i, seed in enumerate(seeds) if seed in known}
    counts: Counter[str] = Counter()
    waiting: dict[int, MaelstromTrial] = {}
    failing_trial: MaelstromTrial | None = None
    reasons: dict[int, str] = {}
    written = 0

    def wanted(i: int) -> bool:
        return keep_going or first_fail is None or i <= first_fail

    def tasks() -> Iterator[MaelstromTask]:
        for i, seed in todo:
            if not wanted(i):
                return
            yield MaelstromTask(i, candidate_for(base, seed), argv, scratch)

    def write(trial: MaelstromTrial) -> None:
        report = trial.report
        line = ledger.add_trial(trial) if ledger is not None else seed_line(report, "", "")
        lines[report.index] = line
        counts[report.verdict] += 1
        if trial.reason and report.verdict != "valid":
            reasons[report.seed] = trial.reason
        progress.update(sum(counts.values()), report.seed, counts)

    results = executor.map_unordered(run_trial, tasks())
    try:
        for trial in results:
            waiting[trial.report.index] = trial
            if trial.report.verdict == "invalid" and (first_fail is None or trial.report.index < first_fail):
                first_fail, failing_trial = trial.report.index, trial
            while written < len(todo) and todo[written][0] in waiting:
                i = todo[written][0]
                if wanted(i):
                    write(waiting.pop(i))
                written += 1
            if written == len(todo) or not wanted(todo[written][0]):
                break
    except BaseException:
        for i in sorted(waiting):  # interrupted: what arrived out of order is a result too (resume skips it)
            if wanted(i) and i not in lines:
                write(waiting[i])
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    ordered = [lines[i] for i in sorted(lines) if wanted(i)]
    failing = None
    if first_fail is not None:
        seed = seeds[first_fail]
        failing = (seed, failing_trial if failing_trial is not None and failing_trial.report.seed == seed else None)
    return Sweep(ordered, sum(counts.values()), failing, reasons)


# -- explore ----------------------------------------------------------------------------------


def again(executor: SeedExecutor, candidate: MaelstromCandidate, times: int, argv: tuple[str, ...], scratch: str,
          anomaly: str | None) -> tuple[Reproduction, Outcome | None]:
    """Run ``candidate`` ``times`` more times (at once, on the workers): how many failed like ``anomaly``, and the
    first failing run's outcome."""
    if times <= 0:
        return Reproduction(0, 0), None
    failed = 0
    first: Outcome | None = None
    tasks = [MaelstromTask(i, candidate, argv, scratch, anomaly) for i in range(times)]
    for trial in executor.map_unordered(run_trial, tasks):
        if fails_like(trial.report.outcome, anomaly):
            failed += 1
            if first is None:
                first = trial.report.outcome
    return Reproduction(failed, times), first


def write_minimal(candidate: MaelstromCandidate, out: str, anomaly: str | None, argv: list[str],
                  note: Any) -> tuple[Path, Reproduction]:
    """Run the minimal configuration into ``out`` as a normal run directory (report.html too), again (at most
    ``WRITE_TRIES`` runs) while it does not fail like the trials did; the directories that did not are removed.
    A run that cannot be written is removed with ``latest`` put back as it was before the first attempt, as
    harness explore does."""
    from .command import run

    previous = read_latest(Path(out))
    name = f"maelstrom-{candidate.options.workload}-explore-seed{candidate.options.seed}-shrunk"
    options = attrs.evolve(candidate.options, out=out)
    failed = 0
    for attempt in range(1, WRITE_TRIES + 1):
        run_dir = new_run_dir(Path(out), name)
        try:
            outcome = run(options, run_dir, argv, schedule=candidate.schedule, report=True)
        except (OSError, BaseExceptionGroup) as exc:  # a full disk: no half run left in --out
            error = exc if isinstance(exc, OSError) else disk_error(exc)
            if error is None:
                raise
            remove_run(run_dir, previous)
            raise UsageError(f"maelstrom explore: the minimal failing run could not be written in {out}: "
                             f"{os_error_text(error)} (nothing left there)") from exc
        results = outcome["results"]
        from .explore_trial import anomaly_types

        if results.get("valid") is False and (anomaly is None or anomaly in anomaly_types(results)):
            failed += 1
            return run_dir, Reproduction(failed, attempt)
        if attempt < WRITE_TRIES:
            note(f"  writing the minimal run: run {attempt} did not fail like the trials "
                 f"({results.get('valid')}); running it again")
            shutil.rmtree(run_dir, ignore_errors=True)
    return run_dir, Reproduction(failed, WRITE_TRIES)


def explore(base: MaelstromOptions, seeds: Sequence[int], executor: SeedExecutor, *, argv: list[str],
            shrink_budget: int, confirm: int, ledger: MaelstromLedger | None = None,
            known: dict[int, dict[str, Any]] | None = None, keep_going: bool = False,
            shrink_again: bool = False, stream: TextIO | None = None,
            phase: list[str] | None = None) -> ExploreResult:
    """Run ``seeds``, then re-run, shrink and write the first failure (see the module docstring).
    ``phase`` gets "shrink" appended once the sweep is over (what an interruption stopped)."""
    started = time.monotonic()
    known = known or {}
    progress = ExploreProgress(sum(1 for s in seeds if s not in known), stream)
    trial_argv = tuple(argv)
    here = commit()
    # closing(executor): the pool is closed (its workers killed and joined) before the scratch directory is
    # removed, so a cancelled trial a worker still runs cannot write into it afterwards and leave it behind.
    with tempfile.TemporaryDirectory(prefix="maelstrom-explore-", ignore_cleanup_errors=True) as scratch, \
            contextlib.closing(executor), InterruptGuard():
        found = sweep(base, seeds, executor, argv=trial_argv, scratch=scratch, progress=progress, ledger=ledger,
                      known=known, keep_going=keep_going)
        progress.clear()
        if phase is not None:
            phase.append("shrink")
        result = ExploreResult(found.runs, found.lines, executor.workers, 0.0, commit=here, reasons=found.reasons)
        if found.failing is None:
            return attrs.evolve(result, wall_seconds=time.monotonic() - started)
        seed, trial = found.failing
        candidate = candidate_for(base, seed)
        line = next((x for x in found.lines if x.get("seed") == seed), {})
        anomalies = line.get("anomalies") or {}
        if trial is not None:
            anomaly = trial.report.outcome.main_anomaly
        else:  # the ledger's counts (first seen first): the commonest, as Outcome.main_anomaly picks
            anomaly = Counter(anomalies).most_common(1)[0][0] if anomalies else None
        times = max(1, confirm) if trial is None else confirm
        progress.note(f"explore: seed {seed} is INVALID ("
                      + (anomaly_text(trial.report.outcome) if trial is not None else
                         ", ".join(f"{k} x{v}" for k, v in Counter(anomalies).most_common()) or "from the ledger")
                      + f") with {candidate.describe()}"
                      + (f"; running it {times} more time(s) to see how often it fails" if times else ""))
        seed_again, first = again(executor, candidate, times, trial_argv, scratch, anomaly)
        outcome = trial.report.outcome if trial is not None else first
        result = attrs.evolve(result, failing_seed=seed, original=candidate, original_outcome=outcome,
                              seed_again=seed_again, seed_ran=trial is not None)
        if seed_again.tries:
            progress.note(f"  seed {seed} failed again in {seed_again.text()} re-run(s)")
        if outcome is None:  # the ledger says invalid, and it did not fail here: as harness.py explore, refused
            raise LedgerError(
                f"seed {seed} is invalid in the ledger but failed in none of {seed_again.tries} re-run(s) here: "
                f"nothing shrunk, no failure.txt (a real-time run reproduces only as far as the node is "
                f"deterministic; or the ledger {ledger.path if ledger else ''} was edited): try more --confirm, or "
                "start a new ledger (drop --resume)")
        if found.runs == 0 and not shrink_again:
            return attrs.evolve(result, wall_seconds=time.monotonic() - started)
        minimal = candidate
        if seed_again.tries == 0 or seed_again.failed > 0:
            progress.note(f"explore: shrinking seed {seed} (at most {shrink_budget} trials, each kept only if it fails "
                          f"in {1 + confirm} run(s) of it, {executor.workers} at a time) ...")

            def on_trial(n: int, reduction: str, c: MaelstromCandidate, t: MaelstromTrial, why: str | None) -> None:
                if why is None:
                    progress.note(f"  shrink {n}: {reduction}: still {anomaly_text(t.report.outcome)} in "
                                  f"{t.failures} of {t.tries} run(s) -> {c.describe()}")
                else:
                    progress.note(f"  shrink {n}: {reduction}: no ({why})")

            shrunk = shrink(candidate, outcome, executor, argv=trial_argv, scratch=scratch, budget=shrink_budget,
                            confirm=confirm, on_trial=on_trial)
            result = attrs.evolve(result, shrunk=shrunk)
            minimal = shrunk.candidate
        else:
            progress.note(f"explore: seed {seed} did not fail again in {seed_again.tries} re-run(s): not shrunk (the "
                          "node is not deterministic enough for its failure to be kept reliably); writing it as it is")
        previous = read_latest(Path(base.out))  # what latest named before the minimal run: put back if it fails
        run_dir, written = write_minimal(minimal, base.out, anomaly, argv, progress.note)
    result = attrs.evolve(result, run_dir=run_dir, written=written, wall_seconds=time.monotonic() - started)
    try:
        (run_dir / FAILURE_FILE).write_text("\n".join(failure_lines(result)) + "\n")
    except OSError as exc:
        remove_run(run_dir, previous)
        raise UsageError(f"maelstrom explore: {run_dir / FAILURE_FILE} could not be written: {os_error_text(exc)} "
                         "(the run without it removed)") from exc
    return result


# -- the report -------------------------------------------------------------------------------

REAL_TIME_NOTE = ("a real-time run reproduces only as far as the node itself is deterministic: the harness's choices "
                  "(operations, values, fault schedule, per-message fault draws) follow from the seed, the node's "
                  "threads, clocks and timing do not")


def failure_lines(result: ExploreResult) -> list[str]:
    """What reproduces the failure (printed, and written to failure.txt in the minimal run's directory)."""
    if result.original is None:
        return []
    anomaly = None if result.original_outcome is None else result.original_outcome.main_anomaly
    rows = [f"failure: seed {result.failing_seed}, {anomaly or 'invalid'}, commit {result.commit}",
            f"  options: {json.dumps(_public(result.original.options), sort_keys=True)}",
            f"  reproduce the seed:   {seed_command(result.original.options)}"]
    if result.replay_command:
        rows.append(f"  replay the shrunk run: {result.replay_command}")
    minimal = result.minimal_reproduction
    if minimal is not None:
        rows.append(f"  the minimal run failed in {minimal.text()} run(s) of it after it was chosen "
                    f"({result.reproduction_counts}); {REAL_TIME_NOTE}")
    return rows


def _cell(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def format_report(result: ExploreResult) -> str:
    summary = summary_lines(result.lines) + ([f"  ledger: {result.ledger}"] if result.ledger is not None else [])
    unknown = [f"  unknown: seed {s}: {r[:200]}" for s, r in sorted(result.reasons.items())
               if any(x.get("seed") == s and x.get("verdict") == "unknown" for x in result.lines)][:5]
    took = f"({result.wall_seconds:.0f} s, {result.workers} worker(s))"
    if result.failing_seed is None:
        verdicts = Counter(x.get("verdict") for x in result.lines)
        if not verdicts["valid"]:
            head = (f"maelstrom explore: every one of the {len(result.lines)} runs was UNKNOWN: the node never "
                    f"completed a run (see the reasons below) {took}")
        else:
            head = (f"maelstrom explore: no invalid run in {len(result.lines)} seed(s) ({verdicts['valid']} valid"
                    + (f", {verdicts['unknown']} unknown" if verdicts["unknown"] else "") + f"); nothing found {took}")
        return "\n".join([head, *summary, *unknown])
    again = result.seed_again or Reproduction(0, 0)
    if result.run_dir is None:
        return "\n".join([f"maelstrom explore: no seed left to run (the ledger holds all {len(result.lines)}); its "
                          f"first failure, seed {result.failing_seed}, failed again in {again.text()} re-run(s) and is "
                          "not shrunk again (add --shrink-again to shrink it)", *summary, *unknown,
                          *failure_lines(result)])
    rows = [f"maelstrom explore: found an invalid run at seed {result.failing_seed} after {len(result.lines)} seed(s) "
            f"({result.runs} run in this session) {took}",
            f"  seed {result.failing_seed} failed again in {again.text()} re-run(s)" if again.tries else
            f"  seed {result.failing_seed} was not run again (--confirm 0)"]
    s = result.shrunk
    if s is not None:
        a, b = _size(s.original, s.original_outcome), _size(s.candidate, s.outcome)
        rows += [f"  shrunk in {s.trials} trial(s), {s.runs} run(s)"
                 + (f" (+{s.speculative} cancelled or unjudged)" if s.speculative else "")
                 + (" (budget spent; it may shrink further)" if s.exhausted else "")
                 + f"; steps: {', '.join(step.reduction for step in s.steps) or 'none kept'}",
                 f"  anomaly kept: {s.original_outcome.main_anomaly}",
                 "                 original    shrunk"]
        for field in ("faults", "operations", "time_limit", "rate", "nodes", "clients", "latency"):
            rows.append(f"  {field:<12} {_cell(a[field]):>11} {_cell(b[field]):>9}")
        rows.append(f"  fault kinds: {','.join(a['fault_kinds']) or 'none'}  ->  {','.join(b['fault_kinds']) or 'none'}")
        rows.append(f"  anomalies: {anomaly_text(s.original_outcome)}  ->  {anomaly_text(s.outcome)}")
    minimal = result.minimal_reproduction
    written = result.written or Reproduction(0, 0)
    if written.failed == 0:
        rows.append(f"  WARNING: the minimal configuration did not fail in any of the {written.tries} run(s) writing "
                    "it; the directory holds its last (not failing) run")
    if minimal is not None:
        rows.append(f"  reproduced: the minimal run failed in {minimal.text()} run(s) of it after it was chosen "
                    f"({result.reproduction_counts})")
    rows += [f"  note: {REAL_TIME_NOTE}",
             f"  minimal failing run: {result.run_dir}", f"  replay it with: {result.replay_command}",
             *summary, *unknown, *failure_lines(result)]
    return "\n".join(rows)


# -- the command ------------------------------------------------------------------------------


def node_sweeper(workers: list[int]) -> Callable[[], None]:
    """Before workers are SIGKILLed (Ctrl-C, a cancelled trial): the processes under them, read while the tree is
    whole; returns what SIGKILLs those of them that carry a node's mark once the workers are dead.

    A killed worker's nodes die with it (``PR_SET_PDEATHSIG``), but what a node started (a helper, in its group or
    a session of its own) did not: the worker's own cleanup never ran. The mark (``proctree.MARK_VAR`` in the
    environment) is checked again at the kill, so that a pid freed and reused meanwhile is left alone."""
    under = proctree.descendants(workers)

    def sweep() -> None:
        for pid in under:
            if _has_node_mark(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    return sweep


def _has_node_mark(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return any(entry.startswith(proctree.MARK_VAR.encode() + b"=") for entry in f.read().split(b"\0"))
    except OSError:
        return False


def default_workers(cores: int) -> int:
    return max(1, min(WORKERS_PER_CORE * cores, MAX_DEFAULT_WORKERS))


def pool_size(requested: int | None, todo: int, cores: int) -> int:
    """Workers to start: ``--workers`` (default ``default_workers``), at most one per seed to run (but never
    fewer than the cores, which the re-runs and shrink trials use too) and ``MAX_WORKERS_PER_CORE`` per core, as
    ``harness.py explore`` allows; says so in one line when that is fewer than asked (each worker is a
    process of about 30 MB, with its nodes' processes beside it)."""
    n = requested if requested is not None else default_workers(cores)
    used = max(1, min(n, max(todo, cores), MAX_WORKERS_PER_CORE * cores))
    if requested is not None and used < requested:
        print(f"maelstrom explore: --workers {requested}: using {used} (at most one per seed to run, {todo} here, "
              f"but no fewer than the {cores} core(s), and {MAX_WORKERS_PER_CORE} per core)", file=sys.stderr,
              flush=True)
    return used


def add_explore_flags(g: Any) -> None:
    """Explore's own flags (on explore's parser, and alone on the parser that splits them from maelstrom test's)."""
    cores = usable_cores()
    g.add_argument("--runs", type=int, default=20, metavar="N", help="number of seeds to try (default 20)")
    g.add_argument("--workers", type=int, default=None, metavar="W",
                   help=f"runs at once, each in a worker process (default {WORKERS_PER_CORE} per core, at most "
                   f"{MAX_DEFAULT_WORKERS}: {default_workers(cores)} here; a run mostly waits); 1 runs them in this "
                   f"process; at most one per seed to run (never under the cores) and {MAX_WORKERS_PER_CORE} per "
                   "core. More runs at once load the machine, which a node's timing may feel")
    g.add_argument("--shrink-runs", type=int, default=30, metavar="N",
                   help="budget of shrink trials (default 30; 0: no shrinking)")
    g.add_argument("--confirm", type=int, default=1, metavar="K",
                   help="re-runs a failing shrink candidate must fail too to be kept, and re-runs of the failing "
                   "seed (default 1; 0 keeps a candidate that failed once)")
    g.add_argument("--keep-going", action="store_true",
                   help="run every seed even after a failure; failures are grouped by signature (anomaly types and "
                   "fault kinds), and the first is shrunk")
    g.add_argument("--ledger", default=None, metavar="PATH",
                   help="the seed ledger, one JSON line per seed (default <out>/explore-ledgers/<time>-<hash>.jsonl)")
    g.add_argument("--resume", default=None, metavar="LEDGER",
                   help="continue the sweep of LEDGER (same flags, same node program): run only the seeds it does "
                   "not hold, appending to it")
    g.add_argument("--resume-other-commit", action="store_true",
                   help="with --resume: take a ledger written at another commit, keeping its valid seeds")
    g.add_argument("--shrink-again", action="store_true",
                   help="with --resume: shrink the first failure even when the ledger held every seed")
    g.add_argument("--json", default=None, metavar="FILE", help="also write the outcome as JSON to FILE")


def explore_parser() -> Parser:
    p = parser()
    p.prog = "harness.py maelstrom explore"
    p.description = (
        "Run seeds S..S+N-1 of a Maelstrom node (each a real-time run of maelstrom test with that seed), write each "
        "seed's result to a ledger, stop at the first invalid run (seed order), run it again to see how often it "
        "fails, shrink it (shorter time limit, fewer fault windows and kinds, lower rate, fewer nodes and clients, "
        "each kept only when it fails again), write the minimal failing run to --out as a normal run directory, "
        "and print the command that replays it. A real-time run reproduces only as far as the node is "
        "deterministic: the summary says how many runs of the minimal one failed. Explore's own defaults: "
        f"--time-limit {EXPLORE_TIME_LIMIT:g} --nemesis-interval {EXPLORE_NEMESIS_INTERVAL:g}; the other flags "
        "are maelstrom test's. Exit 1: an invalid run was found; 0: none (unknown runs, a node breaking the "
        "protocol, are counted and reported); 2: every run was unknown; 254: bad flags; 130: Ctrl-C (then --resume "
        "LEDGER runs only the seeds the ledger lacks).")
    for action in p._actions:
        if action.dest == "time_limit":
            action.help = f"seconds of load per run (explore's default {EXPLORE_TIME_LIMIT:g})"
        elif action.dest == "nemesis_interval":
            action.help = f"seconds per fault window and between them (explore's default {EXPLORE_NEMESIS_INTERVAL:g})"
        elif action.dest == "seed":
            action.help = "first seed (default 1): seeds S..S+N-1"
    p.set_defaults(time_limit=EXPLORE_TIME_LIMIT, nemesis_interval=EXPLORE_NEMESIS_INTERVAL)
    add_explore_flags(p.add_argument_group("explore"))
    return p


def test_argv(argv: Sequence[str], args: argparse.Namespace) -> list[str]:
    """``argv`` without explore's own flags: ``maelstrom test``'s, with explore's defaults first (a flag given
    later wins; first, they never land among the binary's own arguments after --)."""
    only = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_explore_flags(only)
    _, rest = only.parse_known_args(list(argv))
    return ["--time-limit", repr(float(args.time_limit)), "--nemesis-interval", repr(float(args.nemesis_interval)),
            *rest]


def check_flags(args: Any) -> None:
    """One line naming the flag, for every explore flag out of range."""
    if not 1 <= args.runs <= 1_000_000:
        raise UsageError(f"--runs must be between 1 and 1,000,000, got {args.runs}")
    if args.workers is not None and not 1 <= args.workers <= 256:
        raise UsageError(f"--workers must be between 1 and 256, got {args.workers}")
    if args.shrink_runs < 0:
        raise UsageError(f"--shrink-runs must be zero or more, got {args.shrink_runs}")
    if not 0 <= args.confirm <= 20:
        raise UsageError(f"--confirm must be between 0 and 20, got {args.confirm}")
    if args.resume is not None and args.ledger is not None and Path(args.ledger) != Path(args.resume):
        raise UsageError("--resume LEDGER appends to that ledger; drop --ledger")
    if (args.resume_other_commit or args.shrink_again) and args.resume is None:
        raise UsageError(f"--{'resume-other-commit' if args.resume_other_commit else 'shrink-again'} goes with "
                         "--resume LEDGER")
    first = 1 if args.seed is None else args.seed
    if not (SEED_RANGE[0] <= first and first + args.runs - 1 <= SEED_RANGE[1]):
        raise UsageError(f"--seed: explore's seeds must lie in 0..2**63-1, got {first}..{first + args.runs - 1}")


def resume_command(argv: Sequence[str], ledger: Path, shrink_again: bool = False) -> str:
    """This explore's command line with ``--resume LEDGER`` in place of its --ledger/--resume (and
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
    # --resume goes before the words, so that it never lands among the node's own arguments (after --)
    head = ["python", "harness.py", "maelstrom", "explore", "--resume", str(ledger)]
    if shrink_again and "--shrink-again" not in words:
        head.append("--shrink-again")
    if (ROOT / "harness.py").parent == Path.cwd().resolve():
        return shlex.join(head + words)
    return shlex.join(["cd", str(Path.cwd())]) + " && " + shlex.join(
        ["python", str(ROOT / "harness.py"), *head[2:], *words])


def explore_command(argv: Sequence[str]) -> int:
    """``harness.py maelstrom explore``: exit 1 when an invalid run was found, 0 when none was, 2 when every run
    was unknown.

    SIGINT/SIGTERM are explore's from its first line: harness.py hands back the handler it started with, which
    is "ignore" in a script's background job (``cmd &``), and a signal then was lost until the sweep's guard."""
    with InterruptGuard():
        return _explore_command(list(argv))


def _explore_command(argv: list[str]) -> int:
    p = explore_parser()
    args = p.parse_args(argv)
    check_flags(args)
    base = options_from_args(test_argv(argv, args))
    problem = bin_problem(base.bin)
    if problem is not None:
        raise UsageError(problem)
    first = 1 if args.seed is None else args.seed
    base = attrs.evolve(base, seed=first)
    seeds = list(range(first, first + args.runs))
    hashed = LedgerOptions(base, bin_digest(base.bin))
    here = commit()
    ledger_path, ledger, known = open_ledger(MaelstromLedger, hashed, False, here, out=base.out, resume=args.resume,
                                             ledger=args.ledger, other_commit=args.resume_other_commit,
                                             command="maelstrom explore", refuse=UsageError)
    held = sum(1 for seed in seeds if seed in known)
    workers = pool_size(args.workers, len(seeds) - held, usable_cores())
    if workers > 1:
        warm_up()
    executor: SeedExecutor = InlineExecutor() if workers == 1 else ProcessExecutor(workers, before_kill=node_sweeper)
    phase: list[str] = []
    try:
        if ledger is None:
            ledger = MaelstromLedger(ledger_path, hashed, False, here)
        print(f"maelstrom explore: {args.runs} real-time run(s) of {base.bin} ({base.workload}), seeds "
              f"{seeds[0]}..{seeds[-1]}, {base.node_count} node(s), nemesis {','.join(base.nemesis) or 'none'}, "
              f"{base.time_limit:g} s each, {executor.workers} at a time"
              + (f"; resuming: {held} seed(s) already in the ledger" if args.resume else "")
              + f"; ledger {ledger_path}", file=sys.stderr, flush=True)
        with executor:
            result = explore(base, seeds, executor, argv=["harness.py", "maelstrom", "explore", *argv],
                             shrink_budget=args.shrink_runs, confirm=args.confirm, ledger=ledger, known=known,
                             keep_going=args.keep_going, shrink_again=args.shrink_again, phase=phase)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        if isinstance(exc, RunInterrupted):
            exc.run_dir = None
        if ledger is None:  # stopped before the ledger was made: no seed ran
            print("\nmaelstrom explore: interrupted before any seed ran; no ledger was written", file=sys.stderr,
                  flush=True)
            raise
        again = resume_command(argv, ledger_path, shrink_again=bool(phase))
        print(f"\nmaelstrom explore: interrupted{' while shrinking the failure' if phase else ''}; every run stopped; "
              f"the seeds done are in the ledger {ledger_path}; continue with: {again}", file=sys.stderr, flush=True)
        raise
    finally:
        executor.close()
        if ledger is not None:
            ledger.close()
    result = attrs.evolve(result, ledger=ledger_path)
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    from minikeydb.cli import decided

    if result.failing_seed is not None:
        code = decided(EXPLORE_EXIT_FOUND)
    elif not any(x.get("verdict") == "valid" for x in result.lines):
        code = decided(EXIT_UNKNOWN)  # nothing was tested: every run broke off
    else:
        code = decided(EXPLORE_EXIT_ALL_VALID)
    print(format_report(result))
    return code

