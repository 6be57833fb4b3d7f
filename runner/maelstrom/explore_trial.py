"""One trial of ``harness.py maelstrom explore``, as a worker runs it: ``run_trial(MaelstromTask) -> MaelstromTrial``.

A trial is a seed of the sweep or a shrink candidate: Maelstrom options and a fault schedule (a
``MaelstromCandidate``), run for real (node processes, real time) by ``command.run`` in a scratch
directory that is deleted afterwards, without report.html. It comes back small and picklable: a
``runner.explore_trial.TrialReport`` (what the ledger's seed line is made of: verdict, anomaly
types, operations, history sha256, signature, fault windows), the reason of a verdict that is not
valid, and, for a shrink candidate asked to ``confirm``, how many runs of it were made and how many
of them failed the same way: a failing candidate is run again, up to ``confirm`` times, while it
keeps failing, since a real-time run reproduces only as far as the node is deterministic.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from checker.findings import plural
from nemesis import FaultSchedule
from runner.explore_trial import TrialReport, disk_error, history_figures, scratch_error
from runner.interrupt import RunInterrupted
from runner.replay import sha256_of
from runner.shrink import Outcome, fails_like

from .command import MaelstromOptions

MESSAGE_FAULTS = ("partition", "drop", "delay", "duplicate", "reorder")
"""Kinds that act on messages: a run whose fault counters stayed at zero shows they changed nothing."""
STRUCK = ("dropped", "delayed", "duplicated", "reordered", "partitioned", "held_by_pause", "pause_overflow")
"""The router's ``FaultModel`` counters that say a message fault struck."""
NEVER_OK = "never-ok"
"""The anomaly type of a run that is invalid because a kind of operation never succeeded (the stats rule)."""
NOT_AVAILABLE = "not-available"
"""The anomaly type of a run that is invalid under ``--availability total`` only."""


@attrs.frozen
class MaelstromCandidate:
    """One Maelstrom run to try: its options (seed included) and the fault schedule it carries out."""

    options: MaelstromOptions
    schedule: FaultSchedule

    @property
    def faults(self) -> int:
        return len(self.schedule.windows)

    def key(self) -> str:
        """Identity for "already tried" (everything but where the run is written)."""
        data = self.options.to_json()
        data.pop("out", None)
        return repr((sorted(data.items()), self.schedule.to_json()))

    def describe(self) -> str:
        o = self.options
        kinds = ",".join(dict.fromkeys(w.kind for w in self.schedule.windows))
        rate = "max" if o.rate == 0 else f"{o.rate:g}"
        return (f"{plural(self.faults, 'fault window')}{f' ({kinds})' if kinds else ''}, {o.time_limit:g} s at "
                f"{rate} ops/s, {plural(o.node_count, 'node')}, {plural(o.concurrency, 'client')}"
                + (f", latency {o.latency:g} ms" if o.latency else ""))


@attrs.frozen
class MaelstromTask:
    """What a worker needs to run one trial."""

    index: int
    """The trial's place in its sweep or shrink round: results come back in completion order."""
    candidate: MaelstromCandidate
    argv: tuple[str, ...]
    scratch: str | None = None
    anomaly: str | None = None
    """What a run must show to count as failing the same way (None: any invalid verdict)."""
    confirm: int = 0
    """Runs again (while it keeps failing) a run that failed: how sure a shrink step is."""

    @property
    def label(self) -> str:
        """What names the trial in an error line."""
        return f"seed {self.candidate.options.seed}"


@attrs.frozen
class MaelstromTrial:
    """What a trial gave, small enough to send back from a worker."""

    report: TrialReport
    """The first run's (the ledger's line is made of it)."""
    reason: str | None = None
    """Why the first run is not valid, in the results' words (a node failure, the stats rule), if it says."""
    tries: int = 1
    failures: int = 0
    """Of ``tries`` runs, how many failed the same way (``MaelstromTask.anomaly``)."""

    @property
    def always_failed(self) -> bool:
        return self.failures == self.tries


