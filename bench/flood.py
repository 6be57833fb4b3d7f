"""Flood: 20,000 garbage datagrams at a live node while clients work; their p99 with and without it.

Usage: python bench/flood.py [--count 20000] [--flood-rate 4000] [--seconds 5] [--rate 200]

Three nodes (N=3, W=2) run as their own OS processes (``python -m minikeydb serve``), so the
flooder, the clients and the node under attack do not share one interpreter. The clients (in this
process) put and get 50 keys through random coordinators at ``--rate`` ops/s, first for
``--seconds`` undisturbed (the baseline), then while a separate sender process fires ``--count``
garbage datagrams at node n1 at ``--flood-rate`` per second. The garbage is what an attacker
without the cluster secret can send: random bytes, truncated, oversized, wrong magic or version,
forged (signed with another secret), tag-flipped, and genuine datagrams captured an hour ago and
replayed (stale). Every forged or replayed one would write a ``flood-*`` key if it were believed.

Printed: sent; received by n1 (the sum of its ``dropped_*`` counters: the kernel may drop some
when the socket buffer is full); applied (``flood-*`` keys in n1's storage, read locally: must be
0; with N=3 of 3 nodes n1 holds every key, so a forged write it believed would be there); n1
still answering; client p50/p99 and outcomes without and during the flood.

The helpers (``NodeProcesses``, ``garbage_datagrams``, ``ClientLoad``) are reused by
``bench/soak.py``, ``bench/crash_safety.py`` and ``tests/hardening``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikeydb.client import Client  # noqa: E402
from minikeydb.config import SECRET_ENV, ClusterConfig, parse_config, write_config  # noqa: E402
from minikeydb.record import Record  # noqa: E402
from minikeydb.testing.seeds import Seeds  # noqa: E402
from minikeydb.transport import free_udp_ports  # noqa: E402
from minikeydb.wire import (  # noqa: E402
    HEADER_SIZE,
    MAX_DATAGRAM,
    VERSION,
    AuthError,
    Codec,
    Delete,
    Put,
    Replicate,
    StaleError,
    WireError,
)
from runner.processes import stop_processes  # noqa: E402

DROP_COUNTERS = ("dropped_malformed", "dropped_auth", "dropped_stale")
FLOOD_KEY_PREFIX = "flood-"
BENCH_SECRET = "minikeydb-bench-secret"


# ---------------------------------------------------------------------------------------------
# Node processes




def bench_config(data_dir: Path, nodes: int = 3, *, replicas: int = 3, write_quorum: int = 2,
                 timeouts: dict[str, float] | None = None) -> ClusterConfig:
    """A loopback cluster on free ports with its data under ``data_dir``."""
    ports = free_udp_ports(nodes)
    data = {
        "cluster": {"replicas": replicas, "write_quorum": write_quorum, "data_dir": str(data_dir)},
        "timeouts": dict(timeouts or {}),
        "nodes": [{"id": f"n{i + 1}", "host": "127.0.0.1", "port": p} for i, p in enumerate(ports)],
    }
    return parse_config(data, "<bench config>")


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc/<pid>/status (VmRSS); 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class NodeProcesses:
    """Each node of a config as its own ``python -m minikeydb serve`` process.

    Separate processes give each node its own RSS to measure and a real SIGKILL to survive; the
    secret reaches them through ``$MINIKEYDB_SECRET``.
    """

    def __init__(self, config: ClusterConfig, workdir: Path, secret: str = BENCH_SECRET) -> None:
        self.config = config
        self.workdir = workdir
        self.secret = secret
        self.config_path = workdir / "cluster.toml"
        workdir.mkdir(parents=True, exist_ok=True)
        write_config(config, self.config_path)
        self.procs: dict[str, trio.Process] = {}
        self.kills = 0

    def codec(self) -> Codec:
        return Codec(self.secret.encode())

    async def start(self, node_id: str) -> None:
        log = (self.workdir / f"{node_id}.log").open("ab")
        try:
            self.procs[node_id] = await trio.lowlevel.open_process(
                [sys.executable, "-m", "minikeydb", "serve", "--config", str(self.config_path), "--node", node_id],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, SECRET_ENV: self.secret, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            log.close()

    async def start_all(self, client: Client) -> None:
        for node_id in self.config.node_ids:
            await self.start(node_id)
        await self.wait_ready(client, list(self.config.node_ids))

    async def wait_ready(self, client: Client, node_ids: list[str], timeout: float = 20.0) -> None:
        """Until every node answers a stats request."""
        with trio.fail_after(timeout):
            for node_id in node_ids:
                while await client.stats(node_id) is None:
                    if self.procs[node_id].returncode is not None:
                        raise RuntimeError(f"node {node_id} exited; see {self.workdir}/{node_id}.log")

    def alive(self, node_id: str) -> bool:
        return self.procs[node_id].returncode is None

    def rss_kib(self, node_id: str) -> int:
        return rss_kib(self.procs[node_id].pid)

    async def kill(self, node_id: str) -> None:
        """SIGKILL: whatever is not yet durable is gone, as in a power cut."""
        proc = self.procs[node_id]
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
            self.kills += 1

    async def stop_all(self) -> None:
        await stop_processes(self.procs.values())


# ---------------------------------------------------------------------------------------------
# Garbage


def expected_counter(codec: Codec, datagram: bytes) -> str:
    """Which ``dropped_*`` counter a node with ``codec`` bumps for ``datagram`` (it must not decode)."""
    try:
        codec.decode(datagram)
    except AuthError:
        return "dropped_auth"
    except StaleError:
        return "dropped_stale"
    except WireError:
        return "dropped_malformed"
    raise ValueError("a garbage datagram decoded as a real message")


GARBAGE_KINDS = ("random", "truncated", "oversized", "magic", "version", "forged", "tag-flipped", "stale")


def garbage_datagrams(count: int, secret: bytes, seed: int = 0) -> list[tuple[str, bytes]]:
    """``count`` datagrams an attacker without ``secret`` can send, cycling through ``GARBAGE_KINDS``.

    Forged, tag-flipped and stale ones carry a Put, Delete or Replicate of a ``flood-*`` key, so a
    single one believed would show up as a stored key.
    """
    rng = random.Random(seed)
    real = Codec(secret)
    past = Codec(secret, now=lambda: time.time() - 3600)
    forger = Codec(b"not-the-cluster-secret")

    def message(i: int) -> Put | Delete | Replicate:
        key = f"{FLOOD_KEY_PREFIX}{i}"
        choice = i % 3
        if choice == 0:
            return Put(rng.getrandbits(62) + 1, key, "evil", (int(time.time() * 1e6), 0, "c" + "e" * 16), 1)
        if choice == 1:
            return Delete(rng.getrandbits(62) + 1, key, (int(time.time() * 1e6), 0, "c" + "e" * 16), 1)
        stamp = (int(time.time() * 1e6) + 10**12, 0, "n1")  # far in the future: would win any merge
        return Replicate(rng.getrandbits(62) + 1, "n1", (Record(key, "evil", stamp),))

    out: list[tuple[str, bytes]] = []
    for i in range(count):
        kind = GARBAGE_KINDS[i % len(GARBAGE_KINDS)]
        if kind == "random":
            data = rng.randbytes(rng.randrange(0, 600))
            if data[:2] == b"MK":
                data = b"XX" + data[2:]
        elif kind == "truncated":
            whole = real.encode(message(i))
            data = whole[: rng.randrange(0, len(whole))]
        elif kind == "oversized":
            data = real.encode(message(i)) + rng.randbytes(MAX_DATAGRAM + 100 - HEADER_SIZE)
        elif kind == "magic":
            data = b"XK" + real.encode(message(i))[2:]
        elif kind == "version":
            whole = real.encode(message(i))
            data = whole[:2] + bytes([rng.choice([0, VERSION + 1, 255])]) + whole[3:]
        elif kind == "forged":
            data = forger.encode(message(i))
        elif kind == "tag-flipped":
            flipped = bytearray(real.encode(message(i)))
            flipped[HEADER_SIZE - 1 - rng.randrange(32)] ^= 1 << rng.randrange(8)
            data = bytes(flipped)
        else:  # stale: a genuine datagram recorded an hour ago
            data = past.encode(message(i))
        out.append((kind, data))
    return out


def write_datagrams(datagrams: list[bytes], path: Path) -> None:
    """Length-prefixed datagrams in one file, for the sender process."""
    with path.open("wb") as out:
        for data in datagrams:
            out.write(len(data).to_bytes(4, "big") + data)


def read_datagrams(path: Path) -> list[bytes]:
    blob = path.read_bytes()
    out, pos = [], 0
    while pos < len(blob):
        size = int.from_bytes(blob[pos : pos + 4], "big")
        out.append(blob[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def send_paced(datagrams: list[bytes], dest: tuple[str, int], rate: float) -> float:
    """Send every datagram to ``dest`` at ``rate`` per second (blocking socket); returns seconds taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.perf_counter()
    try:
        for i, data in enumerate(datagrams):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                sock.sendto(data, dest)
            except OSError:
                pass  # ENOBUFS and friends: the datagram is lost, as on a wire
    finally:
        sock.close()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Client load


