"""Each fault kind, demonstrated over the in-memory network and over real UDP sockets."""

from __future__ import annotations

import random
import statistics
import struct

import pytest
import trio

from minikeydb.testing.network import MemoryNetwork
from nemesis.faulty_network import FaultyNetwork
from nemesis.link_faults import DelayDistribution
from nemesis.topology import make_partition
from tests.nemesis.conftest import NODES, Cluster, exchange


def stamp(seq: int) -> bytes:
    """A datagram carrying its sequence number and its send time."""
    return struct.pack("!Id", seq, trio.current_time())


def unstamp(data: bytes) -> tuple[int, float]:
    seq, sent = struct.unpack("!Id", data)
    return seq, sent


async def send_many(cluster: Cluster, src: str, dst: str, count: int, gap: float = 0.0) -> None:
    for seq in range(count):
        await cluster.nodes[src].send(stamp(seq), cluster.addr(dst))
        if gap:
            await trio.sleep(gap)


async def test_drop_rate_matches_probability(cluster: Cluster):
    """With drop 0.3 about 30% of 3000 datagrams vanish, and the counters account for each one."""
    cluster.network.set_drop(0.3)
    got = await exchange({"n2": cluster.nodes["n2"]}, lambda: send_many(cluster, "n1", "n2", 3000), 0.5)
    received = len(got["n2"])
    counters = cluster.network.counters
    assert counters.dropped + counters.passed == 3000
    assert received == counters.passed
    assert abs(counters.dropped / 3000 - 0.3) < 0.04


DELAYS = pytest.mark.parametrize(
    ("delay", "low", "high", "mean"),
    [
        (DelayDistribution.constant(0.03), 0.03, 0.03, 0.03),
        (DelayDistribution.uniform(0.02, 0.08), 0.02, 0.08, 0.05),
        (DelayDistribution.exponential(0.03, cap=0.15), 0.0, 0.15, 0.03),
    ],
    ids=["constant", "uniform", "exponential"],
)


@DELAYS
async def test_delays_follow_the_distribution_in_virtual_time(autojump_clock, delay, low, high, mean):
    """In virtual time every delay lies inside the distribution's range and the mean is within 10% of its mean."""
    memory = MemoryNetwork()
    a, b = memory.endpoint(), memory.endpoint()
    net = FaultyNetwork(random.Random(5), {"a": a.address, "b": b.address})
    net.set_delay(delay)
    async with trio.open_nursery() as nursery:
        net.attach(nursery)
        fa, fb = net.wrap(a, "a"), net.wrap(b, "b")

        async def send() -> None:
            for seq in range(1000):
                await fa.send(stamp(seq), fb.address)

        got = await exchange({"b": fb}, send, 1.0)
    latencies = [at - unstamp(data)[1] for data, _, at in got["b"]]
    assert len(latencies) == 1000 == net.counters.delayed
    assert low - 1e-9 <= min(latencies) and max(latencies) <= high + 1e-9
    assert abs(statistics.fmean(latencies) - mean) <= 0.1 * mean
    if delay.kind != "constant":
        assert statistics.pstdev(latencies) > 0.005


@DELAYS
async def test_delays_happen_on_real_time(cluster: Cluster, delay, low, high, mean):
    """On the wall clock (memory and UDP) no delayed datagram arrives early and typical delays are near the mean."""
    cluster.network.set_delay(delay)
    got = await exchange(
        {"n3": cluster.nodes["n3"]}, lambda: send_many(cluster, "n1", "n3", 100, gap=0.002), 0.3
    )
    latencies = [at - unstamp(data)[1] for data, _, at in got["n3"]]
    assert len(latencies) == 100
    assert min(latencies) >= low - 1e-9
    # A loaded machine only ever adds time, so only lower bounds are asserted here; that the delays
    # are the distribution's draws (no more) is proven in virtual time by
    # test_delays_follow_the_distribution_in_virtual_time above.
    assert statistics.fmean(latencies) >= mean * 0.7


async def test_duplicates_appear(cluster: Cluster):
    """With duplicate 0.5 about half of the datagrams arrive twice and none three times."""
    cluster.network.set_duplicate(0.5)
    got = await exchange({"n2": cluster.nodes["n2"]}, lambda: send_many(cluster, "n4", "n2", 1000), 0.5)
    counts: dict[int, int] = {}
    for data, _, _ in got["n2"]:
        seq = unstamp(data)[0]
        counts[seq] = counts.get(seq, 0) + 1
    assert set(counts) == set(range(1000))
    twice = sum(1 for c in counts.values() if c == 2)
    assert max(counts.values()) == 2
    assert twice == cluster.network.counters.duplicated
    assert 400 < twice < 600


