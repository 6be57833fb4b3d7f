"""The phases of a run, the same in every mode, as in Jepsen:

1. **load + schedule** (``drive``): client processes operate at the rate while the fault schedule
   (``make_schedule``, or a given one that ``schedule_mismatch`` found fit) runs;
2. **heal**: the schedule ends by undoing every fault and recording ``heal``;
3. **drain**: workers finish the operation they are in (so no invocation is left open) and stop;
4. **quiesce**: nothing happens for ``--quiesce`` seconds while the repair mechanisms work;
5. **final reads**: every key from each of its replicas, polling until they agree;
6. **check** and **report** (``finish``): the checker reads ``history.jsonl`` (the same file anyone
   can check later); results.json, report.html, ``histories/latest``. A signal on the way is
   recorded by ``finish_or_interrupted``.

``runner.run`` orchestrates them; the modes (``runner.run.MODES``) only say where nodes and
clients live and which clock runs them.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from minikeydb.client import Client
from minikeydb.config import ClusterConfig
from minikeydb.ring import shared_ring
from minikeydb.testing.seeds import Seeds
from minikeydb.transport import Transport
from minikeydb.wire import Codec
from nemesis import ClusterControl, FaultSchedule, NetworkFaultControl, run_schedule
from nemesis.schedule import check_recorded_schedule

from .conflict_workload import workload_class
from .final_reads import FinalReadReport, final_reads
from .interrupt import InterruptGuard, RunInterrupted

if TYPE_CHECKING:
    from .check_process import CheckProcess
from .node_logs import scan_node_logs
from .options import OptionError, RunOptions
from .progress import ProgressLine
from .recorder import HistoryRecorder
from .run_dir import record_achieved, update_latest, write_json
from .workload import REAL_TIME, KeySpace, Pace

log = logging.getLogger("runner")


@attrs.define
class RunResult:
    """What a finished run returns: where it is, what it ran, its verdict (results.json) and figures."""

    run_dir: Path
    options: RunOptions
    results: dict[str, Any]
    final: FinalReadReport
    faults: dict[str, int]
    elapsed: float
    throughput: dict[str, Any] = attrs.Factory(dict)
    """Requested and achieved rates, per window and first-vs-last trend (``HistoryRecorder.throughput``)."""
    scan: Any = None
    """The summary's counts and latencies (``runner.scan._Scan``), when the check's pass gathered
    them from the whole history; None: the summary reads the history itself."""


def make_schedule(options: RunOptions, node_ids: tuple[str, ...]) -> FaultSchedule:
    """The seed's own fault schedule for a run of ``options`` (no windows without ``--nemesis``)."""
    rng = Seeds(options.seed).rng("schedule")
    if not options.nemesis:
        return FaultSchedule(node_ids, options.time_limit, options.fault_interval, ())
    try:
        return FaultSchedule.generate(
            rng, list(options.nemesis), list(node_ids), options.time_limit, options.fault_interval,
            options.partition, crash_targets=options.crash_targets,
        )
    except ValueError as exc:  # e.g. a partition of one node
        raise OptionError(f"--nemesis {','.join(options.nemesis)} with --nodes {options.nodes}: {exc}") from None


def run_nodes(options: RunOptions) -> tuple[str, ...]:
    """The node ids of a run: ``n1..nN`` in every mode."""
    return tuple(f"n{i + 1}" for i in range(options.nodes))


def schedule_mismatch(schedule: FaultSchedule, options: RunOptions) -> str | None:
    """Why ``schedule`` cannot be carried out by a run of ``options``, or None when it can.

    Its nodes must be the run's ``n1..nN``, and its time limit the run's (it governs how long the
    load lasts). ``checked_schedule`` and ``replay`` call it; the check itself is the nemesis's one
    check of a recorded schedule, ``nemesis.schedule.check_recorded_schedule``.
    """
    try:
        check_recorded_schedule(schedule, run_nodes(options), options.time_limit)
    except ValueError as exc:
        return str(exc)
    return None


def checked_schedule(schedule: FaultSchedule | None, options: RunOptions) -> FaultSchedule:
    """The schedule to carry out: the given one (checked against the run), or the seed's own."""
    if schedule is None:
        return make_schedule(options, run_nodes(options))
    problem = schedule_mismatch(schedule, options)
    if problem:
        raise OptionError(problem)
    return schedule


