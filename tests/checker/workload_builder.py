"""A builder for set, counter and siblings histories (docs/HISTORY.md): a header, then operations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.checker.builder import History


class WorkloadHistory(History):
    """`History` with a header line and the operations of the set, counter and siblings workloads.

    Each operation method writes its invoke and its completion (``typ`` ok/fail/info, or ``None``
    for an invoke never completed) and returns their indexes; `begin`/`end` split one in two so
    that operations can overlap.
    """

    def __init__(self, workload: str = "register", conflict: str = "crdt") -> None:
        super().__init__()
        self.header = {"history": 1, "conflict": conflict, "workload": workload}

    def begin(self, proc: int, f: str, key: str, value: Any = None, node: str = "n1", final: bool = False,
              **extra: Any) -> int:
        fields = {"final": True} if final else {}
        return self._ev(process=proc, type="invoke", f=f, key=key, value=value, node=node, **fields,
                        **extra)["index"]

    def end(self, proc: int, f: str, key: str, value: Any = None, node: str = "n1", typ: str = "ok",
            final: bool = False, **extra: Any) -> int:
        fields: dict[str, Any] = {"final": True} if final else {}
        if typ != "ok":
            fields["error"] = "timeout" if typ == "info" else "unavailable"
        return self._ev(process=proc, type=typ, f=f, key=key, value=value, node=node, **fields, **extra)["index"]

    def op(self, proc: int, f: str, key: str, value: Any = None, result: Any = None, typ: str | None = "ok",
           node: str = "n1", **extra: Any) -> tuple[int, ...]:
        i = self.begin(proc, f, key, value, node, **extra)
        if typ is None:
            return (i,)
        done = result if f in ("read", "get") else value
        return i, self.end(proc, f, key, done if typ == "ok" or f not in ("read", "get") else None, node, typ,
                           **extra)

    # set and counter
    def add(self, proc: int, key: str, elem: Any, typ: str | None = "ok", node: str = "n1") -> tuple[int, ...]:
        return self.op(proc, "add", key, elem, typ=typ, node=node)

    def remove(self, proc: int, key: str, elem: Any, typ: str | None = "ok", node: str = "n1") -> tuple[int, ...]:
        return self.op(proc, "remove", key, elem, typ=typ, node=node)

    def incr(self, proc: int, key: str, n: int, typ: str | None = "ok", node: str = "n1") -> tuple[int, ...]:
        return self.op(proc, "incr", key, n, typ=typ, node=node)

    def decr(self, proc: int, key: str, n: int, typ: str | None = "ok", node: str = "n1") -> tuple[int, ...]:
        return self.op(proc, "decr", key, n, typ=typ, node=node)

    def read(self, proc: int, key: str, result: Any, node: str = "n1", typ: str = "ok") -> tuple[int, ...]:
        return self.op(proc, "read", key, None, result, typ=typ, node=node)

    def final_reads(self, key: str, values: dict[str, Any], proc: int = 99, f: str = "read") -> None:
        """One final read per node."""
        for node, value in values.items():
            self.begin(proc, f, key, None, node, final=True)
            self.end(proc, f, key, value, node, final=True)

    # siblings
    def sget(self, proc: int, key: str, siblings: list[Any], node: str = "n1") -> int:
        """A get returning ``siblings``; returns the index of its ok (what a context names)."""
        self.begin(proc, "get", key, None, node)
        return self.end(proc, "get", key, siblings, node, context="opaque")

    def sput(self, proc: int, key: str, value: Any, context_from: int | None = None, typ: str | None = "ok",
             node: str = "n1") -> tuple[int, ...]:
        return self.op(proc, "put", key, value, typ=typ, node=node, context_from=context_from)

    def all_events(self) -> list[dict[str, Any]]:
        return [dict(self.header), *self.events]

    def write(self, path: Path) -> Path:
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in self.all_events()))
        return path
