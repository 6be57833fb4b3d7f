"""``--mode sim``: the unchanged node code in virtual time, a pure function of options and seed.

Nodes, clients and nemesis share one Trio run under ``MockClock(autojump_threshold=0)`` and the
seeded scheduler (``determinism.run_deterministic``). Datagrams travel a ``MemoryNetwork`` with a
seeded latency distribution, wrapped by the same ``FaultyNetwork`` as in ``udp`` mode; records live
on ``MemoryDisk``s that survive a simulated crash (what was durable) and lose the rest; wall
clocks read virtual time from a fixed epoch, so stamps are the same on every replay. The history
is therefore byte-identical for the same options and seed, which ``replay`` checks.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import attrs
import trio

from minikeydb.config import ClusterConfig, NodeConfig
from minikeydb.defects import Defect
from minikeydb.ring import Ring
from minikeydb.storage import Storage
from minikeydb.testing.determinism import network_clock, run_deterministic
from minikeydb.testing.disk import MemoryDisk, MemoryStorage
from minikeydb.testing.network import MemoryNetwork
from minikeydb.testing.seeds import Seeds
from minikeydb.transport import Transport
from minikeydb.wire import Codec
from nemesis import FaultSchedule

from .final_reads import FinalReadReport
from .interrupt import InterruptGuard, RunInterrupted
from .options import RunOptions
from .recorder import HistoryRecorder
from .run import (
    RunResult,
    _node_log_handler,
    checked_schedule,
    cluster_config,
    finish_or_interrupted,
    new_run_dir,
    run_in_process,
    run_metadata,
    run_name,
    write_json,
)
from .workload import Pace

EPOCH = 1_800_000_000.0
"""Virtual wall-clock time at the start of every simulated run (2027-01-15), in seconds."""
SIM_HOST = "sim"
SIM_TICK = 0.001
"""Deliveries are rounded up to whole virtual milliseconds (see ``MemoryNetwork.tick``)."""


CLOSED_LOOP_OPS_PER_CLIENT = 350
"""Operations a closed-loop client completes per virtual second (one round trip is ~3 ticks of 1 ms);
measured: 10 clients, 1 virtual s, 3,590 operations."""
SATURATION_NOTE_OPS = 20_000


def saturation_note(options: RunOptions) -> str | None:
    """A one-line warning of what ``--mode sim --rate max`` will cost, when it is more than a short run.

    Virtual time is cheap only while little happens in it: every operation is still simulated in
    full, so 200 closed-loop clients covered 3 virtual seconds in 150 s of wall time.
    """
    if not options.closed_loop:
        return None
    ops = options.concurrency * CLOSED_LOOP_OPS_PER_CLIENT * options.time_limit
    if ops < SATURATION_NOTE_OPS:
        return None
    return (f"note: --mode sim --rate max: {options.concurrency} closed-loop clients complete about "
            f"{options.concurrency * CLOSED_LOOP_OPS_PER_CLIENT:,} operations per virtual second, some {ops:,.0f} in "
            f"{options.time_limit:g} s, each simulated in full: at about a millisecond each, ~{ops / 60_000:.0f} min "
            "of wall time (fewer --concurrency or a shorter --time-limit keeps it quick)")


class SimBackend:
    """Endpoints on one in-memory network, and a ``MemoryDisk`` per node that outlives crashes."""

    def __init__(self, config: ClusterConfig, network: MemoryNetwork, bug: str | None) -> None:
        self.config = config
        self.network = network
        self.bug = bug
        self.ring = Ring(config.node_ids, config.replicas, config.vnodes)
        self.disks = {n: MemoryDisk() for n in config.node_ids}

    async def open_transport(self, node_id: str) -> Transport:
        return self.network.endpoint(self.config.node(node_id).address)

    def open_storage(self, node_id: str) -> Storage:
        return MemoryStorage(
            self.disks[node_id],
            merge=Defect.named(self.bug).merge,
            bucket_of=self.ring.range_of,
            flush_interval=Defect.named(self.bug).flush_interval,
        )


def sim_config(options: RunOptions, run_dir: Path) -> ClusterConfig:
    base = cluster_config(options, run_dir)
    nodes = tuple(NodeConfig(f"n{i + 1}", SIM_HOST, i + 1) for i in range(options.nodes))
    return attrs.evolve(base, nodes=nodes, secret_file=None)


def simulate_run(
    options: RunOptions,
    argv: list[str],
    *,
    run_dir: Path | None = None,
    quiet: bool = False,
    schedule: FaultSchedule | None = None,
    report: bool = True,
) -> RunResult:
    """One simulated run, written to its run directory like any other, then checked.

    ``schedule`` replaces the seed's own (replays and shrunk runs); ``report=False`` skips report.html.
    """
    with InterruptGuard() as guard:
        run_dir = run_dir or new_run_dir(Path(options.out), run_name(options))
        try:
            return _simulate(options, argv, run_dir, quiet, schedule, report, guard)
        except RunInterrupted as exc:
            exc.run_dir = run_dir
            raise


def _simulate(options: RunOptions, argv: list[str], run_dir: Path, quiet: bool, schedule: FaultSchedule | None,
              report: bool, guard: InterruptGuard) -> RunResult:
    (run_dir / "nodes").mkdir(exist_ok=True)
    config = sim_config(options, run_dir)
    schedule = checked_schedule(schedule, options, config.node_ids)
    write_json(run_dir / "run.json", run_metadata(options, config, schedule, argv))
    if not quiet:
        print(f"MinikeyDB: simulated run, seed {options.seed}, nemesis {','.join(options.nemesis) or 'none'}, "
              f"{options.time_limit:g} virtual s ...", file=sys.stderr, flush=True)
    started = time.monotonic()

    latency_rng = Seeds(options.seed).rng("latency")
    network = MemoryNetwork(latency=lambda: latency_rng.uniform(0.0001, 0.001), tick=SIM_TICK)
    clock = network_clock(network)

    def wall() -> float:  # trio.current_time() without its two wrappers: every datagram reads it
        return EPOCH + clock.current_time()

    async def main() -> tuple[FinalReadReport | None, HistoryRecorder]:
        endpoints = iter(range(60_000, 65_000))

        async def client_endpoint() -> Transport:
            return network.endpoint(("client", next(endpoints)))

        recorder = HistoryRecorder(run_dir / "history.jsonl")
        final: FinalReadReport | None = None
        try:
            with trio.CancelScope() as scope:
                guard.attach(scope)
                final = await run_in_process(
                    options, config, schedule, recorder, None, backend=SimBackend(config, network, options.bug),
                    client_endpoint=client_endpoint,
                    codec=Codec(f"sim-{options.seed}".encode(), now=wall),
                    wall=wall, pace=Pace(SIM_TICK, network.sleep_until),
                )
        finally:
            recorder.close()
        return final, recorder

    handler = _node_log_handler(run_dir, options.verbose, logging.WARNING)
    guard.defer()
    try:
        final, recorder = run_deterministic(main, options.seed, clock)
    finally:
        guard.detach()
        logging.getLogger().removeHandler(handler)
        handler.close()
    return finish_or_interrupted(options, run_dir, final, recorder, time.monotonic() - started, guard,
                                 report=report)
