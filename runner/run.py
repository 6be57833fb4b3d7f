"""One whole test run: cluster, workload and nemesis for the time limit; heal; quiesce; final
reads; verdict; report. Everything a run does is written under ``histories/<run-id>/``.

The phases, as in Jepsen:

1. **load**: client processes operate at the rate while the fault schedule runs;
2. **heal**: the schedule ends by undoing every fault and recording ``heal``; workers finish the
   operation they are in (so no invocation is left open) and stop;
3. **quiesce**: nothing happens for ``--quiesce`` seconds while the repair mechanisms work;
4. **final reads**: every key from each of its replicas, polling until they agree;
5. **verdict**: the checker reads ``history.jsonl`` (the same file anyone can check later).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from minikeydb.client import Client
from minikeydb.config import ClusterConfig, NodeConfig, Timeouts
from minikeydb.ring import Ring
from minikeydb.testing.seeds import Seeds
from minikeydb.transport import Transport, UdpTransport, free_udp_ports
from minikeydb.wire import Codec
from nemesis import (
    ClusterControl,
    FaultSchedule,
    FaultyNetwork,
    InProcessControl,
    NetworkFaultControl,
    SkewableClock,
    run_schedule,
)

from .cluster import InProcessCluster, NodeBackend, UdpBackend
from .final_reads import FinalReadReport, final_reads
from .interrupt import InterruptGuard, RunInterrupted
from .journal import JournalControl, journal_open, open_journal
from .node_logs import scan_node_logs
from .options import OptionError, RunOptions
from .progress import ProgressLine
from .recorder import HistoryRecorder
from .workload import REAL_TIME, KeySpace, Pace, Workload

log = logging.getLogger("runner")

SECRET_NAME = "cluster.secret"


@attrs.define
class RunResult:
    run_dir: Path
    options: RunOptions
    results: dict[str, Any]
    final: FinalReadReport
    faults: dict[str, int]
    elapsed: float
    throughput: dict[str, Any] = attrs.Factory(dict)
    """Requested and achieved rates, per window and first-vs-last trend (``HistoryRecorder.throughput``)."""


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+,=")


def check_run_name(name: str) -> None:
    """A run name is one plain path component: no ``/``, no ``..``, nothing hidden."""
    if not name or name.startswith(".") or not set(name) <= _NAME_CHARS:
        raise OptionError(
            f"--name must be a plain name of letters, digits and . _ - + , = (not starting with a dot, no "
            f"'/'), got {name!r}; use --out to choose the directory it goes in"
        )


def new_run_dir(out: Path, name: str) -> Path:
    """``<out>/<UTC time>-<name>``, unique even when two runs start in the same second.

    A directory that cannot be made (``--out`` is a file, read-only, ...) is a usage error
    (``OptionError``, exit 254) named after the flag, raised before anything starts.
    """
    check_run_name(name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        if out.exists() and not out.is_dir():
            raise OptionError(f"--out {out}: is a file, not a directory")
        out.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            candidate = out / (f"{stamp}-{name}" if attempt == 0 else f"{stamp}-{name}-{attempt}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(out) else ""
        raise OptionError(
            f"--out {out}: cannot create a run directory there: {exc.strerror or exc}{where}"
        ) from None
    raise OptionError(f"--out {out}: 1000 run directories named {stamp}-{name} already exist")


def run_name(options: RunOptions) -> str:
    if options.name:
        return options.name
    parts = ["-".join(options.nemesis) if options.nemesis else "none"]
    if options.bug:
        parts.append(options.bug)
    if options.mode != "udp":
        parts.append(options.mode)
    return "-".join(parts)




def cluster_config(options: RunOptions, run_dir: Path, ports: list[int] | None = None) -> ClusterConfig:
    """The run's cluster: ``n1..nN`` on loopback, data and secret inside the run directory."""
    ports = ports or [10_000 + i for i in range(options.nodes)]
    nodes = tuple(NodeConfig(f"n{i + 1}", "127.0.0.1", port) for i, port in enumerate(ports))
    settings = options.cluster or {}  # from --config FILE: vnodes, read_repair_chance, fsync, timeouts
    tuned = {k: settings[k] for k in ("vnodes", "read_repair_chance", "fsync") if k in settings}
    return ClusterConfig(
        nodes=nodes,
        replicas=options.replicas,
        write_quorum=options.write_quorum,
        read_quorum=options.read_quorum,
        data_dir=run_dir / "data",
        secret_file=run_dir / SECRET_NAME,
        timeouts=Timeouts(**settings.get("timeouts", {})),
        source=str(run_dir / "run.json"),
        **tuned,
    )


