"""Cluster throughput vs a bare UDP echo pair on this machine: ops/s of each and their ratio.

Usage: python bench/throughput.py [--mode inprocess|processes] [--clients 32] [--seconds 5]
                                  [--rounds 3] [--keys 1000] [--profile-node FILE]

A 5-node MinikeyDB cluster on loopback UDP (N=3, W=1, R=1, the shipped defaults) serves
``--clients`` concurrent client tasks, each looping a 50/50 put/get mix over ``--keys`` keys
through a random coordinator; only operations answered "ok" count. In the same run, a bare Trio
UDP echo server answers the same number of concurrent request/response loops; that is the most
this machine's Python + Trio + loopback can do per request, and the bar is cluster/echo >= 0.3.

Modes: ``inprocess`` runs the five nodes, the echo server and the clients in this one Trio loop
(one core for everything); ``processes`` runs each node as ``python -m minikeydb serve`` and the
echo server as its own process, with the clients here (the fair comparison on a multi-core box).
Each figure is the median of ``--rounds`` rounds of ``--seconds`` seconds. ``--journal ab``
measures the harness journal's cost instead (issue #15): one in-process cluster wrapped as the
harness's udp mode wraps it, rounds alternating journal off and full (bar: at most 10 % fewer ops/s). ``--profile-node FILE``
(processes mode) runs node n1 under cProfile, writes its stats to FILE and prints the top entries.
"""

from __future__ import annotations

import argparse
import os
import pstats
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minikeydb.client import Client  # noqa: E402
from minikeydb.config import SECRET_ENV, ClusterConfig, parse_config, write_config  # noqa: E402
from minikeydb.server import serve_cluster  # noqa: E402
from minikeydb.transport import UdpTransport, free_udp_ports  # noqa: E402

NODES = 5
ECHO_PAYLOAD = 60
ECHO_TRANSPORTS = ("trio", "minikeydb")
"""Bytes per echo request: about the size of a small Put datagram."""




def bench_config(data_dir: Path, fsync: str = "inline") -> ClusterConfig:
    ports = free_udp_ports(NODES)
    return parse_config(
        {
            "cluster": {"data_dir": str(data_dir), "fsync": fsync},
            "nodes": [{"id": f"n{i + 1}", "host": "127.0.0.1", "port": p} for i, p in enumerate(ports)],
        },
        "<bench config>",
    )


# -- the echo baseline -------------------------------------------------------------------------------


class EchoSocket:
    """The echo pair's socket: ``trio`` (trio.socket, the issue's baseline) or ``minikeydb``
    (the nodes' own UdpTransport, to compare the cluster against the same socket path)."""

    def __init__(self, kind: str) -> None:
        if kind not in ECHO_TRANSPORTS:
            raise ValueError(f"echo transport must be one of {ECHO_TRANSPORTS}, got {kind!r}")
        self.kind = kind
        self._trio: trio.socket.SocketType | None = None
        self._transport: UdpTransport | None = None

    async def bind(self, port: int) -> None:
        if self.kind == "trio":
            self._trio = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            await self._trio.bind(("127.0.0.1", port))
        else:
            self._transport = await UdpTransport.bind("127.0.0.1", port)

    async def recv(self) -> tuple[bytes, tuple[str, int]]:
        if self._trio is not None:
            data, src = await self._trio.recvfrom(65_536)
            return data, src
        assert self._transport is not None
        return await self._transport.recv()

    async def send(self, data: bytes, dest: tuple[str, int]) -> None:
        if self._trio is not None:
            await self._trio.sendto(data, dest)
        else:
            assert self._transport is not None
            await self._transport.send(data, dest)

    def close(self) -> None:
        if self._trio is not None:
            self._trio.close()
        if self._transport is not None:
            self._transport.close()


