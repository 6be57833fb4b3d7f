"""The simulated network's faults are the real nemesis's: same configuration and seed, same effect.

The same ``FaultModel`` decides every datagram in all three places faults can live: the
``FaultyNetwork`` around in-memory endpoints in virtual time (sim mode), the same wrapper around
real UDP sockets (udp mode), and the ``UdpRouter`` between node processes (processes mode). Sent in
the same order with the same seed, the same datagrams must be lost, duplicated and delayed.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable

import networkx as nx
import pytest
import trio
import trio.testing

from minikeydb.testing.network import MemoryNetwork
from minikeydb.transport import Transport, UdpTransport
from nemesis import DelayDistribution, FaultModel, FaultyNetwork, LinkFaults, UdpRouter

SENT = 1500
IDLE = 0.5
Configure = Callable[[FaultModel], None]
"""Puts the faults under test on a fault model (the same call in every transport)."""
Result = tuple[Counter[int], dict[int, float]]


async def _exchange(sender: Transport, receiver: Transport, dest: tuple[str, int], spacing: float) -> Result:
    """Send ``SENT`` numbered datagrams; return how often each arrived and the first arrival's delay."""
    sent_at: dict[int, float] = {}
    arrivals: Counter[int] = Counter()
    delays: dict[int, float] = {}

    async def receive() -> None:
        while True:
            with trio.move_on_after(IDLE) as idle:
                data, _ = await receiver.recv()
            if idle.cancelled_caught:
                return
            seq = int(data)
            arrivals[seq] += 1
            delays.setdefault(seq, trio.current_time() - sent_at[seq])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        for seq in range(SENT):
            sent_at[seq] = trio.current_time()
            await sender.send(str(seq).encode(), dest)
            if spacing:
                await trio.sleep(spacing)
    return arrivals, delays


async def _over_memory(configure: Configure, seed: int, spacing: float) -> Result:
    memory = MemoryNetwork(latency=0.0)
    addresses = {"a": ("sim", 1), "b": ("sim", 2)}
    network = FaultyNetwork(random.Random(seed), addresses)
    async with trio.open_nursery() as nursery:
        network.attach(nursery)
        a = network.wrap(memory.endpoint(addresses["a"]), "a")
        b = network.wrap(memory.endpoint(addresses["b"]), "b")
        configure(network)
        result = await _exchange(a, b, addresses["b"], spacing)
        nursery.cancel_scope.cancel()
    return result


async def _over_udp(configure: Configure, seed: int, spacing: float) -> Result:
    raw_a, raw_b = await UdpTransport.bind(), await UdpTransport.bind()
    network = FaultyNetwork(random.Random(seed), {"a": raw_a.address, "b": raw_b.address})
    async with trio.open_nursery() as nursery:
        network.attach(nursery)
        a, b = network.wrap(raw_a, "a"), network.wrap(raw_b, "b")
        configure(network)
        try:
            result = await _exchange(a, b, raw_b.address, spacing)
        finally:
            a.close()
            b.close()
        nursery.cancel_scope.cancel()
    return result


async def _through_router(configure: Configure, seed: int, spacing: float) -> Result:
    model = FaultModel(random.Random(seed))
    a, b = await UdpTransport.bind(), await UdpTransport.bind()
    try:
        router = await UdpRouter.open(model, {"a": a.address, "b": b.address},
                                      {"a": ("127.0.0.1", 0), "b": ("127.0.0.1", 0)})
        async with trio.open_nursery() as nursery:
            await nursery.start(router.run)
            configure(model)
            result = await _exchange(a, b, router.proxy["b"], spacing)
            nursery.cancel_scope.cancel()
    finally:
        a.close()
        b.close()
    return result


Exchange = Callable[[Configure, int, float], Awaitable[Result]]


def _sim(run: Exchange, configure: Configure, seed: int, spacing: float = 0.0) -> Result:
    return trio.run(run, configure, seed, spacing, clock=trio.testing.MockClock(autojump_threshold=0))


def _real(run: Exchange, configure: Configure, seed: int, spacing: float = 0.0) -> Result:
    return trio.run(run, configure, seed, spacing)


def _links(faults: LinkFaults) -> Configure:
    def configure(model: FaultModel) -> None:
        model.set_link_faults(faults)

    return configure


@pytest.mark.parametrize("seed", [3, 17])
def test_drop_and_duplicate_hit_the_same_datagrams_in_sim_udp_and_router(seed: int) -> None:
    """Drop 0.3 and duplicate 0.2 lose and copy exactly the same datagrams over memory, UDP and the router."""
    faults = _links(LinkFaults(drop=0.3, duplicate=0.2))
    simulated, _ = _sim(_over_memory, faults, seed)
    over_udp, _ = _real(_over_udp, faults, seed)
    routed, _ = _real(_through_router, faults, seed)
    assert simulated == over_udp == routed
    lost = SENT - len(simulated)
    doubled = sum(1 for n in simulated.values() if n == 2)
    # The rates themselves are what was configured (binomial, 5 standard deviations).
    assert abs(lost - 0.3 * SENT) < 5 * (SENT * 0.3 * 0.7) ** 0.5
    kept = len(simulated)
    assert abs(doubled - 0.2 * kept) < 5 * (kept * 0.2 * 0.8) ** 0.5


def test_delays_are_the_same_draws_in_virtual_and_real_time() -> None:
    """Each datagram's exponential delay in sim equals its delay over UDP, up to the real network's own cost."""
    faults = _links(LinkFaults(delay=DelayDistribution.exponential(0.01, cap=0.05)))
    arrivals, simulated = _sim(_over_memory, faults, 5, 0.001)
    _, real = _real(_over_udp, faults, 5, 0.001)
    assert set(arrivals) == set(range(SENT)), "delay alone loses nothing"
    assert abs(statistics.fmean(simulated.values()) - 0.01) < 0.002
    extra = [real[seq] - simulated[seq] for seq in simulated if seq in real]
    assert len(extra) >= 0.99 * SENT
    # Load only ever delays a real datagram, so no upper bound: none arriving more than 1 ms before
    # its simulated draw is what proves the draws are the same (with independent exponential draws
    # about half would). That a delay is no longer than its draw is proven in virtual time by
    # tests/nemesis/test_faulty_network.py::test_delays_follow_the_distribution_in_virtual_time.
    early = [e for e in extra if e < -0.001]
    assert len(early) <= 0.01 * len(extra), sorted(early)[:10]


def test_a_one_way_partition_blocks_the_same_direction_in_sim_udp_and_router() -> None:
    """A graph allowing only b -> a blocks every a -> b datagram, in memory, over UDP and through the router."""
    graph = nx.DiGraph()
    graph.add_nodes_from(["a", "b"])
    graph.add_edge("b", "a")

    def configure(model: FaultModel) -> None:
        model.partition(graph)

    assert not _sim(_over_memory, configure, 1)[0]
    assert not _real(_over_udp, configure, 1)[0]
    assert not _real(_through_router, configure, 1)[0]
    graph.add_edge("a", "b")
    assert len(_sim(_over_memory, configure, 1)[0]) == SENT, "the same exchange with the link allowed gets through"
