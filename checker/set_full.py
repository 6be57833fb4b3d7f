"""The set rule (Jepsen's set-full, with removes): workload ``set`` of docs/HISTORY.md.

Per key and element: every acknowledged add must be in every node's final read unless a remove that may
have observed it (one that did not fail and completed after the add was invoked, or an ``info``
remove, which may take effect at any time) took it out. Each element ends ``ok`` (every read that
began after its add was acknowledged contained it, or missed it under a whole millisecond after: Jepsen's
stable latency is a ``long`` of ms), ``stale`` (some such read missed it at least a millisecond before it became
stably visible), ``lost`` (invalid: missing from some node's final read, the nodes and
their crashes after the add named), ``never-read``, ``removed``, ``indeterminate`` (only
``info`` adds, none proved by a read) or ``undecided`` (no final reads to judge by). The stable latency
is Jepsen's (``set-full``): from when the add became known (its acknowledgement or the first read that
returned the element, whichever came first) to the start of the last read that did not
contain it, 0 when no read that began after that missed it; a lost element's lost latency runs from
when it became known to the start of the last read that contained it (0 if none did). A read of an element no add (that did not fail) had begun to add is ``phantom-read``;
final reads that disagree are ``divergent``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from checker.faults import FaultTimeline, FaultWindow
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
from checker.stats import jepsen_quantiles, percentiles
from checker.values import vkey

OUTCOMES = ("ok", "stale", "lost", "never-read", "removed", "indeterminate", "undecided")
MAX_EXAMPLES = 20


def check_set(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The results object of the set rule for a validated ``workload: set`` history."""
    faults = FaultTimeline()
    by_key = collect(events, faults=faults)
    crashes = [w for w in faults.windows if w.kind == "crash"]
    anomalies: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    outcomes = dict.fromkeys(OUTCOMES, 0)
    latencies: list[float] = []
    lost_latencies: list[float] = []
    examples: dict[str, list[dict[str, Any]]] = {"lost": [], "stale": []}
    for key, ops in by_key.items():
        _check_key(key, ops, anomalies, unknown, outcomes, latencies, lost_latencies, examples, crashes)
    add_faults(anomalies, faults)
    figures: dict[str, Any] = {
        "keys": len(by_key),
        "elements": sum(outcomes.values()),
        "outcomes": outcomes,
        "stable_latency_ms": percentiles(latencies),
        "examples": examples,
    }
    # Jepsen's (Maelstrom's) :stable-latencies / :lost-latencies, left out when empty as there
    for name, sample in (("stable_latencies", latencies), ("lost_latencies", lost_latencies)):
        quantiles = jepsen_quantiles(sample)
        if quantiles is not None:
            figures[name] = quantiles
    return {
        "valid": verdict(anomalies, unknown),
        "checker": "convergence",
        "rule": "set-full",
        "anomalies": anomalies,
        "unknown": unknown,
        "stats": {
            "ops": op_counts(by_key),
            "anomaly_counts": counts(anomalies, "type"),
            "unknown_keys": len({u["key"] for u in unknown}),
            "set": figures,
        },
    }


def _check_key(key: Any, ops: list[Op], anomalies: list[dict[str, Any]], unknown: list[dict[str, Any]],
               outcomes: dict[str, int], latencies: list[float], lost_latencies: list[float],
               examples: dict[str, list[dict[str, Any]]], crashes: list[FaultWindow]) -> None:
    adds: dict[Any, list[Op]] = {}
    removes: dict[Any, list[Op]] = {}
    shown: dict[Any, Any] = {}
    for op in ops:
        if op.f in ("add", "remove"):
            vk = vkey(op.value)
            shown.setdefault(vk, op.value)
            (adds if op.f == "add" else removes).setdefault(vk, []).append(op)
    reads = sorted((op for op in ops if op.f == "read" and op.type == "ok"), key=lambda r: r.inv_pos)
    read_pos = [r.inv_pos for r in reads]
    # per element, the positions (in ``reads``) of the reads that contained it, ascending: with these
    # each element is judged in time proportional to its own reads, not to every read of the key
    contains: dict[Any, list[int]] = {}
    for i, r in enumerate(reads):
        for vk in returned(r):
            contains.setdefault(vk, []).append(i)
    # phantom reads: an element no add that did not fail had been invoked to add by the read's end
    first_add = {vk: min(a.inv_pos for a in group if a.type != "fail")
                 for vk, group in adds.items() if any(a.type != "fail" for a in group)}
    phantom_seen: set[Any] = set()
    for r in reads:
        for x in r.result or ():
            vk = vkey(x)
            if vk in phantom_seen:
                continue
            start = first_add.get(vk)
            if start is None or start > (r.comp_pos or 0):
                phantom_seen.add(vk)
                why = ("there is no add of it that did not fail" if start is None
                       else "its first add was invoked only after the read completed")
                anomalies.append({
                    "type": "phantom-read", "key": key, "element": x, "indexes": r.indexes, "_ops": [r],
                    "explanation": f"phantom element {show(x)} in set {show(key)}: the read by process {r.process} "
                                   f"{on(r.node)} (events {r.indexes[0]}, {r.indexes[-1]}) completed at "
                                   f"{seconds(r.comp_time)} and returned it, but {why}",
                })
    finals = final_verdicts(key, ops, anomalies, unknown, returned)
    final_union: frozenset[Any] | None = None
    final_sets: dict[Any, frozenset[Any]] = {}
    if finals is not None:
        final_sets = {node: returned(op) for node, op in finals.items()}
        final_union = frozenset().union(*final_sets.values())
    for vk, group in adds.items():
        live = [a for a in group if a.type != "fail"]
        if not live:
            continue
        outcome, latency = _element(key, shown[vk], vk, live, removes.get(vk, []), reads, read_pos,
                                    contains.get(vk, []), finals, final_union, anomalies, final_sets, crashes)
        outcomes[outcome] += 1
        if latency is not None:
            (lost_latencies if outcome == "lost" else latencies).append(latency)
        if outcome in examples and len(examples[outcome]) < MAX_EXAMPLES:
            name = "lost_latency_ms" if outcome == "lost" else "stable_latency_ms"
            examples[outcome].append({"key": key, "element": shown[vk], name: latency})