def make_schedule(options: RunOptions, node_ids: tuple[str, ...]) -> FaultSchedule:
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


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("minikeydb", "trio", "attrs", "networkx", "orjson"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def run_metadata(options: RunOptions, config: ClusterConfig, schedule: FaultSchedule, argv: list[str]) -> dict[str, Any]:
    return {
        "argv": argv,
        "seed": options.seed,
        "mode": options.mode,
        "options": options.to_json(),
        "config": {
            "nodes": [{"id": n.id, "host": n.host, "port": n.port} for n in config.nodes],
            "replicas": config.replicas,
            "write_quorum": config.write_quorum,
            "read_quorum": config.read_quorum,
            "vnodes": config.vnodes,
            "read_repair_chance": config.read_repair_chance,
            "fsync": config.fsync,
            "timeouts": attrs.asdict(config.timeouts),
            "file": (options.cluster or {}).get("file"),
        },
        "schedule": schedule.to_json(),
        "versions": versions(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def update_latest(out: Path, run_dir: Path) -> None:
    """``histories/latest`` names the newest run: a symlink, or a file holding its name."""
    latest = out / "latest"
    try:
        if latest.is_symlink() or latest.is_file():
            latest.unlink()
        latest.symlink_to(run_dir.name)
    except OSError:
        latest.write_text(run_dir.name + "\n")


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
    ring = Ring(config.node_ids, config.replicas, config.vnodes)
    async with Client.connect(config, transport=client_transport, codec=codec,
                              rng=Seeds(options.seed).rng("client"), walls=walls) as client:
        workload = Workload(
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
                                       options.converge_timeout)
            nursery.cancel_scope.cancel()
    return report


async def run_in_process(
    options: RunOptions,
    config: ClusterConfig,
    schedule: FaultSchedule,
    recorder: HistoryRecorder,
    progress: ProgressLine | None,
    *,
    backend: NodeBackend,
    client_endpoint: Callable[[], Awaitable[Transport]],
    codec: Codec,
    wall: Callable[[], float] = time.time,
    pace: Pace = REAL_TIME,
) -> FinalReadReport:
    """Every node in this process behind the nemesis's faulty network (``udp`` and ``sim`` modes)."""
    network = FaultyNetwork(Seeds(options.seed).rng("network"), {n.id: n.peer_address for n in config.nodes})
    clocks = {n: SkewableClock(wall) for n in config.node_ids}
    journal = open_journal(options, config, recorder)
    if journal is not None and journal.level == "full":
        network.observer = journal
    with journal_open(journal, recorder):
        async with trio.open_nursery() as nursery:
            network.attach(nursery)
            cluster = InProcessCluster(config, backend, network, clocks, codec, options.seed, bug=options.bug,
                                       observer=journal)
            await nursery.start(cluster.run)
            control: ClusterControl = InProcessControl(network, clocks, cluster.crash, cluster.restart)
            if journal is not None:
                control = JournalControl(control, journal)
            client_transport = network.wrap(await client_endpoint(), None)
            try:
                report = await drive(options, config, schedule, recorder, network, control,
                                     client_transport, codec, progress, pace=pace, walls=clocks)
            finally:
                client_transport.close()
            nursery.cancel_scope.cancel()
    return report


def prepare_secret(run_dir: Path) -> None:
    path = run_dir / SECRET_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")


def execute(
    options: RunOptions,
    argv: list[str],
    *,
    run_dir: Path | None = None,
    schedule: FaultSchedule | None = None,
    report: bool = True,
) -> RunResult:
    """Run the whole test in real time (``udp`` or ``processes``) and return its outcome.

    ``schedule`` replaces the one the seed would give (a replay, a shrunk run); ``report=False``
    skips report.html.
    """
    with InterruptGuard() as guard:
        out = Path(options.out)
        run_dir = run_dir or new_run_dir(out, run_name(options))
        try:
            return _execute(options, argv, run_dir, schedule, report, guard)
        except RunInterrupted as exc:
            exc.run_dir = run_dir
            raise


def _execute(options: RunOptions, argv: list[str], run_dir: Path, schedule: FaultSchedule | None, report: bool,
             guard: InterruptGuard) -> RunResult:
    prepare_secret(run_dir)
    (run_dir / "nodes").mkdir(exist_ok=True)
    ports = free_udp_ports(options.nodes * (2 if options.mode == "processes" else 1))
    config = cluster_config(options, run_dir, ports[: options.nodes])
    schedule = checked_schedule(schedule, options, config.node_ids)
    write_json(run_dir / "run.json", run_metadata(options, config, schedule, argv))
    progress = ProgressLine() if sys.stderr.isatty() else None
    started = time.monotonic()
    handler = _node_log_handler(run_dir, options.verbose)

    async def main() -> tuple[FinalReadReport | None, HistoryRecorder]:
        recorder = HistoryRecorder(run_dir / "history.jsonl")
        final: FinalReadReport | None = None
        try:
            with trio.CancelScope() as scope:
                guard.attach(scope)
                if options.mode == "processes":
                    from .processes import run_processes

                    final = await run_processes(options, run_dir, config, ports[options.nodes :], schedule,
                                                recorder, progress)
                else:
                    final = await run_in_process(
                        options, config, schedule, recorder, progress, backend=UdpBackend(config, options.bug),
                        client_endpoint=partial(UdpTransport.bind, "127.0.0.1", 0),
                        codec=Codec(config.load_secret()),
                    )
        finally:
            recorder.close()
        return final, recorder

    guard.defer()
    try:
        final, recorder = trio.run(main)
    finally:
        guard.detach()
        logging.getLogger().removeHandler(handler)
        handler.close()
        if progress is not None:
            progress.clear()
    return finish_or_interrupted(options, run_dir, final, recorder, time.monotonic() - started, guard,
                                 report=report)


def finish_or_interrupted(options: RunOptions, run_dir: Path, final: FinalReadReport | None,
                          recorder: HistoryRecorder, elapsed: float, guard: InterruptGuard, *,
                          report: bool = True) -> RunResult:
    """``finish`` the run, or, if a signal stopped it, record it as interrupted and raise ``RunInterrupted``."""
    done: list[str] = []
    try:
        guard.check()
        assert final is not None
        return finish(options, run_dir, final, recorder, elapsed, report=report, done=done)
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


def checked_schedule(schedule: FaultSchedule | None, options: RunOptions, node_ids: tuple[str, ...]) -> FaultSchedule:
    """The schedule to carry out: the given one (checked against the run), or the seed's own."""
    if schedule is None:
        return make_schedule(options, node_ids)
    if tuple(schedule.nodes) != tuple(node_ids):
        raise OptionError(f"the schedule is for nodes {list(schedule.nodes)}, the run has {list(node_ids)}")
    if abs(schedule.time_limit - options.time_limit) > 1e-9:
        raise OptionError(f"the schedule lasts {schedule.time_limit:g} s, the run {options.time_limit:g} s")
    return schedule


def finish(options: RunOptions, run_dir: Path, final: FinalReadReport, recorder: HistoryRecorder,
           elapsed: float, *, report: bool = True, done: list[str] | None = None) -> RunResult:
    """Check the recorded history, write results.json and report.html, point ``latest`` here.

    ``done`` receives the name of each file once it is complete (what a signal did not cut short).
    """
    done = [] if done is None else done
    from checker.api import check, harness_run_options
    from checker.report import write_report

    # A get of null means the key is absent in this store: harness_run_options says so.
    results = check(run_dir / "history.jsonl", harness_run_options(options.checkers)).results
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
            write_report(run_dir, results)
            done.append("report.html")
        except Exception as exc:  # the verdict stands even if a plot fails; say so (a signal is no Exception)
            log.warning("report.html could not be written: %s", exc)
            (run_dir / "report.html").unlink(missing_ok=True)
    update_latest(Path(options.out), run_dir)
    return RunResult(run_dir, options, results, final, dict(recorder.faults), elapsed, throughput)


def record_achieved(run_json: Path, throughput: dict[str, Any]) -> None:
    """Add the achieved rate to run.json beside the requested one (``replay`` reads only options/schedule)."""
    try:
        metadata = json.loads(run_json.read_text())
    except (OSError, ValueError):
        return
    metadata["achieved"] = {k: throughput[k] for k in ("requested_rate", "achieved_rate", "achieved_ok_rate",
                                                        "window_seconds")}
    metadata["achieved"]["window_rates"] = [w["rate"] for w in throughput["windows"]]
    write_json(run_json, metadata)


def _node_log_handler(run_dir: Path, verbose: bool, quiet_level: int = logging.INFO) -> logging.Handler:
    """In-process node logs go to ``nodes/cluster.log`` (per-node files in processes mode).

    ``quiet_level`` is the level without ``-v`` (simulation keeps WARNING: its logs are for errors).
    """
    handler = logging.FileHandler(run_dir / "nodes" / "cluster.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG if verbose else quiet_level)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else quiet_level)
    return handler