async def echo_server(
    port: int, kind: str = "trio", *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Send every datagram straight back."""
    sock = EchoSocket(kind)
    try:
        await sock.bind(port)
        task_status.started()
        while True:
            data, src = await sock.recv()
            await sock.send(data, src)
    finally:
        sock.close()


async def echo_round(port: int, clients: int, seconds: float, kind: str = "trio") -> float:
    """Requests/s of ``clients`` request/response loops against the echo server (one socket, ids matched)."""
    sock = EchoSocket(kind)
    waiting: dict[int, trio.Event] = {}
    done = 0
    padding = b"x" * (ECHO_PAYLOAD - 8)
    await sock.bind(0)
    try:

        async def receiver() -> None:
            while True:
                data, _ = await sock.recv()
                event = waiting.pop(int.from_bytes(data[:8], "big"), None)
                if event is not None:
                    event.set()

        async def worker(first_id: int) -> None:
            nonlocal done
            request_id = first_id
            while True:
                request_id += clients
                event = trio.Event()
                waiting[request_id] = event
                await sock.send(request_id.to_bytes(8, "big") + padding, ("127.0.0.1", port))
                with trio.move_on_after(1.0):  # a lost datagram just costs this worker a second
                    await event.wait()
                if event.is_set():
                    done += 1
                waiting.pop(request_id, None)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            for i in range(clients):
                nursery.start_soon(worker, i)
            await trio.sleep(seconds)
            nursery.cancel_scope.cancel()
    finally:
        sock.close()
    return done / seconds


# -- the cluster workload ------------------------------------------------------------------------------


async def cluster_round(config: ClusterConfig, clients: int, seconds: float, keys: int, seed: int,
                        connect: Callable[[], AbstractAsyncContextManager[Client]] | None = None) -> tuple[float, int]:
    """Ok operations/s of ``clients`` put/get loops, and the count of operations that were not ok.

    A round's figure counts only operations that completed inside the round: the loops are
    cancelled at the end, and a request in flight then is neither ok nor failed.
    """
    ok = failed = 0
    names = [f"key{i}" for i in range(keys)]

    async def worker(client: Client, rng: random.Random) -> None:
        nonlocal ok, failed
        counter = 0
        while True:
            key = rng.choice(names)
            if rng.random() < 0.5:
                counter += 1
                result = await client.put(key, f"value-{counter}")
            else:
                result = await client.get(key)
            if result.ok:
                ok += 1
            else:
                failed += 1

    async with (connect() if connect is not None else Client.connect(config)) as client, \
            trio.open_nursery() as nursery:
        for i in range(clients):
            nursery.start_soon(worker, client, random.Random(seed * 1000 + i))
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    return ok / seconds, failed


async def preload(config: ClusterConfig, keys: int) -> None:
    """Write every key once so that gets find values (not measured)."""
    async with Client.connect(config) as client:
        limiter = trio.CapacityLimiter(32)

        async def put(i: int) -> None:
            async with limiter:
                await client.put(f"key{i}", "initial")

        async with trio.open_nursery() as nursery:
            for i in range(keys):
                nursery.start_soon(put, i)


COUNTED = ("datagrams_sent", "retries", "replicate_batches", "replicate_records", "hints_stored", "replies_unmatched",
           "storage_flushes")
"""Node counters summed over the cluster and reported per operation: where the datagrams go."""


async def cluster_counters(config: ClusterConfig) -> dict[str, int]:
    totals = dict.fromkeys(COUNTED, 0)
    async with Client.connect(config) as client:
        for node in config.node_ids:
            stats = await client.stats(node) or {}
            for name in COUNTED:
                totals[name] += stats.get(name, 0)
    return totals


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of this process (and its threads) plus the given children, from /proc."""
    return own_cpu_seconds() + children_cpu_seconds(pids)


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def children_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


# -- running the servers ------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


async def wait_serving(config: ClusterConfig, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        async with Client.connect(config) as client:
            for node in config.node_ids:
                while await client.stats(node) is None:
                    await trio.sleep(0.1)


@asynccontextmanager
async def inprocess_servers(config: ClusterConfig, echo_port: int, echo_kind: str) -> AsyncIterator[list[int]]:
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_cluster, config)
        await nursery.start(echo_server, echo_port, echo_kind)
        yield []
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def process_servers(
    config: ClusterConfig, echo_port: int, workdir: Path, profile: Path | None, echo_kind: str
) -> AsyncIterator[list[int]]:
    """Start the node processes and the echo process; yields the node processes' pids."""
    config_path = workdir / "cluster.toml"
    write_config(config, config_path)
    processes: list[trio.Process] = []
    log = (workdir / "servers.log").open("ab")
    try:
        for node in config.node_ids:
            command = [sys.executable]
            if profile is not None and node == "n1":
                command += ["-m", "cProfile", "-o", str(profile)]
            command += ["-m", "minikeydb", "serve", "--config", str(config_path), "--node", node]
            processes.append(
                await trio.lowlevel.open_process(command, cwd=workdir, env=child_env(), stdout=log, stderr=log)
            )
        echo_code = (
            "import sys, trio; sys.path.insert(0, sys.argv[2]); "
            "from bench.throughput import echo_server; trio.run(echo_server, int(sys.argv[1]), sys.argv[3])"
        )
        processes.append(
            await trio.lowlevel.open_process(
                [sys.executable, "-c", echo_code, str(echo_port), str(ROOT), echo_kind], cwd=ROOT, env=child_env(),
                stdout=log, stderr=log
            )
        )
        await wait_serving(config)
        await trio.sleep(0.3)  # let the echo process finish starting too
        yield [p.pid for p in processes[:-1]]
    finally:
        with trio.CancelScope(shield=True):
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGINT)  # a clean stop, so cProfile writes its file
            for process in processes:
                with trio.move_on_after(10):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        log.close()


