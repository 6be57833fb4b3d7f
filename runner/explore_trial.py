"""One explore trial, as a worker runs it: ``run_task(TrialTask) -> TrialReport``.

A trial is a seed of the sweep or a shrink candidate: its options and fault schedule (a
``Candidate``). It runs in a scratch directory that is deleted afterwards, without report.html,
and comes back as a small picklable ``TrialReport``, never the history: the outcome shrinking
needs (verdict, anomaly types, operations, faults, the history's sha256), the anomaly signature,
how many fault windows changed something (results.json's ``faults`` block, from the journal), and
the virtual and wall seconds. ``run_task`` is module-level so that any ``SeedExecutor`` (a forked
worker, a cluster's) can run it.
"""

from __future__ import annotations

import errno
import importlib
import logging
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import orjson

from .interrupt import RunInterrupted
from .options import OptionError
from .phases import RunResult
from .replay import sha256_of
from .shrink import Candidate, Outcome


@attrs.frozen
class TrialTask:
    """What a worker needs to run one trial."""

    index: int
    """The trial's place in its sweep or shrink round: results come back in completion order."""
    candidate: Candidate
    argv: tuple[str, ...]
    scratch: str | None = None
    """Where the trial's run directory goes (deleted after); None or a missing directory: the system's temp."""

    @property
    def label(self) -> str:
        """What names the trial in an error line (its repr runs to a kilobyte): a seed of the sweep, or a shrink
        candidate (explore numbers those below 0: run ahead while its seed runs, or in the shrink)."""
        if self.index < 0:
            return f"a shrink candidate of seed {self.candidate.options.seed} (run ahead of, or in, its shrink)"
        return f"seed {self.candidate.options.seed}"


@attrs.frozen
class TrialReport:
    """What a trial gave, small enough to send back from a worker."""

    index: int
    seed: int
    outcome: Outcome
    fault_kinds: tuple[str, ...]
    """Kinds of the fault windows not shown to have changed nothing (those that bit, or could not be told)."""
    bite: dict[str, int]
    """Fault windows: ``windows``, ``bit`` (changed something), ``inert`` (changed nothing), ``unknown``."""
    virtual_seconds: float
    wall_seconds: float

    @property
    def verdict(self) -> str:
        return {True: "valid", False: "invalid"}.get(self.outcome.valid, "unknown")  # type: ignore[call-overload]

    @property
    def faults_changed_nothing(self) -> bool:
        """There were fault windows and every one of them was seen to change nothing."""
        return self.bite["windows"] > 0 and self.bite["inert"] == self.bite["windows"]

    @property
    def signature(self) -> str:
        """Anomaly types and the fault kinds involved: what makes many failing seeds one finding."""
        return signature(self.outcome.anomaly_types, self.fault_kinds)


def signature(anomaly_types: tuple[str, ...] | list[str], fault_kinds: tuple[str, ...] | list[str]) -> str:
    anomalies = ",".join(sorted(set(anomaly_types))) or "no anomaly listed"
    return f"{anomalies} | faults: {','.join(sorted(set(fault_kinds))) or 'none'}"


def history_figures(history: Path) -> tuple[int, float]:
    """Client operations invoked during the load (final reads and nemesis events aside), and the
    virtual seconds the history covers (its last event's time)."""
    count = 0
    last = b""
    with history.open("rb") as lines:
        for line in lines:
            if line.strip():
                last = line
            if b'"invoke"' not in line:
                continue
            event = orjson.loads(line)
            if event.get("type") == "invoke" and event.get("process") != "nemesis" and not event.get("final"):
                count += 1
    virtual = orjson.loads(last).get("time", 0) / 1e9 if last else 0.0
    return count, float(virtual)


def bite_of(results: dict[str, Any], schedule_kinds: tuple[str, ...]) -> tuple[dict[str, int], tuple[str, ...]]:
    """Counts of fault windows that bit, changed nothing or could not be told, and the kinds involved."""
    block = results.get("faults") or {}
    windows = block.get("bite") or []
    bit = sum(1 for w in windows if w.get("bit") is True)
    inert = sum(1 for w in windows if w.get("bit") is False)
    counts = {"windows": len(windows), "bit": bit, "inert": inert, "unknown": len(windows) - bit - inert}
    if windows:
        kinds = tuple(sorted({str(w.get("kind")) for w in windows if w.get("bit") is not False}))
    else:
        kinds = tuple(sorted(set(schedule_kinds)))
    return counts, kinds