def _element(key: Any, x: Any, vk: Any, adds: list[Op], removes: list[Op], reads: list[Op], read_pos: list[int],
             seen_in: list[int], finals: dict[Any, Op] | None, final_union: frozenset[Any] | None,
             anomalies: list[dict[str, Any]], final_sets: dict[Any, frozenset[Any]],
             crashes: list[FaultWindow]) -> tuple[str, float | None]:
    """(outcome, latency in ms or None) of one element of one key: the stable latency of an ok or
    stale element, the lost latency of a lost one (both Jepsen's); ``seen_in``: the positions in
    ``reads`` (ascending) of the reads that contained it."""
    live_removes = [r for r in removes if r.type != "fail"]
    # A remove may have observed every add invoked before it completed (an info one: any add), so
    # the adds a remove may have observed are exactly those invoked before ``horizon``.
    horizon = max(((1 << 62) if r.type == "info" or r.comp_pos is None else r.comp_pos for r in live_removes),
                  default=0)
    # When an add became known (Jepsen's set-full: the add's acknowledgement or the first read that saw the
    # element, whichever came first): an ok add at its acknowledgement. A read that returned the element
    # saw some add invoked before the read completed (the first add among them); when no remove may
    # have observed even the first add, no remove may have observed the one the read saw, so the element
    # is known from the completion of the first such read too (the only way when every add is info).
    known: list[tuple[int, int | None, Op]] = [(a.comp_pos, a.comp_time, a) for a in adds
                                                if a.type == "ok" and a.comp_pos is not None]
    first = min(adds, key=lambda a: a.inv_pos)
    if first.inv_pos >= horizon:
        seen = min((reads[i] for i in seen_in if (reads[i].comp_pos or 0) > first.inv_pos),
                   key=lambda r: r.comp_pos or 0, default=None)
        if seen is not None:
            known.append((seen.comp_pos or 0, seen.comp_time, first))
    required = [k for k in known if k[2].inv_pos >= horizon]
    if not required:
        if final_union is None:
            return "undecided", None
        if vk in final_union:
            return "ok", None
        return ("removed" if known or live_removes else "indeterminate"), None
    known_pos, known_time, add = min(required, key=lambda k: k[0])
    missing = [node for node, held in final_sets.items() if vk not in held]
    if missing and final_union is not None and vk in final_union:
        assert finals is not None
        _lost_on_some(key, x, add, known_time, missing, finals, final_sets, vk, crashes, anomalies)
        # the last read that missed it is a final read of a node without it: the last read before it that had it
        absent = [bisect.bisect_left(read_pos, finals[n].inv_pos) for n in missing]  # their places in ``reads``
        before = bisect.bisect_left(seen_in, max(absent)) if absent else len(seen_in)
        return "lost", _lost_latency(reads, seen_in[:before], known_time)
    if final_union is not None and vk not in final_union:
        assert finals is not None
        last_seen = max((reads[i] for i in seen_in), key=lambda r: r.comp_pos or 0, default=None)
        seen_text = (f"it was last read by process {last_seen.process} {on(last_seen.node)} at "
                     f"{seconds(last_seen.comp_time)} (event {last_seen.indexes[-1]})" if last_seen is not None
                     else "no read ever returned it")
        nodes = ", ".join(str(n) for n in finals) if any(n is not None for n in finals) else "(nodes not recorded)"
        removed = (f"; the {len(live_removes)} remove(s) of it all completed before the add was invoked"
                   if live_removes else "; nothing removed it")
        how = ("was acknowledged at" if add.type == "ok" and add.comp_pos == known_pos
               else "was read back by a read that completed at" if add.type == "ok"
               else f"was {add.type}, but a read that returned it completed at")
        anomalies.append({
            "type": "lost-element", "key": key, "element": x, "_ops": [add],
            "indexes": sorted({*add.indexes, *(i for op in finals.values() for i in op.indexes)}),
            "explanation": f"lost element {show(x)} of set {show(key)}: add {show(x)} by process {add.process} "
                           f"(events {add.indexes[0]}, {add.indexes[-1]}) {how} "
                           f"{seconds(known_time)}{removed}, yet the final reads on {nodes} do not contain it; "
                           f"{seen_text}{_crashed_after(add, list(finals), crashes)}",
        })
        return "lost", _lost_latency(reads, seen_in, known_time)
    start = bisect.bisect_right(read_pos, known_pos)  # the reads that began after the add was known
    if start == len(reads):
        return "never-read", None
    first_in = bisect.bisect_left(seen_in, start)
    if len(seen_in) - first_in == len(reads) - start:  # every one of them contained it
        missed = False
    elif seen_in[-1] != len(reads) - 1:  # missing from the last read: never stably visible
        # without final reads, lost and stale cannot be told apart; with them, some final read has it
        # and another not (divergent, reported as such)
        return ("undecided" if final_union is None else "stale"), None
    else:
        missed = True
    # Jepsen's stable latency: to the start (+1 ns) of the last read that missed it, 0 if that began before
    # the add was known (a read concurrent with the add may have linearized before it) or none missed it
    k = len(seen_in) - 1
    while k > 0 and seen_in[k - 1] == seen_in[k] - 1:
        k -= 1
    last_absent = seen_in[k] - 1 if seen_in else len(reads) - 1
    latency: float | None = 0.0
    if last_absent >= 0:
        t = reads[last_absent].inv_time
        latency = None if t is None or known_time is None else max(0.0, (t + 1 - known_time) / 1e6)
    # Jepsen counts an element stale when that latency, in whole milliseconds (``long``), is positive: a
    # miss under a millisecond after the add was known leaves it ok (set-full's :stale-count)
    return ("stale" if missed and (latency is None or int(latency) > 0) else "ok"), latency


