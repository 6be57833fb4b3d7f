"""report.html's sections for histories the set, counter and siblings rules judge (docs/HISTORY.md).

A register history's report shows staleness (PBS), sessions and the final reads' agreement; none
of that is measured for a set, counter or siblings history, whose verdict is its rule's. These
sections show what the rule measured instead: per element outcomes and the stable latency (set),
the final value against its bounds (counter), lost writes and siblings (siblings). `checker.report`
imports this module only for such histories.
"""

from __future__ import annotations

from typing import Any

from checker.findings import plural
from checker.operations import show
from checker.report import WIDTH, _esc, _table
from checker.svgplot import Plot, bar_chart

#: The register pass's measurements that mean nothing for a rule's history (the report drops them).
REGISTER_ONLY_STATS = ("staleness", "pbs", "pbs_by_fault", "sessions", "convergence", "unknown_reasons", "other_ops")

TITLES = {"set-full": "Set elements", "counter": "Counters", "siblings": "Siblings", "echo": "Echoes",
          "unique-ids": "Unique ids"}

OUTCOME_MEANING = {
    "ok": "every read that began after its add was acknowledged contained it",
    "stale": "a read that began after the acknowledgement missed it before it became stably visible",
    "lost": "acknowledged and not removed, yet missing from the final read of some node (invalid)",
    "never-read": "no read began after its add was acknowledged",
    "removed": "a remove that may have observed the add took it out",
    "indeterminate": "only an add of unknown outcome (info), never read",
    "undecided": "no final reads to judge it by",
}