# -- the journal's cost (issue #15) ------------------------------------------------------------------


class JournaledCluster:
    """The in-process cluster as the harness's ``udp`` mode builds it (every transport, the
    client's too, wrapped by a ``FaultyNetwork`` with no faults), whose journal can be switched
    on and off between rounds: the A/B of the same warm cluster."""

    def __init__(self, network: Any, nodes: list[Any], journal: Any) -> None:
        self.network = network
        self.nodes = nodes
        self.journal = journal

    def switch(self, on: bool, datagrams: bool = True) -> None:
        observer = self.journal if on else None
        self.network.observer = observer if datagrams else None
        for node in self.nodes:
            node.replica.observer = observer
            node.replicator.observer = observer

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Client]:
        transport = self.network.wrap(await UdpTransport.bind("127.0.0.1", 0), None)
        try:
            async with Client.connect(self.nodes[0].config, transport=transport) as client:
                yield client
        finally:
            transport.close()


@asynccontextmanager
async def journaled_cluster(config: ClusterConfig, workdir: Path, args_writer: str | None = None
                            ) -> AsyncIterator[JournaledCluster]:
    from minikeydb.defects import NO_DEFECT
    from minikeydb.ring import Ring
    from minikeydb.server import build_node, open_log_storage
    from nemesis import FaultyNetwork
    from runner.journal import Journal, journal_writer

    network = FaultyNetwork(random.Random(0), {n.id: n.peer_address for n in config.nodes})
    journal = Journal(workdir / "journal.jsonl.gz", level="full", mode="udp",
                      ring=Ring(config.node_ids, config.replicas, config.vnodes), nodes=config.node_ids,
                      replication=config.replicas, max_bytes=2**40,
                      clock=trio.lowlevel.current_clock().current_time, start=trio.current_time(),
                      writer=args_writer or journal_writer("udp", config.fsync))  # as open_journal makes it in udp mode
    nodes, storages, transports = [], [], []
    try:
        async with trio.open_nursery() as nursery:
            network.attach(nursery)
            for node_id in config.node_ids:
                node_config = config.node(node_id)
                transport = network.wrap(await UdpTransport.bind(node_config.host, node_config.port), node_id)
                transports.append(transport)
                storage = open_log_storage(config, node_id, NO_DEFECT)
                storages.append(storage)
                node = build_node(config, node_id, transport, storage)
                await nursery.start(node.run)
                nodes.append(node)
            yield JournaledCluster(network, nodes, journal)
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            for storage in storages:
                await storage.aclose()
        for transport in transports:
            transport.close()
        journal.close()


