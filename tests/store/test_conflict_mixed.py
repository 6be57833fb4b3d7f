"""One cluster whose nodes (or clients) disagree on the conflict mode: loud and safe, never silent."""

from __future__ import annotations

import logging
from pathlib import Path

import attrs
import pytest

from .cluster_fixture import make_config, running_cluster, wait_until

pytestmark = pytest.mark.usefixtures("cluster_secret")


async def test_a_node_of_another_conflict_mode_is_dropped_as_unauthenticated_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """n3 configured lww among siblings nodes: their datagrams fail authentication both ways
    (``dropped_auth``, a warning naming another conflict mode), so n3 never stores a siblings
    state as a plain value (before: it did, and served the raw ``s{"ctx":...}`` to its clients)."""
    config = make_config(tmp_path, conflict="siblings")
    lww = attrs.evolve(config, conflict="lww")
    caplog.set_level(logging.WARNING)
    async with running_cluster(config, start=False) as cluster:
        await cluster.start("n1")
        await cluster.start("n2")
        cluster.config = lww
        await cluster.start("n3")
        cluster.config = config
        async with cluster.client() as client:
            await client.put("k", "v", node="n1", w=3)
            assert await wait_until(lambda: cluster.nodes["n3"].counters["dropped_auth"] > 0, timeout=5)
            assert cluster.nodes["n3"].storage.get("k") is None
        cluster.config = lww
        async with cluster.client() as plain:
            read = await plain.get("k", node="n3", local=True)
            assert read.ok and read.value is None, read
        assert any("another conflict mode" in r.getMessage() for r in caplog.records)
