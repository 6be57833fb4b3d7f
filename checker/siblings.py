"""The siblings rule: ``conflict: siblings`` register histories of docs/HISTORY.md.

A get returns every concurrent value (its siblings); a put or delete carries the causal context
of one earlier get (``context_from``: that get's ``index``) or none. A context *covers* exactly the
values the get it came from returned, so a write with it supersedes those values and nothing else.
An acknowledged put is lost (``lost-write``) when its value is in no final read and no write that
did not fail carried a context covering it; a value an acknowledged write's context covered that
is still among the final siblings is ``resurrected-sibling`` (the store ignored the context). A sibling no put (that did not fail) wrote is
``phantom-read``; one whose every put was invoked after the read completed is ``future-read``;
final reads whose sibling sets differ are ``divergent``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from checker.faults import FaultTimeline
from checker.operations import (
    Op,
    add_faults,
    collect,
    counts,
    final_verdicts,
    op_counts,
    seconds,
    show,
    verdict,
)
from checker.values import vkey


def _siblings(op: Op) -> frozenset[Any]:
    return frozenset(vkey(x) for x in (op.result or ()))


def check_siblings(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The results object of the siblings rule for a validated ``conflict: siblings`` history."""
    faults = FaultTimeline()
    by_key = collect(events, faults=faults)
    anomalies: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    st = {"reads": 0, "reads_with_siblings": 0, "max_siblings": 0, "final_max_siblings": 0,
          "writes_with_context": 0, "writes_without_context": 0, "superseded_values": 0}
    for key, ops in by_key.items():
        _check_key(key, ops, anomalies, unknown, st)
    add_faults(anomalies, faults)
    return {
        "valid": verdict(anomalies, unknown),
        "checker": "convergence",
        "rule": "siblings",
        "anomalies": anomalies,
        "unknown": unknown,
        "stats": {
            "ops": op_counts(by_key),
            "anomaly_counts": counts(anomalies, "type"),
            "unknown_keys": len({u["key"] for u in unknown}),
            "siblings": st,
        },
    }


def _check_key(key: Any, ops: list[Op], anomalies: list[dict[str, Any]], unknown: list[dict[str, Any]],
               st: dict[str, int]) -> None:
    puts: dict[Any, list[Op]] = {}
    for op in ops:
        if op.f == "put":
            puts.setdefault(vkey(op.value), []).append(op)
    reads = [op for op in ops if op.f == "read" and op.type == "ok"]
    by_index = {r.comp_index: r for r in reads}
    flagged: set[Any] = set()
    for r in reads:
        n = len(r.result or ())
        st["reads"] += 1
        st["reads_with_siblings"] += n > 1
        st["max_siblings"] = max(st["max_siblings"], n)
        for x in r.result or ():
            vk = vkey(x)
            if vk in flagged:
                continue
            live = [p for p in puts.get(vk, ()) if p.type != "fail"]
            where = (f"the read by process {r.process} on {r.node} (events {r.indexes[0]}, {r.indexes[-1]}) "
                     f"completed at {seconds(r.comp_time)} with sibling {show(x)}")
            if not live:
                flagged.add(vk)
                anomalies.append({"type": "phantom-read", "key": key, "indexes": r.indexes, "_ops": [r],
                                  "explanation": f"phantom read on key {show(key)}: {where}, but no put of it "
                                                 "that did not fail exists"})
            elif min(p.inv_pos for p in live) > (r.comp_pos or 0):
                flagged.add(vk)
                p = min(live, key=lambda p: p.inv_pos)
                anomalies.append({"type": "future-read", "key": key, "indexes": [*r.indexes, *p.indexes], "_ops": [r, p],
                                  "explanation": f"future read on key {show(key)}: {where}, but its put by process "
                                                 f"{p.process} (event {p.inv_index}) was invoked only at "
                                                 f"{seconds(p.inv_time)}, after the read completed"})
    # What each write's context covered: the siblings of the get it came from.
    covered: dict[Any, Op] = {}
    covered_ok: dict[Any, tuple[Op, Op]] = {}  # value -> (an ok write whose context covered it, that get)
    for w in ops:
        if w.f not in ("put", "delete"):
            continue
        if w.context_from is None:
            st["writes_without_context"] += 1
            continue
        st["writes_with_context"] += 1
        src = by_index.get(w.context_from)
        if src is None or w.type == "fail":
            continue  # a failed write supersedes nothing; validation makes src an ok get of this key
        for vk in _siblings(src):
            covered.setdefault(vk, w)
            if w.type == "ok":
                covered_ok.setdefault(vk, (w, src))
    st["superseded_values"] += len(covered)
    finals = final_verdicts(key, ops, anomalies, unknown, _siblings)
    if finals is None:
        return
    final_sets = [_siblings(op) for op in finals.values()]
    st["final_max_siblings"] = max(st["final_max_siblings"], *(len(s) for s in final_sets))
    union = frozenset().union(*final_sets)
    nodes = ", ".join(str(n) for n in finals)
    final_idx = [i for op in finals.values() for i in op.indexes]
    shown_final = show(sorted((op.result or [] for op in finals.values()), key=len)[-1])
    for vk in union:
        if vk not in covered_ok:
            continue
        w, src = covered_ok[vk]
        group = [p for p in puts.get(vk, ()) if p.type != "fail"]
        if not group or any(p.inv_pos > (src.comp_pos or 0) for p in group):
            continue  # a put of the same value the get could not have seen explains it
        p = group[0]
        anomalies.append({
            "type": "resurrected-sibling", "key": key, "indexes": sorted({*p.indexes, *w.indexes, *final_idx}), "_ops": [p, w],
            "explanation": f"resurrected sibling on key {show(key)}: put {show(p.value)} by process {p.process} "
                           f"(events {p.indexes[0]}, {p.indexes[-1]}) was superseded by the "
                           f"{w.f} {'' if w.value is None else show(w.value) + ' '}by process {w.process} (events "
                           f"{w.indexes[0]}, {w.indexes[-1]}, acknowledged at {seconds(w.comp_time)}), whose context "
                           f"came from the get at event {src.comp_index} that returned it, yet it is still among "
                           f"the final siblings on {nodes}",
        })
    for vk, group in puts.items():
        if vk in union or vk in covered:
            continue
        for p in group:
            if p.type != "ok":
                continue
            anomalies.append({
                "type": "lost-write", "key": key, "indexes": sorted({*p.indexes, *final_idx}), "_ops": [p],
                "explanation": f"lost write on key {show(key)}: put {show(p.value)} by process {p.process} "
                               f"(events {p.indexes[0]}, {p.indexes[-1]}) was acknowledged at "
                               f"{seconds(p.comp_time)}, no put or delete carried a context from a read that saw "
                               f"it, yet it is not among the final siblings on {nodes} (e.g. {shown_final})",
            })
            break  # one finding per value
