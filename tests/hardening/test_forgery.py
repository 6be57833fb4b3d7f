"""Forged and replayed datagrams: dropped and counted, never applied, on every replica.

Each test first writes a genuine value to every replica, then attacks the key from a raw socket
and checks every replica still holds exactly that version: a forged or replayed write that got
through would replace it (forged records carry stamps far in the future, so they would win).
"""

from __future__ import annotations

import time

import trio

from minikeydb.record import Record
from minikeydb.transport import UdpTransport
from minikeydb.wire import HEADER_SIZE, Ack, Codec, Delete, Message, Put, Replicate, Reply
from tests.store.cluster_fixture import TestCluster, make_config, running_cluster, wait_until

from .conftest import TEST_SECRET

FUTURE = 10**12  # microseconds: a stamp this far ahead wins every last-writer-wins merge
CLIENT = "c0123456789abcdef"  # a well-formed client id


def attacks(key: str, codec: Codec) -> list[bytes]:
    """A Put, a Delete and a Replicate of ``key`` (with a winning stamp), each encoded by ``codec``."""
    stamp = (int(time.time() * 1e6) + FUTURE, 0, "n1")
    client_stamp = (stamp[0], 0, CLIENT)
    messages: list[Message] = [
        Put(101, key, "forged", client_stamp, 3),
        Delete(102, key, client_stamp, 3),
        Replicate(103, "n1", (Record(key, "forged", stamp),)),
    ]
    return [codec.encode(m) for m in messages]


async def genuine(cluster: TestCluster, key: str) -> Record:
    """Write ``key`` to all three replicas through a real client; the version every replica holds."""
    async with cluster.client() as client:
        assert (await client.put(key, "genuine", node="n1", w=3)).ok
    assert await wait_until(cluster.quiet, 5.0)
    versions = {cluster.nodes[r].storage.get(key) for r in cluster.replicas_for(key)}
    assert len(versions) == 1
    return versions.pop()


async def send_to_every_node(cluster: TestCluster, datagrams: list[bytes]) -> None:
    raw = await UdpTransport.bind()
    try:
        for node in cluster.nodes.values():
            for data in datagrams:
                await raw.send(data, node.transport.address)
    finally:
        raw.close()


async def assert_dropped_everywhere(cluster: TestCluster, counter: str, before: dict[str, int], each: int) -> None:
    """Every node's ``counter`` went up by exactly ``each`` and nothing else was applied or answered."""
    def counted() -> dict[str, int]:
        return {n: node.counters[counter] - before[n] for n, node in cluster.nodes.items()}

    await wait_until(lambda: all(v >= each for v in counted().values()), 3.0)
    await trio.sleep(0.2)  # time for anything wrongly accepted to be applied too
    assert counted() == {n: each for n in cluster.nodes}
    for node in cluster.nodes.values():
        assert node.counters["handler_errors"] == 0


def snapshot(cluster: TestCluster, counter: str) -> dict[str, int]:
    return {n: node.counters[counter] for n, node in cluster.nodes.items()}


async def test_datagrams_signed_with_another_secret_are_dropped_on_every_node(tmp_path):
    """Puts, deletes and replications signed with a wrong secret are counted as dropped_auth and change no replica."""
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        original = await genuine(cluster, "target")
        datagrams = attacks("target", Codec(b"a-guessed-secret")) + attacks("target", Codec(TEST_SECRET.encode() + b"x"))
        before = snapshot(cluster, "dropped_auth")
        await send_to_every_node(cluster, datagrams)
        await assert_dropped_everywhere(cluster, "dropped_auth", before, len(datagrams))
        for replica in cluster.replicas_for("target"):
            assert cluster.nodes[replica].storage.get("target") == original