def report_of(index: int, candidate: Candidate, result: RunResult, wall: float) -> TrialReport:
    history = result.run_dir / "history.jsonl"
    anomalies = result.results.get("anomalies") or []
    operations, virtual = history_figures(history)
    outcome = Outcome(
        valid=result.results.get("valid"),
        anomaly_types=tuple(str(a.get("type", "?")) for a in anomalies),
        operations=operations,
        faults=len(candidate.schedule.windows),
        history_sha256=sha256_of(history),
    )
    bite, kinds = bite_of(result.results, tuple(w.kind for w in candidate.schedule.windows))
    return TrialReport(index, candidate.options.seed, outcome, kinds, bite, virtual, wall)


TRIAL_IMPORTS = ("runner.run", "checker.api", "checker.convergence", "checker.journal", "checker.journal_figures",
                 "checker.report")
"""What a run imports only when it first checks: imported once before workers are forked, so that each
(a replaced one too) does not import and compile them again on its first trial."""


def warm_up() -> None:
    """Import what a trial needs, in this process, before it forks workers."""
    for name in TRIAL_IMPORTS:
        importlib.import_module(name)


DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})
"""The OS errors of a scratch directory a trial cannot write in (full, over quota, read-only, failing): the
machine's, not the harness's, so a ``ScratchWriteError`` (exit 254), never an internal error."""


class ScratchWriteError(OptionError):
    """A trial's run could not be written in explore's scratch directory (``$TMPDIR`` full, read-only): one line
    naming the directory and the OS error. An ``OptionError``, so a worker sends it back as it is."""


def disk_error(exc: BaseException) -> OSError | None:
    """The first OS error of ``DISK_ERRORS`` in ``exc`` (Trio may wrap it in an exception group), else None."""
    if isinstance(exc, OSError):
        return exc if exc.errno in DISK_ERRORS else None
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = disk_error(inner)
            if found is not None:
                return found
    return None


def scratch_error(label: str, scratch: Path, error: OSError, command: str = "explore") -> ScratchWriteError:
    """The one line for trial ``label`` (``seed 3``) that could not be written in ``scratch`` (named by the
    directory it is in, ``$TMPDIR``'s, when it is explore's own ``minikeydb-explore-*`` or ``maelstrom-explore-*``)."""
    where = scratch.parent if scratch.name.startswith(("minikeydb-", "maelstrom-")) else scratch
    return ScratchWriteError(f"{command}: the trial of {label} could not be written in explore's scratch directory "
                             f"under {where} ($TMPDIR): {error.strerror or error}"
                             + (f" ({error.filename})" if error.filename else "")
                             + "; make room there, or set TMPDIR to a directory with room")


def run_task(task: TrialTask) -> TrialReport:
    """Run one trial in a scratch directory (deleted after) and report it.

    A scratch directory that fills up (or cannot be written) is a ``ScratchWriteError``. The trial's node log
    handler reports none of its write errors (``logging.raiseExceptions`` off while it runs: they printed a
    ``--- Logging error ---`` traceback to explore's stderr); the log is deleted with the trial anyway."""
    from .run import (
        run,  # the run machinery: already imported in a forked worker, imported once in a fresh one
    )

    scratch = Path(task.scratch) if task.scratch and Path(task.scratch).is_dir() else Path(tempfile.gettempdir())
    raising, logging.raiseExceptions = logging.raiseExceptions, False
    out: Path | None = None
    started = time.perf_counter()
    try:
        # An --out of its own: trials running at once in one --out raced on its `latest` link.
        out = Path(tempfile.mkdtemp(prefix="trial-", dir=scratch))
        options = attrs.evolve(task.candidate.options, out=str(out), name="trial")
        run_dir = out / "run"
        run_dir.mkdir()
        try:
            result = run(options, list(task.argv), run_dir=run_dir, schedule=task.candidate.schedule, quiet=True,
                         report=False)
        except RunInterrupted as exc:
            exc.run_dir = None  # a scratch trial, deleted below: nothing to point at
            raise
        return report_of(task.index, task.candidate, result, time.perf_counter() - started)
    except (OSError, BaseExceptionGroup) as exc:
        error = disk_error(exc)
        if error is None:
            raise
        raise scratch_error(task.label, scratch, error) from exc
    finally:
        logging.raiseExceptions = raising
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)


def anomaly_counts(types: tuple[str, ...]) -> dict[str, int]:
    """Anomaly types and their counts, in the order ``Counter`` ranks ties (first seen first)."""
    return dict(Counter(types))
