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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import attrs

from minikeydb.config import ClusterConfig, NodeConfig
from minikeydb.defects import Defect
from minikeydb.ring import shared_ring
from minikeydb.storage import Storage
from minikeydb.testing.determinism import network_clock, offset_reader, run_deterministic
from minikeydb.testing.disk import MemoryDisk, MemoryStorage
from minikeydb.testing.network import MemoryNetwork
from minikeydb.testing.seeds import Seeds
from minikeydb.transport import Transport
from minikeydb.wire import Codec
from nemesis import FaultSchedule

from .cluster import run_in_process
from .final_reads import FinalReadReport
from .options import RunOptions
from .progress import ProgressLine
from .recorder import HistoryRecorder
from .run_dir import cluster_config
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
        self.ring = shared_ring(config.node_ids, config.replicas, config.vnodes)
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


def sim_network(options: RunOptions) -> MemoryNetwork:
    """The run's in-memory network: latencies drawn from the seed's own stream, on a 1 ms grid."""
    draw = Seeds(options.seed).rng("latency").random
    low, span = 0.0001, 0.001 - 0.0001
    # latency_rng.uniform(0.0001, 0.001) (``low + (high - low) * random()``), the same floats, a call less per datagram
    network = MemoryNetwork(latency=lambda: low + span * draw(), tick=SIM_TICK)
    return network


T = TypeVar("T")


class SimMode:
    """``--mode sim``: nodes, clients and nemesis in one deterministic Trio run, in virtual time."""

    quiet_log_level = logging.WARNING
    """Simulation keeps node logs for errors."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.network = sim_network(options)
        self.clock = network_clock(self.network)
        self._wall = offset_reader(self.clock, EPOCH)

    def announcement(self) -> str:
        o = self.options
        return (f"MinikeyDB: simulated run, seed {o.seed}, nemesis {','.join(o.nemesis) or 'none'}, "
                f"{o.time_limit:g} virtual s ...")

    def note(self) -> str | None:
        return saturation_note(self.options)

    def progress(self) -> ProgressLine | None:
        return None

    def cluster(self, run_dir: Path) -> ClusterConfig:
        return sim_config(self.options, run_dir)

    def wall(self) -> float:
        """Virtual wall-clock seconds: ``EPOCH`` + trio's clock (``offset_reader``: one call, every datagram reads it)."""
        return self._wall()

    async def drive(self, config: ClusterConfig, schedule: FaultSchedule, recorder: HistoryRecorder,
                    progress: ProgressLine | None) -> FinalReadReport:
        options, network = self.options, self.network
        endpoints = iter(range(60_000, 65_000))

        async def client_endpoint() -> Transport:
            return network.endpoint(("client", next(endpoints)))

        return await run_in_process(
            options, config, schedule, recorder, progress, backend=SimBackend(config, network, options.bug),
            client_endpoint=client_endpoint,
            codec=Codec(f"sim-{options.seed}".encode(), now=self._wall),
            wall=self._wall, pace=Pace(SIM_TICK, network.sleep_until),
        )

    def trio_run(self, main: Callable[[], Awaitable[T]]) -> T:
        return run_deterministic(main, self.options.seed, self.clock)