async def drive(
    options: RunOptions,
    config: ClusterConfig,
    schedule: FaultSchedule,
    recorder: HistoryRecorder,
    network: NetworkFaultControl,
    control: ClusterControl,
    client_transport: Transport,
    codec: Codec,
    progress: ProgressLine | None,
    *,
    pace: Pace = REAL_TIME,
    walls: Mapping[str, Callable[[], float]] | None = None,
) -> FinalReadReport:
    """The phases common to every mode, once the cluster is up and the client has a transport.

    ``pace`` is how workers wait between operations (simulation: on the network's grid).
    ``walls`` are the nodes' wall clocks: a write sent to node X is stamped with X's clock, as by
    a client running beside X, so the clock-skew nemesis skews what X's clients write.
    """
    keys = KeySpace(options.keys, options.key_size_spec, Seeds(options.seed).rng("key-size"))
    ring = shared_ring(config.node_ids, config.replicas, config.vnodes)
    async with Client.connect(config, transport=client_transport, codec=codec,
                              rng=Seeds(options.seed).rng("client"), walls=walls) as client:
        workload = workload_class(options.conflict, options.workload)(
            client, recorder, Seeds(options.seed).rng("workload"), nodes=list(config.node_ids),
            keys=keys, key_dist=options.key_dist, mix=options.mix, rate=options.rate,
            concurrency=options.concurrency, pace=pace, value_size=options.value_size_spec,
            value_rng=Seeds(options.seed).rng("value-size"),
        )
        async with trio.open_nursery() as nursery:
            if progress is not None:
                nursery.start_soon(progress.run, recorder, options.time_limit)
            load = trio.CancelScope()

            async def load_phase() -> None:
                recorder.start_load()
                with load:
                    await workload.run()

            nursery.start_soon(load_phase)
            await run_schedule(schedule, network, control, recorder.nemesis)
            workload.stop()
            with trio.move_on_after(config.timeouts.client + 1.0):
                await workload.drained()
            load.cancel()
            if progress is not None:
                progress.phase = "quiescing"
            await trio.sleep(options.quiesce)
            if progress is not None:
                progress.phase = "final reads"
            report = await final_reads(client, recorder, workload, ring, workload.touched_keys(),
                                       options.converge_timeout, conflict=options.conflict, kind=options.workload)
            nursery.cancel_scope.cancel()
    return report


def finish_or_interrupted(options: RunOptions, run_dir: Path, final: FinalReadReport | None,
                          recorder: HistoryRecorder, elapsed: float, guard: InterruptGuard, *,
                          report: bool = True, follower: CheckProcess | None = None) -> RunResult:
    """``finish`` the run, or, if a signal stopped it, record it as interrupted and raise ``RunInterrupted``."""
    done: list[str] = []
    try:
        guard.check()
        assert final is not None
        return finish(options, run_dir, final, recorder, elapsed, report=report, done=done, follower=follower)
    except RunInterrupted as exc:
        if "results.json" in done:
            exc.results_note = keep_verdict_interrupted(run_dir, exc.signal_name, done, report=report)
            update_latest(Path(options.out), run_dir)
        else:
            write_interrupted(options, run_dir, recorder, exc.signal_name)
        raise


def keep_verdict_interrupted(run_dir: Path, signal_name: str, done: list[str], *, report: bool) -> str:
    """A signal after the verdict was written: keep it, and record the interruption and what is missing.

    Returns what results.json now says, for the CLI's one line. A half-written report.html is removed:
    a file that exists is a complete one.
    """
    missing = [] if not report or "report.html" in done else ["report.html"]
    for name in missing:
        (run_dir / name).unlink(missing_ok=True)
    path = run_dir / "results.json"
    results = json.loads(path.read_text())
    results["interrupted"] = {"signal": signal_name, "completed": list(done), "missing": missing}
    write_json(path, results)
    verdict = {True: "VALID", False: "INVALID"}.get(results.get("valid"), "UNKNOWN")
    return f"verdict {verdict} kept, marked interrupted" + (f"; {', '.join(missing)} not written" if missing else "")


