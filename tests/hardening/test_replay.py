"""A genuine client write, captured off the wire and replayed within the replay window.

The attacker here holds no secret: they copy the bytes a real client sent and send them again,
from another socket (another source port) and to another node. Whatever node receives the copy,
it must not create a version: the newer acknowledged write stays on every replica, and no
replica applies anything.
"""

from __future__ import annotations

import pytest
import trio

from minikeydb.client import Client
from minikeydb.transport import UdpTransport
from minikeydb.wire import Codec, Put, Reply
from nemesis.tap import TapTransport
from tests.store.cluster_fixture import make_config, running_cluster, wait_until

from .conftest import TEST_SECRET


@pytest.mark.parametrize("replay_to", ["n1", "n2", "n3"])
async def test_a_captured_put_replayed_from_another_socket_creates_no_version_anywhere(tmp_path, replay_to):
    """A real client's Put, replayed raw from a new socket to its own coordinator or another node after a newer acked write, changes no replica."""
    codec = Codec(TEST_SECRET.encode())
    key = "replayed-put"
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        tap = TapTransport(await UdpTransport.bind("127.0.0.1", 0))
        async with cluster.client() as client, cluster.client() as other:
            try:
                async with Client.connect(cluster.config, transport=tap) as victim:
                    old = await victim.put(key, "old", node="n1", w=3)
            finally:
                tap.close()
            assert old.ok
            captured = [d for d in tap.sent if isinstance(codec.decode(d), Put)]
            assert len(captured) >= 1
            newer = await other.put(key, "new", node="n2", w=3)
            assert newer.ok and newer.stamp is not None
            assert await wait_until(cluster.quiet, 5.0)
            replicas = cluster.replicas_for(key)
            applied = {r: cluster.nodes[r].storage.stats["records_applied"] for r in replicas}
            target = cluster.nodes[replay_to].transport.address
            for _ in range(3):  # three replays, each from a fresh socket (a new source port)
                raw = await UdpTransport.bind("127.0.0.1", 0)
                try:
                    await raw.send(captured[0], target)
                    with trio.move_on_after(2):
                        data, _ = await raw.recv()
                        reply = codec.decode(data)
                        assert isinstance(reply, Reply)
                finally:
                    raw.close()
            await trio.sleep(0.3)
            assert await wait_until(cluster.quiet, 5.0)
            for replica in replicas:
                stored = cluster.nodes[replica].storage.get(key)
                assert stored is not None
                assert (replica, stored.value, stored.stamp) == (replica, "new", newer.stamp)
            assert {r: cluster.nodes[r].storage.stats["records_applied"] for r in replicas} == applied
            read = await client.get(key, node=replay_to, r=3)
            assert (read.outcome, read.value) == ("ok", "new")
