"""Anti-entropy between real nodes converges whatever the key length: every message fits a datagram."""

from __future__ import annotations

import pytest

from minikeydb.defects import Features
from minikeydb.node import Node
from minikeydb.record import Record
from minikeydb.wire import Pull

from .cluster_fixture import TestCluster, make_config, running_cluster, wait_until

AE_ONLY = Features(read_repair=False, hinted_handoff=False, anti_entropy=True)


def long_key(owner: str, i: int, length: int) -> str:
    head = f"{owner}-{i:05d}-"
    return head + "k" * (length - len(head))


async def seed(node: Node, keys: list[str]) -> dict[str, Record]:
    """Store records straight into one node's storage (durable), as if only it had taken the writes."""
    records = [Record(key, f"v-{key[:12]}", node.clock.now()) for key in keys]
    await node.replica.store(records)
    return {r.key: r for r in records}


def holds(node: Node, wanted: dict[str, Record]) -> bool:
    storage = node.storage
    return all((r := storage.get(k)) is not None and r.stamp == rec.stamp for k, rec in wanted.items())


def missing(cluster: TestCluster, wanted: dict[str, Record]) -> dict[str, int]:
    return {n: sum(1 for k in wanted if node.storage.get(k) is None) for n, node in cluster.nodes.items()}


@pytest.mark.parametrize(
    ("key_length", "per_node", "vnodes"),
    [(200, 400, 64), (1024, 200, 64), (200, 400, 1), (16, 300, 2000)],
    ids=["200B-keys", "1KiB-keys", "ranges-span-datagrams", "digests-span-datagrams"],
)
async def test_anti_entropy_alone_converges_replicas_holding_long_keys_the_other_lacks(
    tmp_path, key_length, per_node, vnodes
):
    """Two replicas each holding hundreds of keys the other lacks converge by anti-entropy alone, with no handler error."""
    config = make_config(tmp_path, 2, replicas=2, vnodes=vnodes)
    async with running_cluster(config, features=AE_ONLY) as cluster:
        n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]
        wanted = await seed(n1, [long_key("a", i, key_length) for i in range(per_node)])
        wanted |= await seed(n2, [long_key("b", i, key_length) for i in range(per_node)])
        converged = await wait_until(lambda: holds(n1, wanted) and holds(n2, wanted), 20.0, 0.1)
        assert converged, f"keys still missing per node after 20 s: {missing(cluster, wanted)}"
        for node in (n1, n2):
            assert node.counters["handler_errors"] == 0
            assert node.counters["ae_too_large"] == 0
        assert sum(n.counters["ae_pushed"] + n.counters["ae_pulled"] for n in (n1, n2)) >= len(wanted) // 2


async def test_an_anti_entropy_message_too_large_to_send_is_counted_not_raised(tmp_path):
    """A message over the datagram limit handed to anti-entropy's sender is counted in ae_too_large, never raised."""
    config = make_config(tmp_path, 2, replicas=2)
    async with running_cluster(config, features=AE_ONLY) as cluster:
        n1 = cluster.nodes["n1"]
        keys = tuple(long_key("x", i, 1000) for i in range(100))  # 100 KB of keys: no datagram holds them
        sent = await n1.anti_entropy._send(Pull(n1.messenger.new_id(), "n1", keys), n1.peers["n2"])
        assert sent is False
        assert n1.counters["ae_too_large"] == 1
        assert n1.counters["handler_errors"] == 0
