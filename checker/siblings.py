"""The siblings rule: ``conflict: siblings`` register histories of docs/HISTORY.md.

A get returns every concurrent value (its siblings); a put or delete carries the causal context
of one earlier get (``context_from``: that get's ``index``) or none. A get that returned value v saw
the version of at least one put of v invoked before it completed, so a write with its context
supersedes (some of) those puts and no later one: the rule reasons per put, not per value. An
acknowledged put is lost (``lost-write``) when its value is in no final read and no write that did
not fail carried a context from a get that may have seen it; a value still among the final siblings
whose only put an acknowledged write's context certainly covered is ``resurrected-sibling``; an
``info`` write that certainly covered such a put and alone could have superseded a vanished
acknowledged put is ``lost-or-resurrected`` (had it happened or not, one of the two). When
repeated values leave it open which put a get saw, nothing is reported (a correct store may have
done it) and the value is counted as ``undecided_values``. A sibling no put (that did not fail)
wrote is ``phantom-read``; one whose every put was invoked after the read completed is
``future-read``; final reads whose sibling sets differ are ``divergent``.
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
    on,
    op_counts,
    returned,
    seconds,
    show,
    verdict,
)
from checker.values import vkey


def check_siblings(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The results object of the siblings rule for a validated ``conflict: siblings`` history."""
    faults = FaultTimeline()
    by_key = collect(events, faults=faults)
    anomalies: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    st = {"reads": 0, "reads_with_siblings": 0, "max_siblings": 0, "final_max_siblings": 0,
          "writes_with_context": 0, "writes_without_context": 0, "superseded_values": 0,
          "undecided_values": 0}
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
    first_put = {vk: min(p.inv_pos for p in group if p.type != "fail")
                 for vk, group in puts.items() if any(p.type != "fail" for p in group)}
    flagged: set[Any] = set()
    for r in reads:
        n = len(returned(r))  # a value listed twice is one sibling (the rule compares sibling sets)
        st["reads"] += 1
        st["reads_with_siblings"] += n > 1
        st["max_siblings"] = max(st["max_siblings"], n)
        for x in r.result or ():
            vk = vkey(x)
            if vk in flagged:
                continue
            start = first_put.get(vk)
            if start is None:
                flagged.add(vk)
                anomalies.append({"type": "phantom-read", "key": key, "indexes": r.indexes, "_ops": [r],
                                  "explanation": f"phantom read on key {show(key)}: {_where(r, x)}, but no put of "
                                                 "it that did not fail exists"})
            elif start > (r.comp_pos or 0):
                flagged.add(vk)
                p = min((p for p in puts[vk] if p.type != "fail"), key=lambda p: p.inv_pos)
                anomalies.append({"type": "future-read", "key": key, "indexes": [*r.indexes, *p.indexes], "_ops": [r, p],
                                  "explanation": f"future read on key {show(key)}: {_where(r, x)}, but its put by "
                                                 f"process {p.process} (event {p.inv_index}) was invoked only at "
                                                 f"{seconds(p.inv_time)}, after the read completed"})
    # What each write's context may have covered, put by put: the get it came from returned value v,
    # so it saw (and the write supersedes) the version of at least one put of v invoked before that get
    # completed, and of no later one. Only when exactly one such put exists is it certain which.
    covers: dict[Any, list[tuple[Op, Op]]] = {}  # value -> (write that did not fail, the get its context came from)
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
        for vk in returned(src):
            covers.setdefault(vk, []).append((w, src))
    st["superseded_values"] += len(covers)
    finals = final_verdicts(key, ops, anomalies, unknown, returned)
    if finals is None:
        return
    final_sets = [returned(op) for op in finals.values()]
    st["final_max_siblings"] = max(st["final_max_siblings"], *(len(s) for s in final_sets))
    union = frozenset().union(*final_sets)
    nodes = ", ".join(str(n) for n in finals) if any(n is not None for n in finals) else "(nodes not recorded)"
    final_idx = [i for op in finals.values() for i in op.indexes]
    shown_final = show(sorted((op.result or [] for op in finals.values()), key=len)[-1])
    for vk, group in puts.items():
        live = sorted((p for p in group if p.type != "fail"), key=lambda p: p.inv_pos)
        if not live:
            continue
        cov = covers.get(vk, [])
        if vk in union:
            _final_value(key, vk, live, cov, final_idx, _holding(finals, vk), anomalies, st)
            continue
        # Absent from the final reads: every acknowledged put of it must have been superseded, so some
        # write's context must come from a get that may have seen it (completed after it was invoked).
        reach = max(((src.comp_pos or 0) for _, src in cov), default=0)
        undecided = False
        for p in live:
            if p.type != "ok":
                continue
            if p.inv_pos < reach:
                # maybe superseded, maybe lost: a correct store may do either
                undecided = undecided or not _certain(p, live, cov)
                continue
            anomalies.append({
                "type": "lost-write", "key": key, "indexes": sorted({*p.indexes, *final_idx}), "_ops": [p],
                "explanation": f"lost write on key {show(key)}: put {show(p.value)} by process {p.process} "
                               f"(events {p.indexes[0]}, {p.indexes[-1]}) was acknowledged at "
                               f"{seconds(p.comp_time)}, no put or delete carried a context from a read that could "
                               f"have seen it (one that completed after it was invoked), yet it is not among the "
                               f"final siblings on {nodes} (e.g. {shown_final})",
            })
            break  # one finding per value
        else:
            st["undecided_values"] += undecided
    _indeterminate_writes(key, puts, covers, union, final_idx, finals, anomalies)