async def test_datagrams_with_a_flipped_tag_or_payload_bit_are_dropped(tmp_path):
    """A genuine datagram with one bit flipped in its tag, timestamp or payload is dropped_auth, never applied."""
    codec = Codec(TEST_SECRET.encode())
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        original = await genuine(cluster, "target")
        datagrams = []
        for data in attacks("target", codec):
            for position in (HEADER_SIZE - 1, HEADER_SIZE - 32, 5, len(data) - 2):
                flipped = bytearray(data)
                flipped[position] ^= 0x01
                datagrams.append(bytes(flipped))
        before = snapshot(cluster, "dropped_auth")
        await send_to_every_node(cluster, datagrams)
        await assert_dropped_everywhere(cluster, "dropped_auth", before, len(datagrams))
        for replica in cluster.replicas_for("target"):
            assert cluster.nodes[replica].storage.get("target") == original


async def test_genuine_datagrams_replayed_outside_the_window_are_dropped_as_stale(tmp_path):
    """Correctly signed datagrams sent 60 s ago (or dated 60 s ahead) are dropped_stale and change no replica."""
    secret = TEST_SECRET.encode()
    past = Codec(secret, now=lambda: time.time() - 60)
    future = Codec(secret, now=lambda: time.time() + 60)
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        original = await genuine(cluster, "target")
        datagrams = attacks("target", past) + attacks("target", future)
        before = snapshot(cluster, "dropped_stale")
        await send_to_every_node(cluster, datagrams)
        await assert_dropped_everywhere(cluster, "dropped_stale", before, len(datagrams))
        for replica in cluster.replicas_for("target"):
            assert cluster.nodes[replica].storage.get("target") == original


async def test_a_replication_replayed_within_the_window_is_acknowledged_but_not_applied_again(tmp_path):
    """The same Replicate datagram delivered again is acked each time, counted in replicate_duplicates, applied once."""
    codec = Codec(TEST_SECRET.encode())
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        node = cluster.nodes["n2"]
        record = Record("replayed", "v", (int(time.time() * 1e6), 0, "n1"))
        datagram = codec.encode(Replicate(4711, "n1", (record,)))
        raw = await UdpTransport.bind()
        try:
            await raw.send(datagram, node.transport.address)
            with trio.fail_after(2):
                first = codec.decode((await raw.recv())[0])
            applied = node.storage.stats["records_applied"]
            duplicates = node.counters["replicate_duplicates"]
            for _ in range(3):
                await raw.send(datagram, node.transport.address)
                with trio.fail_after(2):
                    assert codec.decode((await raw.recv())[0]) == Ack(4711, "n2")
        finally:
            raw.close()
        assert first == Ack(4711, "n2")
        assert node.storage.get("replayed") == record
        assert node.counters["replicate_duplicates"] == duplicates + 3
        assert node.storage.stats["records_applied"] == applied


async def test_a_client_write_replayed_within_the_window_does_not_overwrite_a_later_write(tmp_path):
    """A captured Put replayed after a newer write gets its old answer from the reply cache, and every replica keeps the newer value."""
    codec = Codec(TEST_SECRET.encode())
    async with running_cluster(make_config(tmp_path, 3)) as cluster:
        n1 = cluster.nodes["n1"]
        captured = codec.encode(Put(2024, "replayed-put", "old", (int(time.time() * 1e6), 0, CLIENT), 3))
        raw = await UdpTransport.bind()
        try:
            await raw.send(captured, n1.transport.address)
            with trio.fail_after(2):
                first, _ = await raw.recv()
            assert isinstance(reply := codec.decode(first), Reply) and reply.status == "ok"
            async with cluster.client() as client:
                newer = await client.put("replayed-put", "new", node="n2", w=3)
                assert newer.ok
            duplicates = n1.counters["client_duplicates"]
            await raw.send(captured, n1.transport.address)
            with trio.fail_after(2):
                again, _ = await raw.recv()
        finally:
            raw.close()
        assert again == first
        assert n1.counters["client_duplicates"] == duplicates + 1
        await trio.sleep(0.3)
        for replica in cluster.replicas_for("replayed-put"):
            stored = cluster.nodes[replica].storage.get("replayed-put")
            assert (stored.value, stored.stamp) == ("new", newer.stamp)
