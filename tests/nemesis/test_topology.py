"""Partition topologies: the allowed-link graphs and their history descriptions."""

from __future__ import annotations

import itertools
import random

import pytest

from nemesis.topology import (
    PARTITION_KINDS,
    blocked_links,
    make_partition,
    partition_from_description,
)

NODES = ["n1", "n2", "n3", "n4", "n5"]


def sees(graph, node: str) -> set[str]:
    """The nodes ``node`` hears from, itself included."""
    return {node} | set(graph.predecessors(node))


def test_halves_of_five_is_two_then_three():
    """halves puts the first two of five nodes on the smaller side and cuts every cross link."""
    p = make_partition("halves", NODES, random.Random(0))
    assert p.description == {"kind": "halves", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]}
    small, big = {"n1", "n2"}, {"n3", "n4", "n5"}
    expected_blocked = {(a, b) for a in small for b in big} | {(b, a) for a in small for b in big}
    assert blocked_links(p.graph) == expected_blocked


def test_random_halves_splits_by_the_rng():
    """random-halves sizes its sides 2/3, is repeatable for a seed, and differs across seeds."""
    splits = set()
    for seed in range(20):
        p = make_partition("random-halves", NODES, random.Random(seed))
        again = make_partition("random-halves", NODES, random.Random(seed))
        assert p.description == again.description
        small, big = p.description["groups"]
        assert (len(small), len(big)) == (2, 3) and set(small) | set(big) == set(NODES)
        splits.add(tuple(small))
    assert len(splits) > 3


def test_one_isolates_exactly_one_node():
    """one cuts a single node off from all others, both directions, and leaves the rest whole."""
    p = make_partition("one", NODES, random.Random(3))
    [loner], rest = p.description["groups"]
    assert sees(p.graph, loner) == {loner}
    for node in rest:
        assert sees(p.graph, node) == set(rest)


def test_majorities_ring_of_five_gives_distinct_majorities():
    """majorities-ring: each of five nodes sees three including itself, and no two see the same three."""
    for seed in range(10):
        p = make_partition("majorities-ring", NODES, random.Random(seed))
        views = [frozenset(sees(p.graph, n)) for n in NODES]
        assert all(len(v) == 3 for v in views)
        assert len(set(views)) == 5
        assert {n: set(v) for n, v in p.description["views"].items()} == {
            n: set(v) for n, v in zip(NODES, views, strict=True)
        }


@pytest.mark.parametrize("n", [3, 4, 6, 7])
def test_majorities_ring_other_sizes(n):
    """majorities-ring gives every node a distinct majority for other cluster sizes too."""
    nodes = [f"n{i}" for i in range(1, n + 1)]
    p = make_partition("majorities-ring", nodes, random.Random(n))
    views = [frozenset(sees(p.graph, x)) for x in nodes]
    assert all(len(v) == n // 2 + 1 for v in views)
    assert len(set(views)) == n


def test_bridge_node_sees_all_and_sides_do_not_meet():
    """bridge: the bridge node talks both ways with everyone; the two sides cannot reach each other."""
    p = make_partition("bridge", NODES, random.Random(5))
    bridge = p.description["bridge"]
    left, right = (set(g) - {bridge} for g in p.description["groups"])
    assert {len(left), len(right)} == {2}
    assert sees(p.graph, bridge) == set(NODES)
    assert set(p.graph.successors(bridge)) == set(NODES) - {bridge}
    for a, b in itertools.product(left, right):
        assert not p.allows(a, b) and not p.allows(b, a)


def test_one_way_blocks_one_direction_only():
    """one-way blocks every link from one group to the other and none in the reverse direction."""
    for seed in range(6):
        p = make_partition("one-way", NODES, random.Random(seed))
        source, target = p.description["from"], p.description["to"]
        assert blocked_links(p.graph) == {(a, b) for a in source for b in target}
        assert all(p.allows(b, a) for a in source for b in target)


@pytest.mark.parametrize("kind", PARTITION_KINDS)
def test_description_rebuilds_the_same_graph(kind):
    """Every kind's description alone rebuilds its graph, so a recorded partition replays exactly."""
    p = make_partition(kind, NODES, random.Random(11))
    rebuilt = partition_from_description(p.description)
    assert set(rebuilt.graph.edges) == set(p.graph.edges)
    assert set(rebuilt.graph.nodes) == set(NODES)
    assert not any(a == b for a, b in p.graph.edges)


def test_unknown_kind_names_the_valid_ones():
    """An unknown kind raises ValueError listing every valid kind."""
    with pytest.raises(ValueError, match="unknown partition kind 'halfs'.*majorities-ring.*one-way"):
        make_partition("halfs", NODES, random.Random(0))


def test_too_few_or_duplicate_nodes_are_rejected():
    """Topologies reject too few nodes and repeated node ids with a message saying so."""
    with pytest.raises(ValueError, match="at least 3 nodes"):
        make_partition("bridge", ["a", "b"], random.Random(0))
    with pytest.raises(ValueError, match="distinct"):
        make_partition("halves", ["a", "a", "b"], random.Random(0))


@pytest.mark.parametrize("kind", PARTITION_KINDS)
def test_link_graph_allows_exactly_what_a_networkx_graph_of_the_same_edges_allows(kind):
    """A LinkGraph and a networkx.DiGraph with its nodes and edges agree on every link, and both are accepted."""
    import networkx as nx

    from nemesis.link_faults import FaultModel
    from nemesis.topology import is_graph, link_allowed

    p = make_partition(kind, NODES, random.Random(3))
    reference = nx.DiGraph()
    reference.add_nodes_from(p.graph.nodes)
    reference.add_edges_from(p.graph.edges)
    assert list(reference.nodes) == p.graph.nodes
    for a, b in itertools.product([*NODES, "n9"], repeat=2):
        assert link_allowed(p.graph, a, b) == link_allowed(reference, a, b)
    for n in NODES:
        assert set(p.graph.predecessors(n)) == set(reference.predecessors(n))
        assert set(p.graph.successors(n)) == set(reference.successors(n))
    copy = p.graph.copy()
    copy.remove_edges_from(list(copy.edges))
    assert p.graph.edges and not copy.edges, "a copy is its own graph"
    assert is_graph(p.graph) and is_graph(reference) and not is_graph({"n1": ["n2"]})
    with pytest.raises(TypeError, match="LinkGraph or networkx.DiGraph"):
        FaultModel(random.Random(0)).partition({"n1": ["n2"]})


def test_a_partition_run_does_not_import_networkx():
    """Drawing and applying partitions needs no networkx (its import cost every run's start)."""
    import subprocess
    import sys

    code = ("import random, sys; from nemesis.link_faults import FaultModel; from nemesis.topology import "
            "make_partition; m = FaultModel(random.Random(0)); "
            "m.partition(make_partition('bridge', ['a', 'b', 'c'], random.Random(1)).graph); "
            "print('networkx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