def _holding(finals: dict[Any, Op], vk: Any) -> str:
    """The nodes whose last final read holds the value ``vk`` (`vkey`), for a sentence."""
    nodes = [n for n, op in finals.items() if vk in returned(op)]
    if not nodes or all(n is None for n in nodes):
        return "(nodes not recorded)"
    return ", ".join(str(n) for n in nodes)


def _indeterminate_writes(key: Any, puts: dict[Any, list[Op]], covers: dict[Any, list[tuple[Op, Op]]],
                          union: frozenset[Any], final_idx: list[int], finals: dict[Any, Op],
                          anomalies: list[dict[str, Any]]) -> None:
    """A write that may or may not have happened (``info``, or never completed) whose context certainly
    covered a put still among the final siblings (had it happened, that put was superseded: a
    resurrected sibling) and was the only write that could have superseded an acknowledged put absent
    from them (had it not, that put was lost): no correct store ends there (``lost-or-resurrected``)."""
    reported: set[int] = set()
    for vk_a, cov_a in covers.items():
        if vk_a not in union:
            continue
        live_a = sorted((p for p in puts.get(vk_a, ()) if p.type != "fail"), key=lambda p: p.inv_pos)
        if len(live_a) != 1:
            continue  # repeated values: which put a get saw is open
        a = live_a[0]
        ok_cov = [(w, src) for w, src in cov_a if w.type == "ok"]
        for w, src in cov_a:
            if w.type in ("ok", "fail") or id(w) in reported:
                continue
            reach = max((g.comp_pos or 0) for _, g in [*ok_cov, (w, src)])
            if a.inv_pos >= reach or not _certain(a, live_a, [(w, src)]):
                continue  # had it happened, put a need not have been superseded
            b = _lost_unless(w, puts, covers, union)
            if b is None:
                continue
            reported.add(id(w))
            anomalies.append({
                "type": "lost-or-resurrected", "key": key, "_ops": [a, b, w],
                "indexes": sorted({*a.indexes, *b.indexes, *w.indexes, *final_idx}),
                "explanation": f"lost write or resurrected sibling on key {show(key)}: the {w.f} by process "
                               f"{w.process} (events {w.indexes[0]}, {w.indexes[-1]}) may or may not have happened, "
                               f"and its context, from the get at event {src.comp_index}, covered put "
                               f"{show(a.value)} by process {a.process} and put {show(b.value)} by process "
                               f"{b.process} (acknowledged at {seconds(b.comp_time)}); the final siblings on "
                               f"{_holding(finals, vk_a)} hold {show(a.value)}, and no node's hold "
                               f"{show(b.value)}: had the {w.f} happened, "
                               f"{show(a.value)} was superseded; had it not, nothing superseded {show(b.value)}",
            })


