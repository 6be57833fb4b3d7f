"""Request-id caches hold only what the replay window needs, so memory is flat at a steady rate."""

from __future__ import annotations

import pytest
import trio

from minikeydb.wire import REPLAY_WINDOW
from tests.store.cluster_fixture import make_config, running_cluster

REASON = (
    "node.Node keeps up to REPLY_CACHE_SIZE (20,000) replies and SEEN_IDS_SIZE (50,000) replication ids "
    "however old, ~620 bytes per pair, so RSS grows for tens of minutes at a steady rate (bench/soak.py: "
    "30.1 -> 36.5 MB in 5 min, ratio 1.21). An entry older than the replay window protects nothing (its "
    "datagram is dropped as stale): store its receive time and evict from the front of both OrderedDicts "
    "while the oldest is older than REPLAY_WINDOW + a margin, in Node._answer and Node._on_replicate"
)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=REASON)
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
