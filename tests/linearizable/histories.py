"""Small helpers to write hand-made histories in tests: a compact op list becomes event dicts."""

from __future__ import annotations

from typing import Any


def events(*rows: tuple) -> list[dict[str, Any]]:
    """Events from rows `(process, type, f, value)` or `(process, type, f, value, key)`, in order."""
    out = []
    for i, row in enumerate(rows):
        process, kind, f, value, *rest = row
        event: dict[str, Any] = {"process": process, "type": kind, "f": f, "value": value, "index": i}
        if rest:
            event["key"] = rest[0]
        out.append(event)
    return out


def seq(*ops: tuple) -> list[dict[str, Any]]:
    """A sequential history: each `(process, outcome, f, invoke_value, complete_value[, key])` runs alone."""
    rows: list[tuple] = []
    for op in ops:
        process, outcome, f, invoke_value, complete_value, *key = op
        rows.append((process, "invoke", f, invoke_value, *key))
        if outcome is not None:
            rows.append((process, outcome, f, complete_value, *key))
    return events(*rows)
