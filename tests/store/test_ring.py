"""Consistent-hash ring: N distinct replicas per key, placement stable across processes, even load."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from minikeydb.ring import Ring

ROOT = Path(__file__).resolve().parents[2]
NODES = ["n1", "n2", "n3", "n4", "n5"]


def test_every_key_gets_n_distinct_replicas():
    """Each key's preference list holds exactly N different nodes of the ring."""
    ring = Ring(NODES, replicas=3, vnodes=64)
    for i in range(2000):
        replicas = ring.replicas_for(f"key-{i}")
        assert len(replicas) == 3
        assert len(set(replicas)) == 3
        assert set(replicas) <= set(NODES)


def test_replicas_are_capped_at_the_number_of_nodes():
    """Asking for more replicas than nodes places each key on every node once."""
    ring = Ring(["a", "b"], replicas=3, vnodes=8)
    assert sorted(ring.replicas_for("k")) == ["a", "b"]


def test_node_order_in_the_config_does_not_change_placement():
    """Two rings built from the same nodes in a different order place every key identically."""
    a = Ring(NODES, 3, 64)
    b = Ring(list(reversed(NODES)), 3, 64)
    assert all(a.replicas_for(f"k{i}") == b.replicas_for(f"k{i}") for i in range(500))


def test_placement_is_the_same_in_another_process():
    """A fresh interpreter (different hash salt) computes the same preference lists."""
    code = (
        "from minikeydb.ring import Ring\n"
        "r = Ring(['n1','n2','n3','n4','n5'], 3, 64)\n"
        "print('\\n'.join(','.join(r.replicas_for(f'k{i}')) for i in range(300)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout.split()
    ring = Ring(NODES, 3, 64)
    assert out == [",".join(ring.replicas_for(f"k{i}")) for i in range(300)]


def test_load_is_balanced_with_64_vnodes():
    """Over 20k keys no node holds more than 1.3x the mean number of replicas."""
    ring = Ring(NODES, replicas=3, vnodes=64)
    held: Counter[str] = Counter()
    for i in range(20_000):
        held.update(ring.replicas_for(f"user:{i}"))
    mean = sum(held.values()) / len(NODES)
    assert max(held.values()) <= 1.3 * mean, held
    assert min(held.values()) >= 0.7 * mean, held


def test_shared_ranges_are_exactly_the_ranges_both_replicate():
    """Anti-entropy's shared ranges of two nodes are the ranges whose preference list names both."""
    ring = Ring(NODES, 3, 16)
    shared = ring.shared_ranges("n1", "n2")
    expected = [r for r in range(ring.range_count) if {"n1", "n2"} <= set(ring.range_replicas(r))]
    assert sorted(shared) == expected
    key = next(f"k{i}" for i in range(10_000) if ring.range_of(f"k{i}") in shared)
    assert {"n1", "n2"} <= set(ring.replicas_for(key))


@pytest.mark.parametrize(
    "nodes, replicas", [([], 3), (["a", "a"], 1), (["a"], 0)],
)
def test_bad_rings_are_refused(nodes, replicas):
    """An empty ring, duplicate node ids, or fewer than one replica raise ValueError."""
    with pytest.raises(ValueError):
        Ring(nodes, replicas)


def test_shared_ring_is_built_once_per_settings_and_places_keys_as_a_fresh_ring() -> None:
    """shared_ring gives one ring per (nodes, replicas, vnodes), placing every key as a Ring built anew."""
    from minikeydb.ring import shared_ring

    nodes = ("n1", "n2", "n3", "n4")
    a, b = shared_ring(nodes, 3, 16), shared_ring(nodes, 3, 16)
    assert a is b
    assert shared_ring(nodes, 2, 16) is not a and shared_ring(nodes, 3, 8) is not a
    fresh = Ring(nodes, 3, 16)
    for i in range(200):
        assert a.replicas_for(f"k{i}") == fresh.replicas_for(f"k{i}")