async def journal_ab(args: argparse.Namespace) -> None:
    """Rounds alternating journal off / full on one in-process cluster; medians and the difference."""
    os.environ.setdefault(SECRET_ENV, "throughput-bench")
    rates: dict[str, list[float]] = {"off": [], "full": []}
    cpu_per_op: dict[str, list[float]] = {"off": [], "full": []}
    trio_per_op: dict[str, list[float]] = {"off": [], "full": []}
    with tempfile.TemporaryDirectory(prefix="minikeydb-bench-") as tmp:
        workdir = Path(tmp)
        config = bench_config(workdir / "data", args.fsync)
        async with journaled_cluster(config, workdir, args.journal_writer) as cluster:
            await preload(config, args.keys)
            for round_number in range(args.rounds):
                for level in ("off", "full") if round_number % 2 == 0 else ("full", "off"):
                    cluster.switch(level == "full", datagrams=args.journal == "ab")
                    cpu_before, trio_before = os.times().user, time.thread_time()
                    rate, failed = await cluster_round(config, args.clients, args.seconds, args.keys, round_number,
                                                       cluster.client)
                    ops = max(1.0, rate * args.seconds + failed)
                    cpu = (os.times().user - cpu_before) / ops
                    trio_cpu = (time.thread_time() - trio_before) / ops
                    rates[level].append(rate)
                    cpu_per_op[level].append(cpu)
                    trio_per_op[level].append(trio_cpu)
                    print(f"round {round_number + 1}, journal {level:<4}: {rate:,.0f} ops/s ({failed} not ok), "
                          f"{cpu * 1e6:,.0f} us user CPU per op, {trio_cpu * 1e6:,.0f} us CPU of the Trio thread",
                          flush=True)
            cluster.switch(False)
            journal = cluster.journal
        records = journal.records  # once closed: the writer thread has counted every record
        size = (workdir / "journal.jsonl.gz").stat().st_size
    off, full = statistics.median(rates["off"]), statistics.median(rates["full"])
    print(f"journal cost (in-process cluster behind a healthy FaultyNetwork, as in udp mode; clients={args.clients} "
          f"seconds={args.seconds:g} rounds={args.rounds}, interleaved):")
    level = "full" if args.journal == "ab" else "applies"
    print(f"  without journal {off:,.0f} ops/s, with journal ({level}) {full:,.0f} ops/s (medians): "
          f"{100 * (full / off - 1):+.1f} % (bar: >= -10 %); journal {records:,} records, {size / 1e6:.1f} MB")
    paired = statistics.median(f / o for f, o in zip(rates["full"], rates["off"], strict=True))
    paired_cpu = statistics.median(f / o for f, o in zip(cpu_per_op["full"], cpu_per_op["off"], strict=True))
    print(f"  paired (each round's with/without, median): ops/s {100 * (paired - 1):+.1f} %, user CPU per op "
          f"{100 * (paired_cpu - 1):+.1f} %")
    cpu_off, cpu_full = statistics.median(cpu_per_op["off"]), statistics.median(cpu_per_op["full"])
    print(f"  user CPU per op (this process: nodes and clients; system time, fdatasync's above all, left out): "
          f"{cpu_off * 1e6:,.0f} us without, {cpu_full * 1e6:,.0f} us with: {100 * (cpu_full / cpu_off - 1):+.1f} % "
          "(the figure a loaded machine disturbs least)")
    trio_off, trio_full = statistics.median(trio_per_op["off"]), statistics.median(trio_per_op["full"])
    print(f"  CPU of the Trio thread per op (user and system; the journal's writer thread or process left out): "
          f"{trio_off * 1e6:,.0f} us without, {trio_full * 1e6:,.0f} us with: {100 * (trio_full / trio_off - 1):+.1f} %")


