"""Hostile but authentic datagrams: what a holder of the secret sends that no honest node would.

Each is correctly signed, so the tag does not stop it; the decoder must. A stamp beyond any
clock, a logical counter that overflows 64 bits, an empty record list: each is counted as
malformed and dropped, and the node keeps accepting writes afterwards.
"""

from __future__ import annotations

import orjson
import pytest

from minikeydb.transport import UdpTransport
from minikeydb.wire import Codec
from tests.store.cluster_fixture import make_config, running_cluster, wait_until

from .conftest import TEST_SECRET

TOP = 2**64 - 1

HOSTILE = {
    "replicate-stamp-max": [10, 901, "n1", [["k", "v", [TOP, TOP, "n1"]]]],
    "replicate-logical-max": [10, 902, "n1", [["k", "v", [1_700_000_000_000_000, TOP, "n1"]]]],
    "replicate-physical-huge": [10, 903, "n1", [["k", "v", [2**63, 0, "n1"]]]],
    "replicate-negative-stamp": [10, 904, "n1", [["k", "v", [-1, -1, "n1"]]]],
    "replicate-long-node-id": [10, 905, "n1", [["k", "v", [1, 0, "n" * 5000]]]],
    "replicate-empty-node-id": [10, 906, "n1", [["k", "v", [1, 0, ""]]]],
    "replicate-empty": [10, 907, "n1", []],
    "replicate-empty-src": [10, 908, "", [["k", "v", [1, 0, "n1"]]]],
    "pull-empty": [16, 909, "n1", []],
    "keystamps-stamp-max": [15, 910, "n1", [0], [["k", [TOP, TOP, "n1"]]], True],
    "keystamps-no-ranges": [15, 911, "n1", [], [], True],
    "digests-negative-range": [14, 912, "n1", [[-1, 5]]],
    "read-huge-id": [12, TOP, "n1", "k"],
}


async def test_a_replicate_from_a_node_outside_the_cluster_is_not_applied(tmp_path):
    """A signed Replicate naming a source that is not a cluster node is counted and dropped, as Pull and Digests are."""
    codec = Codec(TEST_SECRET.encode())
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        node = cluster.nodes["n1"]
        raw = await UdpTransport.bind("127.0.0.1", 0)
        try:
            stamp = [1_700_000_000_000_000, 0, "zz"]
            await raw.send(codec.seal(orjson.dumps([10, 950, "zz", [["outsider", "v", stamp]]])), node.transport.address)
        finally:
            raw.close()
        assert await wait_until(lambda: node.counters["dropped_unknown_peer"] >= 1, 2.0)
        assert node.storage.get("outsider") is None


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_authentic_datagram_is_dropped_and_every_node_keeps_writing(tmp_path, name):
    """A signed datagram with an out-of-range stamp or an empty list is counted malformed on every node, and W=3 writes through each node still succeed."""
    codec = Codec(TEST_SECRET.encode())
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        before = {n: node.counters["dropped_malformed"] for n, node in cluster.nodes.items()}
        raw = await UdpTransport.bind("127.0.0.1", 0)
        try:
            for node in cluster.nodes.values():
                await raw.send(codec.seal(orjson.dumps(HOSTILE[name])), node.transport.address)
        finally:
            raw.close()

        def counted() -> dict[str, int]:
            return {n: node.counters["dropped_malformed"] - before[n] for n, node in cluster.nodes.items()}

        await wait_until(lambda: all(v >= 1 for v in counted().values()), 2.0)
        async with cluster.client() as client:
            for i, node_id in enumerate(cluster.nodes):
                result = await client.put(f"after-{i}", "v", node=node_id, w=3)
                assert (node_id, result.outcome, result.error) == (node_id, "ok", None)
        assert counted() == dict.fromkeys(cluster.nodes, 1)
        for node in cluster.nodes.values():
            assert node.counters["handler_errors"] == 0
