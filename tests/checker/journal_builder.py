"""A tiny builder for hand-written journals (JOURNAL_SPEC v1): one method per record, times in ms."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson

MS = 1_000_000


def stamp(us: int, logical: int = 0, writer: str = "c1") -> list[Any]:
    """A version stamp [physical_us, logical, writer_id]."""
    return [us, logical, writer]


class JournalBuilder:
    """Appends journal records in the order given; `t` arguments are milliseconds."""

    def __init__(self, nodes: tuple[str, ...] = ("n1", "n2", "n3"), replication: int = 3, level: str = "full") -> None:
        self.header: dict[str, Any] = {
            "journal": 1, "level": level, "mode": "sim", "nodes": list(nodes),
            "replication": replication, "max_bytes": 1 << 29,
        }
        self.rows: list[Any] = []
        self._d = 0
        self._keys: set[Any] = set()

    def replicas(self, key: Any, nodes: tuple[str, ...] | None = None) -> JournalBuilder:
        self.rows.append(["K", key, list(nodes or self.header["nodes"])])
        self._keys.add(key)
        return self

    def _k(self, key: Any) -> None:
        if key not in self._keys:
            self.replicas(key)

    def send(self, t: float, src: str, dst: str, kind: str, items: list[Any], fault: str | None = None,
             copies: int | None = None) -> int:
        for it in items:
            key = it[0] if isinstance(it, list) else it
            if key != "...":
                self._k(key)
        self._d += 1
        if copies is None:
            copies = 0 if fault in ("partition", "drop") else (2 if fault == "duplicate" else 1)
        self.rows.append(["S", int(t * MS), self._d, src, dst, kind, fault, copies, items])
        return self._d

    def deliver(self, t: float, d: int, dst: str) -> JournalBuilder:
        self.rows.append(["D", int(t * MS), d, dst])
        return self

    def queue(self, t: float, node: str, peer: str, key: Any, st: list[Any], reason: str = "replication") -> JournalBuilder:
        self._k(key)
        self.rows.append(["Q", int(t * MS), node, peer, key, st, reason])
        return self

    def apply(self, t: float, node: str, key: Any, st: list[Any], via: str = "client", won: bool = True,
              deleted: bool = False) -> JournalBuilder:
        self._k(key)
        self.rows.append(["A", int(t * MS), node, key, st, via, won, deleted])
        return self

    def applied_everywhere(self, t: float, key: Any, st: list[Any], nodes: tuple[str, ...] | None = None,
                           step: float = 1.0) -> JournalBuilder:
        """``key``'s version applied on each node in turn, ``step`` ms apart (the first by the client)."""
        for i, n in enumerate(nodes or self.header["nodes"]):
            self.apply(t + i * step, n, key, st, via="client" if i == 0 else "n1")
        return self

    def lifecycle(self, t: float, node: str, what: str) -> JournalBuilder:
        self.rows.append(["C", int(t * MS), node, what])
        return self

    def recovered(self, t: float, node: str, versions: list[list[Any]]) -> JournalBuilder:
        """An R record: ``node`` (re)started holding exactly ``versions`` ([key, stamp, deleted] each)."""
        self.rows.append(["R", int(t * MS), node, versions])
        return self

    def end(self, t: float, reason: str = "done") -> JournalBuilder:
        self.rows.append(["END", int(t * MS), reason, 1234])
        return self

    def raw(self, line: bytes) -> JournalBuilder:
        """A line written as given (for malformed-input tests)."""
        self.rows.append(line)
        return self

    def write(self, path: Path) -> Path:
        lines = [orjson.dumps(self.header)] + [r if isinstance(r, bytes) else orjson.dumps(r) for r in self.rows]
        with gzip.open(path, "wb", compresslevel=1) as fh:
            fh.write(b"\n".join(lines) + b"\n")
        return path
