"""Sustained writes: does acknowledged throughput hold, or collapse as replication backs up?

Usage: python bench/sustained_writes.py [--writers 64] [--seconds 60] [--mode processes|inprocess]
                                        [--nodes 3] [--value-size 100] [--window 5]

A MinikeyDB cluster on loopback UDP (``--nodes``, default 3; N=3, W=1, R=1, anti-entropy on,
the shipped timeouts) serves ``--writers`` closed-loop writers, each writing distinct keys
(``w<writer>-<n>``, never the same key twice) with W=1, as fast as answers come, for
``--seconds``. It prints the acknowledged writes/s of every ``--window`` seconds, the ratio of
the acknowledged rate of the last 30 s to that of the first 30 s (halves when the run is shorter
than 60 s; the bar of issue #12 is >= 0.8), and the end counters summed over the nodes: outbox,
hints_pending, hints_dropped, writes_overloaded (refused with a definite ``fail``), ae_pushed.

``--mode processes`` (default) runs each node as ``python -m minikeydb serve``, the writers in
this process; ``inprocess`` runs everything in this one Trio loop.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import inprocess_servers, print_profile, process_servers  # noqa: E402
from minikeydb.client import Client  # noqa: E402
from minikeydb.config import SECRET_ENV, ClusterConfig, parse_config  # noqa: E402
from minikeydb.transport import free_udp_ports  # noqa: E402

END_COUNTERS = ("outbox", "hints_pending", "hints_dropped", "hints_over_cap", "writes_overloaded", "ae_pushed",
                "ae_pulled", "ae_skipped_queued", "repair_shed", "outbox_overflow", "replicate_records", "keys")
"""Node counters summed over the cluster at the end of the run."""


def bench_config(data_dir: Path, nodes: int, anti_entropy_interval: float) -> ClusterConfig:
    ports = free_udp_ports(nodes)
    return parse_config(
        {
            "cluster": {"data_dir": str(data_dir), "replicas": 3, "write_quorum": 1, "read_quorum": 1},
            "timeouts": {"anti_entropy_interval": anti_entropy_interval},
            "nodes": [{"id": f"n{i + 1}", "host": "127.0.0.1", "port": p} for i, p in enumerate(ports)],
        },
        "<bench config>",
    )


async def cluster_counters(config: ClusterConfig, patience: float = 60.0) -> tuple[dict[str, int], list[str]]:
    """Counters summed over the nodes that answered (asked until ``patience`` runs out), and the silent ones."""
    totals: Counter[str] = Counter()
    silent = []
    async with Client.connect(config) as client:
        deadline = trio.current_time() + patience
        for node in config.node_ids:
            stats = None
            while stats is None and trio.current_time() < deadline:
                stats = await client.stats(node)
            if stats is None:
                silent.append(node)
                continue
            for name in END_COUNTERS:
                totals[name] += stats.get(name, 0)
    return dict(totals), silent


async def write_load(config: ClusterConfig, writers: int, seconds: float, window: float,
                     value_size: int) -> tuple[list[int], Counter[str]]:
    """Acknowledged writes per window, and the outcomes of every write answered."""
    windows = [0] * int(seconds / window + 0.999)
    outcomes: Counter[str] = Counter()
    value = "v" * value_size
    start = trio.current_time()

    async def writer(client: Client, index: int) -> None:
        n = 0
        while True:
            n += 1
            result = await client.put(f"w{index}-{n}", value, w=1)
            outcomes[result.outcome if result.ok or not result.error else f"{result.outcome}:{result.error}"] += 1
            if result.ok:
                slot = int((trio.current_time() - start) / window)
                if slot < len(windows):
                    windows[slot] += 1

    async def reporter() -> None:
        for slot in range(len(windows)):
            await trio.sleep_until(start + (slot + 1) * window + 0.05)
            print(f"  {slot * window:5.0f}-{(slot + 1) * window:<4.0f}s {windows[slot] / window:8,.0f} acked writes/s",
                  flush=True)

    async with Client.connect(config) as client, trio.open_nursery() as nursery:
        for i in range(writers):
            nursery.start_soon(writer, client, i)
        nursery.start_soon(reporter)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    return windows, outcomes


async def run(args: argparse.Namespace) -> None:
    os.environ.setdefault(SECRET_ENV, "sustained-writes-bench")
    with tempfile.TemporaryDirectory(prefix="minikeydb-sustained-") as tmp:
        workdir = Path(tmp)
        config = bench_config(workdir / "data", args.nodes, args.anti_entropy_interval)
        servers: AbstractAsyncContextManager[list[int]]
        echo_port = free_udp_ports(1)[0]  # the shared helpers start an echo server too; unused here
        if args.mode == "inprocess":
            servers = inprocess_servers(config, echo_port, "trio")
        else:
            servers = process_servers(config, echo_port, workdir, args.profile_node, "trio")
        async with servers:
            print(f"sustained writes: {args.nodes} nodes ({args.mode}), N=3 W=1, {args.writers} writers of distinct "
                  f"keys, {args.seconds:g} s, values of {args.value_size} bytes", flush=True)
            windows, outcomes = await write_load(config, args.writers, args.seconds, args.window, args.value_size)
            counters, silent = await cluster_counters(config)
    span = min(30.0, args.seconds / 2)
    per = max(1, int(span / args.window))
    first = sum(windows[:per]) / (per * args.window)
    last = sum(windows[-per:]) / (per * args.window)
    ratio = last / first if first else 0.0
    print(f"acked writes/s: first {per * args.window:g} s {first:,.0f}, last {per * args.window:g} s {last:,.0f}, "
          f"ratio last/first {ratio:.2f} (bar: >= 0.80)")
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())))
    answered = "all nodes" if not silent else f"nodes that answered; silent for 60 s: {', '.join(silent)}"
    print(f"anti_entropy_interval {args.anti_entropy_interval:g} s")
    print(f"end counters ({answered}): " + ", ".join(f"{k} {counters.get(k, 0):,}" for k in END_COUNTERS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=64, help="closed-loop writers of distinct keys")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the run")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per reported window")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--value-size", type=int, default=100, help="bytes per value")
    parser.add_argument("--mode", choices=["processes", "inprocess"], default="processes")
    parser.add_argument("--anti-entropy-interval", type=float, default=1.0,
                        help="the config's anti_entropy_interval (1.0 shipped; 1e6 is anti-entropy off in effect)")
    parser.add_argument("--profile-node", type=Path, default=None, metavar="FILE",
                        help="processes mode: run n1 under cProfile, save to FILE and print the top entries")
    args = parser.parse_args()
    if args.writers < 1 or args.seconds <= 0 or args.window <= 0 or args.nodes < 1 or args.value_size < 0:
        parser.error("--writers, --seconds, --window and --nodes must be positive, --value-size not negative")
    if args.seconds < 2 * args.window:
        parser.error("--seconds must cover at least two --window")
    if args.profile_node is not None:
        args.profile_node = args.profile_node.resolve()
    trio.run(run, args)
    if args.profile_node is not None:
        print_profile(args.profile_node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
