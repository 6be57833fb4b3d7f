"""Counter amounts a lane cannot hold are refused by the client before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikeydb.config import write_config
from minikeydb.wire import MAX_COUNT

from .cluster_fixture import make_config, running_cluster
from .subprocesses import run_cli

pytestmark = pytest.mark.usefixtures("cluster_secret")


async def test_an_amount_that_would_overflow_the_lane_is_a_value_error_and_the_lane_stays_usable(
    tmp_path: Path,
) -> None:
    """incr by 2**62 (or past the lane's limit) raises ValueError before sending and changes no
    lane, so later increments are ok (before: dropped as malformed, a timeout, and every later
    incr from that client unknown)."""
    config = make_config(tmp_path, conflict="crdt")
    async with running_cluster(config) as cluster, cluster.client() as client:
        with pytest.raises(ValueError, match="2\\^62|lane"):
            await client.incr("c", MAX_COUNT, node="n1")
        assert (await client.incr("c", MAX_COUNT - 10, node="n1", w=3)).ok
        with pytest.raises(ValueError, match="lane"):
            await client.incr("c", 10, node="n1")
        assert (await client.incr("c", 1, node="n1", w=3)).ok
        assert (await client.decr("c", 1, node="n1", w=3)).ok
        read = await client.get("c", node="n1", r=3)
        assert read.ok and read.count == MAX_COUNT - 10, read
        assert cluster.nodes["n1"].counters["dropped_malformed"] == 0


async def test_the_cli_refuses_an_amount_over_the_limit(tmp_path: Path) -> None:
    """``incr c 4611686018427387904`` is a usage error naming the amount, not a timeout."""
    config = make_config(tmp_path / "data", 3, conflict="crdt")
    path = tmp_path / "cluster.toml"
    write_config(config, path)
    async with running_cluster(config):
        done = await run_cli("incr", "c", str(MAX_COUNT), "--config", path, "--node", "n1")
        assert done.returncode == 254 and "amount" in done.stderr, (done.returncode, done.stderr)


async def test_a_type_creating_write_that_cannot_read_a_majority_of_replicas_is_refused(tmp_path: Path) -> None:
    """An incr at a replica that missed an acknowledged put (the others down) cannot learn the key's
    type: a definite fail, so the put is never destroyed by the higher-ranked counter (before: ok,
    and the counter replaced the register everywhere once they met)."""
    config = make_config(tmp_path, conflict="crdt")
    async with running_cluster(config) as cluster:
        await cluster.stop("n3")
        async with cluster.client() as client:
            assert (await client.put("k", "important", node="n1", w=2)).ok
        await cluster.stop("n1")
        await cluster.stop("n2")
        await cluster.start("n3")
        async with cluster.client() as client:
            incr = await client.incr("k", 1, node="n3", w=1)
            assert incr.outcome == "fail" and "majority" in (incr.error or ""), incr
        await cluster.start("n1")
        await cluster.start("n2")
        async with cluster.client() as client:
            for node in ("n1", "n2"):
                assert (await client.get("k", node=node, local=True)).value == "important"
            late = await client.incr("k", 1, node="n3", w=1)
            assert late.outcome == "fail" and "is a register" in (late.error or ""), late
