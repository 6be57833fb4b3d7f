"""The unique-ids rule: workload ``unique-ids`` of docs/HISTORY.md (Maelstrom's second workload).

Each ``generate`` operation asks a node for an id; an ``ok`` completion carries the id returned
(any JSON scalar or list, compared by JSON equality, `checker.values.vkey`). No id may be returned
twice: every id returned by more than one ``ok`` generate is one ``duplicate-id`` anomaly naming
the operations and the nodes that returned it. ``fail`` and ``info`` generates returned nothing
(Maelstrom's total availability asks that most succeed: ``stats.unique_ids`` counts them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from checker.faults import FaultTimeline
from checker.operations import Op, add_faults, collect, on, op_counts, seconds, show, verdict
from checker.values import vkey

MAX_LISTED = 100
MAX_NAMED = 4  # operations named in one anomaly's sentence (all are in its indexes)


def check_unique_ids(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The results object of the unique-ids rule for a validated ``workload: unique-ids`` history."""
    faults = FaultTimeline()
    by_key = collect(events, faults=faults, keyless=True)
    by_id: dict[Any, list[Op]] = {}
    for ops in by_key.values():
        for op in ops:
            if op.f == "generate" and op.type == "ok":
                by_id.setdefault(vkey(op.result), []).append(op)
    anomalies: list[dict[str, Any]] = []
    duplicated = 0
    for group in by_id.values():
        if len(group) < 2:
            continue
        duplicated += 1
        if duplicated <= MAX_LISTED:
            anomalies.append(_duplicate(sorted(group, key=lambda o: o.comp_pos or 0)))
    add_faults(anomalies, faults)
    generated = sum(len(g) for g in by_id.values())
    return {
        "valid": verdict(anomalies, []),
        "checker": "convergence",
        "rule": "unique-ids",
        "anomalies": anomalies,
        "unknown": [],
        "stats": {
            "ops": op_counts(by_key),
            "anomaly_counts": {"duplicate-id": duplicated} if duplicated else {},  # all, not only those listed
            "unknown_keys": 0,
            "unique_ids": {"ids_returned": generated, "distinct_ids": len(by_id), "duplicated_ids": duplicated},
        },
    }


def _duplicate(group: list[Op]) -> dict[str, Any]:
    named = "; ".join(f"process {op.process} {on(op.node)} (events {op.indexes[0]}, "
                      f"{op.indexes[-1]}) at {seconds(op.comp_time)}" for op in group[:MAX_NAMED])
    more = f"; and {len(group) - MAX_NAMED} more" if len(group) > MAX_NAMED else ""
    nodes = sorted({str(op.node) for op in group if op.node is not None})
    return {
        "type": "duplicate-id", "key": None, "id": group[0].result,
        "indexes": sorted(i for op in group for i in op.indexes),
        "nodes": nodes, "_ops": group,
        "explanation": f"duplicate id {show(group[0].result)} returned by {len(group)} generates: by {named}{more}",
    }
