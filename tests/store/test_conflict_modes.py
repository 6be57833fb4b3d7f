"""Conflict modes siblings and crdt end to end: real nodes over UDP with their logs, stopped, crashed and restarted."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from minikeydb.client import Client
from minikeydb.defects import Defect, Features

from .cluster_fixture import TestCluster, make_config, running_cluster, wait_until

pytestmark = pytest.mark.usefixtures("cluster_secret")

KEY = "k"


async def local_views(cluster: TestCluster, client: Client, key: str) -> dict[str, tuple[object, ...]]:
    """Each running node's own copy of ``key``: (values, count, elements) from a local read."""
    out = {}
    for node in sorted(cluster.nodes):
        result = await client.get(key, node=node, local=True)
        assert result.ok, result
        out[node] = (result.values, result.count, result.elements)
    return out


async def converged(cluster: TestCluster, client: Client, key: str, expected: tuple[object, ...]) -> bool:
    views = await local_views(cluster, client, key)
    return len(views) == len(cluster.config.node_ids) and all(v == expected for v in views.values())


async def concurrent_puts_while_apart(cluster: TestCluster) -> None:
    """Put "a" at n1 while n2 and n3 are down, then "b" at n2 while n1 is down: neither saw the other."""
    await cluster.stop("n2")
    await cluster.stop("n3")
    async with cluster.client() as client:
        assert (await client.put(KEY, "a", node="n1", w=1)).ok
    await cluster.stop("n1")
    await cluster.start("n2")
    async with cluster.client() as client:
        assert (await client.put(KEY, "b", node="n2", w=1)).ok
    await cluster.start("n1")
    await cluster.start("n3")


async def test_concurrent_puts_become_siblings_on_every_replica_and_a_context_resolves_them(tmp_path: Path) -> None:
    """Two puts that never saw each other (made on opposite sides of an outage) end as two siblings
    on every replica after it heals; a put with the context of a read of both replaces exactly them."""
    config = make_config(tmp_path, conflict="siblings")
    async with running_cluster(config) as cluster:
        await concurrent_puts_while_apart(cluster)
        async with cluster.client() as client:
            both = (("a", "b"), None, None)
            assert await wait_until(lambda: converged(cluster, client, KEY, both), timeout=10), await local_views(
                cluster, client, KEY
            )
            read = await client.get(KEY, node="n3", local=True)
            assert read.context is not None and sorted(read.values or ()) == ["a", "b"]
            assert (await client.put(KEY, "c", context=read.context, node="n3", w=3)).ok
            resolved = (("c",), None, None)
            assert await wait_until(lambda: converged(cluster, client, KEY, resolved), timeout=10)


async def test_siblings_survive_a_crash_and_a_delete_with_context_removes_only_what_it_saw(tmp_path: Path) -> None:
    """Siblings are durable (a crashed node recovers both from its log); a delete with a context
    removes what its read saw, while a sibling written after that read stays."""
    config = make_config(tmp_path, conflict="siblings")
    async with running_cluster(config) as cluster, cluster.client() as client:
        assert (await client.put(KEY, "x", node="n1", w=3)).ok
        assert (await client.put(KEY, "y", node="n2", w=3)).ok
        await cluster.stop("n1", crash=True)
        await cluster.start("n1")
        read = await client.get(KEY, node="n1", local=True)
        assert sorted(read.values or ()) == ["x", "y"], read
        assert (await client.put(KEY, "z", node="n3", w=3)).ok  # after the read: not in its context
        assert (await client.delete(KEY, context=read.context, node="n2", w=3)).ok
        assert await wait_until(lambda: converged(cluster, client, KEY, (("z",), None, None)), timeout=10)


async def test_counter_increments_through_several_coordinators_converge_after_crash_and_restart(
    tmp_path: Path,
) -> None:
    """A PN-counter incremented and decremented through every node, with one node crashed and
    restarted in the middle, reads the sum on every replica."""
    config = make_config(tmp_path, conflict="crdt")
    async with running_cluster(config) as cluster, cluster.client() as client:
        total = 0
        for i, node in enumerate(["n1", "n2", "n3", "n1", "n2", "n3"]):
            assert (await client.incr("c", i + 1, node=node, w=1)).ok
            total += i + 1
        assert (await client.decr("c", 4, node="n2", w=1)).ok
        total -= 4
        await cluster.stop("n3", crash=True)
        assert (await client.incr("c", 10, node="n1", w=1)).ok
        total += 10
        await cluster.start("n3")
        assert await wait_until(lambda: converged(cluster, client, "c", (None, total, None)), timeout=10), (
            await local_views(cluster, client, "c")
        )
        read = await client.get("c", node="n2", r=3)
        assert read.ok and read.count == total


async def test_or_set_add_wins_over_a_concurrent_remove_and_wrong_operations_fail(tmp_path: Path) -> None:
    """An OR-set removes the adds its remove observed and keeps one it did not; an operation of
    another type on a typed key is a definite fail naming both types."""
    config = make_config(tmp_path, conflict="crdt")
    async with running_cluster(config) as cluster, cluster.client() as client:
        assert (await client.add("s", "e1", node="n1", w=3)).ok
        assert (await client.add("s", "e2", node="n2", w=3)).ok
        assert (await client.remove("s", "e1", node="n3", w=3)).ok
        assert await wait_until(lambda: converged(cluster, client, "s", (None, None, ("e2",))), timeout=10)
        wrong = await client.incr("s", 1, node="n1")
        assert wrong.outcome == "fail" and "set" in (wrong.error or "") and "counter" in (wrong.error or "")
        assert (await client.put("r", "v", node="n1", w=3)).ok
        register = await client.get("r", node="n2", local=True)
        assert register.value == "v"