@attrs.define
class ClientLoad:
    """Clients doing puts and gets at a steady rate; latencies of the ops that got an answer."""

    client: Client
    node_ids: tuple[str, ...]
    keys: int = 50
    rate: float = 200.0
    concurrency: int = 8
    seed: int = 0
    deletes: float = 0.0
    """Share of operations that are deletes (the rest split evenly between puts and gets)."""
    latencies: list[float] = attrs.field(factory=list)
    outcomes: Counter[str] = attrs.field(factory=Counter)
    on_op: Callable[[str, str, str | None, str], None] | None = None
    """Called after each operation with (op, key, value written or None, outcome)."""

    async def run(self, seconds: float) -> None:
        async with trio.open_nursery() as nursery:
            for worker in range(self.concurrency):
                nursery.start_soon(self._worker, worker, seconds)

    async def _worker(self, worker: int, seconds: float) -> None:
        rng = Seeds(self.seed).rng("flood-worker", worker)
        period = self.concurrency / self.rate
        deadline = trio.current_time() + seconds
        step = 0
        next_at = trio.current_time() + rng.uniform(0, period)
        while True:
            await trio.sleep_until(next_at)
            if trio.current_time() >= deadline:
                return
            # A slow answer (a paused node) does not turn into a burst afterwards: skip missed slots.
            next_at = max(next_at + period, trio.current_time())
            key = f"k{rng.randrange(self.keys)}"
            node = rng.choice(self.node_ids)
            started = time.perf_counter()
            draw = rng.random()
            if draw < self.deletes:
                value = None
                result = await self.client.delete(key, node=node)
                op = "delete"
            elif draw < self.deletes + (1 - self.deletes) / 2:
                value = f"{self.seed}-{worker}-{step}"
                result = await self.client.put(key, value, node=node)
                op = "put"
            else:
                value = None
                result = await self.client.get(key, node=node)
                op = "get"
            elapsed = time.perf_counter() - started
            step += 1
            self.outcomes[f"{op}:{result.outcome}"] += 1
            if result.outcome != "unknown":
                self.latencies.append(elapsed)
            if self.on_op is not None:
                self.on_op(op, key, value, result.outcome)

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(samples: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) in milliseconds; NaN with no samples."""
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0] * 1000
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(p * 10) - 1] * 1000


# ---------------------------------------------------------------------------------------------
# The benchmark


@attrs.frozen
class FloodFigures:
    sent: int
    sent_by_kind: dict[str, int]
    expected_by_counter: dict[str, int]
    received_by_counter: dict[str, int]
    applied: int
    still_answering: bool
    flood_seconds: float
    baseline_p50: float
    baseline_p99: float
    flood_p50: float
    flood_p99: float
    baseline_outcomes: dict[str, int]
    flood_outcomes: dict[str, int]

    @property
    def received(self) -> int:
        return sum(self.received_by_counter.values())


async def count_flood_keys(client: Client, node: str, count: int, concurrency: int = 64) -> int:
    """How many ``flood-*`` keys ``node`` holds (local reads, no repair): forged writes it applied.

    Every forged write was sent to this node, which replicates every key (N equals the cluster
    size here), so one it believed is in its own storage whatever happened elsewhere.
    """
    found = 0
    indexes = iter(range(count))

    async def look() -> None:
        nonlocal found
        for i in indexes:
            result = await client.get(f"{FLOOD_KEY_PREFIX}{i}", node=node, local=True)
            if result.outcome != "ok" or result.stamp is not None:
                found += 1  # present (value or tombstone), or unanswered: counted against the store

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(look)
    return found


def drop_counts(stats: dict[str, int] | None) -> dict[str, int]:
    return {name: (stats or {}).get(name, 0) for name in DROP_COUNTERS}


async def run_flood(count: int, flood_rate: float, seconds: float, rate: float, workdir: Path) -> FloodFigures:
    config = bench_config(workdir / "data")
    cluster = NodeProcesses(config, workdir)
    codec = cluster.codec()
    garbage = garbage_datagrams(count, cluster.secret.encode(), seed=1)
    expected = Counter(expected_counter(codec, data) for _, data in garbage)
    blob = workdir / "garbage.bin"
    write_datagrams([data for _, data in garbage], blob)
    target = config.node("n1").address
    try:
        async with Client.connect(config, codec=codec) as client:
            await cluster.start_all(client)
            await ClientLoad(client, config.node_ids, rate=rate, seed=0).run(1.0)  # warm-up
            baseline = ClientLoad(client, config.node_ids, rate=rate, seed=1)
            await baseline.run(seconds)
            before = drop_counts(await client.stats("n1"))
            flooded = ClientLoad(client, config.node_ids, rate=rate, seed=2)
            sender_done = trio.Event()
            took = 0.0

            async def flood() -> None:
                nonlocal took
                start = time.perf_counter()
                await trio.run_process(
                    [sys.executable, __file__, "--send", str(blob), "--target", f"{target[0]}:{target[1]}",
                     "--flood-rate", str(flood_rate)],
                )
                took = time.perf_counter() - start
                sender_done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                await trio.sleep(0.2)  # the sender process is running before the clients measure
                while not sender_done.is_set():
                    await flooded.run(0.5)
            await trio.sleep(0.5)
            after = drop_counts(await client.stats("n1"))
            answering = cluster.alive("n1") and (await client.put("after-flood", "x", node="n1")).ok
            applied = await count_flood_keys(client, "n1", count)
    finally:
        await cluster.stop_all()
    return FloodFigures(
        sent=count,
        sent_by_kind=dict(Counter(kind for kind, _ in garbage)),
        expected_by_counter=dict(expected),
        received_by_counter={k: after[k] - before[k] for k in DROP_COUNTERS},
        applied=applied,
        still_answering=answering,
        flood_seconds=took,
        baseline_p50=baseline.percentile(50), baseline_p99=baseline.percentile(99),
        flood_p50=flooded.percentile(50), flood_p99=flooded.percentile(99),
        baseline_outcomes=dict(baseline.outcomes), flood_outcomes=dict(flooded.outcomes),
    )


def print_figures(f: FloodFigures, rate: float) -> None:
    print(f"garbage datagrams sent to n1: {f.sent} in {f.flood_seconds:.1f} s "
          f"({f.sent / max(f.flood_seconds, 1e-9):.0f}/s)")
    print("  by kind: " + ", ".join(f"{k} {v}" for k, v in f.sent_by_kind.items()))
    print("  counter          expected   counted by n1")
    for name in DROP_COUNTERS:
        print(f"  {name:<16} {f.expected_by_counter.get(name, 0):>8}   {f.received_by_counter[name]:>8}")
    print(f"  received by n1: {f.received} (lost in the kernel: {f.sent - f.received})")
    print(f"  applied (flood-* keys stored by n1, which replicates every key): {f.applied}")
    print(f"  n1 still answering: {'yes' if f.still_answering else 'NO'}")
    print(f"client latency at {rate:.0f} ops/s   p50 ms   p99 ms   outcomes")
    print(f"  without flood            {f.baseline_p50:7.2f}  {f.baseline_p99:7.2f}   {f.baseline_outcomes}")
    print(f"  during flood             {f.flood_p50:7.2f}  {f.flood_p99:7.2f}   {f.flood_outcomes}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="garbage datagrams (default 20000)")
    parser.add_argument("--flood-rate", type=float, default=4000.0, help="garbage datagrams per second (default 4000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of baseline load (default 5)")
    parser.add_argument("--rate", type=float, default=200.0, help="client ops per second (default 200)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    parser.add_argument("--send", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send is not None:  # the sender process
        host, port = args.target.rsplit(":", 1)
        send_paced(read_datagrams(args.send), (host, int(port)), args.flood_rate)
        return 0
    if args.count <= 0 or args.flood_rate <= 0 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--count, --flood-rate, --seconds and --rate must be positive")
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    with tempfile.TemporaryDirectory(prefix="minikeydb-flood-") as tmp:
        workdir = args.dir or Path(tmp)
        figures = trio.run(run_flood, args.count, args.flood_rate, args.seconds, args.rate, workdir)
    print_figures(figures, args.rate)
    ok = figures.applied == 0 and figures.still_answering
    print(f"verdict: {'PASS' if ok else 'FAIL'} (applied must be 0 and n1 must keep answering)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
