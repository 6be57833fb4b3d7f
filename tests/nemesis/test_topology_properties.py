"""Property tests: every topology kind, for any cluster size and seed, keeps its promises."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from nemesis.link_faults import FaultModel
from nemesis.topology import PARTITION_KINDS, blocked_links, make_partition, partition_from_description


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(PARTITION_KINDS), n=st.integers(3, 9), seed=st.integers(0, 2**32))
def test_every_topology_is_well_formed(kind, n, seed):
    """Graphs have no self-loops, cover every node, cut something, rebuild from their description, and agree with the fault model."""
    nodes = [f"n{i}" for i in range(1, n + 1)]
    p = make_partition(kind, nodes, random.Random(seed))
    assert set(p.graph.nodes) == set(nodes)
    assert not any(a == b for a, b in p.graph.edges)
    blocked = blocked_links(p.graph)
    assert blocked
    assert set(partition_from_description(p.description).graph.edges) == set(p.graph.edges)
    model = FaultModel(random.Random(0))
    model.partition(p.graph)
    for a in nodes:
        for b in nodes:
            assert model.link_allowed(a, b) == ((a, b) not in blocked)
    if kind != "one-way":
        for a, b in blocked:
            assert (b, a) in blocked or kind == "majorities-ring"
