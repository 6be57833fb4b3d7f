"""Consistent hashing with virtual nodes: which N nodes hold a key.

Each node places ``vnodes`` tokens on a 64-bit ring (hashes of ``"<node>#<i>"``). A key hashes to
a point; its preference list is the first N *distinct* nodes met walking clockwise from there.
Many tokens per node spread the load evenly and, when a node joins or leaves, move only the
ranges next to its tokens.

The arcs between consecutive tokens ("ranges") are also the anti-entropy buckets: every key in a
range has the same preference list, so two replicas of a range should hold exactly the same keys,
and a digest per range is a fair thing to compare.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from functools import lru_cache


def hash64(text: str) -> int:
    """A stable 64-bit hash (Python's ``hash`` is salted per process, so it cannot place keys)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class Ring:
    """The placement of keys on nodes. Immutable once built; every node builds the same one from the config."""

    def __init__(self, nodes: Sequence[str], replicas: int = 3, vnodes: int = 64) -> None:
        if not nodes:
            raise ValueError("a ring needs at least one node")
        if len(set(nodes)) != len(nodes):
            raise ValueError(f"node ids must be unique, got {list(nodes)}")
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {replicas}")
        self.nodes = tuple(sorted(nodes))
        self.replicas = min(replicas, len(self.nodes))
        self.vnodes = vnodes
        tokens = sorted((hash64(f"{node}#{i}"), node) for node in self.nodes for i in range(vnodes))
        self._points = [point for point, _ in tokens]
        self._owners = [owner for _, owner in tokens]
        # Preference list of each range, computed once: a key lookup is a bisect and an index.
        self._range_replicas: list[tuple[str, ...]] = [
            self._walk(i) for i in range(len(self._points))
        ]
        self._node_ranges: dict[str, tuple[int, ...]] = {
            node: tuple(r for r, reps in enumerate(self._range_replicas) if node in reps)
            for node in self.nodes
        }
        self.range_of = lru_cache(maxsize=65_536)(self._range_of)
        self._shared: dict[tuple[str, str], list[int]] = {}

    def _walk(self, start: int) -> tuple[str, ...]:
        found: list[str] = []
        count = len(self._owners)
        for step in range(count):
            owner = self._owners[(start + step) % count]
            if owner not in found:
                found.append(owner)
                if len(found) == self.replicas:
                    break
        return tuple(found)

    @property
    def range_count(self) -> int:
        return len(self._points)

    def _range_of(self, key: str) -> int:
        """The index of the range a key falls in (the first token at or after its hash, wrapping)."""
        index = bisect.bisect_left(self._points, hash64(key))
        return index % len(self._points)

    def replicas_for(self, key: str) -> tuple[str, ...]:
        """The key's preference list: N distinct nodes, the first being its primary."""
        return self._range_replicas[self.range_of(key)]

    def range_replicas(self, range_index: int) -> tuple[str, ...]:
        return self._range_replicas[range_index]

    def shared_ranges(self, a: str, b: str) -> list[int]:
        """Ranges both nodes replicate: what anti-entropy between them compares (every round: the
        ring is immutable, so each pair's list is computed once; the caller gets a copy)."""
        shared = self._shared.get((a, b))
        if shared is None:
            theirs = set(self._node_ranges[b])
            shared = self._shared[(a, b)] = [r for r in self._node_ranges[a] if r in theirs]
        return list(shared)


@lru_cache(maxsize=16)
def shared_ring(nodes: tuple[str, ...], replicas: int = 3, vnodes: int = 64) -> Ring:
    """The ``Ring`` of these settings, built once per process: a ring is immutable, and every node,
    client and observer of one cluster builds the same one (in simulation, each trial built 8 of
    them, a tenth of a small shrink trial's time)."""
    return Ring(nodes, replicas, vnodes)