def _lost_latency(reads: list[Op], seen_in: list[int], known_time: int | None) -> float | None:
    """Jepsen's lost latency: from when the add was known to the start (+1 ns) of the last read (of
    ``seen_in``) that contained the element, 0 if none did."""
    if not seen_in:
        return 0.0
    t = reads[seen_in[-1]].inv_time
    return None if t is None or known_time is None else max(0.0, (t + 1 - known_time) / 1e6)


def _lost_on_some(key: Any, x: Any, add: Op, known_time: int | None, missing: list[Any], finals: dict[Any, Op],
                  final_sets: dict[Any, frozenset[Any]], vk: Any, crashes: list[FaultWindow],
                  anomalies: list[dict[str, Any]]) -> None:
    """A known element some nodes' final reads hold and others' do not: lost on those others (every
    acknowledged add belongs in every node's final read: Maelstrom's broadcast and g-set ask exactly
    that, and a store's replicas of the key must converge to it)."""
    holding = [node for node in final_sets if vk in final_sets[node]]
    how = "was acknowledged at" if add.type == "ok" else f"was {add.type}, but a read returned it by"
    anomalies.append({
        "type": "lost-element", "key": key, "element": x, "_ops": [add], "lost_on": [str(n) for n in missing],
        "indexes": sorted({*add.indexes, *(i for n in missing for i in finals[n].indexes)}),
        "explanation": f"lost element {show(x)} of set {show(key)} on {_names(missing)}: add {show(x)} by process "
                       f"{add.process} {on(add.node)} (events {add.indexes[0]}, {add.indexes[-1]}) {how} "
                       f"{seconds(known_time)}; the {_reads(holding)} contain{'' if len(holding) > 1 else 's'} it, the "
                       f"{_reads(missing)} do{'' if len(missing) > 1 else 'es'} not{_crashed_after(add, missing, crashes)}",
    })


def _reads(nodes: list[Any]) -> str:
    """``final read on n1`` or ``final reads on n0, n2``."""
    return f"final read{'s' if len(nodes) > 1 else ''} on {_names(nodes)}"


def _names(nodes: list[Any]) -> str:
    return ", ".join(str(n) for n in nodes) if any(n is not None for n in nodes) else "(nodes not recorded)"


def _crashed_after(add: Op, nodes: list[Any], crashes: list[FaultWindow]) -> str:
    """The crashes, after ``add`` was invoked, of the node that took it or of ``nodes`` (those whose final
    reads lack the element), as the end of a sentence: a node that kept the element only in memory
    forgot it there. Empty when there were none."""
    suspects = {str(n) for n in (*nodes, add.node) if n is not None}
    said = []
    for w in crashes:
        if w.start_index < add.inv_index:
            continue
        crashed = w.value.get("nodes") if isinstance(w.value, dict) else None
        # only a list names nodes (as in checker/faults.py): not a number, a string's letters or an object's keys
        hit = [str(n) for n in crashed if str(n) in suspects] if isinstance(crashed, list) else []
        if not hit:
            continue
        back = f", restarted at {seconds(w.stop)}" if w.stop is not None and w.stop_index is not None else ""
        said.append(f"{', '.join(hit)} crashed at {seconds(w.start)}{back}")
    if not said:
        return ""
    return (f"; after the add was invoked {'; '.join(said)}: a node that keeps what it was told only in memory "
            "forgets it in a crash, and the crash restarts it empty")
