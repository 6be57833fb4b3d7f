"""The echo rule: workload ``echo`` of docs/HISTORY.md (Maelstrom's first workload).

Each ``echo`` operation sends a value and an ``ok`` completion carries what came back: they must
be the same JSON value (`checker.values.vkey`: ``1`` and ``"1"`` differ). An ``ok`` whose value
differs is ``echo-mismatch``, naming the operation, its node and both values; ``fail`` and
``info`` echoes are counted, never invalid (nothing came back to compare).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from checker.faults import FaultTimeline
from checker.operations import Op, add_faults, on, seconds, show, verdict
from checker.values import vkey

MAX_LISTED = 100


def check_echo(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The results object of the echo rule for a validated ``workload: echo`` history.

    Streamed: an operation is judged when it completes and then forgotten (only open invocations,
    one per process, and the `MAX_LISTED` mismatches invoked first are kept), so memory does not grow
    with the history as it would if every operation were collected first.
    """
    faults = FaultTimeline()
    pending: dict[Any, Op] = {}
    ops: dict[str, dict[str, int]] = {}
    kept: list[tuple[int, Op]] = []  # a max-heap by invocation (negated): the first MAX_LISTED mismatches
    checked = mismatched = pos = 0
    last_time = None
    for ev in events:
        pos += 1
        t = ev.get("time")
        if t is not None:
            last_time = t
        proc = ev.get("process")
        if proc == "nemesis":
            faults.feed(ev)
            continue
        if ev.get("type") == "invoke":
            pending[proc] = Op(f=str(ev.get("f")), key=None, value=ev.get("value"), process=proc,
                               node=ev.get("node"), inv_pos=pos, inv_index=ev["index"], inv_time=t)
            continue
        op = pending.pop(proc, None)
        if op is None:
            continue  # validated histories never get here
        op.type = str(ev.get("type"))
        op.comp_pos, op.comp_index, op.comp_time, op.result = pos, ev["index"], t, ev.get("value")
        op.node = ev.get("node") or op.node  # the completion names the node that replied (it may have been forwarded)
        _tally(ops, op)
        if op.f != "echo" or op.type != "ok":
            continue
        checked += 1
        if vkey(op.result) == vkey(op.value):
            continue
        mismatched += 1
        if len(kept) < MAX_LISTED:
            heapq.heappush(kept, (-op.inv_pos, op))
        elif op.inv_pos < -kept[0][0]:
            heapq.heapreplace(kept, (-op.inv_pos, op))
    for op in pending.values():  # never completed: info
        _tally(ops, op)
    faults.finish(last_time)
    anomalies = [_mismatch(op) for _, op in sorted(kept, key=lambda k: -k[0])]
    add_faults(anomalies, faults)
    return {
        "valid": verdict(anomalies, []),
        "checker": "convergence",
        "rule": "echo",
        "anomalies": anomalies,
        "unknown": [],
        "stats": {
            "ops": ops,
            "anomaly_counts": {"echo-mismatch": mismatched} if mismatched else {},  # all, not only those listed
            "unknown_keys": 0,
            "echo": {"replies_checked": checked, "mismatched": mismatched},
        },
    }


def _tally(ops: dict[str, dict[str, int]], op: Op) -> None:
    """Count ``op`` by ``f`` and outcome, as `checker.operations.op_counts` does."""
    ops.setdefault(op.f, {"ok": 0, "fail": 0, "info": 0})[op.type] += 1


def _mismatch(op: Op) -> dict[str, Any]:
    return {
        "type": "echo-mismatch", "key": op.key, "indexes": op.indexes, "node": op.node,
        "sent": op.value, "received": op.result, "_ops": [op],
        "explanation": f"echo mismatch: the echo by process {op.process} {on(op.node)} (events {op.indexes[0]}, "
                       f"{op.indexes[-1]}) sent {show(op.value)} and at {seconds(op.comp_time)} got back "
                       f"{show(op.result)}",
    }
