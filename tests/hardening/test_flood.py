"""A small flood (bench/flood.py's garbage, in process): the node counts every datagram and keeps answering."""

from __future__ import annotations

from collections import Counter

import trio

from minikeydb.transport import UdpTransport
from minikeydb.wire import Codec
from tests.store.cluster_fixture import make_config, running_cluster, wait_until

from .conftest import TEST_SECRET, bench_module

flood = bench_module("flood")


def test_every_kind_of_garbage_is_generated_and_none_decodes():
    """The flood's garbage covers every kind an outsider can send, and the node's codec refuses each one."""
    codec = Codec(TEST_SECRET.encode())
    garbage = flood.garbage_datagrams(160, TEST_SECRET.encode(), seed=5)
    assert Counter(kind for kind, _ in garbage) == Counter({k: 20 for k in flood.GARBAGE_KINDS})
    counters = Counter(flood.expected_counter(codec, data) for _, data in garbage)
    assert set(counters) == {"dropped_malformed", "dropped_auth", "dropped_stale"}
    assert counters["dropped_stale"] == 20


async def test_a_flood_while_clients_work_applies_nothing_and_every_client_gets_an_answer(tmp_path):
    """2,000 garbage datagrams at n1 during client load: all counted by the right counter, none applied, no client op lost."""
    config = make_config(tmp_path, 3)
    codec = Codec(TEST_SECRET.encode())
    garbage = flood.garbage_datagrams(2000, TEST_SECRET.encode(), seed=9)
    expected = Counter(flood.expected_counter(codec, data) for _, data in garbage)
    async with running_cluster(config) as cluster, cluster.client() as client:
        node = cluster.nodes["n1"]
        before = {k: node.counters[k] for k in flood.DROP_COUNTERS}
        load = flood.ClientLoad(client, config.node_ids, keys=10, rate=100, concurrency=4, seed=3)
        raw = await UdpTransport.bind()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(load.run, 2.0)
                for start in range(0, len(garbage), 100):
                    for _, data in garbage[start : start + 100]:
                        await raw.send(data, node.transport.address)
                    await trio.sleep(0.02)
        finally:
            raw.close()

        def counted() -> dict[str, int]:
            return {k: node.counters[k] - before[k] for k in flood.DROP_COUNTERS}

        await wait_until(lambda: sum(counted().values()) >= len(garbage), 5.0)
        assert counted() == {k: expected[k] for k in flood.DROP_COUNTERS}
        # How many operations 2 s of load completes depends on the machine; that each one was answered
        # ok does not.
        assert sum(load.outcomes.values()) >= 1
        assert set(load.outcomes) <= {"put:ok", "get:ok"}
        for n, replica in cluster.nodes.items():
            flooded = [i for i in range(len(garbage)) if replica.storage.get(f"{flood.FLOOD_KEY_PREFIX}{i}")]
            assert flooded == [], n
        assert await flood.count_flood_keys(client, "n1", 50) == 0
        assert node.counters["handler_errors"] == 0