def _lost_unless(w: Op, puts: dict[Any, list[Op]], covers: dict[Any, list[tuple[Op, Op]]],
                 union: frozenset[Any]) -> Op | None:
    """An acknowledged put absent from the final siblings that only write ``w`` could have superseded
    (its get the only one that may have seen it), or None."""
    for vk, group in puts.items():
        if vk in union:
            continue
        cov = covers.get(vk, [])
        reach_all = max(((src.comp_pos or 0) for _, src in cov), default=0)
        reach_others = max(((src.comp_pos or 0) for w2, src in cov if w2 is not w), default=0)
        for p in sorted((p for p in group if p.type == "ok"), key=lambda p: p.inv_pos):
            if reach_others <= p.inv_pos < reach_all:
                return p
    return None


def _where(r: Op, x: Any) -> str:
    return (f"the read by process {r.process} {on(r.node)} (events {r.indexes[0]}, {r.indexes[-1]}) "
            f"completed at {seconds(r.comp_time)} with sibling {show(x)}")


def _certain(p: Op, live: list[Op], cov: list[tuple[Op, Op]]) -> bool:
    """Whether some covering get certainly saw put ``p``: ``p`` is the only put of its value (that did
    not fail) invoked before that get completed. ``live`` is sorted by invocation."""
    if p is not live[0]:
        return False  # a later put is never the only one a get could have seen
    nxt = live[1].inv_pos if len(live) > 1 else None
    return any(p.inv_pos < (src.comp_pos or 0) and (nxt is None or nxt >= (src.comp_pos or 0)) for _, src in cov)


def _final_value(key: Any, vk: Any, live: list[Op], cov: list[tuple[Op, Op]], final_idx: list[int], nodes: str,
                 anomalies: list[dict[str, Any]], st: dict[str, int]) -> None:
    """A value among the final siblings: some put of it must survive, i.e. not be certainly superseded
    by an acknowledged write (``resurrected-sibling`` when none can). With repeated values the
    checker may not know which put a get saw; then it counts the value as undecided, never invalid."""
    ok_cov = [(w, src) for w, src in cov if w.type == "ok"]
    if not ok_cov:
        return
    reach = max((src.comp_pos or 0) for _, src in ok_cov)
    if any(p.inv_pos >= reach for p in live):
        return  # a put no acknowledged write's get could have seen survives
    if len(live) > 1 or not _certain(live[0], live, ok_cov):
        st["undecided_values"] += 1
        return
    p = live[0]
    w, src = next((w, src) for w, src in ok_cov if p.inv_pos < (src.comp_pos or 0))
    anomalies.append({
        "type": "resurrected-sibling", "key": key, "indexes": sorted({*p.indexes, *w.indexes, *final_idx}),
        "_ops": [p, w],
        "explanation": f"resurrected sibling on key {show(key)}: put {show(p.value)} by process {p.process} "
                       f"(events {p.indexes[0]}, {p.indexes[-1]}), the only put of that value, was superseded by the "
                       f"{w.f} {'' if w.value is None else show(w.value) + ' '}by process {w.process} (events "
                       f"{w.indexes[0]}, {w.indexes[-1]}, acknowledged at {seconds(w.comp_time)}), whose context "
                       f"came from the get at event {src.comp_index} that returned it, yet it is still among "
                       f"the final siblings on {nodes}",
    })
