"""Replay one captured client write many times, from many source ports, to every node.

The attack of issue #12 (defect 3): an eavesdropper without the secret copies the datagram of a
genuine ``Put`` and sends it again within the 30 s replay window, after a newer write of the same
key was acknowledged. Before wire version 3, 5,000 copies produced thousands of new versions
and the old value overwrote the newer one on every replica. Now the version is the client's
stamp, so a copy is the same version: this prints how many records the replicas applied (0 is
the only passing figure) and whether the newer value survived, and exits 0 only then.

    python bench/replay.py [--copies 5000] [--sockets 50]

Three real nodes (UDP sockets, on-disk logs in a temporary directory) run in this process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikeydb.client import Client  # noqa: E402
from minikeydb.config import SECRET_ENV, parse_config  # noqa: E402
from minikeydb.node import Node  # noqa: E402
from minikeydb.server import serve_cluster  # noqa: E402
from minikeydb.transport import UdpTransport, free_udp_ports  # noqa: E402
from minikeydb.wire import Codec, Put  # noqa: E402
from nemesis.tap import TapTransport  # noqa: E402


def quiet(nodes: list[Node]) -> bool:
    return all(n.replicator.outbox_size == 0 and n.messenger.waiting == 0 for n in nodes)


async def settle(nodes: list[Node], timeout: float = 10.0) -> None:
    with trio.move_on_after(timeout):
        while not quiet(nodes):
            await trio.sleep(0.05)


async def attack(copies: int, sockets: int, data_dir: Path) -> bool:
    ports = free_udp_ports(3)
    config = parse_config(
        {"cluster": {"replicas": 3, "data_dir": str(data_dir)},
         "nodes": [{"id": f"n{i + 1}", "host": "127.0.0.1", "port": p} for i, p in enumerate(ports)]},
        "<bench/replay.py>",
    )
    codec = Codec(config.load_secret())
    async with trio.open_nursery() as nursery:
        nodes: list[Node] = await nursery.start(serve_cluster, config)
        tap = TapTransport(await UdpTransport.bind("127.0.0.1", 0))
        try:
            async with Client.connect(config, transport=tap) as victim:
                assert (await victim.put("victim", "old", node="n1", w=3)).ok
        finally:
            tap.close()
        captured = next(d for d in tap.sent if isinstance(codec.decode(d), Put))
        async with Client.connect(config) as honest:
            assert (await honest.put("victim", "new", node="n2", w=3)).ok
        await settle(nodes)
        before = {n.id: n.storage.stats["records_applied"] for n in nodes}
        senders = [await UdpTransport.bind("127.0.0.1", 0) for _ in range(sockets)]
        try:
            for i in range(copies):
                await senders[i % sockets].send(captured, nodes[i % len(nodes)].transport.address)
                if i % 100 == 99:
                    await trio.sleep(0.01)  # let the nodes read, so few copies are lost to full buffers
            await trio.sleep(1.0)
            await settle(nodes)
        finally:
            for sender in senders:
                sender.close()
        applied = {n.id: n.storage.stats["records_applied"] - before[n.id] for n in nodes}
        values = {n.id: (r.value if (r := n.storage.get("victim")) else None) for n in nodes}
        answered = sum(n.counters["client_duplicates"] for n in nodes)
        nursery.cancel_scope.cancel()
    kept = all(v == "new" for v in values.values())
    print(f"replayed one {len(captured)}-byte Put {copies} times from {sockets} sockets to 3 nodes")
    print(f"records applied per replica: {applied} (total {sum(applied.values())})")
    print(f"answered from reply caches: {answered}")
    print(f"value on each replica: {values}; newer acknowledged write kept: {kept}")
    ok = kept and sum(applied.values()) == 0
    print("PASS" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5000)
    parser.add_argument("--sockets", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault(SECRET_ENV, "bench-replay-secret-0123456789")
    with tempfile.TemporaryDirectory() as tmp:
        return 0 if trio.run(attack, args.copies, args.sockets, Path(tmp)) else 1


if __name__ == "__main__":
    sys.exit(main())
