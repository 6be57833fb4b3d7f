"""``processes`` mode: every node its own OS process (``python -m minikeydb serve``).

Faults still live outside the nodes. Network faults: the nemesis's ``UdpRouter`` owns one proxy
socket per node; each node binds its real port, and the run's config tells nodes to reach each
other at the proxy ports (``peer_port``), so every node-to-node datagram passes the router's fault
model, while clients talk to nodes directly. (nftables rules would also work as root, but only for
drops and partitions; the router covers delay, duplication and reordering too, without root.)
Process faults: crash is SIGKILL then a fresh process on the same data directory; pause is
SIGSTOP/SIGCONT; clock skew rewrites the node's clock-offset file (``--clock-file``), which the
serving process adds to its wall clock.

A node's life is tied to the harness's: each is started (from the Trio thread itself, not a worker
thread) with Linux's ``PR_SET_PDEATHSIG`` = SIGKILL, so that even a SIGKILLed harness, which no
handler can clean up after, leaves no node process holding its port, paused ones included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import attrs
import trio

from checker.safe_write import write_atomic
from minikeydb.client import Client
from minikeydb.config import ClusterConfig, write_config
from minikeydb.server import OffsetFileClock
from minikeydb.testing.seeds import Seeds
from minikeydb.transport import UdpTransport, free_udp_ports
from minikeydb.wire import Codec
from nemesis import FaultModel, FaultSchedule, UdpRouter

from .cluster import RealTimeMode
from .final_reads import FinalReadReport
from .journal import JournalControl, journal_open, open_journal
from .options import RunOptions
from .phases import drive
from .progress import ProgressLine
from .recorder import HistoryRecorder
from .run_dir import cluster_config, prepare_secret

READY_TIMEOUT = 20.0
PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal the calling process gets when its parent thread dies."""


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies (Linux), else None.

    The death signal follows the thread that forked the child, so the child must be started from a
    thread that lives as long as the harness (Trio's own thread; ``trio.lowlevel.open_process``
    forks from a worker thread that exits after a few idle seconds, which would kill the node).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the harness died between fork and prctl: no signal will come
            os._exit(1)

    return preexec


