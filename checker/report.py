"""report.html: one self-contained page that shows a run at a glance and opens offline.

Sections: verdict and run summary; a per-process timeline with fault windows shaded; latency over
time; the staleness (PBS t-visibility) curve; convergence after the heal; every anomaly with the
events that prove it highlighted; the measurement tables; and the linearizability picture when
the results carry one.

Plots are hand-written SVG (``checker.svgplot``), inlined, so the page needs no network and no
plotting library (matplotlib made writing a report take seconds). A
history is streamed once into compact arrays; above ``DETAIL_LIMIT`` operations the timeline and
latency plots switch from one mark per operation to binned aggregates (a heat map per process
lane, percentile lines per time bin), so a million-operation run still renders in seconds and
nothing is silently dropped the way Jepsen's timeline stops at 10,000 operations.
"""

from __future__ import annotations

import gc
import hashlib
import html
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from checker.api import CheckOptions, CheckResult, EventWatch, check
from checker.findings import (
    SOURCE_JOURNAL,
    checker_findings,
    clock_skew_note,
    convergence_card,
    convergence_entry,
    convergence_headline,
    convergence_line,
    faults_sentence,
    final_reads_timing,
    finding_line,
    into_final_reads_text,
    linearizability_note,
    load_end_words,
    own_checker,
    plural,
    verdict_word,
)
from checker.history import iter_events, minikeydb_run, resolve_history
from checker.journal_figures import CDF_POINTS
from checker.safe_write import write_atomic
from checker.stats import wilson_interval
from checker.svgplot import Plot, bar_chart
from checker.workloads import read_header

if TYPE_CHECKING:
    from checker.convergence import FinalAgreement
    from checker.maelstrom_messages import MessageFile
    from checker.messages import JournalExtract

DETAIL_LIMIT = 20_000  # operations drawn one by one; above this, binned
MAX_LANES = 120  # process lanes in the timeline; above this, processes share lanes
MAX_ANOMALIES_SHOWN = 200
COLORS = {"ok": "#3a9d23", "fail": "#d62728", "info": "#ff9f1c"}
# Okabe-Ito colours, told apart by colour-blind readers too, and a shape each as well.
F_STYLE = {"get": ("#0072b2", "circle"), "put": ("#d55e00", "square"), "delete": ("#009e73", "triangle")}
#: Other workloads' operations drawn as the register operation they most resemble (reads, writes, removals).
F_LIKE = {"read": "get", "write": "put", "cas": "put", "append": "put", "add": "put", "incr": "put",
          "remove": "delete", "decr": "delete"}
HEAL_COLOR = "#2ca02c"
FINAL_COLOR = "#6a3d9a"  # the final reads on the timeline: not to be mistaken for ok operations or the heal line
FAULT_COLORS = {
    "partition": "#e15759",
    "crash": "#4e79a7",
    "pause": "#76b7b2",
    "drop": "#f28e2b",
    "delay": "#edc948",
    "duplicate": "#b07aa1",
    "reorder": "#ff9da7",
    "clock-skew": "#9c755f",
    "nemesis": "#bab0ac",  # Jepsen's unnamed :start/:stop fault
}
# Any other kind (a new nemesis fault, another tool's) gets one of these, chosen by its name, so
# the same kind has the same colour in every report and adding a fault kind needs no edit here.
OTHER_FAULT_COLORS = ("#a0cbe8", "#ffbe7d", "#b6992d", "#f1ce63", "#86bcb6", "#d37295", "#d4a6c8", "#9d7660")


def fault_color(kind: str) -> str:
    """The shading of ``kind``'s fault windows: from ``FAULT_COLORS``, else derived from the name."""
    known = FAULT_COLORS.get(kind)
    if known is not None:
        return known
    digest = hashlib.blake2b(kind.encode(), digest_size=2).digest()
    return OTHER_FAULT_COLORS[int.from_bytes(digest, "big") % len(OTHER_FAULT_COLORS)]


