"""A tiny builder for hand-made journals (JOURNAL_SPEC / docs/HISTORY.md format), times in seconds."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson

S = 1_000_000_000


def stamp(seconds: float, writer: str = "c1") -> list[Any]:
    """A version stamp as the store writes it: [physical_us, logical, writer]."""
    return [int(seconds * 1e6), 0, writer]


class Journal:
    """Appends journal records in order; ``send`` writes the S record and its deliveries."""

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = nodes
        self.records: list[list[Any]] = []
        self.next_d = 0
        self.end_reason = "done"

    def key(self, key: str, replicas: list[str]) -> None:
        self.records.append(["K", key, replicas])

    def send(
        self, t: float, src: str, dst: str, kind: str, items: list[list[Any]], fault: str | None = None,
        latency: float = 0.001, copies: int = 1,
    ) -> int:
        d = self.next_d
        self.next_d += 1
        n = 0 if fault in ("partition", "drop") else copies
        self.records.append(["S", int(t * S), d, src, dst, kind, fault, n, items])
        for _ in range(n):
            self.records.append(["D", int((t + latency) * S), d, dst])
        return d

    def apply(self, t: float, node: str, key: str, st: list[Any], via: str, won: bool = True,
              deleted: bool = False) -> None:
        self.records.append(["A", int(t * S), node, key, st, via, won, deleted])

    def queue(self, t: float, node: str, peer: str, key: str, st: list[Any], reason: str) -> None:
        self.records.append(["Q", int(t * S), node, peer, key, st, reason])

    def write(self, path: Path) -> Path:
        header = {"journal": 1, "level": "full", "mode": "sim", "nodes": self.nodes, "replication": 3,
                  "max_bytes": 1 << 29}
        lines = [orjson.dumps(header)] + [orjson.dumps(r) for r in self.records]
        lines.append(orjson.dumps(["END", int(max([r[1] for r in self.records if isinstance(r[1], int)] or [0])),
                                   self.end_reason, 0]))
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(b"\n".join(lines) + b"\n")
        return path
