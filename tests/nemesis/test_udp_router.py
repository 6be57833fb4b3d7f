"""The UDP router between node processes: addressing both ways, and the shared fault model on the way."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import attrs
import pytest
import trio

from minikeydb.transport import UdpTransport
from nemesis.link_faults import DelayDistribution, FaultModel
from nemesis.topology import make_partition
from nemesis.udp_router import UdpRouter
from tests.nemesis.conftest import exchange

NODES = ["n1", "n2", "n3"]


@attrs.define
class Routed:
    model: FaultModel
    router: UdpRouter
    real: dict[str, UdpTransport]


@pytest.fixture
async def routed(nursery: trio.Nursery) -> AsyncIterator[Routed]:
    real = {n: await UdpTransport.bind() for n in NODES}
    model = FaultModel(random.Random(99))
    router = await UdpRouter.open(
        model, {n: t.address for n, t in real.items()}, {n: ("127.0.0.1", 0) for n in NODES}
    )
    await nursery.start(router.run)
    yield Routed(model, router, real)
    router.close()
    for t in real.values():
        t.close()


async def test_router_forwards_both_ways_with_proxy_sources(routed: Routed):
    """n1 -> P_n2 arrives at n2 from P_n1, and n2's reply to that source arrives at n1 from P_n2."""
    proxy, real = routed.router.proxy, routed.real
    await real["n1"].send(b"ping", proxy["n2"])
    with trio.fail_after(2):
        data, src = await real["n2"].recv()
    assert (data, src) == (b"ping", proxy["n1"])
    await real["n2"].send(b"pong", src)
    with trio.fail_after(2):
        data, src = await real["n1"].recv()
    assert (data, src) == (b"pong", proxy["n2"])
    assert routed.router.forwarded == 2


async def test_router_applies_drop(routed: Routed):
    """With drop 0.3 on all links, about 30% of 2000 routed datagrams are lost, as counted."""
    routed.model.set_drop(0.3)

    async def send() -> None:
        for i in range(2000):
            await routed.real["n1"].send(b"%d" % i, routed.router.proxy["n3"])
            if i % 100 == 0:
                await trio.sleep(0.001)

    got = await exchange({"n3": routed.real["n3"]}, send, 0.3)
    counters = routed.model.counters
    assert counters.dropped + counters.passed == 2000
    assert len(got["n3"]) == counters.passed
    assert abs(counters.dropped / 2000 - 0.3) < 0.04


async def test_router_applies_partition_per_direction(routed: Routed):
    """A one-way partition in the model blocks exactly its cut directions through the router."""
    partition = make_partition("one-way", NODES, random.Random(4))
    routed.model.partition(partition.graph)

    async def all_pairs() -> None:
        for src in NODES:
            for dst in NODES:
                if src != dst:
                    await routed.real[src].send(src.encode(), routed.router.proxy[dst])

    got = await exchange(dict(routed.real), all_pairs, 0.2)
    delivered = {(data.decode(), dst) for dst, items in got.items() for data, _, _ in items}
    assert delivered == {(a, b) for a in NODES for b in NODES if a != b and partition.allows(a, b)}
    assert routed.model.counters.partitioned == 6 - len(delivered) > 0


async def test_router_applies_delay_and_duplicates(routed: Routed):
    """Delayed and duplicated datagrams through the router arrive late and twice, from the right proxy."""
    routed.model.set_delay(DelayDistribution.constant(0.05))
    routed.model.set_duplicate(1.0)

    async def send() -> None:
        await routed.real["n2"].send(b"x", routed.router.proxy["n1"])

    sent_at = trio.current_time()
    got = await exchange({"n1": routed.real["n1"]}, send, 0.2)
    assert [(d, s) for d, s, _ in got["n1"]] == [(b"x", routed.router.proxy["n2"])] * 2
    assert all(at - sent_at >= 0.05 for _, _, at in got["n1"])


async def test_router_ignores_unknown_sources(routed: Routed):
    """A datagram from an address that is no node's real address is counted and not forwarded."""
    stranger = await UdpTransport.bind()
    try:
        got = await exchange(
            {"n1": routed.real["n1"]}, lambda: stranger.send(b"?", routed.router.proxy["n1"]), 0.1
        )
    finally:
        stranger.close()
    assert got["n1"] == [] and routed.router.unknown_source == 1


async def test_router_rejects_mismatched_address_maps():
    """Real and proxy maps naming different nodes are refused before any socket is bound."""
    with pytest.raises(ValueError, match="must name the same nodes"):
        await UdpRouter.open(FaultModel(random.Random(0)), {"a": ("127.0.0.1", 1)}, {"b": ("127.0.0.1", 0)})


async def test_router_counts_a_delayed_datagram_lost_with_its_proxy_once(routed: Routed):
    """10 datagrams delayed 0.3 s, then n1's proxy closes before they are due: each is lost_in_flight, not also
    passed (before: passed 10 and lost_in_flight 10)."""
    routed.model.set_delay(DelayDistribution.constant(0.3))
    for i in range(10):
        await routed.real["n1"].send(b"%d" % i, routed.router.proxy["n3"])
    with trio.fail_after(2):
        while routed.model.counters.delayed < 10:
            await trio.sleep(0.01)
    routed.router._proxies["n1"].close()
    await trio.sleep(0.6)
    counters = routed.model.counters
    assert (counters.passed, counters.lost_in_flight) == (0, 10), counters