def rule_stats(fresh: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The report's statistics for a rule's history: the rule's own, and of the register pass only what
    holds for any history (timing, latency, faults, availability, the final reads' count)."""
    stats = {k: v for k, v in fresh.items() if k not in REGISTER_ONLY_STATS}
    stats.update(given)
    finals = fresh.get("final_read_counts") or {}
    ops = {f: dict(c) for f, c in (stats.get("ops") or {}).items()}
    reads = ops.get("read")
    if reads is not None and sum(finals.values()):  # the rule counts final reads as reads: count them once
        for outcome in ("ok", "fail", "info"):
            reads[outcome] = max(0, reads.get(outcome, 0) - finals.get(outcome, 0))
        if not sum(reads.values()):
            del ops["read"]
    stats["ops"] = ops
    stats["final_read_counts"] = finals
    return stats


def rule_cards(rule: str, stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary cards that stand where a register history has stale reads and convergence."""
    if rule == "set-full":
        s = stats.get("set") or {}
        oc = s.get("outcomes") or {}
        parts = ", ".join(f"{n:,} {k}" for k, n in oc.items() if n)
        cards = [("set elements", f"{plural(s.get('elements') or 0, 'element')} ({parts or 'none'})")]
        lat = s.get("stable_latency_ms") or {}
        if lat.get("n"):
            cards.append(("stable latency (Jepsen's)", f"p50 {lat['p50']:g} ms, max {lat['max']:g} ms"))
        return cards
    if rule == "counter":
        c = stats.get("counter") or {}
        cards = [("reads out of bounds", f"{c.get('reads_out_of_bounds', 0):,} of {c.get('reads_checked', 0):,}")]
        if c.get("reads") != "strict":
            cards.append(("stale reads (eventual)", f"{c.get('stale_reads', 0):,}"))
        return cards
    if rule == "echo":
        e = stats.get("echo") or {}
        return [("echoes altered", f"{e.get('mismatched', 0):,} of {e.get('replies_checked', 0):,}")]
    if rule == "unique-ids":
        u = stats.get("unique_ids") or {}
        return [("ids returned twice or more", f"{u.get('duplicated_ids', 0):,} of {u.get('distinct_ids', 0):,}")]
    b = stats.get("siblings") or {}
    lost = (stats.get("anomaly_counts") or {}).get("lost-write", 0)
    return [("lost writes", f"{lost:,}"),
            ("reads with siblings", f"{b.get('reads_with_siblings', 0):,} of {b.get('reads', 0):,}")]


def rule_section(rule: str, results: dict[str, Any], stats: dict[str, Any]) -> str:
    """The section that replaces a register history's staleness charts."""
    if rule == "set-full":
        return _set_section(results, stats.get("set") or {})
    if rule == "counter":
        return _counter_section(stats.get("counter") or {})
    if rule == "echo":
        e = stats.get("echo") or {}
        return _table([["ok echoes compared with what was sent", e.get("replies_checked", 0)],
                       ["came back altered (echo-mismatch)", e.get("mismatched", 0)]], ["", "count"])
    if rule == "unique-ids":
        u = stats.get("unique_ids") or {}
        return _table([["ids returned by ok generates", u.get("ids_returned", 0)],
                       ["distinct ids", u.get("distinct_ids", 0)],
                       ["ids returned more than once (duplicate-id)", u.get("duplicated_ids", 0)]], ["", "count"])
    return _siblings_section(stats.get("siblings") or {}, stats)


NOT_MEASURED = ("Staleness (PBS), session guarantees and the final reads' convergence time are measured for "
                "register histories only; the {rule} rule judges the final reads itself (final reads that "
                "disagree are its divergent anomalies).")


def _set_section(results: dict[str, Any], s: dict[str, Any]) -> str:
    oc = s.get("outcomes") or {}
    out = ["<h3>Elements by outcome</h3>",
           _table([[k, n, OUTCOME_MEANING.get(k, "")] for k, n in oc.items()], ["outcome", "elements", "meaning"],
                  "text")]
    rows: list[list[Any]] = []
    for a in results.get("anomalies") or []:
        if "element" in a:
            outcome = "lost" if a.get("type") == "lost-element" else a.get("type")
            rows.append([a.get("key"), show(a["element"]), outcome, a.get("explanation", "")])
    examples = s.get("examples") or {}
    for e in examples.get("stale") or []:
        lat = e.get("stable_latency_ms")
        why = (f"a read that began after its add was acknowledged did not contain it; the last read that "
               f"missed it began {lat:g} ms after the acknowledgement, every read after it had it" if lat is not None else
               "a read that began after its add was acknowledged did not contain it, and it never became "
               "stably visible before the final reads (which disagree on it)")
        rows.append([e.get("key"), show(e.get("element")), "stale", why])
    out.append("<h3>Elements that are not ok</h3>")
    if rows:
        out.append(_table(rows, ["set", "element", "outcome", "explanation"], "text"))
        shown_stale = len(examples.get("stale") or [])
        if oc.get("stale", 0) > shown_stale:
            out.append(f"<p class='note'>{shown_stale:,} of the {oc['stale']:,} stale elements are listed "
                       "(the results object keeps that many examples).</p>")
    else:
        out.append("<p>None listed.</p>")
    others = [f"{n:,} {k}" for k, n in oc.items() if n and k in ("never-read", "removed", "indeterminate", "undecided")]
    if others:
        out.append(f"<p class='note'>Counted above, not listed: {_esc(', '.join(others))} (no fault of the "
                   "system: what the history lets the rule say about them).</p>")
    out.append("<h3>Stable latency</h3>" + _stable_latency(s.get("stable_latency_ms") or {}))
    out.append(f"<p class='note'>{_esc(NOT_MEASURED.format(rule='set'))}</p>")
    return "".join(out)


def _stable_latency(lat: dict[str, Any]) -> str:
    title = "Stable latency of the elements"
    if not lat.get("n"):
        p = Plot(WIDTH // 2 - 10, 300, (0, 1), (0, 1), right=20, title=title)
        p.note("not measured: no element was read for good after its add was acknowledged")
        return p.render()
    labels = ["p50", "p95", "p99", "max"]
    return (bar_chart(WIDTH // 2 - 10, 300, labels, [float(lat[k]) for k in labels], "#0072b2",
                      title=f"{title} ({plural(lat['n'], 'element')})",
                      ylabel="ms from the add's ok to the last read that missed it")
            + f"<p class='note'>Stable latency over {plural(lat['n'], 'element')}: p50 {lat['p50']:g} ms, "
              f"p95 {lat['p95']:g} ms, p99 {lat['p99']:g} ms, max {lat['max']:g} ms.</p>")


def _counter_section(c: dict[str, Any]) -> str:
    rows = []
    for key, fin in (c.get("final") or {}).items():
        lo, hi = fin["bounds"]
        within = all(lo <= v <= hi for v in fin["values"])
        rows.append([key, ", ".join(str(v) for v in fin["values"]), f"[{lo}, {hi}]", "yes" if within else "no"])
    out = ["<h3>Final value against its bounds, per key</h3>"]
    if rows:
        out.append(_table(rows, ["key", "final reads", "bounds [ok increments, + every info one]", "within"]))
        if (c.get("keys") or 0) > len(rows):
            out.append(f"<p class='note'>{len(rows)} of {plural(c['keys'], 'key')} shown.</p>")
    else:
        out.append("<p>No key has final reads.</p>")
    how = ("every read is held to the bounds its time allows" if c.get("reads") == "strict" else
           "only the final reads are held to the bounds; earlier reads that missed acknowledged operations "
           f"are counted as stale ({c.get('stale_reads', 0):,})")
    out.append(f"<p>{c.get('reads_out_of_bounds', 0):,} of {plural(c.get('reads_checked') or 0, 'read')} out of "
               f"bounds ({_esc(how)}: --counter-reads {_esc(c.get('reads') or 'eventual')}); each is an anomaly "
               "below.</p>")
    out.append(f"<p class='note'>{_esc(NOT_MEASURED.format(rule='counter'))}</p>")
    return "".join(out)


def _siblings_section(b: dict[str, Any], stats: dict[str, Any]) -> str:
    lost = (stats.get("anomaly_counts") or {}).get("lost-write", 0)
    rows = [
        ["acknowledged puts lost (neither in the final siblings nor superseded by a context)", lost],
        ["reads that returned siblings (more than one value)", f"{b.get('reads_with_siblings', 0):,} of "
                                                                f"{b.get('reads', 0):,}"],
        ["most siblings in one read", b.get("max_siblings", 0)],
        ["most siblings in a final read", b.get("final_max_siblings", 0)],
        ["writes that carried a context (resolving what their get saw)", b.get("writes_with_context", 0)],
        ["writes without a context (each adds a sibling)", b.get("writes_without_context", 0)],
        ["values superseded by a context", b.get("superseded_values", 0)],
    ]
    return (_table(rows, ["", "count"])
            + f"<p class='note'>{_esc(NOT_MEASURED.format(rule='siblings'))}</p>")
