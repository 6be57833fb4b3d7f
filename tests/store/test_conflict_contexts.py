"""Siblings contexts belong to their key: one key's context given with another key is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikeydb.dvv import Context, StateError

from .cluster_fixture import make_config, running_cluster

pytestmark = pytest.mark.usefixtures("cluster_secret")


async def test_a_context_of_another_key_is_a_definite_fail_and_hides_nothing(tmp_path: Path) -> None:
    """Key x's context used on key y is refused ("another key"), and later acknowledged puts of y
    stay visible (before: it was acknowledged and its version vector hid y's later puts)."""
    config = make_config(tmp_path, conflict="siblings")
    async with running_cluster(config) as cluster, cluster.client() as a, cluster.client() as b:
        for i in range(5):
            assert (await a.put("x", f"x{i}", node="n1", w=3)).ok
        x = await b.get("x", node="n1", r=3)
        assert x.ok and x.context is not None
        wrong = await b.put("y", "from-b", context=x.context, node="n1", w=3)
        assert wrong.outcome == "fail" and "another key" in (wrong.error or ""), wrong
        for i in range(3):
            assert (await a.put("y", f"a-y{i}", node="n2", w=3)).ok
        for node in sorted(cluster.nodes):
            assert (await a.get("y", node=node, local=True)).values == ("a-y0", "a-y1", "a-y2")


def test_a_context_with_an_empty_actor_does_not_decode() -> None:
    """A version vector naming an empty actor is refused like any context no read returned."""
    with pytest.raises(StateError):
        Context.from_json({"vv": {"": 3}, "c": []})