class _Collector:
    """Watches the event stream on its way to the checker and keeps what the plots need, compactly."""

    def __init__(self, anomaly_keys: set[Any], proving: set[int] | None = None) -> None:
        self.inv: dict[Any, tuple[int, int | None, str, bool]] = {}
        self.proc: list[Any] = []
        self.t0: list[float] = []
        self.t1: list[float] = []
        self.f: list[str] = []
        self.typ: list[str] = []
        self.final: list[bool] = []
        self.anomaly_keys = anomaly_keys
        self.proving = proving or set()
        self.key_events: dict[Any, list[dict[str, Any]]] = {}
        self.nemesis: list[dict[str, Any]] = []
        self.last_time = 0
        self.never_completed = 0
        """Client operations (not final reads) invoked and never completed: no ok, fail or info (set by close)."""

    def watch(self, events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Pass ``events`` on unchanged, noting each one on the way."""
        feed = self.feed
        for ev in events:
            feed(ev)
            yield ev

    def feed(self, ev: dict[str, Any]) -> None:
        t = ev.get("time")
        if t is not None:
            self.last_time = t
        p = ev["process"]
        if p == "nemesis":
            self.nemesis.append(ev)
            return
        key = ev.get("key")
        try:
            hit = key in self.anomaly_keys
        except TypeError:  # a list or object key (echo and unique-ids ignore keys): no anomaly names it
            hit = False
        if hit:
            lst = self.key_events.setdefault(key, [])
            # past the first 5000, still the proof and every acknowledged write (its version stamp)
            if len(lst) < 5000 or ev.get("index") in self.proving or (ev["type"] == "ok" and ev["f"] != "get"):
                lst.append(ev)
        if ev["type"] == "invoke":
            self.inv[p] = (ev["index"], t, ev["f"], ev.get("final") is True)
            return
        start = self.inv.pop(p, None)
        if start is None or start[1] is None or t is None:
            return
        self.proc.append(p)
        self.t0.append(start[1] / 1e9)
        self.t1.append(t / 1e9)
        self.f.append(ev["f"])
        self.typ.append(ev["type"])
        self.final.append(start[3])

    def close(self) -> None:
        end = self.last_time / 1e9
        self.never_completed += sum(1 for (_, _, _, fin) in self.inv.values() if not fin)
        for p, (_, t, f, fin) in self.inv.items():
            if t is None:
                continue
            self.proc.append(p)
            self.t0.append(t / 1e9)
            self.t1.append(end)
            self.f.append(f)
            self.typ.append("info")
            self.final.append(fin)
        self.inv.clear()


WIDTH = 1200  # px of every chart (the page scales them down to fit)


def _shade(p: Plot, windows: list[dict[str, Any]], xmax: float) -> None:
    seen = []
    for w in windows:
        if w.get("start_s") is None:
            continue
        kind = w["kind"]
        color = fault_color(kind)
        p.vspan(w["start_s"], w["stop_s"] if w.get("stop_s") is not None else xmax, color)
        if kind not in seen:
            seen.append(kind)
            p.legend(kind, color, "span")


def _heal_lines(p: Plot, heals: list[float]) -> None:
    for h in heals:
        p.vline(h, HEAL_COLOR)
    if heals:
        p.legend("heal", HEAL_COLOR, "dash")


def _proc_order(p: Any) -> tuple[bool, Any]:
    return (isinstance(p, str), p)


def _timeline(c: _Collector, windows: list[dict[str, Any]], heals: list[float]) -> tuple[str, str]:
    n = len(c.t0)
    procs = sorted(set(c.proc), key=_proc_order)
    lane_of = {p: i for i, p in enumerate(procs)}
    n_lanes = len(procs)
    shared = n_lanes > MAX_LANES
    if shared:
        lane_of = {p: i * MAX_LANES // n_lanes for i, p in enumerate(procs)}
        n_lanes = MAX_LANES
    height = int(max(180, min(640, 11 * n_lanes + 90)))
    tmax = max(c.t1, default=1.0) or 1.0
    p = Plot(WIDTH, height, (0, tmax * 1.02), (-0.7, max(n_lanes, 1) - 0.3), title="Operations per process, fault windows shaded",
             xlabel="time since run start (s)", ylabel="process" + (" lane" if shared else ""))
    if n == 0:
        p.note("no completed operations")
        return p.render(), ""
    _shade(p, windows, tmax)
    n_final = sum(c.final)
    what = f" ({n - n_final:,} client operations and {n_final:,} final reads)" if n_final else ""
    if n <= DETAIL_LIMIT and not shared:
        lw = max(2.0, min(8.0, (p.ph / max(1, n_lanes)) * 0.6))
        rows = list(zip(c.proc, c.t0, c.t1, c.typ, c.final, strict=True))
        for outcome, color in COLORS.items():
            # an ok final read is drawn in its own colour; one that failed or timed out keeps its outcome's
            segs = [(a, b, lane_of[q]) for q, a, b, t, fin in rows if t == outcome and not (fin and t == "ok")]
            p.hsegments(segs, color, lw)
            p.legend(outcome, color, "block")
        finals = [(a, b, lane_of[q]) for q, a, b, t, fin in rows if fin and t == "ok"]
        if finals:
            p.hsegments(finals, FINAL_COLOR, lw)
            p.legend("final read (ok)", FINAL_COLOR, "block")
        note = (f"{n:,} operations{what}, one bar each: green ok, red fail, orange info (outcome unknown)"
                + (", purple a final read that returned" if finals else "")
                + (" (taken after the last heal, the dashed line)" if finals and heals else "") + ".")
    else:
        bins = 200
        width = tmax / bins
        grid: dict[tuple[int, int], list[int]] = {}
        slot = {"ok": 0, "fail": 1, "info": 2}
        for q, a, t in zip(c.proc, c.t0, c.typ, strict=True):
            cell = grid.setdefault((lane_of[q], min(bins - 1, int(a / width))), [0, 0, 0])
            cell[slot[t]] += 1
        most = max(sum(v) for v in grid.values())
        for (lane, b), counts in sorted(grid.items()):
            p.rect(b * width, (b + 1) * width, lane - 0.45, lane + 0.45, _mix(counts, most), bleed=0.6)
        for outcome, color in COLORS.items():
            p.legend(outcome, color, "block")
        note = (
            f"{n:,} operations binned into {bins} time slices per lane{what}"
            + (f" ({len(procs):,} processes folded into {n_lanes} lanes)" if shared else "")
            + ": colour is the outcome mix, darker means more operations."
        )
    retired = {q for q, t, fin in zip(c.proc, c.typ, c.final, strict=True) if t == "info" and not fin}
    if retired:  # why the axis has more processes than the run had clients
        note += (f" A client takes a new process id after an info (its operation may still take effect, so the "
                 f"process never invokes again: docs/HISTORY.md), so the {len(procs):,} processes include "
                 f"{len(retired):,} retired after an info.")
    _heal_lines(p, heals)
    if not shared and n_lanes <= 60:
        p.categories([str(q) for q in procs])
    return p.render(), note


def _mix(counts: list[int], most: int) -> str:
    """The colour of a heat-map cell: outcome colours weighted by count, paler when sparse."""
    total = sum(counts)
    rgb = [0.0, 0.0, 0.0]
    for n, color in zip(counts, COLORS.values(), strict=True):
        for i in range(3):
            rgb[i] += n / total * int(color[1 + 2 * i : 3 + 2 * i], 16)
    density = 0.5 + 0.5 * total / max(1, most)
    return "#" + "".join(f"{round(255 - (255 - v) * density):02x}" for v in rgb)


def _latency(c: _Collector, windows: list[dict[str, Any]], heals: list[float]) -> str:
    rows = [
        (t0, max((t1 - t0) * 1000, 1e-3), f, typ)
        for t0, t1, f, typ, fin in zip(c.t0, c.t1, c.f, c.typ, c.final, strict=True)
        if not fin
    ]
    if not rows:
        p = Plot(WIDTH, 300, (0, 1), (0, 1), title="Latency over time")
        p.note("no client operations")
        return p.render()
    lats = [r[1] for r in rows]
    xmax = max(r[0] for r in rows) or 1.0
    lo, hi = min(lats), max(lats)
    p = Plot(WIDTH, 330, (0, xmax * 1.02), (10 ** math.floor(math.log10(lo / 1.01)), 10 ** math.ceil(math.log10(hi * 1.01))),
             ylog=True, title="Latency over time (at invoke), fault windows shaded", xlabel="time since run start (s)",
             ylabel="latency (ms)")
    _shade(p, windows, xmax)
    for name in sorted({r[2] for r in rows}):
        pts = [(r[0], r[1]) for r in rows if r[2] == name and r[3] != "info"]
        if not pts:
            continue
        color, shape = F_STYLE.get(F_LIKE.get(name, name), ("#555", "circle"))
        if len(pts) <= DETAIL_LIMIT:
            p.dots([x for x, _ in pts], [y for _, y in pts], color, 4.5 if shape != "triangle" else 6, shape)
            p.legend(name, color, shape)
        else:
            xs, p50, p99, mx = _binned_percentiles(pts, 200)
            p.line(xs, p50, color, 1.6)
            p.line(xs, p99, color, 1.0, dash="5 3")
            p.line(xs, mx, color, 0.8, dash="1.5 2.5")
            p.legend(f"{name} p50", color, "line")
            p.legend(f"{name} p99", color, "dash")
            p.legend(f"{name} max", color, "dot")
    timeouts = [(r[0], r[1]) for r in rows if r[3] == "info"]
    if timeouts:
        p.dots([x for x, _ in timeouts], [y for _, y in timeouts], COLORS["info"], 7, "cross")
        p.legend("info (timeout)", COLORS["info"], "cross")
    _heal_lines(p, heals)
    return p.render()


LATENCY_N_NOTE = (
    "n counts ok and fail operations: info operations (timed out, outcome unknown) have no latency and are left "
    "out, so n is less than the operations table's total by the info column; final reads are aside too"
)


def _binned_percentiles(pts: list[tuple[float, float]], bins: int) -> tuple[list[float], ...]:
    x0 = min(x for x, _ in pts)
    span = (max(x for x, _ in pts) - x0) or 1e-9
    groups: list[list[float]] = [[] for _ in range(bins)]
    for x, y in pts:
        groups[min(bins - 1, int((x - x0) / span * bins))].append(y)
    xs, p50, p99, mx = [], [], [], []
    for b, g in enumerate(groups):
        if g:
            g.sort()
            xs.append(x0 + (b + 0.5) * span / bins)
            p50.append(g[(len(g) - 1) // 2])
            p99.append(g[min(len(g) - 1, math.ceil(0.99 * len(g)) - 1)])
            mx.append(g[-1])
    return xs, p50, p99, mx


MIN_PBS_READS = 20
"""A PBS bin with fewer reads is drawn hollow and faint and left off the curve's line: its P is too uncertain
(2 reads that both saw the write give P = 1 with a 95 % interval of 0.34-1)."""


def _pbs_x(q: dict[str, Any]) -> float:
    return float(max(0.5, (q["t_ms_from"] + (q["t_ms_to"] or q["t_ms_from"] * 2)) / 2))


def _pbs_range(q: dict[str, Any]) -> str:
    return f"{q['t_ms_from']:g}-{q['t_ms_to']:g}" if q["t_ms_to"] is not None else f"{q['t_ms_from']:g}+"


def _pbs_points(p: Plot, curve: list[dict[str, Any]], color: str, name: str, labels: bool = False) -> None:
    """Each bin of ``curve`` as a point with its 95 % interval (a whisker) and, in its title, its reads; bins
    under `MIN_PBS_READS` hollow and faint. The line joins only the bins with enough reads."""
    dense = [q for q in curve if q["reads"] >= MIN_PBS_READS]
    p.line([_pbs_x(q) for q in dense], [q["probability"] for q in dense], color, 1.5)
    for q in curve:
        lo, hi = wilson_interval(q["fresh"], q["reads"])
        sparse = q["reads"] < MIN_PBS_READS
        px, py = p.x(_pbs_x(q)), p.y(q["probability"])
        p.marks.append(f'<line x1="{px:.1f}" y1="{p.y(lo):.1f}" x2="{px:.1f}" y2="{p.y(hi):.1f}" stroke="{color}" '
                       f'stroke-width="1.2" stroke-opacity="{0.3 if sparse else 0.7}"/>')
        title = (f"{name}: t {_pbs_range(q)} ms: {q['fresh']:,} of {q['reads']:,} reads saw the write, "
                 f"P = {q['probability']:.2f} (95 % interval {lo:.2f}-{hi:.2f})"
                 + (f"; too few reads to say P (under {MIN_PBS_READS})" if sparse else ""))
        fill = "white" if sparse else color
        p.marks.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{fill}" stroke="{color}" '
                       f'stroke-width="1.3" stroke-opacity="{0.5 if sparse else 1}"><title>{_esc(title)}</title></circle>')
        if labels:
            p.label(_pbs_x(q), q["probability"], f"n={q['reads']:,}", dy=14, color="#999" if sparse else "#555",
                    size=9)


def _pbs_table(pbs: list[dict[str, Any]], split: dict[str, Any]) -> str:
    """Every bin's reads, beside its P and interval, for all reads and for the healthy / under-faults split."""
    parts = {key: {q["t_ms_from"]: q for q in split.get(key) or []} for key in ("healthy", "under_faults")}
    rows = []
    for q in pbs:
        lo, hi = wilson_interval(q["fresh"], q["reads"])
        row: list[Any] = [_pbs_range(q), q["reads"], q["fresh"], f"{q['probability']:.2f}", f"{lo:.2f}-{hi:.2f}"]
        for key in ("healthy", "under_faults"):
            h = parts[key].get(q["t_ms_from"])
            row.append(f"{h['probability']:.2f} of {h['reads']:,}"
                       + (" (too few reads)" if h["reads"] < MIN_PBS_READS else "") if h else "")  # drawn hollow
        row.append(f"hollow, off the line: too few reads (under {MIN_PBS_READS})" if q["reads"] < MIN_PBS_READS
                   else "on the line")
        rows.append(row)
    header = ["t (ms)", "reads", "saw it", "P", "95 % interval", "healthy: P of reads", "under faults: P of reads",
              "drawn"]
    if not any(parts.values()):
        header, rows = header[:5] + header[7:], [r[:5] + r[7:] for r in rows]
    return _table(rows, header)


PBS_CAPTION = (
    "Each point is one bin of t; its reads (n) are in the table below and in the point's title; the bar through "
    f"it is the 95 % interval (Wilson) for P given n reads, so a bin of a few reads spans most of the axis. Bins "
    f"with fewer than {MIN_PBS_READS} reads are drawn hollow and faint and left off the line: too few reads to "
    "say P"
)


def _staleness(stats: dict[str, Any]) -> str:
    pbs = stats.get("pbs") or []
    half = WIDTH // 2 - 10
    split = stats.get("pbs_by_fault") or {}
    if pbs:
        xs = [_pbs_x(q) for q in pbs]
        parts = [(name, color, split.get(key) or []) for key, name, color in
                 (("healthy", "healthy", "#2ca02c"), ("under_faults", "under faults", "#d62728"))]
        # Room on the right for the legend when the split curves have one (it was drawn outside the plot).
        p = Plot(half, 300, (min(xs) / 1.6, max(xs) * 1.6), (-0.02, 1.08), xlog=True,
                 right=195 if any(curve for _, _, curve in parts) else 20,
                 title="PBS t-visibility: P(a read t ms after a write sees it)",
                 xlabel="t: read start minus the latest acknowledgement before it (ms)",
                 ylabel="P(read sees it or newer)")
        if any(curve for _, _, curve in parts):
            dense = [q for q in pbs if q["reads"] >= MIN_PBS_READS]
            p.line([_pbs_x(q) for q in dense], [q["probability"] for q in dense], "#1f77b4", 1)
            p.legend(f"all reads with a t ({sum(q['reads'] for q in pbs):,})", "#1f77b4")
            for name, color, curve in parts:
                if curve:
                    _pbs_points(p, curve, color, name)
                    p.legend(f"{name} ({sum(q['reads'] for q in curve):,} reads)", color)
        else:
            _pbs_points(p, pbs, "#1f77b4", "all reads", labels=True)
            p.legend(f"all reads with a t ({sum(q['reads'] for q in pbs):,})", "#1f77b4")
        p.legend(f"hollow: under {MIN_PBS_READS} reads", "#888", "ring")
    else:
        p = Plot(half, 300, (0, 1), (0, 1), right=20, title="PBS t-visibility")
        p.note("no reads after an acknowledged write")
    left = p.render()
    st = stats.get("staleness", {})
    age = st.get("age_ms", {})
    if age.get("n"):
        labels = ["p50", "p95", "p99", "max"]
        right = bar_chart(half, 300, labels, [float(age[k]) for k in labels], "#ff9f1c",
                          title=f"Age of stale reads ({st['stale_reads']:,} of {st['reads_checked']:,} reads)",
                          ylabel="stale read age (ms)")
    else:
        q = Plot(half, 300, (0, 1), (0, 1), right=20, title="Age of stale reads")
        q.note("no stale reads")
        right = q.render()
    how = (stats.get("pbs_by_fault") or {}).get("how_to_read")
    note = f"<p class='note'>{_esc(PBS_CAPTION)}.</p>" if pbs else ""
    checked, with_t = st.get("reads_checked") or 0, sum(q["reads"] for q in pbs)
    if checked > with_t:  # the tile's "of N" counts every read checked; the curve only those with a t
        note += (f"<p class='note'>{checked - with_t:,} of the {checked:,} reads checked began before any "
                 "acknowledged write to their key: they have no t and are left out of the curve (they are in the "
                 f"stale-reads figure's {checked:,}).</p>")
    if age.get("n"):
        note += ("<p class='note'>Age of a stale read (the bars): its start minus the acknowledgement of the "
                 "earliest write it missed, a write acknowledged before the read began and begun after the write "
                 "the read saw was done: how long a newer value had been acknowledged when the read began.</p>")
    note += f"<p class='note'>{_esc(how[0].upper() + how[1:])}.</p>" if pbs and how else ""
    table = (f"<details open><summary>PBS bins: reads per bin</summary>{_pbs_table(pbs, split)}</details>"
             if pbs else "")
    return f"<div class='pair'>{left}{right}</div>{note}{table}"


def _convergence(agreement: FinalAgreement, heals: list[float], entry: dict[str, Any] | None) -> str:
    """When each key's final reads agreed. After a heal, and when the final reads' start is known, drawn in two
    parts: a bar from the heal that shows the wait before the final reads (not convergence) apart from the time
    into them, and the keys' agreement over the measured part only, in ms into the final reads."""
    keys, not_agreed = agreement.keys, agreement.not_agreed
    times = sorted(a / 1e9 for a in agreement.times)
    base = heals[-1] if heals else (times[0] if times else 0.0)
    if not times:
        p = Plot(WIDTH, 260, (0, 1), (0, 1), title="Convergence")
        if not keys:
            p.note("no final reads in this history")
        elif not_agreed == keys:
            p.note("no key's final reads ever agreed")
        else:  # agreement without times: the history has no `time` fields
            p.note(f"{keys - not_agreed:,} of {plural(keys, 'key')} agreed; no times to plot")
        return p.render()
    title = (f"Upper bound: when each key's final reads became unanimous ({plural(keys, 'key')}"
             + (f", {not_agreed:,} still disagreeing at the last" if not_agreed else "") + ")")
    began = (entry or {}).get("final_reads_began_after_s")
    if heals and isinstance(began, int | float) and began >= 0:
        xs = [max(0.0, (t - base - began) * 1000) for t in times]
        if not_agreed:  # no key was last to agree: the bar runs to where the final reads gave up, if known
            bar = ("" if agreement.ended is None
                   else _wait_bar(began, max(0.0, agreement.ended / 1e9 - base - began), not_agreed))
        else:  # the run summary's split of the same time (checker.findings.final_reads_timing)
            timing = final_reads_timing(entry)
            bar = _wait_bar(*timing) if timing is not None else _wait_bar(began, xs[-1] / 1000)
        return bar + _agreement_steps(
            xs, keys, not_agreed, title, f"ms into the final reads (they began {began:.2f} s after the last heal)",
            start=0.0)
    xs = [t - base for t in times]
    return _agreement_steps(xs, keys, not_agreed, title,
                            "seconds after the last heal" if heals else "seconds after the first key agreed",
                            began=began)


def _agreement_steps(xs: list[float], keys: int, not_agreed: int, title: str, xlabel: str,
                     began: float | None = None, start: float | None = None) -> str:
    """The fraction of keys whose final reads agreed, stepping up at each key's time ``xs`` (the axis from
    ``start`` when given: the final reads' first moment)."""
    lo, hi = min(xs) if start is None else start, max(xs)
    pad = (hi - lo) * 0.08 or 0.05 * max(1.0, hi)
    p = Plot(WIDTH, 280, (lo - pad if start is None else start, hi + pad), (0, 1.08), title=title, xlabel=xlabel, ylabel="fraction of keys agreed")
    ys = [i / keys for i in range(1, len(xs) + 1)]
    p.line([lo - pad, *xs, hi + pad], [0.0, *ys, ys[-1]], "#2ca02c", 2, step=True)
    if began is not None and lo - pad <= began <= hi + pad:
        p.vline(began, "#888", "2 3")
        p.legend("final reads began", "#888", "dot")
    if not_agreed:
        p.marks.append(
            f'<line x1="{p.left}" y1="{p.y(1):.1f}" x2="{p.left + p.pw}" y2="{p.y(1):.1f}" stroke="#c62828" '
            'stroke-dasharray="6 4"/>'
        )
        p.legend("all keys: not reached", "#c62828", "dash")
    return p.render()


def _wait_bar(began: float, reading: float, not_agreed: int = 0) -> str:
    """From the last heal to the last key's agreement, as one bar: the harness's wait before the final reads
    (grey, hatched: no convergence is measured there) and the time into them (green, the measured part).
    With ``not_agreed`` keys that never agreed there is no such moment: the second part (red) is the
    ``reading`` seconds the final reads ran before they gave up, labelled not reached."""
    total = began + reading
    title = ("From the last heal until the last key agreed: the wait, then the final reads" if not not_agreed
             else f"From the last heal: the wait, then the final reads, which ended with {not_agreed:,} "
                  f"{'key' if not_agreed == 1 else 'keys'} not agreed")
    p = Plot(WIDTH, 96, (0, total * 1.005 or 1), (0, 1), top=22, bottom=34, right=200 if not_agreed else 160,
             title=title, xlabel="seconds after the last heal")
    p.ycats = []  # no y axis: one bar
    wait = (f"{began:.2f} s waiting before the final reads (drain and quiescence): not convergence")
    ran = f"{reading * 1000:.0f} ms" if reading < 1 else f"{reading:.2f} s"
    reads = (f"{into_final_reads_text(reading)} into the final reads until the last key agreed" if not not_agreed
             else f"{ran} of final reads, which ended with {not_agreed:,} "
                  f"{'key' if not_agreed == 1 else 'keys'} still disagreeing at their last reads")
    p.rect(0, began, 0.2, 0.8, "url(#wait-hatch)", wait)
    p.rect(began, total, 0.2, 0.8, "#c62828" if not_agreed else "#2ca02c", reads)
    p.marks.insert(0, '<defs><pattern id="wait-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
                      'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e0e0e0"/>'
                      '<line x1="0" y1="0" x2="0" y2="6" stroke="#bdbdbd" stroke-width="3"/></pattern></defs>')
    def inside(x0: float, x1: float, text: str, short: str, color: str) -> None:  # a label that fits its part
        fits = p.x(x1) - p.x(x0) >= 6.2 * len(text)
        p.marks.append(f'<text x="{p.x((x0 + x1) / 2):.1f}" y="{p.y(0.5) + 4:.1f}" font-size="11" '
                       f'text-anchor="middle" fill="{color}">{_esc(text if fits else short)}</text>')

    inside(0, began, wait, f"{began:.2f} s wait", "#444")
    p.legend("wait: not measured", "#bdbdbd", "block")
    if not_agreed:
        inside(began, total, f"final reads ran {ran}: {not_agreed:,} still disagreeing", "", "#fff")
        p.legend(f"final reads ran {ran}", "#c62828", "block")
        p.legend("last key agreed: not reached", "#c62828", "dash")
    else:
        p.legend(f"final reads: {into_final_reads_text(reading)}", "#2ca02c", "block")
    return p.render()


def _lag_cdf(conv: dict[str, Any]) -> str:
    """The replication lag distribution (journal): one curve for healthy writes, one per fault kind."""
    half = WIDTH // 2 - 10
    cdf = conv.get("replication_lag_cdf") or {}
    rl = conv.get("replication_lag_ms") or {}
    curves = [(k, v) for k, v in cdf.items() if v]
    if not curves:
        p = Plot(half, 300, (0, 1), (0, 1), right=20, title="Replication lag per write (measured, from the journal)")
        p.note("no acknowledged write measured")
        return p.render()
    floor = 0.1  # a lag of 0 ms (on every replica before the ok) is drawn here, on the log axis
    top = max(pt[0] for _, v in curves for pt in v)
    p = Plot(half, 300, (floor / 1.3, max(top, 1.0) * 1.6), (-0.02, 1.05), xlog=True, right=190,
             title="Replication lag per write (measured, from the journal)",
             xlabel="ms from a write's ok until all its replicas had it ("
             + (f"< {conv['clock_tick_ms']:g} ms drawn at 0.1)" if conv.get("clock_tick_ms")
                else "0 drawn at 0.1)"),
             ylabel="fraction of writes")
    for k, v in sorted(curves, key=lambda kv: kv[0] != "healthy"):
        color = "#2ca02c" if k == "healthy" else fault_color(k)
        n = (rl.get("healthy") or {}).get("n") if k == "healthy" else ((rl.get("by_fault") or {}).get(k) or {}).get("n")
        p.line([max(floor, pt[0]) for pt in v], [pt[1] for pt in v], color, 2, step=True)
        p.legend(f"{'healthy' if k == 'healthy' else 'under ' + k} ({n or 0:,})", color)
    return p.render()


def _per_heal(conv: dict[str, Any]) -> str:
    """Per heal, the measured time until every write acknowledged before it was on all its replicas."""
    half = WIDTH // 2 - 10
    heals = conv.get("after_heal") or []
    if not heals:
        p = Plot(half, 300, (0, 1), (0, 1), right=20, title="After each heal: until every earlier write was on all replicas")
        p.note("no heal in this history")
        return p.render()
    vals = [h.get("converged_after_s") for h in heals]
    top = max([v for v in vals if v is not None] or [1.0]) or 1.0
    p = Plot(half, 300, (0, len(heals)), (0, top * 1.25), right=20,
             title="After each heal: until every earlier write was on all replicas",
             ylabel="seconds after the heal")
    for i, (h, v) in enumerate(zip(heals, vals, strict=True)):
        what = f"heal at {h['heal_s']:.1f} s ({h['healed']})"
        if v is None and h.get("not_covered"):
            p.rect(i + 0.2, i + 0.8, 0, top * 1.2, "#e0e0e0", f"{what}: past the end of the journal, not measured")
            p.label(i + 0.5, top * 0.6, "not measured", color="#555")
        elif v is None:
            never = plural(h["writes_never_converged"], "write")
            p.rect(i + 0.2, i + 0.8, 0, top * 1.2, "#f4c7c3",
                   f"{what}: {never} not on all replicas by the end of the journal (never after the heal, or lost by a crash)")
            p.label(i + 0.5, top * 0.6, f"{never} not on all replicas", color="#c62828")
        else:
            p.rect(i + 0.2, i + 0.8, 0, v, "#1f77b4", f"{what}: {v:.3f} s")
            p.label(i + 0.5, v, f"{v:.3f} s", dy=-4, color="#333")
    p.xcats = [f"{h['heal_s']:.1f} s" + (" (last)" if h.get("last") else "") for h in heals]
    return p.render()


RELATION = (
    "How the numbers relate: replication lag is per write, from its acknowledgement until every replica of its "
    "key held it or a newer version; a heal's bar is the time until every write acknowledged before that heal "
    "was on all its replicas, so it is at least the longest lag still running at the heal; the headline figure "
    "is the time after the last heal until all replicas of every key held the same version (close to the last "
    "bar, which counts only writes acknowledged before the heal); the final reads' figure below is an upper "
    "bound on it, because the final reads began only after the harness's quiescence wait"
)


def _fractions() -> str:
    inner = [f"{q * 100:g} %" for q in CDF_POINTS[1:-1]]
    return f"{len(CDF_POINTS)} fixed fractions of its writes (the least lag, " + ", ".join(inner) + ", the most)"


LAG_DRAWN = (
    f"The replication-lag chart draws each curve at {_fractions()}, not every write: a curve that rises in steps "
    "of 0.1 is at its deciles, whatever its number of writes; the figures behind it are replication_lag_cdf in "
    "results.json"
)


def _convergence_section(conv: dict[str, Any], agreement: FinalAgreement, heals: list[float],
                         entry: dict[str, Any] | None, minikeydb: bool = True, faults: Any = None) -> str:
    """The measured figures first (lag distribution, per-heal agreement), then the final reads' upper bound
    (``faults``: the history's fault windows, for `load_end_words`)."""
    out = []
    measured = conv.get("source") == SOURCE_JOURNAL
    if measured:
        out.append(f"<div class='pair'>{_guard(lambda: _lag_cdf(conv))}{_guard(lambda: _per_heal(conv))}</div>")
        out.append(f"<p class='note'>{_esc(RELATION)}.</p>")
        out.append(f"<p class='note'>{_esc(LAG_DRAWN)}.</p>")
        losses = conv.get("crash_losses") or {}
        if losses.get("summary"):
            out.append(f"<p class='note'>Crashes lost applied versions (counted as not held from the restart "
                       f"on): {_esc(losses['summary'])}.</p>")
        elif losses.get("recorded") is False:
            out.append(f"<p class='note'>{_esc(losses['why'][0].upper() + losses['why'][1:])}.</p>")
        if conv.get("journal_unverified"):
            out.append(f"<p class='note'>{_esc(conv['journal_unverified'][0].upper() + conv['journal_unverified'][1:])}.</p>")
    else:
        how = _own_words(str(conv.get("how") or "No journal"), minikeydb)
        out.append(f"<p class='note'>{_esc(how)}. Without a journal the only "
                   "figure is the final reads' upper bound below.</p>")
    out.append("<h3>Upper bound: when the final reads agreed</h3>")
    faults = faults if minikeydb else None  # no fault window: the one heal is the load's end
    out.append(_guard(lambda: load_end_words(_convergence(agreement, heals, entry), faults) or ""))
    if entry is not None:
        out.append(f"<p class='note'>{_esc(load_end_words(convergence_line(entry), faults))}.</p>")
    return "".join(out)


def _own_words(text: str | None, minikeydb: bool) -> str | None:
    """A figure's words for somebody else's history: MinikeyDB's harness did not wait before its final reads."""
    if text is None or minikeydb:
        return text
    return text.replace(" (the harness's quiescence wait, then its wait until nothing was queued)", "").replace(
        " (the harness's quiescence wait)", "")  # results.json files written before the drain was named


def _duration(seconds: float) -> str:
    """``0.022 s`` for a short hand-written history, ``61.3 s`` for a run: never ``0.0 s`` for a real one."""
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:,.1f} s"


