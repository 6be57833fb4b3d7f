"""Client-made versions: the coordinator stores the client's stamp, checks it, and clients keep causality."""

from __future__ import annotations

import random
import time

import trio

from minikeydb.client import Client, new_client_id
from minikeydb.transport import UdpTransport
from minikeydb.wire import Codec, Put, Reply

from .cluster_fixture import make_config, running_cluster, wait_until
from .conftest import TEST_SECRET


async def test_the_stored_version_is_the_clients_stamp(tmp_path):
    """A put is stored on every replica under exactly the stamp the client chose, with the client's id as writer."""
    async with running_cluster(make_config(tmp_path, 3)) as cluster, cluster.client() as client:
        result = await client.put("k", "v", node="n2", w=3)
        assert result.ok and result.stamp is not None and result.stamp[2] == client.id
        for replica in cluster.replicas_for("k"):
            assert cluster.nodes[replica].storage.get("k").stamp == result.stamp


async def test_a_stamp_outside_the_replay_window_is_a_definite_clock_failure(tmp_path):
    """A signed Put stamped 60 s from the coordinator's clock is answered fail/"clock" and stored nowhere."""
    codec = Codec(TEST_SECRET.encode())
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        n1 = cluster.nodes["n1"]
        raw = await UdpTransport.bind("127.0.0.1", 0)
        try:
            for i, offset in enumerate((60.0, -60.0)):
                stamp = (int((time.time() + offset) * 1e6), 0, "c0123456789abcdef")
                await raw.send(codec.encode(Put(500 + i, f"skewed{i}", "v", stamp, 3)), n1.transport.address)
                with trio.fail_after(2):
                    reply = codec.decode((await raw.recv())[0])
                assert isinstance(reply, Reply)
                assert (reply.status, reply.error) == ("fail", "clock")
        finally:
            raw.close()
        await trio.sleep(0.2)
        for node in cluster.nodes.values():
            assert node.storage.get("skewed0") is None and node.storage.get("skewed1") is None
        assert n1.counters["writes_refused_clock"] == 2


async def test_a_client_write_follows_every_version_it_has_read(tmp_path):
    """A client whose clock is 5 s behind another's still overwrites a value it read from it (its HLC observed the reply)."""
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        async with Client.connect(cluster.config, wall=lambda: time.time() + 5) as ahead:
            first = await ahead.put("k", "from-ahead", node="n1", w=3)
        assert first.ok
        assert await wait_until(cluster.quiet, 5.0)
        async with Client.connect(cluster.config) as behind:
            read = await behind.get("k", node="n2", r=3)
            assert read.value == "from-ahead"
            second = await behind.put("k", "after-reading", node="n3", w=3)
        assert second.ok and second.stamp > first.stamp
        for replica in cluster.replicas_for("k"):
            assert cluster.nodes[replica].storage.get("k").value == "after-reading"


def test_client_ids_are_well_formed_and_come_from_the_clients_rng():
    """A client id is "c" + 16 hex digits, the same for the same seed (simulation stays deterministic)."""
    a, b = new_client_id(random.Random(1)), new_client_id(random.Random(1))
    assert a == b and len(a) == 17 and a[0] == "c" and int(a[1:], 16) >= 0
    assert new_client_id(random.Random(2)) != a


async def test_per_node_walls_stamp_a_write_with_the_target_nodes_clock(tmp_path):
    """With walls, a write sent to n2 is stamped from n2's clock under an id of its own, not the client's."""
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        walls = {"n1": time.time, "n2": lambda: time.time() + 3, "n3": time.time}
        async with Client.connect(cluster.config, walls=walls) as client:
            to_n1 = await client.put("a", "v", node="n1")
            to_n2 = await client.put("b", "v", node="n2")
        assert to_n1.ok and to_n2.ok
        assert to_n2.stamp[0] - to_n1.stamp[0] > 2_000_000
        assert len({to_n1.stamp[2], to_n2.stamp[2], client.id}) == 3


def test_the_cli_explains_a_clock_refusal():
    """A write refused for its clock is reported as a clock problem with nothing written, not as "unavailable"."""
    from minikeydb.cli import Attempt, _describe_failure
    from minikeydb.client import Result
    from minikeydb.config import load_config

    attempt = Attempt(Result("fail", error="clock", node="n1"), ("n1",), 0.01)
    message = _describe_failure("put", "k", attempt, load_config(None))
    assert "clock" in message and "nothing was written" in message and "unavailable" not in message