async def test_reordering_lets_later_datagrams_overtake(cluster: Cluster):
    """With reorder 0.2, held-back datagrams arrive after later ones, and none is lost."""
    cluster.network.set_reorder(0.2, DelayDistribution.uniform(0.01, 0.03))
    got = await exchange(
        {"n5": cluster.nodes["n5"]}, lambda: send_many(cluster, "n1", "n5", 200, gap=0.001), 0.2
    )
    order = [unstamp(data)[0] for data, _, _ in got["n5"]]
    assert sorted(order) == list(range(200))
    overtaken = sum(1 for i, seq in enumerate(order) if any(later < seq for later in order[i + 1 :]))
    assert overtaken >= cluster.network.counters.reordered // 2 > 10


async def test_partition_blocks_exactly_the_disallowed_links(cluster: Cluster):
    """Under a one-way partition, exactly the allowed directed links deliver; the rest are counted blocked."""
    partition = make_partition("one-way", NODES, random.Random(2))
    cluster.network.partition(partition.graph)

    async def everyone_to_everyone() -> None:
        for src in NODES:
            for dst in NODES:
                if src != dst:
                    await cluster.nodes[src].send(src.encode(), cluster.addr(dst))

    got = await exchange(dict(cluster.nodes), everyone_to_everyone, 0.2)
    delivered = {(data.decode(), dst) for dst, items in got.items() for data, _, _ in items}
    allowed = {(a, b) for a in NODES for b in NODES if a != b and partition.allows(a, b)}
    assert delivered == allowed
    assert cluster.network.counters.partitioned == 20 - len(allowed) == 6
    cluster.network.heal_partition()
    got = await exchange(dict(cluster.nodes), everyone_to_everyone, 0.2)
    assert sum(len(v) for v in got.values()) == 20


async def test_client_traffic_is_not_link_faulted(cluster: Cluster):
    """Drop 1.0 and a partition cut node links only: client requests and replies still flow."""
    cluster.network.set_drop(1.0)
    cluster.network.partition(make_partition("one", NODES, random.Random(0)).graph)

    async def talk() -> None:
        await cluster.client.send(b"request", cluster.addr("n1"))
        await cluster.nodes["n1"].send(b"reply", cluster.client.address)
        await cluster.nodes["n1"].send(b"gossip", cluster.addr("n2"))

    got = await exchange({"n1": cluster.nodes["n1"], "n2": cluster.nodes["n2"], "c": cluster.client}, talk, 0.1)
    assert [d for d, _, _ in got["n1"]] == [b"request"]
    assert [d for d, _, _ in got["c"]] == [b"reply"]
    assert got["n2"] == []


async def test_pause_holds_both_directions_then_releases_in_order(cluster: Cluster):
    """A paused node neither receives nor sends; on resume its held datagrams flow, in order."""
    net = cluster.network
    net.pause("n2")

    async def while_paused() -> None:
        for i in range(3):
            await cluster.nodes["n1"].send(b"to-n2-%d" % i, cluster.addr("n2"))
            await cluster.client.send(b"client-%d" % i, cluster.addr("n2"))
            await cluster.nodes["n2"].send(b"from-n2-%d" % i, cluster.addr("n1"))

    receivers = {"n1": cluster.nodes["n1"], "n2": cluster.nodes["n2"]}
    got = await exchange(receivers, while_paused, 0.2)
    assert got == {"n1": [], "n2": []}
    assert net.counters.held_by_pause == 9

    async def resume() -> None:
        net.resume("n2")

    got = await exchange(receivers, resume, 0.2)
    to_n2 = [d for d, _, _ in got["n2"]]
    assert [d for d in to_n2 if d.startswith(b"to")] == [b"to-n2-0", b"to-n2-1", b"to-n2-2"]
    assert [d for d in to_n2 if d.startswith(b"client")] == [b"client-0", b"client-1", b"client-2"]
    assert [d for d, _, _ in got["n1"]] == [b"from-n2-0", b"from-n2-1", b"from-n2-2"]


async def test_pause_buffers_are_bounded(nursery: trio.Nursery):
    """A paused node holds at most pause_buffer datagrams per direction; the excess is counted lost."""
    memory = MemoryNetwork()
    a, b = memory.endpoint(), memory.endpoint()
    net = FaultyNetwork(random.Random(0), {"a": a.address, "b": b.address}, pause_buffer=4)
    net.attach(nursery)
    fa, fb = net.wrap(a, "a"), net.wrap(b, "b")
    net.pause("b")

    async def flood() -> None:
        for i in range(7):
            await fa.send(b"%d" % i, fb.address)
            await fb.send(b"%d" % i, fa.address)

    await exchange({"b": fb}, flood, 0.05)
    assert net.counters.held_by_pause == 8
    assert net.counters.pause_overflow == 6
    async def resume() -> None:
        net.resume("b")

    got = await exchange({"a": fa, "b": fb}, resume, 0.05)
    assert [d for d, _, _ in got["b"]] == [b"0", b"1", b"2", b"3"]
    assert [d for d, _, _ in got["a"]] == [b"0", b"1", b"2", b"3"]