# -- main -------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    os.environ.setdefault(SECRET_ENV, "throughput-bench")
    with tempfile.TemporaryDirectory(prefix="minikeydb-bench-") as tmp:
        workdir = Path(tmp)
        config = bench_config(workdir / "data", args.fsync)
        echo_port = free_udp_ports(1)[0]
        if args.mode == "inprocess":
            servers = inprocess_servers(config, echo_port, args.echo_transport)
        else:
            servers = process_servers(config, echo_port, workdir, args.profile_node, args.echo_transport)
        async with servers as node_pids:
            await preload(config, args.keys)
            cluster_rates, echo_rates, failures = [], [], 0
            ops = 0.0
            cpu = client_cpu = 0.0
            before = await cluster_counters(config)
            for round_number in range(args.rounds):
                cpu_before, client_before = cpu_seconds(node_pids), own_cpu_seconds()
                rate, failed = await cluster_round(config, args.clients, args.seconds, args.keys, round_number)
                cpu += cpu_seconds(node_pids) - cpu_before
                client_cpu += own_cpu_seconds() - client_before
                ops += rate * args.seconds + failed
                cluster_rates.append(rate)
                failures += failed
                echo_rates.append(await echo_round(echo_port, args.clients, args.seconds, args.echo_transport))
                print(
                    f"round {round_number + 1}: cluster {rate:,.0f} ops/s ({failed} not ok), "
                    f"echo {echo_rates[-1]:,.0f} req/s",
                    flush=True,
                )
            after = await cluster_counters(config)
    cluster = statistics.median(cluster_rates)
    echo = statistics.median(echo_rates)
    print(f"mode={args.mode} clients={args.clients} seconds={args.seconds:g} rounds={args.rounds} keys={args.keys} "
          f"fsync={args.fsync}")
    print(f"cluster (5 nodes, N=3 W=1 R=1, 50/50 put/get): {cluster:,.0f} ops/s (median; {failures} ops not ok)")
    label = "bare Trio UDP echo pair" if args.echo_transport == "trio" else "echo pair over minikeydb UdpTransport"
    print(f"{label + ':':<47}{echo:,.0f} req/s (median)")
    print(f"ratio cluster/echo: {cluster / echo:.2f} (bar: >= 0.30)")
    per_op = {name: (after[name] - before[name]) / max(ops, 1) for name in COUNTED}
    print("per cluster op (node counters, all nodes): " + ", ".join(f"{k} {v:.2f}" for k, v in per_op.items()))
    print(f"CPU per cluster op (nodes + clients, {args.mode}): {cpu / max(ops, 1) * 1e6:,.0f} us, of which "
          f"the client process {client_cpu / max(ops, 1) * 1e6:,.0f} us")


def print_profile(path: Path, top: int = 25) -> None:
    if not path.exists():
        print(f"no profile written to {path}", file=sys.stderr)
        return
    print(f"\nnode n1 profile ({path}), top {top} by own time:")
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["inprocess", "processes"], default="inprocess")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client loops (16 to 64)")
    parser.add_argument(
        "--echo-transport", choices=ECHO_TRANSPORTS, default="trio",
        help="the echo pair's sockets: trio (trio.socket, the baseline the bar names) or minikeydb "
        "(the nodes' own UdpTransport, which skips trio.socket's per-send address resolution)",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--fsync", choices=["inline", "thread"], default="inline",
                        help="where the nodes' group-commit fsync runs (the config's fsync setting)")
    parser.add_argument("--journal", choices=["off", "ab", "ab-applies"], default="off",
                        help="ab: the journal's cost instead: one in-process cluster wrapped as in udp mode, rounds "
                        "alternating journal off and full (issue #15); ab-applies: the same with the applies level (no datagrams)")
    parser.add_argument("--journal-writer", choices=["inline", "thread", "process"], default=None,
                        help="with --journal: where the journal encodes (default: as a udp run chooses, journal_writer)")
    parser.add_argument("--profile-node", type=Path, default=None, metavar="FILE",
                        help="processes mode: run n1 under cProfile, save to FILE and print the top entries")
    args = parser.parse_args()
    if args.profile_node is not None and args.mode != "processes":
        parser.error("--profile-node needs --mode processes")
    if args.clients < 1 or args.seconds <= 0 or args.rounds < 1 or args.keys < 1:
        parser.error("--clients, --seconds, --rounds and --keys must be positive")
    if args.profile_node is not None:
        args.profile_node = args.profile_node.resolve()
    if args.journal in ("ab", "ab-applies"):
        if args.mode != "inprocess":
            parser.error("--journal ab needs --mode inprocess (the harness journals in-process clusters)")
        trio.run(journal_ab, args)
        return 0
    trio.run(run, args)
    if args.profile_node is not None:
        print_profile(args.profile_node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