def anomaly_types(results: dict[str, Any]) -> tuple[str, ...]:
    """The anomaly types of a Maelstrom run's results; an invalid run that lists none gets the rule that failed it."""
    types = tuple(str(a.get("type", "?")) for a in results.get("anomalies") or [])
    if types or results.get("valid") is not False:
        return types
    reason = str(results.get("reason") or "")
    if reason.startswith("some kind of operation never succeeded"):
        return (NEVER_OK,)
    if reason.startswith("--availability total"):
        return (NOT_AVAILABLE,)
    return ("invalid",)


def bite(results: dict[str, Any], schedule: FaultSchedule) -> tuple[dict[str, int], tuple[str, ...]]:
    """Fault windows (``windows``, ``bit``, ``inert``, ``unknown``) and the kinds involved, as far as a run shows.

    The router counts message faults for the whole run, not per window: when no message fault struck,
    the message-fault windows changed nothing; otherwise they cannot be told apart. A crash or a pause
    always changes the node (a crash loses its memory).
    """
    windows = schedule.windows
    if not windows:
        return {"windows": 0, "bit": 0, "inert": 0, "unknown": 0}, ()
    struck = any((results.get("maelstrom", {}).get("faults") or {}).get(k) for k in STRUCK)
    counts = {"windows": len(windows), "bit": 0, "inert": 0, "unknown": 0}
    kinds: set[str] = set()
    for w in windows:
        if w.kind not in MESSAGE_FAULTS:
            counts["bit"] += 1
            kinds.add(w.kind)
        elif struck:
            counts["unknown"] += 1
            kinds.add(w.kind)
        else:
            counts["inert"] += 1
    return counts, tuple(sorted(kinds))


def _once(task: MaelstromTask, out: Path, n: int) -> tuple[TrialReport, str | None]:
    from .command import run

    run_dir = out / f"run{n}"
    run_dir.mkdir()
    options = attrs.evolve(task.candidate.options, out=str(out))
    started = time.perf_counter()
    try:
        outcome = run(options, run_dir, list(task.argv), schedule=task.candidate.schedule, report=False)
    except RunInterrupted as exc:
        exc.run_dir = None  # a scratch trial, deleted: nothing to point at
        raise
    wall = time.perf_counter() - started
    results = outcome["results"]
    history = run_dir / "history.jsonl"
    operations, seconds = history_figures(history) if history.is_file() else (0, 0.0)
    result = Outcome(valid=results.get("valid"), anomaly_types=anomaly_types(results), operations=operations,
                     faults=task.candidate.faults, history_sha256=sha256_of(history) if history.is_file() else "")
    counts, kinds = bite(results, task.candidate.schedule)
    report = TrialReport(task.index, task.candidate.options.seed, result, kinds, counts, seconds, wall)
    reason = None if results.get("valid") is True else results.get("reason")
    return report, None if reason is None else str(reason)


def run_trial(task: MaelstromTask) -> MaelstromTrial:
    """Run one trial (and its confirmations) in a scratch directory, deleted after, and report it."""
    scratch = Path(task.scratch) if task.scratch and Path(task.scratch).is_dir() else Path(tempfile.gettempdir())
    out: Path | None = None
    try:
        out = Path(tempfile.mkdtemp(prefix="maelstrom-trial-", dir=scratch))
        report, reason = _once(task, out, 0)
        tries, failures = 1, int(fails_like(report.outcome, task.anomaly))
        while failures == tries and tries <= task.confirm:
            again, _ = _once(task, out, tries)
            tries += 1
            failures += int(fails_like(again.outcome, task.anomaly))
        return MaelstromTrial(report, reason, tries, failures)
    except (OSError, BaseExceptionGroup) as exc:  # a full $TMPDIR: one line, exit 254 (a worker sends it back as is)
        error = disk_error(exc)
        if error is None:
            raise
        raise scratch_error(task.label, scratch, error, "maelstrom explore") from exc
    finally:
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)


TRIAL_IMPORTS = ("runner.maelstrom.command", "checker.api", "checker.convergence", "checker.set_full",
                 "checker.counter", "trio")
"""What a trial imports: imported once before workers are forked, so that each starts warm."""


def warm_up() -> None:
    import importlib

    for name in TRIAL_IMPORTS:
        importlib.import_module(name)


def anomaly_text(o: Outcome) -> str:
    counts = Counter(o.anomaly_types)
    return ", ".join(f"{t} x{n}" for t, n in counts.most_common()) or "no anomaly listed"