def write_interrupted(options: RunOptions, run_dir: Path, recorder: HistoryRecorder, signal_name: str) -> None:
    """results.json of a run a signal stopped: verdict unknown, reason interrupted, what the load did.

    Rates are over the load time actually run, not the time limit the signal cut short.
    """
    ran = min(options.time_limit, recorder.load_seconds or 0.0)
    throughput = recorder.throughput(ran, options.rate)
    throughput["load_seconds"] = round(ran, 3)
    results = {
        "valid": "unknown",
        "reason": "interrupted",
        "signal": signal_name,
        "explanation": f"the run was stopped by {signal_name} after {recorder.closed_at or 0.0:.1f} s; the history "
                       f"holds the {recorder.index} events recorded until then (not checked)",
        "anomalies": [],
        "stats": {"workload": throughput},
    }
    if recorder.journal is not None:
        results["journal"] = recorder.journal
    write_json(run_dir / "results.json", results)
    update_latest(Path(options.out), run_dir)


class _Unreadable(Exception):
    """The run's history.jsonl is gone or no regular file (`_not_a_regular_file` says why)."""


def _not_a_regular_file(history: Path) -> str | None:
    """Why the run's own history.jsonl cannot be read as the file the run wrote (it was removed, or replaced
    by something that is no regular file: opening a FIFO would wait for a writer for ever), else None."""
    try:
        mode = history.stat().st_mode
    except OSError as exc:
        return f"{history}: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else f"{history}: no longer a regular file"


def _history_unreadable(exc: Exception) -> dict[str, Any]:
    """results.json of a run whose history.jsonl was changed, removed or replaced on disk while it ran: no
    verdict (unknown), and why, in the words of the reader's error."""
    return {
        "valid": "unknown",
        "reason": "history-unreadable",
        "explanation": f"the run's history could not be checked: {exc} (history.jsonl was changed, removed or "
                       "replaced on disk while the run wrote it; the run itself holds no other copy)",
        "anomalies": [],
        "stats": {},
    }


def finish(options: RunOptions, run_dir: Path, final: FinalReadReport, recorder: HistoryRecorder,
           elapsed: float, *, report: bool = True, done: list[str] | None = None,
           follower: CheckProcess | None = None) -> RunResult:
    """Check the recorded history, write results.json and report.html, point ``latest`` here.

    ``done`` receives the name of each file once it is complete (what a signal did not cut short).
    ``follower`` (``runner.check_process``) has checked the files as they grew: its result is taken
    when it has one, else the history is checked here.
    """
    done = [] if done is None else done
    from checker.api import harness_run_options
    from checker.report import check_for_report, write_report

    # A get of null means the key is absent in this store: harness_run_options says so. The check
    # gathers report.html's plot data in its own pass when the report is written (one read, not two).
    from .scan import Scanner

    history = run_dir / "history.jsonl"
    scanner = Scanner()  # the summary's figures, gathered in the same pass (not a read of its own)
    ahead = follower.result(recorder.journal) if follower is not None else None
    if follower is not None and follower.failure is not None:
        log.debug("the check process gave no result (%s): checking here", follower.failure)
    unreadable = None if ahead is not None else _not_a_regular_file(history)
    if ahead is not None:
        checked, prepared, scan = ahead
        results = checked.results
    else:
        from checker.api import check
        from checker.history import HistoryError

        try:
            if unreadable is not None:
                raise _Unreadable(unreadable)
            if report:
                checked, prepared = check_for_report(history, harness_run_options(options.checkers),
                                                     watch=scanner.watch, run_journal=recorder.journal)
            else:
                checked, prepared = check(history, harness_run_options(options.checkers), watch=scanner.watch,
                                          run_journal=recorder.journal), None
            results = checked.results
        except (HistoryError, _Unreadable) as exc:  # changed on disk behind the run's back: no verdict, said, not a crash
            results, prepared = _history_unreadable(exc), None
        scan = scanner.scan if scanner.complete and "reason" not in results else None
    results.setdefault("stats", {})["final_reads"] = attrs.asdict(final)
    throughput = recorder.throughput(options.time_limit, options.rate)
    results["stats"]["workload"] = throughput
    results["stats"]["node_logs"] = scan_node_logs(run_dir / "nodes")
    if recorder.journal is not None:
        results["journal"] = recorder.journal
    write_json(run_dir / "results.json", results)
    done.append("results.json")
    record_achieved(run_dir / "run.json", throughput)
    if report:
        try:
            write_report(run_dir, results, prepared=prepared)
            done.append("report.html")
        except Exception as exc:  # the verdict stands even if a plot fails; say so (a signal is no Exception)
            log.warning("report.html could not be written: %s", exc)
            (run_dir / "report.html").unlink(missing_ok=True)
    update_latest(Path(options.out), run_dir)
    return RunResult(run_dir, options, results, final, dict(recorder.faults), elapsed, throughput, scan)