async def test_partition_cuts_datagrams_already_in_flight(cluster: Cluster):
    """A delayed datagram whose link is partitioned before it comes due is not delivered."""
    cluster.network.set_delay(DelayDistribution.constant(0.1))

    async def send_then_cut() -> None:
        await cluster.nodes["n1"].send(b"late", cluster.addr("n4"))
        await trio.sleep(0.02)
        cluster.network.partition(make_partition("halves", NODES, random.Random(0)).graph)

    got = await exchange({"n4": cluster.nodes["n4"]}, send_then_cut, 0.2)
    assert got["n4"] == []
    assert cluster.network.counters.partitioned == 1


async def test_heal_clears_every_fault(cluster: Cluster):
    """heal() removes link faults, the partition and pauses, so all traffic flows again."""
    net = cluster.network
    net.set_drop(1.0)
    net.partition(make_partition("halves", NODES, random.Random(0)).graph)
    net.pause("n3")
    net.heal()
    assert not net.partitioned and not net.paused_nodes and net.faults_for("n1", "n3").healthy

    async def send() -> None:
        for dst in ("n3", "n4"):
            await cluster.nodes["n1"].send(b"x", cluster.addr(dst))

    got = await exchange({"n3": cluster.nodes["n3"], "n4": cluster.nodes["n4"]}, send, 0.1)
    assert len(got["n3"]) == len(got["n4"]) == 1


async def test_per_link_faults_leave_other_links_alone(cluster: Cluster):
    """Drop 1.0 on n1->n2 alone loses that link's traffic and nothing on n2->n1 or n1->n3."""
    cluster.network.set_drop(1.0, links=[("n1", "n2")])

    async def send() -> None:
        await cluster.nodes["n1"].send(b"a", cluster.addr("n2"))
        await cluster.nodes["n2"].send(b"b", cluster.addr("n1"))
        await cluster.nodes["n1"].send(b"c", cluster.addr("n3"))

    got = await exchange({n: cluster.nodes[n] for n in ("n1", "n2", "n3")}, send, 0.1)
    assert {n: [d for d, _, _ in v] for n, v in got.items()} == {"n1": [b"b"], "n2": [], "n3": [b"c"]}


async def test_delay_without_a_nursery_says_what_is_missing():
    """A delayed delivery on an unattached network raises a RuntimeError naming attach(nursery)."""
    memory = MemoryNetwork()
    a, b = memory.endpoint(), memory.endpoint()
    net = FaultyNetwork(random.Random(0), {"a": a.address, "b": b.address})
    net.set_delay(DelayDistribution.constant(0.01))
    with pytest.raises(RuntimeError, match=r"attach\(nursery\)"):
        await net.wrap(a, "a").send(b"x", b.address)


def test_wrap_rejects_unknown_node_ids():
    """Wrapping a transport for a node id not in node_addresses fails with the known ids."""
    memory = MemoryNetwork()
    a = memory.endpoint()
    net = FaultyNetwork(random.Random(0), {"a": a.address})
    with pytest.raises(ValueError, match="unknown node id 'z'; known nodes: a"):
        net.wrap(a, "z")


async def test_seeded_runs_repeat_exactly_in_virtual_time(autojump_clock):
    """Under MockClock the same seed gives the same arrivals at the same virtual times."""

    async def run(seed: int) -> list[tuple[bytes, float]]:
        memory = MemoryNetwork()
        a, b = memory.endpoint(), memory.endpoint()
        net = FaultyNetwork(random.Random(seed), {"a": a.address, "b": b.address})
        net.set_drop(0.2)
        net.set_duplicate(0.2)
        net.set_delay(DelayDistribution.exponential(0.05))
        net.set_reorder(0.2)
        async with trio.open_nursery() as nursery:
            net.attach(nursery)
            fa, fb = net.wrap(a, "a"), net.wrap(b, "b")
            start = trio.current_time()

            async def send() -> None:
                for i in range(100):
                    await fa.send(b"%d" % i, fb.address)
                    await trio.sleep(0.01)

            got = await exchange({"b": fb}, send, 2.0)
        return [(d, round(at - start, 9)) for d, _, at in got["b"]]

    first, second, other = await run(7), await run(7), await run(8)
    assert first == second
    assert first != other
