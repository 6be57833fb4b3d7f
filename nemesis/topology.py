"""Partition topologies: which directed node-to-node links a partition still allows.

A partition is a directed graph whose edges are the *allowed* links (src -> dst): a `LinkGraph`
(the few ``networkx.DiGraph`` methods partitions use; importing networkx took 140 ms or more of
every run's start) or a ``networkx.DiGraph``, which the fault models accept too. A link between two
nodes of the graph that is not an edge is blocked; a node always reaches itself, so graphs carry no
self-loops. Each topology also yields a plain-data ``description`` that goes into
the history as the ``partition-start`` value, and that description alone is enough to rebuild the
graph (``partition_from_description``), so a recorded schedule replays the same cut.

The kinds follow Jepsen's nemeses (``jepsen.nemesis``): halves, random halves, one isolated node,
majorities-ring, bridge, plus a one-way cut that real networks produce (asymmetric routes, a
firewall rule on one side) and that symmetric partitions never exercise.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import networkx as nx

PARTITION_KINDS: tuple[str, ...] = (
    "halves",
    "random-halves",
    "one",
    "majorities-ring",
    "bridge",
    "one-way",
)
"""Every kind ``make_partition`` accepts."""


class LinkGraph:
    """A directed graph of allowed links: the part of ``networkx.DiGraph``'s interface partitions use.

    Nodes in insertion order; ``nodes``, ``edges``, ``successors``, ``predecessors``, ``has_edge``,
    ``in``, ``copy``, ``add_nodes_from``, ``add_edges_from``, ``remove_edges_from`` as networkx has them.
    """

    def __init__(self) -> None:
        self._succ: dict[str, dict[str, None]] = {}
        self._pred: dict[str, dict[str, None]] = {}

    def add_nodes_from(self, nodes: Iterable[str]) -> None:
        for n in nodes:
            if n not in self._succ:
                self._succ[n] = {}
                self._pred[n] = {}

    def add_edges_from(self, edges: Iterable[tuple[str, str]]) -> None:
        for a, b in edges:
            self.add_nodes_from((a, b))
            self._succ[a][b] = None
            self._pred[b][a] = None

    def remove_edges_from(self, edges: Iterable[tuple[str, str]]) -> None:
        for a, b in edges:
            if b in self._succ.get(a, ()):
                del self._succ[a][b]
                del self._pred[b][a]

    def has_edge(self, a: str, b: str) -> bool:
        return b in self._succ.get(a, ())

    def __contains__(self, node: object) -> bool:
        return node in self._succ

    @property
    def nodes(self) -> list[str]:
        return list(self._succ)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(a, b) for a, out in self._succ.items() for b in out]

    def successors(self, node: str) -> Iterator[str]:
        return iter(list(self._succ[node]))

    def predecessors(self, node: str) -> Iterator[str]:
        return iter(list(self._pred[node]))

    def copy(self) -> LinkGraph:
        other = LinkGraph()
        other._succ = {n: dict(out) for n, out in self._succ.items()}
        other._pred = {n: dict(into) for n, into in self._pred.items()}
        return other


def is_graph(graph: object) -> bool:
    """A `LinkGraph`, or a ``networkx.DiGraph`` (only possible once a caller imported networkx)."""
    if isinstance(graph, LinkGraph):
        return True
    nx_module = sys.modules.get("networkx")
    return nx_module is not None and isinstance(graph, nx_module.DiGraph)


@attrs.frozen
class Partition:
    """A partition: its kind, the graph of allowed directed links, and its history description."""

    kind: str
    graph: LinkGraph = attrs.field(eq=False)
    description: dict[str, Any]

    def allows(self, src: str, dst: str) -> bool:
        """Is the directed link src -> dst open under this partition?"""
        return link_allowed(self.graph, src, dst)


def link_allowed(graph: LinkGraph | nx.DiGraph, src: str, dst: str) -> bool:
    """A link is open when it is an edge, or when it is a self-link, or touches a node outside the graph.

    Nodes the partition does not mention (a node added after it was drawn) are left alone rather
    than silently cut off.
    """
    if src == dst:
        return True
    if type(graph) is LinkGraph:  # asked per datagram while partitioned: its dicts, without the method calls
        succ = graph._succ
        return src not in succ or dst not in succ or dst in succ[src]
    if src not in graph or dst not in graph:
        return True
    return bool(graph.has_edge(src, dst))


def blocked_links(graph: LinkGraph | nx.DiGraph) -> set[tuple[str, str]]:
    """Every directed link between distinct nodes of ``graph`` that the graph does not allow."""
    return {
        (a, b) for a, b in itertools.permutations(graph.nodes, 2) if not graph.has_edge(a, b)
    }


def complete_within(groups: Iterable[Sequence[str]], nodes: Iterable[str] = ()) -> LinkGraph:
    """A graph allowing every link inside each group (groups may overlap) and nothing across."""
    graph = LinkGraph()
    graph.add_nodes_from(nodes)
    for group in groups:
        members = list(dict.fromkeys(group))
        graph.add_nodes_from(members)
        graph.add_edges_from(itertools.permutations(members, 2))
    return graph


def _check_nodes(kind: str, nodes: Sequence[str], minimum: int) -> list[str]:
    node_list = list(nodes)
    if any(not isinstance(n, str) or not n for n in node_list):
        raise ValueError(f"partition {kind!r}: node ids must be non-empty strings, got {node_list!r}")
    if len(set(node_list)) != len(node_list):
        raise ValueError(f"partition {kind!r}: node ids must be distinct, got {node_list!r}")
    if len(node_list) < minimum:
        raise ValueError(
            f"partition {kind!r} needs at least {minimum} nodes, got {len(node_list)}: {node_list!r}"
        )
    return node_list


def _split_halves(nodes: list[str]) -> list[list[str]]:
    """The first ``n // 2`` nodes (the smaller side) and the rest."""
    cut = len(nodes) // 2
    return [nodes[:cut], nodes[cut:]]


