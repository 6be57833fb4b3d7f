"""Clusters the harness runs: every node in this process (``udp`` and ``sim`` modes).

Nodes are built from the same code whatever the mode; what differs is where their datagrams go
and where their records are kept, so a ``NodeBackend`` supplies those two things: real UDP sockets
and log files on disk (``udp``), or endpoints of an in-memory network and ``MemoryDisk``s
(``sim``). Either way each node's transport is wrapped by the nemesis's ``FaultyNetwork`` and its
wall clock is a ``SkewableClock``, so every fault lives outside the node.

A crash loses what storage had not made durable (``Storage.crash``), cancels every task of the
node, and closes its socket; a restart builds a fresh ``Node`` from what the disk kept.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

import trio

from minikeydb.config import ClusterConfig
from minikeydb.defects import Defect
from minikeydb.node import Node
from minikeydb.observe import ApplyObserver
from minikeydb.server import build_node, open_log_storage
from minikeydb.storage import Storage
from minikeydb.testing.seeds import Seeds
from minikeydb.transport import Transport, UdpTransport, free_udp_ports
from minikeydb.wire import Codec
from nemesis import ClusterControl, FaultSchedule, FaultyNetwork, InProcessControl, SkewableClock

from .final_reads import FinalReadReport
from .journal import JournalControl, journal_open, open_journal
from .options import RunOptions
from .phases import drive
from .progress import ProgressLine
from .recorder import HistoryRecorder
from .run_dir import cluster_config, prepare_secret
from .workload import REAL_TIME, Pace

log = logging.getLogger("runner.cluster")


class NodeBackend(Protocol):
    """Where a node's datagrams and records live."""

    async def open_transport(self, node_id: str) -> Transport: ...

    def open_storage(self, node_id: str) -> Storage: ...


class UdpBackend:
    """Real loopback sockets and log files under the run's data directory."""

    def __init__(self, config: ClusterConfig, bug: str | None) -> None:
        self.config = config
        self.bug = bug

    async def open_transport(self, node_id: str) -> Transport:
        node = self.config.node(node_id)
        return await UdpTransport.bind(node.host, node.port)

    def open_storage(self, node_id: str) -> Storage:
        return open_log_storage(self.config, node_id, Defect.named(self.bug))


class _Incarnation:
    """One life of one node, from start to crash or stop."""

    def __init__(self, node: Node, storage: Storage, transport: Transport, scope: trio.CancelScope) -> None:
        self.node = node
        self.storage = storage
        self.transport = transport
        self.scope = scope
        self.crashed = False
        self.stopped = trio.Event()


class InProcessCluster:
    """Every node of ``config`` in this process, behind ``network``; implements crash and restart."""

    def __init__(
        self,
        config: ClusterConfig,
        backend: NodeBackend,
        network: FaultyNetwork,
        clocks: dict[str, SkewableClock],
        codec: Codec,
        seed: int,
        *,
        bug: str | None = None,
        wall: Callable[[], float] | None = None,
        observer: ApplyObserver | None = None,
    ) -> None:
        self.config = config
        self.observer = observer
        self.backend = backend
        self.network = network
        self.clocks = clocks
        self.codec = codec
        self.seed = seed
        self.bug = bug
        self._lives: dict[str, _Incarnation] = {}
        self._births: dict[str, int] = {n: 0 for n in config.node_ids}
        self._nursery: trio.Nursery | None = None
        self.crashes = 0

    @property
    def nodes(self) -> dict[str, Node]:
        return {n: life.node for n, life in self._lives.items() if not life.crashed}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every node and keep them until cancelled (then each closes its storage cleanly)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            # The cluster outlives its nodes: with every node crashed at once, restarts still need
            # an open nursery to start in.
            nursery.start_soon(trio.sleep_forever)
            for node_id in self.config.node_ids:
                await nursery.start(self._life, node_id)
            task_status.started()

    async def _life(self, node_id: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._births[node_id] += 1
        rng = Seeds(self.seed).rng("node", node_id, self._births[node_id])
        inner = await self.backend.open_transport(node_id)
        transport = self.network.wrap(inner, node_id)
        storage = self.backend.open_storage(node_id)
        node = build_node(
            self.config, node_id, transport, storage, codec=self.codec, rng=rng,
            wall=self.clocks[node_id], defect=Defect.named(self.bug), observer=self.observer,
        )
        with trio.CancelScope() as scope:
            life = _Incarnation(node, storage, transport, scope)
            self._lives[node_id] = life
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(node.run)
                    task_status.started()
            except Exception:
                if not life.crashed:
                    raise
            finally:
                transport.close()
                if not life.crashed:
                    with trio.CancelScope(shield=True):
                        await storage.aclose()
                life.stopped.set()

    async def crash(self, node_id: str) -> None:
        """Kill the node: unflushed writes are lost, every task ends, the socket closes."""
        life = self._lives[node_id]
        if life.crashed:
            return
        life.crashed = True
        self.crashes += 1
        life.storage.crash()
        life.scope.cancel()
        await life.stopped.wait()
        log.info("crashed %s", node_id)

    async def restart(self, node_id: str) -> None:
        """Start a crashed node again from what its storage kept."""
        life = self._lives[node_id]
        if not life.crashed:
            return
        assert self._nursery is not None
        await self._nursery.start(self._life, node_id)
        log.info("restarted %s", node_id)

    def stats(self) -> dict[str, dict[str, int]]:
        return {n: node.stats() for n, node in self.nodes.items()}


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


T = TypeVar("T")


class RealTimeMode:
    """What the real-time modes (``udp``, ``processes``) share: Trio's own clock, a live progress line."""

    quiet_log_level = logging.INFO

    def __init__(self, options: RunOptions) -> None:
        self.options = options

    def announcement(self) -> str:
        o = self.options
        return (f"MinikeyDB: {o.mode} run, seed {o.seed}, nemesis {','.join(o.nemesis) or 'none'}, "
                f"{o.time_limit:g} s ...")

    def note(self) -> str | None:
        return None

    def progress(self) -> ProgressLine | None:
        return ProgressLine() if sys.stderr.isatty() else None

    def trio_run(self, main: Callable[[], Awaitable[T]]) -> T:
        return trio.run(main)


class UdpMode(RealTimeMode):
    """``--mode udp``: every node in this process on real UDP sockets and log files, in real time."""

    def cluster(self, run_dir: Path) -> ClusterConfig:
        prepare_secret(run_dir)
        return cluster_config(self.options, run_dir, free_udp_ports(self.options.nodes))

    async def drive(self, config: ClusterConfig, schedule: FaultSchedule, recorder: HistoryRecorder,
                    progress: ProgressLine | None) -> FinalReadReport:
        return await run_in_process(
            self.options, config, schedule, recorder, progress, backend=UdpBackend(config, self.options.bug),
            client_endpoint=partial(UdpTransport.bind, "127.0.0.1", 0), codec=Codec(config.load_secret(), conflict=config.conflict),
        )