def _span(c: _Collector) -> list[str]:
    """Where the first and last operation fall on the timeline's clock (seconds from the run's start), which
    a duration from the first to the last event does not say."""
    if not c.t0:
        return []
    return [f"{min(c.t0):.3f} s to {max(c.t1):.3f} s after run start (the timeline's clock)"]


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _cell(x: Any) -> str:
    """A table cell as a person reads it: 1,234 and 5.12, not 1234 and 5.124756916."""
    if x is None:
        return ""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x) or x == 0:
        return str(x) if x else "0"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def _table(rows: list[list[Any]], header: list[str], cls: str = "") -> str:
    out = [f'<table class="{cls}"><tr>' + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{_esc(_cell(x))}</td>" for x in r) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _event_rows(events: list[dict[str, Any]], proving: set[int]) -> str:
    out = [
        '<table class="events"><tr><th>index</th><th>time (s)</th><th>process</th><th>type</th>'
        "<th>f</th><th>key</th><th>value</th><th>node</th><th>final</th></tr>"
    ]
    for e in events:
        t = e.get("time")
        cls = ' class="proof"' if e["index"] in proving else ""
        out.append(
            f"<tr{cls}><td>{e['index']}</td><td>{'' if t is None else f'{t / 1e9:.3f}'}</td>"
            f"<td>{_esc(e['process'])}</td><td class='t-{_esc(e['type'])}'>{_esc(e['type'])}</td>"
            f"<td>{_esc(e['f'])}</td><td>{_esc(e.get('key', ''))}</td>"
            f"<td>{_esc(_value_text(e.get('value')))}</td><td>{_esc(e.get('node', ''))}</td>"
            f"<td>{'yes' if e.get('final') else ''}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _value_text(v: Any) -> str:
    """An event's value as JSON, or the beginning of it when it nests too deep for the encoder."""
    try:
        return json.dumps(v)
    except RecursionError:
        from checker.values import preview

        return preview(v, 200)


def _journal(run_dir: Path, anomalies: list[dict[str, Any]],
             conv: dict[str, Any] | None = None) -> tuple[str, JournalExtract | None]:
    """The run's journal, read once for the anomalies' keys, or a note saying why there is none.

    The journal's modules are imported only here, when there are anomalies to explain, so that a
    report of a run without any costs nothing more than before. A journal the figures refused
    (``conv['journal_error']``: unreadable, another run's, no K records) explains nothing either.
    """
    if not anomalies:
        return "", None
    if conv and conv.get("journal_error"):
        what = "is not this history's" if conv.get("journal_mismatch") else "could not be used"
        return f"The journal {what}, so the messages behind each anomaly are not shown: {conv['journal_error']}", None
    from checker.journal import JournalError, find_journal
    from checker.messages import read_journal

    path = find_journal(run_dir)
    if path is None:
        return (
            "This run has no journal (journal.jsonl.gz): a run recorded with one (--journal full, the default "
            "in sim and udp modes) shows, under each anomaly, the datagrams and applies behind it.",
            None,
        )
    try:
        return "", read_journal(path, {a.get("key") for a in anomalies})
    except (JournalError, OSError) as e:
        return f"The journal could not be read, so the messages behind each anomaly are not shown: {e}", None


def _messages_html(
    a: dict[str, Any], events: list[dict[str, Any]], extract: JournalExtract, faults: list[dict[str, Any]], n: int
) -> str:
    """Under an anomaly: the decisive messages in words, and the space-time diagram of its key."""
    from checker.messages import story as messages_story
    from checker.spacetime import render as spacetime_svg

    log = extract.keys.get(a.get("key"))
    if log is None or not (log.sends or log.applies):
        return "<p class='note'>The journal holds no datagram or apply of this key.</p>"
    st = messages_story(a, log, events, extract)
    drawn = len(st.sends) + len(st.applies)
    caption = (
        f"Drawn: {drawn:,} of the {st.total:,} datagrams and applies of key {st.key} in the journal"
        + (f"; {st.left_out:,} left out ({st.outside:,} outside the time windows shown)" if st.left_out else "")
        + ". Hover a mark for its details."
    )
    items = "".join(f"<li>{_esc(f.text)}.</li>" for f in st.findings[:9])
    more = f"<li>… and {len(st.findings) - 9} more replicas.</li>" if len(st.findings) > 9 else ""
    return (
        f"<div class='messages'><b>{_esc(st.head)}</b>"
        + (f"<ol class='decisive'>{items}{more}</ol>" if items else "")
        + "</div>"
        + (spacetime_svg(st, faults, uid=f"a{n}") + f"<p class='note'>{_esc(caption)}</p>" if st.windows else "")
    )


MAX_MAELSTROM_DIAGRAMS = 20  # anomalies of a Maelstrom run drawn with their messages (each a pass's worth kept)


def _maelstrom_messages(run_dir: Path, anomalies: list[dict[str, Any]], key_events: dict[Any, list[dict[str, Any]]]
                        ) -> tuple[MessageFile | None, str]:
    """A Maelstrom run's messages file, read once for the anomalies' messages and the counts (None, and a
    note when it could not be read; (None, "") for a run without one)."""
    if not (run_dir / "messages.jsonl.gz").is_file():  # checked before importing: a report without it costs nothing
        return None, ""
    from checker.maelstrom_messages import MessagesError, read_for_report

    try:
        return read_for_report(run_dir, anomalies[:MAX_MAELSTROM_DIAGRAMS], key_events), ""
    except (MessagesError, OSError) as e:
        return None, f"The messages file could not be read, so the messages behind each anomaly are not shown: {e}"


def _maelstrom_cards(mfile: MessageFile, stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The Gossip Glomers' efficiency figures: Maelstrom's msgs-per-op (its ``:servers``: every message not
    involving a client, services included) with the inter-node-only figure beside, latency of ok operations."""
    from checker.maelstrom_messages import messages_per_op

    n = mfile.counts
    per = messages_per_op(n)
    servers = n.inter_node + n.service
    finals = sum((stats.get("final_read_counts") or {}).values())
    ops = (f"{n.client_ops:,} operations: {plural(n.client_ops - finals, 'client operation')} and "
           f"{plural(finals, 'final read')}"
           if finals and finals < n.client_ops else f"{n.client_ops:,} operations")
    cards = [("msgs per op (Maelstrom's :servers / operations)",
              f"{round(servers / n.client_ops, 2):g} ({servers:,} messages / {ops}; inter-node only {per:g})"
              if per is not None else "no client operations")]
    ok = _ok_latency(stats)
    if ok is not None:
        cards.append(("latency, ok and fail ops (p50 / max)", ok))
    return cards


def _ok_latency(stats: dict[str, Any]) -> str | None:
    """Median and max latency of the operations that completed ok or fail, per kind (the report pass's latency summary)."""
    lat = stats.get("latency_ms")
    if not isinstance(lat, dict):
        return None
    parts = []
    for f, groups in sorted(lat.items()):
        row = groups.get("all") if isinstance(groups, dict) else None
        if isinstance(row, dict) and row.get("n") and row.get("p50") is not None and row.get("max") is not None:
            parts.append(f"{f} {row['p50']:g} / {row['max']:g} ms")
    return "; ".join(parts[:4]) or None


def _maelstrom_html(a: dict[str, Any], events: list[dict[str, Any]], mfile: MessageFile,
                    faults: list[dict[str, Any]], n: int) -> str:
    """Under an anomaly of a Maelstrom run: what the messages file shows, in words, and its diagram."""
    from checker.maelstrom_messages import story
    from checker.spacetime import render_maelstrom

    st = story(a, events, mfile, n)
    if not st.messages and not st.ops:
        return f"<p class='note'>The messages file holds no message near this anomaly.{_esc(' ' + (st.note or ''))}</p>"
    caption = (f"Drawn: {len(st.messages):,} of the {st.total:,} messages kept for this anomaly"
               + (f"; {st.left_out:,} left out (the farthest from its operations)" if st.left_out else "")
               + ". Hover a mark for the message's body.")
    items = "".join(f"<li>{_esc(f.text)}.</li>" for f in st.findings[:9])
    note = f"<p class='note'>{_esc(st.note)}.</p>" if st.note else ""
    return (f"<div class='messages'><b>{_esc(st.head)}</b>" + (f"<ol class='decisive'>{items}</ol>" if items else "")
            + "</div>" + note
            + (render_maelstrom(st, faults, uid=f"m{n}") + f"<p class='note'>{_esc(caption)}</p>" if st.windows else ""))


def _anomaly_html(a: dict[str, Any], key_events: list[dict[str, Any]], messages: str = "") -> str:
    proving = set(a.get("indexes", []))
    if proving:
        lo, hi = min(proving), max(proving)
        window = [e for e in key_events if lo <= e["index"] <= hi]
        if len(window) > 40:
            keep: set[int] = set()
            pos = {e["index"]: i for i, e in enumerate(window)}
            for i in proving:
                if i in pos:
                    keep.update(range(max(0, pos[i] - 2), min(len(window), pos[i] + 3)))
            window = [window[i] for i in sorted(keep)]
        window = window or [e for e in key_events if e["index"] in proving]
    else:
        window = []
    return (
        f'<div class="anomaly"><h3><span class="tag">{_esc(a["type"])}</span> key {_esc(a.get("key"))}</h3>'
        f"<p>{_esc(a.get('explanation', ''))}</p>{messages}"
        f"<details open><summary>events on this key (proof highlighted; index {min(proving) if proving else ''}"
        f"–{max(proving) if proving else ''})</summary>{_event_rows(window, proving)}</details></div>"
    )


def _findings_html(results: dict[str, Any], quorum: tuple[int, int, int] | None, entry: dict[str, Any] | None,
                   minikeydb: bool = True) -> str:
    """Under the badge: each checker's finding with its first explanation, so the verdict has a reason.

    MinikeyDB's linearizability caveat only for a MinikeyDB run's history (``minikeydb``, or a known quorum)."""
    items = []
    for f in checker_findings(results):
        text = f"<b>{_esc(finding_line(f))}</b>"
        if f["first"]:
            text += f"<br><span class='first'>first: {_esc(f['first'])}</span>"
        for note in f.get("notes") or []:
            text += f"<br><span class='note'>note: {_esc(note)}</span>"
        items.append(f"<li class='f-{'bad' if f['valid'] is False else 'ok'}'>{text}</li>")
    if entry is not None:
        faults = (results.get("stats") or {}).get("faults") if minikeydb else None
        items.append(f"<li>final reads: {_esc(load_end_words(convergence_line(entry), faults))}</li>")
    if (minikeydb or quorum is not None) and any(
        f["checker"] == "linearizable" and f["valid"] is False for f in checker_findings(results)
    ):
        items.append(f"<li class='note'>{_esc(linearizability_note(quorum))}</li>")
    skew = clock_skew_note(results)
    if skew:
        items.append(f"<li class='note'>note: {_esc(skew)}</li>")
    return f"<ul class='findings'>{''.join(items)}</ul>"


#: What a sim run's latencies are (`SIM_LATENCY_NOTE` in the run summary says the same).
AVAILABILITY_COUNTS = (
    "ops: the client operations invoked while the window was open that completed (ok, fail or info), however long "
    "after it; ok: those that succeeded. \"Did the faults bite?\" counts a few more for the same window: also the "
    "operations already in flight when it opened")
BITE_COUNTS = (
    "operations: those in flight in the window: invoked while it was open, or already in flight when it opened "
    "(which \"Availability per fault window\" leaves out, so its ops are a few fewer), and of them how many failed "
    "and how many timed out (info)")


SIM_LATENCY_NOTE = ("virtual times: this is a --mode sim run, whose clock is simulated; its latencies are the "
                    "simulated network's delays on that clock, not a measurement of how fast the store answers")


def _stats_html(stats: dict[str, Any], sim: bool = False) -> str:
    parts = []
    ops = stats.get("ops") or {}
    if ops:
        rows = [[f, c["ok"], c["fail"], c["info"], sum(c.values())] for f, c in sorted(ops.items())]
        fr = stats.get("final_read_counts") or {}
        if sum(fr.values()):
            rows.append(["final reads", fr["ok"], fr["fail"], fr["info"], sum(fr.values())])
        parts.append("<h3>Operations</h3>" + _table(rows, ["f", "ok", "fail", "info", "total"]))
    lat = stats.get("latency_ms") or {}
    if lat:
        rows = []
        for f, groups in lat.items():
            for label, p in groups.items():
                rows.append([f, label, p["n"], p["p50"], p["p95"], p["p99"], p["max"]])
        parts.append(
            f"<h3>Latency ({'virtual ' if sim else ''}ms), healthy vs under each fault kind</h3>"
            + (f"<p class='note'>{_esc(SIM_LATENCY_NOTE)}.</p>" if sim else "")
            + f"<p class='note'>{_esc(LATENCY_N_NOTE)}.</p>"
            + _table(rows, ["f", "when", "n", "p50", "p95", "p99", "max"])
        )
    av = stats.get("availability") or []
    if av:
        rows = [
            [
                w["kind"],
                w["start_s"],
                w["stop_s"],
                w["ops"],
                w["ok"],
                None if w["availability"] is None else f"{w['availability']:.1%}",
            ]
            for w in av
        ]
        parts.append(
            "<h3>Availability per fault window (fraction of operations ok)</h3>"
            + f"<p class='note'>{_esc(AVAILABILITY_COUNTS)}.</p>"
            + _table(rows, ["fault", "from (s)", "to (s)", "ops invoked in it", "ok", "availability"])
        )
    conv = stats.get("convergence") or []
    if conv:
        rows = [
            [
                c.get("heal_s"),
                # None with a reason: no reads after the heal, nothing measured (not a 0)
                "not measured" if c.get("stale_reads_after_heal") is None and c.get("stale_reads_how")
                else c.get("stale_reads_after_heal"),
                "not measured" if c.get("last_stale_read_after_s") is None and c.get("stale_reads_how")
                else c.get("last_stale_read_after_s"),
                c.get("keys_with_final_reads"),
                c.get("keys_not_agreed"),
                c.get("final_reads_began_after_s"),
                c.get("all_agreed_after_s"),
            ]
            for c in conv
        ]
        parts.append(
            # A run ends its windows with <kind>-stop and heals once, at the end: one row, say so.
            f"<h3>Convergence after {'the final heal' if len(conv) == 1 else 'each heal event'}</h3>"
            + _table(
                rows,
                [
                    "heal at (s)",
                    "stale reads after",
                    "last stale read after (s)",
                    "keys with final reads",
                    "keys disagreeing at the last final read",
                    "final reads began after (s)",
                    "all keys agreed after (s), a bound",
                ],
            )
            + "".join(f"<p class='note'>heal at {_esc(_cell(c.get('heal_s')))} s, stale reads after it: "
                      f"{_esc(c['stale_reads_how'])}.</p>"
                      for c in conv if c.get("stale_reads_how"))
        )
    sess = stats.get("sessions")
    if sess:
        rows = [
            [
                "read-your-writes",
                sess["read_your_writes"]["violations"],
                ", ".join(f"p{p}: {n}" for p, n in list(sess["read_your_writes"]["by_process"].items())[:30]),
            ],
            [
                "monotonic reads",
                sess["monotonic_reads"]["violations"],
                ", ".join(f"p{p}: {n}" for p, n in list(sess["monotonic_reads"]["by_process"].items())[:30]),
            ],
        ]
        parts.append(
            "<h3>Session guarantees (informational)</h3>"
            + _table(rows, ["guarantee", "violations", "by process"])
        )
    return "".join(parts)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin:0 0 4px 0} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;font-weight:700;font-size:20px;color:#fff}
.v-true{background:#2e7d32}.v-false{background:#c62828}.v-unknown{background:#ef6c00}
.summary{display:flex;gap:28px;flex-wrap:wrap;margin:12px 0}.summary div{background:#f5f5f5;padding:8px 12px;border-radius:6px}
.summary b{display:block;font-size:18px}.summary .sub{display:block;font-size:12px;color:#666;max-width:22em}
table{border-collapse:collapse;margin:6px 0 14px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
.events td{font-family:ui-monospace,Menlo,monospace;font-size:12px}.proof td{background:#fff3b0;font-weight:600}
.t-ok{color:#2e7d32}.t-fail{color:#c62828}.t-info{color:#ef6c00}
.anomaly{border-left:4px solid #c62828;padding:4px 12px;margin:12px 0;background:#fffafa}
.tag{background:#c62828;color:#fff;border-radius:4px;padding:1px 6px;font-size:13px;margin-right:6px}
.note{color:#666;font-size:13px}svg{max-width:100%;height:auto}
.headline{font-size:15px;margin:6px 0}.headline.warn{color:#b71c1c}
.findings{margin:10px 0;padding-left:20px;max-width:80em}.findings li{margin:4px 0;font-size:15px}.f-bad b{color:#c62828}
.messages{margin:6px 0}.decisive{font-size:14px;margin:4px 0 4px 0;font-weight:600}.decisive li{margin:2px 0}
.text td,.text th{text-align:left}.findings .first{color:#444;font-size:13px}.pair{display:flex;gap:20px;flex-wrap:wrap}.pair svg{max-width:49%}
"""


def _guard(section: Any) -> str:
    """Render one section; a failure there is shown in the page instead of losing the page."""
    try:
        return str(section())
    except Exception as e:
        return f"<p class='note'>this section could not be drawn: {_esc(type(e).__name__)}: {_esc(e)}</p>"


def _load_json(p: Path) -> dict[str, Any] | None:
    """The JSON object in ``p``; None when it is missing, unreadable, not JSON, or JSON but no object."""
    try:
        data = orjson.loads(p.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _usable_results(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """A results object with the fields the page reads of the types it needs (a verdict, a list of
    anomalies), else None: a misshapen results.json is ignored as a damaged one is."""
    if data is None or data.get("valid") not in (True, False, "unknown"):
        return None
    if not isinstance(data.get("anomalies", []), list) or not isinstance(data.get("stats", {}), dict):
        return None
    return data


def _journal_results(history: Path, fresh: CheckResult) -> dict[str, Any]:
    """The ``convergence`` and ``faults`` blocks as `check` gives them (`checker.api.journal_figures`:
    the journal's when it can be used, else the final reads' bound), from the files as they are now."""
    from checker.api import journal_figures

    out: dict[str, Any] = {"stats": fresh.stats}
    journal_figures(out, history, history)
    del out["stats"]
    return out


def _bite_html(faults: dict[str, Any]) -> str:
    """One row per fault window: what it did to datagrams, nodes and operations."""
    bite = faults.get("bite") or []
    if not bite:
        return ""
    rows = []
    for e in bite:
        d = e.get("datagrams")
        dg = "not journalled" if d is None else (
            f"{d['dropped']:,} dropped, {d['delayed']:,} delayed, {d['duplicated']:,} duplicated, "
            f"{d['reordered']:,} reordered of {d['sent']:,} sent")
        nodes = ", ".join([f"{n} crashed" for n in e["nodes_crashed"]] + [f"{n} paused" for n in e["nodes_paused"]])
        ops = e["ops"]
        bit = {True: "yes", False: "NO: changed nothing"}.get(e.get("bit"), "cannot tell")
        rows.append([e["kind"], f"{e['start_s']:.3f}-{e['stop_s']:.3f} s", dg, nodes or "none",
                     f"{ops['failed']:,} failed, {ops['timed_out']:,} timed out of {ops['invoked']:,}", bit])
    return (f"<p class='note'>{_esc(BITE_COUNTS)}.</p>"
            + _table(rows, ["fault", "window", "datagrams", "nodes", "operations in flight in it", "bit?"]))


def _within_load(workload: Any, client_ops: int, never: int = 0) -> tuple[str, ...]:
    """The run's own count beside the report's: the achieved rate (results.json ``stats.workload``, the run
    summary's rate line) counts the operations completed within the load; this card counts every client
    operation: those the harness drained after the load too, and the ``never`` invoked that never completed
    (a run cut short: the table counts them info), which are not drained. Nothing without that block."""
    if not isinstance(workload, dict) or not isinstance(workload.get("completed"), int):
        return ()
    done = workload["completed"]
    spans = [w.get("seconds") for w in workload.get("windows") or []]
    if not spans or not all(isinstance(x, int | float) for x in spans):
        return ()
    load = sum(spans)
    text = f"{done:,} completed within the {load:g} s load"
    if isinstance(workload.get("achieved_rate"), int | float):
        rate = workload["achieved_rate"]  # under 1 op/s, whole numbers would say 0
        text += f" (the achieved rate, {rate:.2f} ops/s)" if 0 < rate < 1 else f" (the achieved rate, {rate:.0f} ops/s)"
    drained = client_ops - never - done
    if drained > 0:
        text += f", {drained:,} after it (drained)"
    if never:
        text += f", {never:,} never completed (counted info)"
    return (text,)


def _convergence_card(c: dict[str, Any] | None, entry: dict[str, Any] | None) -> tuple[str, str]:
    """The summary card: the journal's exact time after the last heal when there is one, else the bound."""
    if c and c.get("source") == SOURCE_JOURNAL:
        if c.get("keys_not_agreed"):
            return "converged (journal)", f"no: {c['keys_not_agreed']:,} keys differ"
        never = (c.get("writes") or {}).get("never_on_all_replicas") or 0
        never += (c.get("crash_losses") or {}).get("writes_lost") or 0  # once on all replicas, then lost by a crash
        if c.get("after_last_heal_s") is not None and never:
            return ("replicas agreed after last heal (journal)",
                    f"{c['after_last_heal_s']:.3f} s, {never:,} writes not on all replicas at the end")
        if c.get("after_last_heal_s") is not None:
            return "converged after last heal (journal)", f"{c['after_last_heal_s']:.3f} s"
    return convergence_card(entry)


@attrs.frozen
class ReportPass:
    """A check and the plot data gathered in its own pass (`check_for_report`), for `write_report`."""

    history: Path
    result: CheckResult
    collector: _Collector


def check_for_report(history: Path, options: CheckOptions, *, watch: EventWatch | None = None,
                     run_journal: Mapping[str, Any] | None = None) -> tuple[CheckResult, ReportPass | None]:
    """``check(history, options)``, gathering what report.html plots in the same pass.

    ``watch`` (as `check`'s) sees the events of that pass first: the run's summary gathers its
    figures there (``runner.summary.Scanner``).

    The pass is handed to `write_report` (``prepared=``) with the same results, which then does not
    read the history again. None when the report needs a pass of its own: a history with anomalies
    (the plots keep their keys' events, known only after the check) or one the convergence checker
    does not read (a set, counter or siblings history).
    """
    c = _Collector(set())
    watched: list[bool] = []
    first = watch

    def collect(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        watched.append(True)
        return c.watch(iter(events) if first is None else first(events))

    was_enabled = gc.isenabled()
    gc.disable()  # as write_report's own pass
    try:
        result = check(history, options, watch=collect, run_journal=run_journal)
        c.close()
    finally:
        if was_enabled:
            gc.enable()
    if not watched or result.results.get("anomalies") or result.agreement is None:
        return result, None
    return result, ReportPass(history, result, c)


def _checkers(results: dict[str, Any]) -> list[str]:
    """The checkers that gave ``results``' verdict: its ``check_settings``, else what its blocks show."""
    settings = results.get("check_settings")
    if isinstance(settings, dict) and isinstance(settings.get("checkers"), list) and settings["checkers"]:
        return [str(c) for c in settings["checkers"]]
    if results.get("checker") == "linearizable":
        return ["linearizable"]
    return ["convergence", "linearizable"] if isinstance(results.get("linearizable"), dict) else ["convergence"]


def _checked_by(checkers: list[str], settings: Any, rule: str | None, source: str | None) -> str:
    """The header line naming the checker(s) whose verdict the page shows, with their settings."""
    parts = []
    if "linearizable" in checkers and isinstance(settings, dict):
        parts.append(f"model {settings.get('model')}, null-read {settings.get('null_read')}, "
                     f"fail-cas {settings.get('fail_cas')}")
    if rule is not None and "convergence" in checkers:
        parts.append(f"the {rule} rule")
    if source:
        parts.append(source)
    text = f"Checked by <b>{_esc(', '.join(checkers))}</b>" + (f" ({_esc('; '.join(parts))})" if parts else "")
    if "linearizable" not in checkers and rule is None:
        text += (". For linearizability: <code>harness.py report PATH --checker linearizable</code> "
                 "(or <code>convergence,linearizable</code>)")
    return f"<p class='checked-by'>{text}.</p>"


RUN_HISTORIES = ("history.jsonl", "history.edn")
"""A run directory's own history (``checker.history.resolve_history``): its report is the directory's report.html."""


def report_name(history: Path, checkers: Sequence[str] | None = None) -> str:
    """The default file name of ``history``'s report: ``report.html`` for a run directory's own history,
    else named after the history (``a.jsonl`` -> ``a.report.html``), so that two histories side by side
    do not overwrite each other's report. ``checkers`` (other than the run's own) go into the name
    (``report-linearizable.html``), so that a page of another checker does not replace the run's own."""
    suffix = f"-{'-'.join(checkers)}" if checkers else ""
    if history.name in RUN_HISTORIES:
        return f"report{suffix}.html"
    return f"{history.name.rsplit('.', 1)[0] if '.' in history.name[1:] else history.name}.report{suffix}.html"


def write_report(
    run_dir_or_history: str | Path, results: CheckResult | dict[str, Any] | None = None, *, out: Path | None = None,
    prepared: ReportPass | None = None, notes: list[str] | None = None, facts: dict[str, Any] | None = None,
    settings_source: str | None = None,
) -> Path:
    """Write the report beside the history (``report_name``: report.html in a run directory); returns its path.

    ``notes`` gets a line for each input the report had to do without (a damaged messages file).

    ``results`` (a `CheckResult`, or a results object such as results.json holds) defaults to the
    run's results.json when there is one, else to the convergence check that the report makes
    anyway, in the same pass that gathers the plot data (its measurements feed the plots).
    ``prepared`` (from `check_for_report`, whose results ``results`` must be) stands for that pass.
    ``facts`` gets the page's ``valid`` and ``checkers`` (``harness.py report`` exits with the verdict);
    ``settings_source`` says in the header where the check's settings came from.
    """
    if isinstance(results, CheckResult):
        results = results.results
    p = Path(run_dir_or_history)
    if p.is_dir():
        history, _ = resolve_history(p)
        run_dir = p
    else:
        history, run_dir = p, p.parent
    given_now = results is not None  # computed by the caller just now, not read from a file
    if results is None and history.name in RUN_HISTORIES:
        results = _usable_results(_load_json(run_dir / "results.json"))  # only a run directory's own results
    rule = read_header(history).rule  # set-full, counter or siblings: a history its own rule judges (docs/HISTORY.md)
    own_rule = rule is not None
    minikeydb = minikeydb_run(history)  # else somebody else's history: no words about MinikeyDB's harness
    if results is None and own_rule:
        results = check(history, CheckOptions()).results  # its verdict is its rule's, not the register pass's
    shown = (results or {}).get("anomalies", [])[:MAX_ANOMALIES_SHOWN]
    anomaly_keys = {a.get("key") for a in shown}
    if prepared is not None and results is not None and not shown and prepared.history == history:
        # the check that gave these results watched the history for the plots (check_for_report)
        c, fresh = prepared.collector, prepared.result
    else:
        c = _Collector(anomaly_keys, {i for a in shown for i in a.get("indexes", [])})
        was_enabled = gc.isenabled()
        gc.disable()  # millions of small acyclic containers: see checker.convergence.check_events
        try:
            # One pass: the convergence check reads the history through the collector.
            fresh = check(c.watch(iter_events(history)), CheckOptions())
            c.close()
        finally:
            if was_enabled:
                gc.enable()
    if results is None:
        results = fresh.results
        for a in results["anomalies"][:MAX_ANOMALIES_SHOWN]:
            anomaly_keys.add(a.get("key"))
        if anomaly_keys:  # second, cheap pass only for the anomalies' own keys
            for ev in iter_events(history):
                k = ev.get("key")
                if k in anomaly_keys and ev["process"] != "nemesis":
                    c.key_events.setdefault(k, []).append(ev)
    # The plots and cards use this pass's measurements (the same history, so the same facts, and
    # never an older checker's figure); a results object adds what a check does not compute (the
    # run's final_reads summary).
    # The check above read an event stream, so it could not see the journal: the convergence and
    # faults blocks are computed here from the files as they are now (a results.json's blocks may
    # be of a journal or history since changed, removed or replaced: never shown as they were).
    # Results the caller has just computed with the journal (a run's own) are used as they are.
    fresh_journal = given_now and (results.get("convergence") or {}).get("source") == SOURCE_JOURNAL
    if not fresh_journal and not own_rule:  # a linearizability verdict's page measures convergence too
        results = {**results, **_journal_results(history, fresh)}  # (the rules read no journal)
    given = results.get("stats") if own_checker(results) == "convergence" else None
    given = given if isinstance(given, dict) else {}
    # the register pass above measures timing and faults; a set/counter/siblings rule's own figures win
    if rule is not None:
        from checker import report_rules

        stats = report_rules.rule_stats(fresh.stats, given)
    else:
        stats = {**given, **fresh.stats}
    windows = stats.get("faults") or []
    heals = fresh.heals
    agreement = fresh.agreement
    assert agreement is not None  # the convergence checker ran
    run = _load_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else None
    options = (run or {}).get("options") if isinstance((run or {}).get("options"), dict) else None
    quorum = None
    if options is not None:
        try:
            quorum = (int(options["replicas"]), int(options["write_quorum"]), int(options["read_quorum"]))
        except (KeyError, TypeError, ValueError):
            quorum = None
    lin = results if results.get("checker") == "linearizable" else results.get("linearizable")
    lin = lin if isinstance(lin, dict) else None
    conv_results = own_checker(results) == "convergence"
    anomalies = (results.get("anomalies") or []) if conv_results else []
    entry = convergence_entry(stats)

    timeline_svg, timeline_note = _timeline(c, windows, heals)
    body = []
    valid: Any = results.get("valid")
    vclass = {True: "v-true", False: "v-false"}.get(valid, "v-unknown")
    counts = (stats.get("anomaly_counts") or {}) if conv_results else {}
    st = stats.get("staleness") or {}
    where = f"{run_dir.name}/{history.name}" if history.name in RUN_HISTORIES else history.name
    title = "MinikeyDB run report" if minikeydb else "History report"
    body.append(f"<h1>{title}</h1><p class='note'>{_esc(where)}</p>")
    checkers = _checkers(results)
    body.append(_checked_by(checkers, results.get("check_settings"), rule, settings_source))
    if facts is not None:
        facts.update(valid=valid, checkers=checkers)
    body.append(f"<span class='verdict {vclass}'>{verdict_word(valid)}</span> ")
    tags = [f"{k} × {v}" for k, v in sorted(counts.items())]
    if lin is not None and lin.get("valid") is False:
        tags.append(f"nonlinearizable × {len(lin.get('anomalies') or [])}")
    body.append(" ".join(f"<span class='tag'>{_esc(t)}</span>" for t in tags))
    body.append(_findings_html(results, quorum, entry, minikeydb))
    headline = load_end_words(_own_words(convergence_headline(results.get("convergence")), minikeydb),
                              stats.get("faults") if minikeydb else None)
    if headline:
        body.append(f"<p class='headline'><b>Convergence:</b> {_esc(headline)}.</p>")
    bite = faults_sentence(results.get("faults") or {})
    if bite:
        cls = "headline warn" if (results.get("faults") or {}).get("changed_nothing") else "headline"
        body.append(f"<p class='{cls}'><b>Faults:</b> {_esc(bite[0].upper() + bite[1:])}.</p>")
    mfile, mfile_note = _maelstrom_messages(run_dir, anomalies[:MAX_ANOMALIES_SHOWN], c.key_events)
    if notes is not None and mfile_note:
        notes.append(mfile_note)
    ops = stats.get("ops") or {}
    client_ops = sum(sum(x.values()) for x in ops.values())
    final_ops = sum((stats.get("final_read_counts") or {}).values())
    cells: list[tuple[str, ...]] = [
        ("client operations", f"{client_ops:,}", *_within_load(stats.get("workload"), client_ops, c.never_completed)),
        ("final reads", f"{final_ops:,}"),
        ("keys", f"{stats.get('keys', 0):,}"),
        ("duration (first to last event)", _duration(stats.get("duration_s") or 0.0), *_span(c)),
        ("faults", ", ".join(sorted({w["kind"] for w in windows})) or "none"),
    ]
    if rule is not None:
        cells.extend(report_rules.rule_cards(rule, stats))
    else:
        cells.append(("stale reads", f"{st.get('stale_reads', 0):,} of {st.get('reads_checked', 0):,} "
                                     f"({(st.get('stale_fraction') or 0):.1%})"))
        label, value = _convergence_card(results.get("convergence"), entry)
        cells.append((load_end_words(label, stats.get("faults") if minikeydb else None) or label, value))
    if conv_results:
        cells.append(("undecided keys", f"{stats.get('unknown_keys', 0):,}"))
    if lin is not None:  # the linearizability checker's own count: parts (keys) it could not decide
        raw_stats = lin.get("stats")
        lin_stats: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
        cells.append(("keys not linearizable", f"{lin_stats.get('parts_invalid', 0):,} of {lin_stats.get('parts', 0):,}"))
        cells.append(("linearizability undecided", f"{lin_stats.get('parts_unknown', 0):,}"))
    if mfile is not None:
        cells.extend(_maelstrom_cards(mfile, stats))
    body.append(
        "<div class='summary'>"
        + "".join(f"<div>{_esc(k)}<b>{_esc(v)}</b>"
                  + "".join(f"<span class='sub'>{_esc(sub)}</span>" for sub in more) + "</div>"
                  for k, v, *more in cells)
        + "</div>"
    )
    if run:
        cfg = run.get("config", run)
        body.append(
            f"<details><summary>run.json</summary><pre>{_esc(json.dumps(cfg, indent=2)[:20000])}</pre></details>"
        )
    body.append("<h2>Timeline</h2>" + timeline_svg + f"<p class='note'>{_esc(timeline_note)}</p>")
    bite_html = _guard(lambda: _bite_html(results.get("faults") or {}))
    if bite_html:
        body.append("<h2>Did the faults bite?</h2>" + bite_html)
    sim = (options or {}).get("mode") == "sim"
    body.append("<h2>Latency" + (" (virtual: simulated clock)</h2>" if sim else "</h2>")
                + (f"<p class='note'>{_esc(SIM_LATENCY_NOTE)}.</p>" if sim else "")
                + _guard(lambda: _latency(c, windows, heals)))
    if rule is not None:
        body.append(f"<h2>{report_rules.TITLES[rule]} ({rule} rule)</h2>"
                    + _guard(lambda: report_rules.rule_section(rule, results, stats)))
    else:
        body.append("<h2>Staleness</h2>" + _guard(lambda: _staleness(stats)))
        conv_block = results.get("convergence") or {}
        body.append("<h2>Convergence</h2>"
                    + (f"<p class='headline'>{_esc(headline)}.</p>" if headline else "")
                    + _guard(lambda: _convergence_section(conv_block, agreement, heals, entry, minikeydb,
                                                              stats.get("faults"))))
    if conv_results:
        total = sum(counts.values()) if counts else len(anomalies)
        body.append(f"<h2>{'Anomalies (' + rule + ' rule)' if rule else 'Convergence anomalies'} ({total:,})</h2>")
        if not anomalies:
            if results.get("unknown"):
                body.append("<p>None found; some keys could not be decided (listed below).</p>")
            elif rule is not None:
                body.append(f"<p>None: the {rule} rule found every acknowledged operation where it belongs.</p>")
            else:
                body.append(
                    "<p>None: every read traces to a write, and every key converged to a value that no "
                    "acknowledged write superseded.</p>"
                )
            if lin is not None and lin.get("valid") is False:
                body.append("<p>The verdict is INVALID because of the linearizability findings below.</p>")
    journal_note, extract = _journal(run_dir, anomalies[:MAX_ANOMALIES_SHOWN], results.get("convergence"))
    if anomalies and journal_note and minikeydb:  # a journal is a MinikeyDB run's: elsewhere its absence says nothing
        body.append(f"<p class='note'>{_esc(journal_note)}</p>")
    if anomalies and mfile_note:
        body.append(f"<p class='note'>{_esc(mfile_note)}</p>")
    for n, a in enumerate(anomalies[:MAX_ANOMALIES_SHOWN]):
        events = c.key_events.get(a.get("key"), [])
        if extract is not None:
            messages = _guard(lambda a=a, events=events, n=n: _messages_html(a, events, extract, windows, n))
        elif mfile is not None and n < MAX_MAELSTROM_DIAGRAMS:
            messages = _guard(lambda a=a, events=events, n=n: _maelstrom_html(a, events, mfile, windows, n))
        else:
            messages = ""
        body.append(_anomaly_html(a, events, messages))
    if len(anomalies) > MAX_ANOMALIES_SHOWN:
        body.append(
            f"<p class='note'>{len(anomalies) - MAX_ANOMALIES_SHOWN:,} more anomalies in results.json.</p>"
        )
    counted = sum(n for n in counts.values() if type(n) is int) if conv_results and counts else 0
    if counted > len(anomalies):  # the checker lists only so many (its counts are true)
        body.append(f"<p class='note'>{counted - len(anomalies):,} more not listed: the checker keeps the first "
                    f"{len(anomalies):,} of {counted:,}.</p>")
    unknown = (results.get("unknown") or []) if conv_results else []
    if unknown:
        rows = [[u.get("key"), u.get("kind"), u.get("reason")] for u in unknown[:200]]
        body.append(
            f"<h2>Undecided keys ({stats.get('unknown_keys', len(unknown)):,})</h2>"
            + _table(rows, ["key", "why", "explanation"])
        )
    if lin is not None:
        body.append("<h2>Linearizability</h2>")
        if lin.get("valid") is False and (minikeydb or quorum is not None):
            body.append(f"<p class='note'>{_esc(linearizability_note(quorum))}</p>")
        try:
            from checker.linearizable import render_html

            body.append(render_html(lin))
        except Exception as e:  # the report must still be written if the fragment fails
            body.append(f"<p>could not render the linearizability result: {_esc(e)}</p>")
    body.append("<h2>Measurements</h2>" + _guard(lambda: _stats_html(stats, sim)))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    target = out or (run_dir / report_name(history))
    return write_atomic(target, page)
