"""Soak: a cluster at a steady rate with faults for minutes; RSS per node and queue sizes stay flat.

Usage: python bench/soak.py [--minutes 5] [--warmup 30] [--rate 100] [--keys 200] [--kill]

Three nodes (N=3, W=2) run as their own OS processes, so each has its own resident set size
(VmRSS from /proc/<pid>/status). Clients put, get and delete a bounded key set (``--keys``) at
``--rate`` ops/s through random coordinators, and the faults never stop: every ``--fault-every``
seconds one node is paused (SIGSTOP) for ``--fault-for`` seconds, so the others pile up retries,
outbox entries and hints for it; a trickle of garbage datagrams (bench/flood.py's kinds) arrives
all along. With ``--kill`` every other fault is a SIGKILL and a restart instead; a restarted node's
RSS starts over, so it is marked and left out of the bar.

Every ``--sample`` seconds a line shows per node RSS and the queue sizes a node reports to
``Client.stats`` (hints, outboxes, reply cache, replicated-id cache, tombstones, requests
waiting). At the end: the sample after warm-up next to the last one, and the bar: end RSS at most
1.2 x the value after warm-up, for every node that was never restarted. When every node was
restarted nothing was compared: the soak says so and exits 2 (no verdict), never PASS.
Exit codes: 0 PASS, 1 FAIL, 2 no verdict.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import attrs
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flood import ClientLoad, NodeProcesses, bench_config, garbage_datagrams  # noqa: E402

from minikeydb.client import Client  # noqa: E402
from minikeydb.transport import UdpTransport  # noqa: E402

QUEUES = ("hints_pending", "outbox", "reply_cache", "seen_replication_ids", "tombstones", "requests_waiting",
          "client_requests_inflight", "keys")
SHORT = {"hints_pending": "hints", "outbox": "outbox", "reply_cache": "replies", "seen_replication_ids": "seen",
         "tombstones": "tombs", "requests_waiting": "waiting", "client_requests_inflight": "inflight", "keys": "keys"}
RSS_BAR = 1.2


@attrs.frozen
class Sample:
    at: float
    ops: int
    rss_kib: dict[str, int]
    queues: dict[str, dict[str, int] | None]


@attrs.define
class Soak:
    cluster: NodeProcesses
    client: Client
    rng: random.Random
    fault_every: float
    fault_for: float
    kill: bool
    restarted: set[str] = attrs.field(factory=set)
    faults: Counter[str] = attrs.field(factory=Counter)
    garbage_sent: int = 0
    steady: trio.Lock = attrs.field(factory=trio.Lock)
    """Held while a fault is on, so that samples are taken with every node running."""

    async def faults_loop(self) -> None:
        """One node at a time: paused (SIGSTOP) or, with ``kill``, SIGKILLed and restarted."""
        node_ids = list(self.cluster.config.node_ids)
        round_ = 0
        while True:
            await trio.sleep(self.fault_every)
            node = self.rng.choice(node_ids)
            round_ += 1
            async with self.steady:
                await self._fault(node, kill=self.kill and round_ % 2 == 0)

    async def _fault(self, node: str, *, kill: bool) -> None:
        if kill:
            await self.cluster.kill(node)
            self.faults["kill"] += 1
            await trio.sleep(self.fault_for)
            await self.cluster.start(node)
            await self.cluster.wait_ready(self.client, [node])
            self.restarted.add(node)
        else:
            proc = self.cluster.procs[node]
            proc.send_signal(signal.SIGSTOP)
            self.faults["pause"] += 1
            try:
                await trio.sleep(self.fault_for)
            finally:
                proc.send_signal(signal.SIGCONT)

    async def garbage_loop(self, per_second: float) -> None:
        """Garbage to a random node, ``per_second`` on average, all along."""
        secret = self.cluster.secret.encode()
        raw = await UdpTransport.bind()
        try:
            batch = 0
            while True:
                datagrams = garbage_datagrams(int(per_second), secret, seed=batch)
                batch += 1
                for _, data in datagrams:
                    node = self.cluster.config.node(self.rng.choice(self.cluster.config.node_ids))
                    await raw.send(data, node.address)
                    self.garbage_sent += 1
                await trio.sleep(1.0)
        finally:
            raw.close()

    async def sample(self, started: float, load: ClientLoad) -> Sample:
        async with self.steady:
            return await self._sample(started, load)

    async def _sample(self, started: float, load: ClientLoad) -> Sample:
        queues: dict[str, dict[str, int] | None] = {}
        for node in self.cluster.config.node_ids:
            stats = await self.client.stats(node)
            queues[node] = None if stats is None else {q: stats.get(q, 0) for q in QUEUES}
        rss = {node: self.cluster.rss_kib(node) for node in self.cluster.config.node_ids}
        return Sample(time.monotonic() - started, sum(load.outcomes.values()), rss, queues)


def format_sample(s: Sample, restarted: set[str]) -> str:
    cells = [f"{s.at:6.0f}s {s.ops:>7} ops"]
    for node, rss in s.rss_kib.items():
        q = s.queues[node]
        mark = "*" if node in restarted else ""
        if q is None:
            cells.append(f"{node}{mark} {rss / 1024:5.1f}MB (no answer)")
        else:
            cells.append(f"{node}{mark} {rss / 1024:5.1f}MB " + " ".join(f"{SHORT[k]}={q[k]}" for k in QUEUES))
    return " | ".join(cells)


async def run_soak(args: argparse.Namespace, workdir: Path) -> tuple[Sample, Sample, Soak, ClientLoad]:
    config = bench_config(workdir / "data", args.nodes, write_quorum=2)
    cluster = NodeProcesses(config, workdir)
    total = args.minutes * 60
    try:
        async with Client.connect(config, codec=cluster.codec()) as client:
            await cluster.start_all(client)
            soak = Soak(cluster, client, random.Random(args.seed), args.fault_every, args.fault_for, args.kill)
            load = ClientLoad(client, config.node_ids, keys=args.keys, rate=args.rate, concurrency=16,
                              seed=args.seed, deletes=0.1)
            started = time.monotonic()
            warm: Sample | None = None
            last: Sample | None = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(load.run, total)
                nursery.start_soon(soak.faults_loop)
                nursery.start_soon(soak.garbage_loop, args.garbage_rate)
                next_sample = args.warmup
                while True:
                    await trio.sleep_until(trio.current_time() + max(0.0, next_sample - (time.monotonic() - started)))
                    last = await soak.sample(started, load)
                    if warm is None:
                        warm = last
                        print("after warm-up:", flush=True)
                    print(format_sample(last, soak.restarted), flush=True)
                    if time.monotonic() - started >= total:
                        break
                    next_sample = min(total, next_sample + args.sample)
                nursery.cancel_scope.cancel()
            assert warm is not None and last is not None
            return warm, last, soak, load
    finally:
        await cluster.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="total soak time (default 5)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the first sample (default 30)")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--rate", type=float, default=100.0, help="client ops per second (default 100)")
    parser.add_argument("--keys", type=int, default=200, help="size of the key set (default 200)")
    parser.add_argument("--nodes", type=int, default=3, help="nodes, N=3 W=2 (default 3)")
    parser.add_argument("--fault-every", type=float, default=15.0, help="seconds between faults (default 15)")
    parser.add_argument("--fault-for", type=float, default=4.0, help="seconds a fault lasts (default 4)")
    parser.add_argument("--garbage-rate", type=float, default=50.0, help="garbage datagrams per second (default 50)")
    parser.add_argument("--kill", action="store_true", help="every other fault is SIGKILL + restart")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.minutes * 60 <= args.warmup or min(args.rate, args.keys, args.sample, args.fault_every, args.fault_for) <= 0:
        parser.error("--minutes must exceed --warmup, and rates, sizes and intervals must be positive")
    if args.nodes < 3:
        parser.error("--nodes must be at least 3 (N=3)")
    with tempfile.TemporaryDirectory(prefix="minikeydb-soak-") as tmp:
        warm, last, soak, load = trio.run(run_soak, args, Path(tmp))
    print()
    print(f"soak: {args.minutes:g} min, {sum(load.outcomes.values())} ops at {args.rate:g}/s over {args.keys} keys, "
          f"faults {dict(soak.faults)}, garbage datagrams {soak.garbage_sent}")
    print(f"outcomes: {dict(sorted(load.outcomes.items()))}")
    verdict, lines = rss_verdict(warm.rss_kib, last.rss_kib, soak.restarted)
    print("\n".join(lines))
    return {True: 0, False: 1}.get(verdict, 2)  # type: ignore[call-overload]


def rss_verdict(warm: dict[str, int], last: dict[str, int], restarted: set[str]) -> tuple[bool | None, list[str]]:
    """The RSS bar over the nodes never restarted: True (PASS), False (FAIL), or None when none was compared.

    A node restarted during the soak starts its RSS over, so it is listed but not compared. When
    every node was restarted the check compared nothing: it says so and does not pass.
    """
    lines = ["node   RSS after warm-up   RSS at end   ratio"]
    compared, failed = [], []
    for node in warm:
        before, after = warm[node], last[node]
        ratio = after / before if before else float("inf")
        note = "  (restarted: not comparable)" if node in restarted else ""
        if node not in restarted:
            compared.append(node)
            if ratio > RSS_BAR:
                failed.append(node)
        lines.append(f"{node:<6} {before / 1024:13.1f} MB {after / 1024:9.1f} MB   {ratio:5.2f}{note}")
    bar = f"end RSS <= {RSS_BAR} x after warm-up on every node never restarted"
    if not compared:
        lines.append(f"verdict: NO VERDICT: every node was restarted, so no RSS was compared ({bar}); "
                     "run longer between kills, or without --kill")
        return None, lines
    ok = not failed
    lines.append(f"verdict: {'PASS' if ok else 'FAIL'} ({bar}; compared {len(compared)} of {len(warm)} node(s): "
                 f"{', '.join(compared)}" + (f"; over the bar: {', '.join(failed)}" if failed else "") + ")")
    return ok, lines


if __name__ == "__main__":
    sys.exit(main())
