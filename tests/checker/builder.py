"""A tiny builder for hand-written histories: one method per operation, times in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

MS = 1_000_000


class History:
    """Appends docs/HISTORY.md events in line order; `op` writes an invoke and its completion."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.t = 0

    def _ev(self, **fields: Any) -> dict[str, Any]:
        self.t += MS
        ev = {"index": len(self.events), "time": self.t, **fields}
        self.events.append(ev)
        return ev

    def at(self, seconds: float) -> History:
        """Move the clock to ``seconds`` (never backwards)."""
        self.t = max(self.t, int(seconds * 1e9))
        return self

    def invoke(
        self, proc: int, f: str, key: str, value: Any = None, node: str = "n1", final: bool = False
    ) -> int:
        extra = {"final": True} if final else {}
        return self._ev(process=proc, type="invoke", f=f, key=key, value=value, node=node, **extra)["index"]

    def complete(
        self,
        proc: int,
        f: str,
        key: str,
        value: Any = None,
        node: str = "n1",
        typ: str = "ok",
        final: bool = False,
    ) -> int:
        extra: dict[str, Any] = {"final": True} if final else {}
        if typ != "ok":
            extra["error"] = "timeout" if typ == "info" else "unavailable"
        return self._ev(process=proc, type=typ, f=f, key=key, value=value, node=node, **extra)["index"]

    def put(self, proc: int, key: str, value: Any, node: str = "n1", typ: str = "ok") -> tuple[int, int]:
        return self.invoke(proc, "put", key, value, node), self.complete(proc, "put", key, value, node, typ)

    def delete(self, proc: int, key: str, node: str = "n1", typ: str = "ok") -> tuple[int, int]:
        return self.invoke(proc, "delete", key, None, node), self.complete(
            proc, "delete", key, None, node, typ
        )

    def get(self, proc: int, key: str, value: Any, node: str = "n1", typ: str = "ok") -> tuple[int, int]:
        return self.invoke(proc, "get", key, None, node), self.complete(proc, "get", key, value, node, typ)

    def final(self, key: str, values: dict[str, Any], proc: int = 99) -> list[int]:
        """One final read per node; a value of ``...`` (Ellipsis) records a timed-out read."""
        idx = []
        for node, value in values.items():
            idx.append(self.invoke(proc, "get", key, None, node, final=True))
            if value is ...:
                idx.append(self.complete(proc, "get", key, None, node, typ="info", final=True))
            else:
                idx.append(self.complete(proc, "get", key, value, node, final=True))
        return idx

    def nemesis(self, f: str, value: Any = None) -> int:
        return self._ev(process="nemesis", type="info", f=f, value=value)["index"]

    def write(self, path: Path) -> Path:
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in self.events))
        return path