def _in_node_order(group: Iterable[str], nodes: list[str]) -> list[str]:
    position = {n: i for i, n in enumerate(nodes)}
    return sorted(group, key=position.__getitem__)


def _halves(nodes: list[str], rng: random.Random) -> dict[str, Any]:
    return {"kind": "halves", "groups": _split_halves(nodes)}


def _random_halves(nodes: list[str], rng: random.Random) -> dict[str, Any]:
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    groups = [_in_node_order(g, nodes) for g in _split_halves(shuffled)]
    return {"kind": "random-halves", "groups": groups}


def _one(nodes: list[str], rng: random.Random) -> dict[str, Any]:
    loner = rng.choice(nodes)
    return {"kind": "one", "groups": [[loner], [n for n in nodes if n != loner]]}


def _majorities_ring(nodes: list[str], rng: random.Random) -> dict[str, Any]:
    """Jepsen's majorities-ring: each node hears a majority centred on itself along a shuffled ring.

    Windows of ``majority`` consecutive nodes slide one step at a time round the ring, so the n
    windows are distinct (for n >= 3) and each is given to the node at its centre. A node hears
    only from its window: link a -> b is allowed when a is in b's view.
    """
    ring = list(nodes)
    rng.shuffle(ring)
    n = len(ring)
    majority = n // 2 + 1
    views: dict[str, list[str]] = {}
    for start in range(n):
        window = [ring[(start + k) % n] for k in range(majority)]
        views[window[majority // 2]] = _in_node_order(window, nodes)
    views = {node: views[node] for node in nodes}
    return {"kind": "majorities-ring", "groups": [views[node] for node in nodes], "views": views}


def _bridge(nodes: list[str], rng: random.Random) -> dict[str, Any]:
    """Two sides that cannot talk, and one node in both: everything goes through the bridge."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    cut = (len(shuffled) - 1) // 2
    left, bridge, right = shuffled[:cut], shuffled[cut], shuffled[cut + 1 :]
    groups = [_in_node_order([*left, bridge], nodes), _in_node_order([bridge, *right], nodes)]
    return {"kind": "bridge", "groups": groups, "bridge": bridge}


def _one_way(nodes: list[str], rng: random.Random) -> dict[str, Any]:
    """Random halves where only one direction across the cut is blocked, the direction drawn too."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    groups = [_in_node_order(g, nodes) for g in _split_halves(shuffled)]
    source, target = (groups[0], groups[1]) if rng.random() < 0.5 else (groups[1], groups[0])
    return {"kind": "one-way", "groups": groups, "from": source, "to": target}


_BUILDERS = {
    "halves": (_halves, 2),
    "random-halves": (_random_halves, 2),
    "one": (_one, 2),
    "majorities-ring": (_majorities_ring, 3),
    "bridge": (_bridge, 3),
    "one-way": (_one_way, 2),
}


def _check_kind(kind: object) -> str:
    if kind not in _BUILDERS:
        raise ValueError(
            f"unknown partition kind {kind!r}; valid kinds: {', '.join(PARTITION_KINDS)}"
        )
    assert isinstance(kind, str)
    return kind


def make_partition(kind: str, nodes: Sequence[str], rng: random.Random) -> Partition:
    """Draw a partition of ``kind`` over ``nodes``; every random choice comes from ``rng``."""
    kind = _check_kind(kind)
    builder, minimum = _BUILDERS[kind]
    node_list = _check_nodes(kind, nodes, minimum)
    description = builder(node_list, rng)
    return Partition(kind, graph_from_description(description, node_list), description)


def graph_from_description(description: dict[str, Any], nodes: Sequence[str] = ()) -> LinkGraph:
    """Rebuild the allowed-link graph from a partition description (as recorded in a history)."""
    if not isinstance(description, dict):
        raise ValueError(f"partition description must be an object, got {description!r}")
    kind = _check_kind(description.get("kind"))
    groups = description.get("groups")
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and all(isinstance(n, str) for n in g) for g in groups
    ):
        raise ValueError(f"partition {kind!r}: field 'groups' must be a list of lists of node ids")
    all_nodes = list(dict.fromkeys([*nodes, *(n for g in groups for n in g)]))
    if kind == "majorities-ring":
        views = description.get("views")
        if not isinstance(views, dict):
            raise ValueError("partition 'majorities-ring': field 'views' must map node id to its view")
        graph = LinkGraph()
        graph.add_nodes_from(all_nodes)
        graph.add_nodes_from(views)
        for receiver, view in views.items():
            graph.add_edges_from((sender, receiver) for sender in view if sender != receiver)
        return graph
    if kind == "one-way":
        source, target = description.get("from"), description.get("to")
        if not isinstance(source, list) or not isinstance(target, list):
            raise ValueError("partition 'one-way': fields 'from' and 'to' must be lists of node ids")
        graph = complete_within([all_nodes], all_nodes)
        graph.remove_edges_from((a, b) for a in source for b in target if a != b)
        return graph
    return complete_within(groups, all_nodes)


def partition_from_description(description: dict[str, Any], nodes: Sequence[str] = ()) -> Partition:
    """The ``Partition`` a recorded description stands for (used when a schedule is replayed)."""
    graph = graph_from_description(description, nodes)
    return Partition(str(description["kind"]), graph, description)
