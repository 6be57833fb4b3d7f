"""Request-id caches hold only what the replay window needs, so memory is flat at a steady rate."""

from __future__ import annotations

import pytest
import trio

from minikeydb.wire import REPLAY_WINDOW
from tests.store.cluster_fixture import make_config, running_cluster


@pytest.mark.slow
async def test_cache_entries_older_than_the_replay_window_are_evicted(tmp_path):
    """After the replay window passes, the reply cache and the replicated-id cache keep only recent entries."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config) as cluster, cluster.client() as client:
        for i in range(100):
            assert (await client.put(f"k{i}", "v", node="n1", w=3)).ok
        n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]
        assert n1.stats()["reply_cache"] >= 100 and n2.stats()["seen_replication_ids"] >= 1
        await trio.sleep(REPLAY_WINDOW + 5)
        assert (await client.put("fresh", "v", node="n1", w=3)).ok
        assert n1.stats()["reply_cache"] <= 5
        assert n2.stats()["seen_replication_ids"] <= 5