class NodeProcess:
    """A node's ``subprocess.Popen`` with the few async calls the cluster needs (``wait`` polls)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def send_signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        delay = 0.005
        while (code := self.popen.poll()) is None:
            await trio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return code


class Stoppable(Protocol):
    @property
    def returncode(self) -> int | None: ...
    def send_signal(self, signum: int) -> None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...
    async def wait(self) -> int: ...


class ProcessCluster:
    """Node processes for one run, and the ``ClusterControl`` the fault schedule acts through."""

    def __init__(self, options: RunOptions, run_dir: Path, config: ClusterConfig, config_path: Path) -> None:
        self.options = options
        self.run_dir = run_dir
        self.config = config
        self.config_path = config_path
        self.procs: dict[str, NodeProcess] = {}
        self.crashes = 0

    def clock_file(self, node_id: str) -> Path:
        return self.run_dir / "nodes" / f"{node_id}.clock"

    async def start(self, node_id: str) -> None:
        command = [sys.executable, "-m", "minikeydb", "serve", "--config", str(self.config_path),
                   "--node", node_id, "--clock-file", str(self.clock_file(node_id))]
        if self.options.bug:
            command += ["--bug", self.options.bug]
        if self.options.verbose:
            command.append("-v")
        log = (self.run_dir / "nodes" / f"{node_id}.log").open("ab")
        try:
            # Popen here, in Trio's thread, not a worker thread: see die_with_parent. A fork takes
            # milliseconds; a crash restart waits that long anyway.
            self.procs[node_id] = NodeProcess(subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # a terminal's Ctrl-C reaches the harness only; it stops the nodes
                preexec_fn=die_with_parent(),
            ))
        finally:
            log.close()
        await trio.lowlevel.checkpoint()

    async def wait_ready(self, client: Client, node_ids: list[str]) -> None:
        """Until every node answers a stats request (its socket and log are open)."""
        with trio.fail_after(READY_TIMEOUT):
            for node_id in node_ids:
                while await client.stats(node_id) is None:
                    if self.procs[node_id].returncode is not None:
                        raise RuntimeError(f"node {node_id} exited at start; see {self.run_dir}/nodes/{node_id}.log")

    # ClusterControl -----------------------------------------------------------------------------

    async def crash(self, node_id: str) -> None:
        proc = self.procs[node_id]
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)  # a paused process must die, not linger stopped
            proc.kill()
            await proc.wait()
            self.crashes += 1

    async def restart(self, node_id: str) -> None:
        if self.procs[node_id].returncode is not None:
            await self.start(node_id)

    async def pause(self, node_id: str) -> None:
        self.procs[node_id].send_signal(signal.SIGSTOP)

    async def resume(self, node_id: str) -> None:
        self.procs[node_id].send_signal(signal.SIGCONT)

    def set_clock_offset(self, node_id: str, seconds: float) -> None:
        path = self.clock_file(node_id)
        write_atomic(path, f"{seconds!r}\n")

    async def stop_all(self) -> None:
        await stop_processes(self.procs.values())


async def stop_processes(procs: Iterable[Stoppable], grace: float = 5.0) -> None:
    """SIGTERM each node process (it closes its log cleanly), SIGKILL any that lingers past ``grace``.

    A paused process gets SIGCONT first: stopped, it could not act on the SIGTERM.
    """
    procs = list(procs)
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    for proc in procs:
        with trio.move_on_after(grace):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run_processes(
    options: RunOptions,
    run_dir: Path,
    config: ClusterConfig,
    proxy_ports: list[int],
    schedule: FaultSchedule,
    recorder: HistoryRecorder,
    progress: ProgressLine | None,
) -> FinalReadReport:
    node_config = attrs.evolve(
        config, nodes=tuple(attrs.evolve(n, peer_port=p) for n, p in zip(config.nodes, proxy_ports, strict=True))
    )
    config_path = run_dir / "cluster.toml"
    write_config(node_config, config_path)
    model = FaultModel(Seeds(options.seed).rng("network"))
    router = await UdpRouter.open(
        model, {n.id: n.address for n in node_config.nodes}, {n.id: n.peer_address for n in node_config.nodes}
    )
    cluster = ProcessCluster(options, run_dir, node_config, config_path)
    codec = Codec(config.load_secret(), conflict=config.conflict)
    journal = open_journal(options, config, recorder)  # off unless asked: the applies happen in other processes
    router.observer = journal if journal is not None and journal.level == "full" else None
    with journal_open(journal, recorder):
        async with trio.open_nursery() as nursery:
            await nursery.start(router.run)
            try:
                for node_id in config.node_ids:
                    await cluster.start(node_id)
                transport = await UdpTransport.bind("127.0.0.1", 0)
                try:
                    async with Client.connect(config, codec=codec) as probe:
                        await cluster.wait_ready(probe, list(config.node_ids))
                    walls = {n: OffsetFileClock(cluster.clock_file(n)) for n in config.node_ids}
                    report = await drive(options, config, schedule, recorder, model,
                                         cluster if journal is None else JournalControl(cluster, journal),
                                         transport, codec, progress, walls=walls)
                finally:
                    transport.close()
            finally:
                with trio.CancelScope(shield=True):
                    await cluster.stop_all()
                nursery.cancel_scope.cancel()
    return report


class ProcessesMode(RealTimeMode):
    """``--mode processes``: every node its own OS process, network faults in a ``UdpRouter``, in real time."""

    def __init__(self, options: RunOptions) -> None:
        super().__init__(options)
        self.proxy_ports: list[int] = []
        self.run_dir: Path | None = None

    def cluster(self, run_dir: Path) -> ClusterConfig:
        prepare_secret(run_dir)
        ports = free_udp_ports(self.options.nodes * 2)  # each node's own port, then its proxy in the router
        self.proxy_ports, self.run_dir = ports[self.options.nodes:], run_dir
        return cluster_config(self.options, run_dir, ports[: self.options.nodes])

    async def drive(self, config: ClusterConfig, schedule: FaultSchedule, recorder: HistoryRecorder,
                    progress: ProgressLine | None) -> FinalReadReport:
        assert self.run_dir is not None, "cluster() first"
        return await run_processes(self.options, self.run_dir, config, self.proxy_ports, schedule, recorder,
                                   progress)
