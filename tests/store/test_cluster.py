"""Integration over real UDP: coordination, deletes, convergence, duplicates, durability of acks."""

from __future__ import annotations

import random
import time
from pathlib import Path

import trio

from minikeydb.log_storage import MAGIC, scan_log
from minikeydb.record import Record
from minikeydb.server import storage_path
from minikeydb.transport import UdpTransport
from minikeydb.wire import Ack, Codec, Put, Replicate, Reply

from .cluster_fixture import TestCluster, make_config, running_cluster, wait_until
from .conftest import TEST_SECRET


async def replica_views(cluster: TestCluster, key: str) -> dict[str, tuple[str | None, object]]:
    """Each replica's own (value, stamp) of ``key``, read with local gets."""
    views = {}
    async with cluster.client() as client:
        for replica in cluster.replicas_for(key):
            result = await client.get(key, node=replica, local=True)
            assert result.ok, result
            views[replica] = (result.value, result.stamp)
    return views


def durable_records(cluster: TestCluster, node_id: str) -> dict[str, Record]:
    """What one node's log file holds right now (what a crash at this instant would keep)."""
    data = storage_path(cluster.config, node_id).read_bytes()
    assert data.startswith(MAGIC)
    entries, _, _ = scan_log(data, Path("log"))
    out: dict[str, Record] = {}
    for entry in entries:
        if isinstance(entry, Record):
            out[entry.key] = entry
        else:
            out.pop(entry.key, None)
    return out


async def test_round_trip_through_different_coordinators(tmp_path):
    """A value written through one node is read back through every other node."""
    config = make_config(tmp_path, 4)
    async with running_cluster(config) as cluster, cluster.client() as client:
        for i, writer in enumerate(config.node_ids):
            put = await client.put(f"k{i}", f"v{i}", node=writer, w=3)
            assert put.ok and put.node == writer
            for reader in config.node_ids:
                got = await client.get(f"k{i}", node=reader)
                assert got.ok and got.value == f"v{i}" and got.stamp == put.stamp, (writer, reader, got)
        absent = await client.get("never-written")
        assert absent.ok and absent.value is None


async def test_fsync_in_a_worker_thread_serves_the_same(tmp_path):
    """With fsync = "thread" writes are acknowledged once durable and reach every replica, as inline."""
    config = make_config(tmp_path, 3, fsync="thread")
    async with running_cluster(config) as cluster, cluster.client() as client:
        assert all(not node.storage.flushes_inline for node in cluster.nodes.values())
        puts = [await client.put(f"t{i}", f"v{i}", w=w) for i, w in enumerate((1, 2, 3) * 4)]
        assert all(put.ok for put in puts)
        for node in cluster.nodes.values():
            assert node.storage.stats["fsyncs"] >= 1

        async def everywhere() -> bool:
            for i, put in enumerate(puts):
                views = await replica_views(cluster, f"t{i}")
                if any(view != (f"v{i}", put.stamp) for view in views.values()):
                    return False
            return True

        assert await wait_until(everywhere, 5.0)


async def test_deletes_reach_every_replica(tmp_path):
    """A delete through any coordinator leaves the same tombstone on each of the key's replicas."""
    config = make_config(tmp_path, 5)
    async with running_cluster(config) as cluster, cluster.client() as client:
        keys = [f"doomed{i}" for i in range(10)]
        for key in keys:
            assert (await client.put(key, "alive", w=3)).ok
        deletes = {key: await client.delete(key, node=random.choice(config.node_ids)) for key in keys}
        assert all(d.ok for d in deletes.values())

        async def all_tombstoned() -> bool:
            for key in keys:
                views = await replica_views(cluster, key)
                if any(view != (None, deletes[key].stamp) for view in views.values()):
                    return False
            return True

        assert await wait_until(all_tombstoned, 5.0)
        assert sum(node.storage.tombstones for node in cluster.nodes.values()) == 3 * len(keys)
        for key in keys:
            assert (await client.get(key, r=3)).value is None


