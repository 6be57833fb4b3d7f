"""What the nemesis costs: per-datagram overhead of the faulty wrapper and of the UDP router.

Run ``python bench/nemesis_overhead.py``. It sends a fixed number of small datagrams one way
between two endpoints, healthy (no faults set), and prints datagrams per second and microseconds
per datagram for: a raw in-memory pair, the same pair wrapped by ``FaultyNetwork``, a raw UDP
pair, the wrapped UDP pair, and a UDP pair talking through ``UdpRouter``. One short pass each,
so it stays cheap on a shared machine; treat the figures as orders of magnitude.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # first, even with PYTHONPATH set: bench/checker.py must not shadow the checker package

from minikeydb.testing.network import MemoryNetwork  # noqa: E402
from minikeydb.transport import Transport, UdpTransport  # noqa: E402
from nemesis.faulty_network import FaultyNetwork  # noqa: E402
from nemesis.link_faults import FaultModel  # noqa: E402
from nemesis.udp_router import UdpRouter  # noqa: E402

COUNT = 20_000
ROUND_TRIPS = 2_000
PAYLOAD = b"x" * 100


async def _one_way(sender: Transport, receiver: Transport, dest: tuple[str, int], count: int) -> tuple[float, str]:
    """Datagrams received per second, from the first send to the last arrival (the receiver drains concurrently)."""
    received = 0
    last = 0.0
    done = trio.Event()

    async def drain() -> None:
        nonlocal received, last
        while received < count:
            await receiver.recv()
            received += 1
            last = time.perf_counter()
        done.set()

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain)
        for i in range(count):
            await sender.send(PAYLOAD, dest)
            if i % 64 == 63:
                await trio.sleep(0)  # let the receiver keep the socket buffer from overflowing
        with trio.move_on_after(2):
            await done.wait()
        nursery.cancel_scope.cancel()
    lost = f"  ({count - received} of {count} lost: the receiver fell behind)" if received < count else ""
    rate = received / (last - start)
    return rate, lost


async def _round_trips(client: Transport, server: Transport, dest: tuple[str, int], count: int) -> float:
    """Mean microseconds per request/response round trip, one outstanding at a time."""

    async def echo() -> None:
        while True:
            data, src = await server.recv()
            await server.send(data, src)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        start = time.perf_counter()
        for _ in range(count):
            await client.send(PAYLOAD, dest)
            await client.recv()
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return elapsed / count * 1e6


def _report(name: str, result: tuple[float, str]) -> None:
    rate, lost = result
    print(f"{name:<28} one-way {rate:>10,.0f} datagrams/s  {1e6 / rate:>6.1f} us/datagram{lost}")


async def main() -> None:
    memory = MemoryNetwork(inbox_size=COUNT + 1)
    a, b = memory.endpoint(), memory.endpoint()
    _report("memory raw", await _one_way(a, b, b.address, COUNT))
    async with trio.open_nursery() as nursery:
        net = FaultyNetwork(random.Random(0), {"a": a.address, "b": b.address})
        net.attach(nursery)
        fa, fb = net.wrap(a, "a"), net.wrap(b, "b")
        _report("memory + FaultyNetwork", await _one_way(fa, fb, fb.address, COUNT))

    ua, ub = await UdpTransport.bind(), await UdpTransport.bind()
    _report("udp raw", await _one_way(ua, ub, ub.address, COUNT))
    async with trio.open_nursery() as nursery:
        net = FaultyNetwork(random.Random(0), {"a": ua.address, "b": ub.address})
        net.attach(nursery)
        _report("udp + FaultyNetwork", await _one_way(net.wrap(ua, "a"), net.wrap(ub, "b"), ub.address, COUNT))
        router = await UdpRouter.open(
            FaultModel(random.Random(0)),
            {"a": ua.address, "b": ub.address},
            {"a": ("127.0.0.1", 0), "b": ("127.0.0.1", 0)},
        )
        await nursery.start(router.run)
        _report("udp through UdpRouter", await _one_way(ua, ub, router.proxy["b"], COUNT))
        raw_rtt = await _round_trips(ua, ub, ub.address, ROUND_TRIPS)
        routed_rtt = await _round_trips(ua, ub, router.proxy["b"], ROUND_TRIPS)
        print(f"udp round trip: raw {raw_rtt:.0f} us, through UdpRouter {routed_rtt:.0f} us")
        router.close()
    ua.close()
    ub.close()


if __name__ == "__main__":
    trio.run(main)