async def test_seeded_siblings_by_timestamp_loses_a_concurrent_write(tmp_path: Path) -> None:
    """With --bug siblings-by-timestamp the same outage leaves one value: the siblings test's assertion fails."""
    config = make_config(tmp_path, conflict="siblings")
    async with running_cluster(config, start=False) as cluster:
        cluster.defect = Defect.named("siblings-by-timestamp")
        for node in config.node_ids:
            await cluster.start(node)
        await concurrent_puts_while_apart(cluster)
        async with cluster.client() as client:
            assert await wait_until(lambda: converged(cluster, client, KEY, (("b",), None, None)), timeout=10)
            assert not await converged(cluster, client, KEY, (("a", "b"), None, None))


async def test_seeded_counter_merge_adds_counts_twice(tmp_path: Path) -> None:
    """With --bug counter-merge-adds a lane's total joined onto itself counts twice: the sum is exceeded."""
    config = make_config(tmp_path, conflict="crdt")
    async with running_cluster(config, start=False) as cluster:
        cluster.defect = Defect.named("counter-merge-adds")
        for node in config.node_ids:
            await cluster.start(node)
        async with cluster.client() as client:
            assert (await client.incr("c", 1, node="n1", w=3)).ok
            assert (await client.incr("c", 2, node="n1", w=3)).ok
            await trio.sleep(0.5)
            read = await client.get("c", node="n1", local=True)
            assert read.count is not None and read.count > 3


@pytest.mark.parametrize(
    "mechanism, features",
    [
        ("anti-entropy", Features(read_repair=False, hinted_handoff=False, anti_entropy=True)),
        ("hinted handoff", Features(read_repair=False, hinted_handoff=True, anti_entropy=False)),
        ("read repair", Features(read_repair=True, hinted_handoff=False, anti_entropy=False)),
    ],
)
async def test_each_repair_mechanism_alone_brings_every_replica_the_whole_sibling_set(
    tmp_path: Path, mechanism: str, features: Features
) -> None:
    """Siblings written while two replicas were down reach every replica through one repair
    mechanism alone (anti-entropy pushes and pulls differing states, hints join, read repair sends the join)."""
    config = make_config(tmp_path, conflict="siblings")
    async with running_cluster(config, features=features) as cluster:
        await cluster.stop("n2")
        await cluster.stop("n3")
        async with cluster.client() as client:
            assert (await client.put(KEY, "a", node="n1", w=1)).ok
            assert (await client.put(KEY, "b", node="n1", w=1)).ok
        await cluster.start("n2")
        await cluster.start("n3")
        async with cluster.client() as client:
            assert (await client.put(KEY, "c", node="n2", w=1)).ok  # n2 alone: a third sibling

            async def repaired() -> bool:
                if mechanism == "read repair":
                    await client.get(KEY, node="n1", r=3)
                return await converged(cluster, client, KEY, (("a", "b", "c"), None, None))

            assert await wait_until(repaired, timeout=10), (mechanism, await local_views(cluster, client, KEY))


async def test_a_remove_at_a_node_without_a_copy_removes_what_the_replicas_hold(tmp_path: Path) -> None:
    """A node that is not one of the key's replicas checks an operation against the type the
    replicas hold (read before every update: a remembered type can be stale), and a remove there
    reads the replicas first, so it observes (and removes) the adds they hold."""
    config = make_config(tmp_path, 4, conflict="crdt")
    async with running_cluster(config) as cluster, cluster.client() as client:
        key = next(k for k in (f"s{i}" for i in range(100)) if "n4" not in cluster.replicas_for(k))
        assert (await client.add(key, "x", node=cluster.replicas_for(key)[0], w=3)).ok
        wrong = await client.incr(key, 1, node="n4")  # the type is read from the replicas
        assert wrong.outcome == "fail" and "is a set" in (wrong.error or "")
        assert (await client.add(key, "y", node="n4", w=3)).ok
        assert (await client.remove(key, "x", node="n4", w=3)).ok
        assert cluster.nodes["n4"].counters["updates_read_first"] == 3  # the incr, the add, the remove
        for replica in cluster.replicas_for(key):
            assert (await client.get(key, node=replica, local=True)).elements == ("y",)


async def test_a_replicated_state_that_does_not_decode_is_counted_and_dropped(tmp_path: Path) -> None:
    """A Replicate (properly signed) carrying a garbage siblings state changes nothing and is
    counted, not a handler error; the batch is still acknowledged, so it is not resent forever."""
    from minikeydb.record import Record
    from minikeydb.wire import Replicate

    config = make_config(tmp_path, conflict="siblings")
    async with running_cluster(config) as cluster, cluster.client() as client:
        assert (await client.put(KEY, "a", node="n1", w=3)).ok
        bad = Replicate(client.messenger.new_id(), "n2", (Record(KEY, 's{"garbage": 1}', (1, 0, "~x")),))
        node = cluster.nodes["n1"]
        await client.messenger.send(bad, config.node("n1").peer_address)
        assert await wait_until(lambda: node.storage.stats.get("records_malformed") == 1)
        assert node.counters["handler_errors"] == 0 and node.replica.seen_replication_ids >= 1
        assert (await client.get(KEY, node="n1", local=True)).values == ("a",)
