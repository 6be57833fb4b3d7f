"""The echo rule: workload ``echo`` of docs/HISTORY.md (Maelstrom's first workload).

Each ``echo`` operation sends a value and an ``ok`` completion carries what came back: they must
be the same JSON value (`checker.values.vkey`: ``1`` and ``"1"`` differ). An ``ok`` whose value
differs is ``echo-mismatch``, naming the operation, its node and both values; ``fail`` and
``info`` echoes are counted, never invalid (nothing came back to compare).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from checker.faults import FaultTimeline
from checker.operations import Op, add_faults, collect, on, op_counts, seconds, show, verdict
from checker.values import vkey

MAX_LISTED = 100


def check_echo(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The results object of the echo rule for a validated ``workload: echo`` history."""
    faults = FaultTimeline()
    by_key = collect(events, faults=faults, keyless=True)
    anomalies: list[dict[str, Any]] = []
    checked = mismatched = 0
    for ops in by_key.values():
        for op in ops:
            if op.f != "echo" or op.type != "ok":
                continue
            checked += 1
            if vkey(op.result) == vkey(op.value):
                continue
            mismatched += 1
            if mismatched <= MAX_LISTED:
                anomalies.append(_mismatch(op))
    add_faults(anomalies, faults)
    return {
        "valid": verdict(anomalies, []),
        "checker": "convergence",
        "rule": "echo",
        "anomalies": anomalies,
        "unknown": [],
        "stats": {
            "ops": op_counts(by_key),
            "anomaly_counts": {"echo-mismatch": mismatched} if mismatched else {},  # all, not only those listed
            "unknown_keys": 0,
            "echo": {"replies_checked": checked, "mismatched": mismatched},
        },
    }


def _mismatch(op: Op) -> dict[str, Any]:
    return {
        "type": "echo-mismatch", "key": op.key, "indexes": op.indexes, "node": op.node,
        "sent": op.value, "received": op.result, "_ops": [op],
        "explanation": f"echo mismatch: the echo by process {op.process} {on(op.node)} (events {op.indexes[0]}, "
                       f"{op.indexes[-1]}) sent {show(op.value)} and at {seconds(op.comp_time)} got back "
                       f"{show(op.result)}",
    }
