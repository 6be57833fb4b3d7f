"""A node that is not one of a key's replicas coordinates its writes and reads end to end over UDP."""

from __future__ import annotations

from pathlib import Path

from minikeydb.defects import Features
from minikeydb.ring import Ring

from .cluster_fixture import TestCluster, make_config, running_cluster, wait_until

KEY = "coordinated"


def roles(cluster: TestCluster) -> tuple[list[str], str]:
    """The key's replicas in preference order, and a node that is not one of them."""
    config = cluster.config
    replicas = list(Ring(config.node_ids, config.replicas, config.vnodes).replicas_for(KEY))
    outsider = next(n for n in config.node_ids if n not in replicas)
    return replicas, outsider


async def test_a_non_replica_coordinator_writes_to_every_replica_and_reads_all_back(tmp_path: Path) -> None:
    """W=3 at a non-replica answers ok once all three replicas hold the write; R=3 there reads it back."""
    async with running_cluster(make_config(tmp_path, 5)) as cluster:
        replicas, outsider = roles(cluster)
        async with cluster.client() as client:
            written = await client.put(KEY, "v1", node=outsider, w=3)
            assert written.ok, written
            assert all(cluster.nodes[r].storage.get(KEY).stamp == written.stamp for r in replicas)
            assert cluster.nodes[outsider].storage.get(KEY) is None  # the coordinator keeps no copy
            read = await client.get(KEY, node=outsider, r=3)
            assert (read.outcome, read.value, read.stamp) == ("ok", "v1", written.stamp)
        assert cluster.nodes[outsider].counters["writes_unknown"] == 0


async def test_a_write_whose_quorum_cannot_be_met_is_answered_unknown_and_w2_still_succeeds(tmp_path: Path) -> None:
    """With one replica down, W=3 ends 'unknown' at the coordinator's timeout while W=2 is acknowledged."""
    async with running_cluster(make_config(tmp_path, 5), features=Features(hinted_handoff=False)) as cluster:
        replicas, outsider = roles(cluster)
        await cluster.stop(replicas[2])
        async with cluster.client() as client:
            strict = await client.put(KEY, "all-three", node=outsider, w=3)
            assert (strict.outcome, strict.error) == ("unknown", "timeout"), strict
            assert cluster.nodes[outsider].counters["writes_unknown"] == 1
            relaxed = await client.put(KEY, "two-of-three", node=outsider, w=2)
            assert relaxed.ok, relaxed


async def test_a_read_falls_back_to_the_other_replicas_when_the_first_is_down(tmp_path: Path) -> None:
    """R=1 at a non-replica whose first-choice replica is down still answers, from a replica asked on fallback."""
    features = Features(read_repair=False)
    async with running_cluster(make_config(tmp_path, 5), features=features) as cluster:
        replicas, outsider = roles(cluster)
        async with cluster.client() as client:
            assert (await client.put(KEY, "there", node=outsider, w=3)).ok
            await cluster.stop(replicas[0])
            read = await client.get(KEY, node=outsider, r=1)
        assert (read.outcome, read.value) == ("ok", "there"), read
        assert cluster.nodes[outsider].counters["read_fallbacks"] >= 1


async def test_a_read_that_cannot_reach_r_replicas_fails_as_unavailable(tmp_path: Path) -> None:
    """R=3 with one replica down is a definite failure ('unavailable'), counted at the coordinator."""
    async with running_cluster(make_config(tmp_path, 5)) as cluster:
        replicas, outsider = roles(cluster)
        async with cluster.client() as client:
            assert (await client.put(KEY, "there", node=outsider, w=3)).ok
            await cluster.stop(replicas[1])
            read = await client.get(KEY, node=outsider, r=3)
        assert (read.outcome, read.error) == ("fail", "unavailable"), read
        assert cluster.nodes[outsider].counters["reads_failed"] == 1


async def test_a_repairing_read_at_a_non_replica_fixes_a_stale_replica(tmp_path: Path) -> None:
    """An R=3 read that finds one replica stale answers the newest value and then repairs that replica."""
    async with running_cluster(make_config(tmp_path, 5), features=Features(hinted_handoff=False,
                                                                          anti_entropy=False)) as cluster:
        replicas, outsider = roles(cluster)
        async with cluster.client() as client:
            assert (await client.put(KEY, "old", node=outsider, w=3)).ok
            await cluster.stop(replicas[2])
            newer = await client.put(KEY, "new", node=outsider, w=2)
            assert newer.ok
            await cluster.start(replicas[2])
            assert cluster.nodes[replicas[2]].storage.get(KEY).value == "old"
            read = await client.get(KEY, node=outsider, r=3)
            assert (read.outcome, read.value) == ("ok", "new"), read
        assert await wait_until(lambda: cluster.nodes[replicas[2]].storage.get(KEY).value == "new", 3.0)
        assert cluster.nodes[outsider].counters["read_repairs"] >= 1
