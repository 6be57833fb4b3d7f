"""One whole test run, in any mode: ``run(options)`` is the one entry (``harness.py run``, ``replay``
and ``explore`` all call it). Everything a run does is written under ``histories/<run-id>/``.

``run`` picks the mode (``MODES``: where nodes and clients live, which clock and scheduler run
them) and orchestrates what every mode shares: the run directory and run.json, the schedule, the
node log handler, the signal guard, then the phases of ``runner.phases`` (load + schedule, heal,
drain, quiesce, final reads inside the mode's Trio run; check and report after it).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import trio

from minikeydb.config import ClusterConfig
from nemesis import FaultSchedule
from nemesis.schedule import too_short

from .cluster import UdpMode
from .final_reads import FinalReadReport
from .interrupt import InterruptGuard, RunInterrupted
from .journal_writer import usable_cores
from .options import MODES as MODE_NAMES
from .options import RunOptions
from .phases import RunResult, checked_schedule, finish_or_interrupted
from .processes import ProcessesMode
from .progress import ProgressLine
from .recorder import HistoryRecorder, history_header
from .run_dir import new_run_dir, node_log_handler, run_metadata, run_name, write_failure, write_json
from .simulate import SimMode

if TYPE_CHECKING:
    from .check_process import CheckProcess

__all__ = ["MODES", "Mode", "RunResult", "run", "run_notes"]

T = TypeVar("T")


class Mode(Protocol):
    """What differs between the modes of a run; everything else is ``run``'s and ``runner.phases``'."""

    quiet_log_level: int
    """The level of node logs without ``-v``."""

    def announcement(self) -> str:
        """The line a run prints to stderr as it starts."""
        ...

    def note(self) -> str | None:
        """A warning worth printing before the run (its cost), if any."""
        ...

    def progress(self) -> ProgressLine | None:
        """The live progress line, if this mode has one."""
        ...

    def cluster(self, run_dir: Path) -> ClusterConfig:
        """The cluster of the run, and what its directory needs for it (a secret, ports)."""
        ...

    async def drive(self, config: ClusterConfig, schedule: FaultSchedule, recorder: HistoryRecorder,
                    progress: ProgressLine | None) -> FinalReadReport:
        """Start the cluster and clients, and run the phases up to the final reads (``phases.drive``)."""
        ...

    def trio_run(self, main: Callable[[], Awaitable[T]]) -> T:
        """Run ``main`` under this mode's clock and scheduler."""
        ...


CHECK_PROCESS = False
"""Check a ``sim`` run's files in a process of their own as they grow (``runner.check_process``), when the
machine has a second core: set by a single run from the command line (``runner.cli.run_command``), like
the journal's ``SIM_WRITER``. Explore's trials, replays and the tests check after the run, in the run's process."""

MODES: dict[str, Callable[[RunOptions], Mode]] = {"udp": UdpMode, "processes": ProcessesMode, "sim": SimMode}
"""Every ``--mode``, by name (``options.MODES`` lists the same names for validation and help)."""
assert tuple(MODES) == MODE_NAMES, "runner.options.MODES and runner.run.MODES must name the same modes"


def run_notes(options: RunOptions) -> list[str]:
    """Warnings to print before a run: a schedule too short for every kind asked for, a costly mode."""
    notes = []
    if options.nemesis:
        why = too_short(options.nemesis, options.time_limit, options.fault_interval)
        if why:
            notes.append(f"note: --nemesis {','.join(options.nemesis)}: {why}; the summary names the kinds left out")
    note = MODES[options.mode](options).note()
    if note:
        notes.append(note)
    return notes


def run(
    options: RunOptions,
    argv: list[str],
    *,
    run_dir: Path | None = None,
    schedule: FaultSchedule | None = None,
    quiet: bool = False,
    announce: str | None = None,
    report: bool = True,
) -> RunResult:
    """Run the whole test in ``options.mode`` and return its outcome.

    ``schedule`` replaces the one the seed would give (a replay, a shrunk run); it must fit the run
    (``phases.schedule_mismatch``). ``quiet`` prints nothing as the run starts, else ``announce`` or
    the mode's own line. ``report=False`` skips report.html.
    """
    mode = MODES[options.mode](options)
    with InterruptGuard() as guard:
        run_dir = run_dir or new_run_dir(Path(options.out), run_name(options))
        try:
            return _run(mode, options, argv, run_dir, schedule, None if quiet else announce or mode.announcement(),
                        report, guard)
        except RunInterrupted as exc:
            exc.run_dir = run_dir
            raise
        except BaseException as exc:
            failure = write_failure(exc, run_dir)  # a full disk: one line naming the file (exit 254), not a crash
            if failure is None:
                raise
            raise failure from exc


def _run(mode: Mode, options: RunOptions, argv: list[str], run_dir: Path, schedule: FaultSchedule | None,
         announce: str | None, report: bool, guard: InterruptGuard) -> RunResult:
    (run_dir / "nodes").mkdir(exist_ok=True)
    config = mode.cluster(run_dir)
    schedule = checked_schedule(schedule, options)
    # run_id ties the run's files together: the journal's header carries it too.
    write_json(run_dir / "run.json", {"run_id": run_dir.name, **run_metadata(options, config, schedule, argv)})
    if announce:
        print(announce, file=sys.stderr, flush=True)
    progress = mode.progress()
    follower = None
    # Not with the linearizability checker: its time limit (--check-time-limit) would count the run's own time.
    if CHECK_PROCESS and options.mode == "sim" and "linearizable" not in options.checkers and usable_cores() > 1:
        from .check_process import CheckProcess
        from .journal import JOURNAL_NAME

        try:
            follower = CheckProcess(run_dir / "history.jsonl", None if options.journal_level == "off" else
                                    run_dir / JOURNAL_NAME, options.checkers, report)
        except OSError:  # no process could be started (out of memory, processes): the run checks its files itself
            follower = None
    try:
        return _drive_and_finish(mode, options, run_dir, config, schedule, progress, report, guard, follower)
    finally:
        if follower is not None:
            follower.close()


def _drive_and_finish(mode: Mode, options: RunOptions, run_dir: Path, config: ClusterConfig, schedule: FaultSchedule,
                      progress: ProgressLine | None, report: bool, guard: InterruptGuard,
                      follower: CheckProcess | None) -> RunResult:
    started = time.monotonic()

    async def main() -> tuple[FinalReadReport | None, HistoryRecorder]:
        recorder = HistoryRecorder(run_dir / "history.jsonl", history_header(options.conflict, options.workload))
        final: FinalReadReport | None = None
        try:
            with trio.CancelScope() as scope:
                guard.attach(scope)
                final = await mode.drive(config, schedule, recorder, progress)
        finally:
            recorder.close()
        return final, recorder

    handler = node_log_handler(run_dir, options.verbose, mode.quiet_log_level)
    guard.defer()
    try:
        final, recorder = mode.trio_run(main)
    finally:
        guard.detach()
        logging.getLogger().removeHandler(handler)
        handler.close()
        if progress is not None:
            progress.clear()
    return finish_or_interrupted(options, run_dir, final, recorder, time.monotonic() - started, guard,
                                 report=report, follower=follower)
