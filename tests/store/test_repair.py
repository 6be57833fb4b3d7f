"""A replica that was down catches up: through hinted handoff alone, and through anti-entropy alone."""

from __future__ import annotations

from minikeydb.defects import Features

from .cluster_fixture import TestCluster, make_config, running_cluster, wait_until

KEYS = [f"missed{i}" for i in range(40)]


async def write_while_down(cluster: TestCluster, down: str) -> dict[str, tuple]:
    """Stop ``down``, write every key (W=1) through the other nodes, and return the acked stamps."""
    await cluster.stop(down)
    others = [n for n in cluster.config.node_ids if n != down]
    acked = {}
    async with cluster.client() as client:
        for i, key in enumerate(KEYS):
            result = await client.put(key, f"value{i}", node=others[i % len(others)])
            assert result.ok, result
            acked[key] = result.stamp
    # Let the replicators give up on ``down`` first, so that only the mechanism under test can
    # deliver the writes it missed (a late retry reaching the restarted node would hide a failure).
    assert await wait_until(lambda: replication_idle(cluster), 5.0)
    return acked


def replication_idle(cluster: TestCluster) -> bool:
    """No node has a replication request in flight or a record queued (hints may remain)."""
    return all(n.messenger.waiting == 0 and n.replicator.outbox_size == 0 for n in cluster.nodes.values())


def holds_everything(cluster: TestCluster, node_id: str, acked: dict[str, tuple]) -> bool:
    storage = cluster.nodes[node_id].storage
    return all((r := storage.get(key)) is not None and r.stamp == stamp for key, stamp in acked.items())


async def test_hinted_handoff_alone_brings_a_restarted_node_up_to_date(tmp_path):
    """With read repair and anti-entropy off, hints held by the other nodes deliver every missed write after restart."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config, features=Features(read_repair=False, anti_entropy=False)) as cluster:
        acked = await write_while_down(cluster, "n3")
        assert await wait_until(lambda: sum(n.replicator.hints_pending for n in cluster.nodes.values()) >= len(KEYS), 5.0)
        assert not any(n.counters["ae_rounds"] for n in cluster.nodes.values())
        await cluster.start("n3")
        assert await wait_until(lambda: holds_everything(cluster, "n3", acked), 5.0)
        # n3 may hold the last group before its ack reaches the holder: wait for the count too.
        delivered = lambda: sum(n.counters["hints_delivered"] for n in cluster.nodes.values() if n.id != "n3")  # noqa: E731
        assert await wait_until(lambda: delivered() >= len(KEYS), 5.0), delivered()
        assert await wait_until(lambda: all(n.replicator.hints_pending == 0 for n in cluster.nodes.values()), 3.0)


async def test_anti_entropy_alone_brings_a_restarted_node_up_to_date(tmp_path):
    """With read repair and hints off, digest exchanges alone give a restarted node every write it missed."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config, features=Features(read_repair=False, hinted_handoff=False)) as cluster:
        acked = await write_while_down(cluster, "n3")
        assert all(n.replicator.hints_pending == 0 for n in cluster.nodes.values())
        await cluster.start("n3")
        assert await wait_until(lambda: holds_everything(cluster, "n3", acked), 8.0)
        assert sum(n.counters["hints_stored"] for n in cluster.nodes.values()) == 0
        moved = sum(n.counters["ae_pulled"] + n.counters["ae_pushed"] for n in cluster.nodes.values())
        assert moved >= len(KEYS)


async def test_read_repair_fixes_a_stale_replica_on_read(tmp_path):
    """With hints and anti-entropy off, reading a key through a coordinator sends the newest version to a replica that missed it."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config, features=Features(hinted_handoff=False, anti_entropy=False)) as cluster:
        acked = await write_while_down(cluster, "n3")
        await cluster.start("n3")
        assert not holds_everything(cluster, "n3", acked)
        async with cluster.client() as client:
            for key in KEYS:
                assert (await client.get(key, node="n1", r=3)).ok
        assert await wait_until(lambda: holds_everything(cluster, "n3", acked), 5.0)
        assert cluster.nodes["n1"].counters["read_repairs"] >= len(KEYS)


async def test_a_crashed_node_restarts_with_what_it_acknowledged(tmp_path):
    """A node whose storage crashes (losing unflushed data) right after acknowledged W=3 writes still has them after restart."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config, features=Features(False, False, False)) as cluster:
        acked = {}
        async with cluster.client() as client:
            for i in range(30):
                result = await client.put(f"c{i}", "v", w=3)
                assert result.ok
                acked[f"c{i}"] = result.stamp
        await cluster.stop("n2", crash=True)
        await cluster.start("n2")
        assert holds_everything(cluster, "n2", acked)
