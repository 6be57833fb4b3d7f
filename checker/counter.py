"""The counter rule: workload ``counter`` of docs/HISTORY.md (a PN-counter, starting at 0).

Every read must lie within the bounds its time allows: at least the increments acknowledged
before the read began, less every decrement that may have happened by its end (invoked before it
completed, and did not fail); at most every increment that may have happened by its end, less the
decrements acknowledged before it began. Operations concurrent with the read, and ``info`` ones,
may or may not be counted; failed ones never are. A final read begins after everything (validation
refuses an operation of its key invoked after it began, `checker.workloads`), so its bounds are
[ok increments - ok decrements - info decrements, ok increments - ok decrements + info increments]
once every operation has completed (one still running when it began may be missed;
``stats.counter.final`` prints the bounds the final reads were held to). Only each node's LAST
final read is final here, as in the convergence and set rules: the harness polls the final reads
until they agree, and an earlier round, taken before the replicas converged, is judged as an
ordinary read. A read outside its bounds is ``counter-out-of-bounds``; final reads that disagree
are ``divergent``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

from checker.faults import FaultTimeline
from checker.operations import (
    Op,
    add_faults,
    collect,
    counts,
    final_reads,
    final_verdicts,
    on,
    op_counts,
    seconds,
    show,
    verdict,
)

MAX_LISTED_PER_KEY = 10


class _Sums:
    """Sums of amounts by position: how much of some operations lies before a position."""

    def __init__(self, items: list[tuple[int, int]]) -> None:
        items.sort()
        self.pos = [p for p, _ in items]
        self.cum = [0, *accumulate(n for _, n in items)]

    def before(self, pos: int) -> tuple[int, int]:
        """(sum, count) of the items at positions < ``pos``."""
        i = bisect.bisect_left(self.pos, pos)
        return self.cum[i], i


COUNTER_READS = ("eventual", "strict")


def check_counter(events: Iterable[dict[str, Any]], reads: str = "eventual") -> dict[str, Any]:
    """The results object of the counter rule for a validated ``workload: counter`` history.

    ``reads``: ``strict`` holds every read to the bounds its time allows (a linearizable counter);
    ``eventual`` (the default) only final reads, and counts a non-final read outside them but
    within what may have happened at all as ``stale`` (measured, as for registers).
    """
    faults = FaultTimeline()
    by_key = collect(events, faults=faults)
    anomalies: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    tally = {"reads_checked": 0, "reads_out_of_bounds": 0, "stale_reads": 0}
    finals_out: dict[str, Any] = {}
    for key, ops in by_key.items():
        final = _check_key(key, ops, anomalies, unknown, tally, reads == "strict")
        if final is not None and len(finals_out) < 20:
            finals_out[str(key)] = final
    add_faults(anomalies, faults)
    return {
        "valid": verdict(anomalies, unknown),
        "checker": "convergence",
        "rule": "counter",
        "anomalies": anomalies,
        "unknown": unknown,
        "stats": {
            "ops": op_counts(by_key),
            "anomaly_counts": counts(anomalies, "type"),
            "unknown_keys": len({u["key"] for u in unknown}),
            "counter": {"keys": len(by_key), "reads": reads, **tally, "final": finals_out},
        },
    }


def _check_key(key: Any, ops: list[Op], anomalies: list[dict[str, Any]], unknown: list[dict[str, Any]],
               tally: dict[str, int], strict: bool) -> dict[str, Any] | None:
    big = 1 << 62  # never completed: after every read
    incr_ok = _Sums([(op.comp_pos or big, op.value) for op in ops if op.f == "incr" and op.type == "ok"])
    decr_ok = _Sums([(op.comp_pos or big, op.value) for op in ops if op.f == "decr" and op.type == "ok"])
    incr_may = _Sums([(op.inv_pos, op.value) for op in ops if op.f == "incr" and op.type != "fail"])
    decr_may = _Sums([(op.inv_pos, op.value) for op in ops if op.f == "decr" and op.type != "fail"])
    reads = [op for op in ops if op.f == "read" and op.type == "ok"]
    # Only each node's LAST final read is the converged value: the harness polls the final reads until
    # they agree, and an earlier round, taken before the replicas converged, is an ordinary read.
    last = {id(op) for op in final_reads(ops).values()}
    listed = 0
    held: dict[int, tuple[int, int]] = {}  # id of a final read -> the bounds it was held to
    for r in reads:
        tally["reads_checked"] += 1
        end = r.comp_pos or big
        inc_done, n_inc_done = incr_ok.before(r.inv_pos)
        dec_done, n_dec_done = decr_ok.before(r.inv_pos)
        inc_may, n_inc_may = incr_may.before(end)
        dec_may, n_dec_may = decr_may.before(end)
        low, high = inc_done - dec_may, inc_may - dec_done
        final = id(r) in last
        if final:
            held[id(r)] = (low, high)
        if low <= r.result <= high:
            continue
        if not (strict or final) and -dec_may <= r.result <= inc_may:
            # missed acknowledged operations, invented none: stale, not invalid (an earlier final-phase
            # round is not counted: as for registers, those rounds time the convergence)
            tally["stale_reads"] += not r.final
            continue
        tally["reads_out_of_bounds"] += 1
        if listed >= MAX_LISTED_PER_KEY:
            continue
        listed += 1
        what = "final read" if final else ("earlier final-phase read" if r.final else "read")
        if final or strict:
            side = (f"below the lowest value {low} it could see: {inc_done} from {n_inc_done} increment(s) "
                    f"acknowledged before it began, less {dec_may} from {n_dec_may} decrement(s) that may have "
                    "happened by its end"
                    if r.result < low else
                    f"above the highest value {high} it could see: {inc_may} from {n_inc_may} increment(s) that "
                    f"may have happened by its end, less {dec_done} from {n_dec_done} decrement(s) acknowledged "
                    "before it began")
        else:
            low, high = -dec_may, inc_may
            side = (f"below {low}, the lowest any node could hold: {n_dec_may} decrement(s) that may have "
                    "happened by its end and no increment at all"
                    if r.result < low else
                    f"above {high}, the highest any node could hold: {n_inc_may} increment(s) that may have "
                    "happened by its end and no decrement at all")
        anomalies.append({
            "type": "counter-out-of-bounds", "key": key, "indexes": r.indexes, "value": r.result,
            "bounds": [low, high], "final": final, "_ops": [r],
            "explanation": f"counter {show(key)} out of bounds: the {what} by process {r.process} {on(r.node)} "
                           f"(events {r.indexes[0]}, {r.indexes[-1]}) began at {seconds(r.inv_time)} and returned "
                           f"{r.result}, {side}",
        })
    finals = final_verdicts(key, ops, anomalies, unknown, lambda op: op.result)
    if finals is None:
        return None
    # The bounds the final reads were held to (each its own, by its time: the same for all when every
    # operation completed before they began, as in a harness run), so that a valid verdict means every
    # final value lies within the printed bounds.
    bounds = [held[id(op)] for op in finals.values()]
    return {"values": sorted({op.result for op in finals.values()}),
            "bounds": [min(lo for lo, _ in bounds), max(hi for _, hi in bounds)]}