async def test_concurrent_writes_to_different_coordinators_converge_to_one_winner(tmp_path):
    """Racing writes of one key through different nodes end with every replica holding the largest stamp's value."""
    config = make_config(tmp_path, 5)
    async with running_cluster(config) as cluster, cluster.client() as client:
        keys = [f"race{i}" for i in range(8)]
        results: dict[str, list] = {key: [] for key in keys}

        async def write(key: str, node: str) -> None:
            results[key].append(await client.put(key, f"{key}-from-{node}", node=node))

        async with trio.open_nursery() as nursery:
            for key in keys:
                for node in config.node_ids:
                    nursery.start_soon(write, key, node)
        for key in keys:
            assert all(r.ok for r in results[key])
            winner = max(results[key], key=lambda r: r.stamp)
            expected = (f"{key}-from-{winner.node}", winner.stamp)

            async def converged(key: str = key, expected: tuple = expected) -> bool:
                return set((await replica_views(cluster, key)).values()) == {expected}

            assert await wait_until(converged, 5.0), (key, await replica_views(cluster, key))


async def test_duplicated_datagrams_apply_once(tmp_path):
    """The same Replicate or Put datagram delivered twice is stored once, acknowledged twice, and answered identically."""
    config = make_config(tmp_path, 3)
    codec = Codec(TEST_SECRET.encode())
    async with running_cluster(config) as cluster:
        node = cluster.nodes["n2"]
        raw = await UdpTransport.bind()
        try:
            record = Record("dup", "once", (1_000_000_000_000_000, 0, "n9"))
            datagram = codec.encode(Replicate(777, "n1", (record,)))
            applied_before = node.storage.stats["records_applied"]
            received_before = node.counters["records_received"]
            duplicates_before = node.counters["replicate_duplicates"]
            for _ in range(2):
                await raw.send(datagram, node.transport.address)
            acks = []
            for _ in range(2):
                with trio.fail_after(2):
                    data, _ = await raw.recv()
                acks.append(codec.decode(data))
            assert acks == [Ack(777, "n2"), Ack(777, "n2")]
            assert node.storage.get("dup") == record
            assert node.storage.stats["records_applied"] == applied_before + 1
            assert node.counters["records_received"] == received_before + 1
            assert node.counters["replicate_duplicates"] == duplicates_before + 1

            requests_before = node.counters["client_requests"]
            put = codec.encode(Put(4242, "dup-put", "v", (int(time.time() * 1e6), 0, "c0123456789abcdef"), 3))
            await raw.send(put, node.transport.address)
            with trio.fail_after(2):
                first, _ = await raw.recv()
            await raw.send(put, node.transport.address)
            with trio.fail_after(2):
                second, _ = await raw.recv()
            assert first == second
            reply = codec.decode(first)
            assert isinstance(reply, Reply) and reply.status == "ok"
            assert node.counters["client_requests"] == requests_before + 1
            assert node.counters["client_duplicates"] >= 1
            for replica in cluster.replicas_for("dup-put"):
                assert cluster.nodes[replica].storage.get("dup-put").stamp == reply.stamp
        finally:
            raw.close()


async def test_a_plain_run_leaves_every_replica_identical(tmp_path):
    """With no faults, a random workload through random coordinators (W=1) leaves all replicas of every key equal, deletes included."""
    config = make_config(tmp_path, 5)
    rng = random.Random(7)
    async with running_cluster(config) as cluster, cluster.client() as client:
        keys = [f"plain{i}" for i in range(40)]
        deleted: set[str] = set()

        async def worker(seed: int) -> None:
            local = random.Random(seed)
            for step in range(40):
                key = local.choice(keys)
                if local.random() < 0.25:
                    assert (await client.delete(key)).ok
                else:
                    assert (await client.put(key, f"{seed}-{step}")).ok

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(worker, rng.randrange(10**6))
        assert await wait_until(cluster.quiet, 5.0)
        for key in keys:
            views = await replica_views(cluster, key)
            assert len(set(views.values())) == 1, (key, views)
            value, _ = next(iter(views.values()))
            if value is None:
                deleted.add(key)
        assert deleted, "the workload deleted nothing; the test would not show deletes propagating"


async def test_an_acknowledged_write_is_already_on_disk(tmp_path):
    """When a put is acknowledged with W replicas, at least W replicas' log files already hold it."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config) as cluster, cluster.client() as client:
        for w in (1, 2, 3):
            for i in range(10):
                key = f"durable-w{w}-{i}"
                put = await client.put(key, "v", w=w)
                assert put.ok
                # No await between the ack and the check: what a crash right now would keep.
                on_disk = [n for n in config.node_ids if (r := durable_records(cluster, n).get(key)) and r.stamp == put.stamp]
                assert len(on_disk) >= w, (key, w, on_disk)
