"""report.html: one self-contained page that shows a run at a glance and opens offline.

Sections: verdict and run summary; a per-process timeline with fault windows shaded; latency over
time; the staleness (PBS t-visibility) curve; convergence after the heal; every anomaly with the
events that prove it highlighted; the measurement tables; and the linearizability picture when
the results carry one.

Plots are drawn by matplotlib (Agg backend) as SVG and inlined, so the page needs no network. A
history is streamed once into compact arrays; above ``DETAIL_LIMIT`` operations the timeline and
latency plots switch from one mark per operation to binned aggregates (a heat map per process
lane, percentile lines per time bin), so a million-operation run still renders in seconds and
nothing is silently dropped the way Jepsen's timeline stops at 10,000 operations.
"""

from __future__ import annotations

import gc
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from checker.convergence import ConvergenceChecker
from checker.history import HistoryError, iter_events

DETAIL_LIMIT = 20_000  # operations drawn one by one; above this, binned
MAX_LANES = 120  # process lanes in the timeline; above this, processes share lanes
MAX_ANOMALIES_SHOWN = 200
COLORS = {"ok": "#3a9d23", "fail": "#d62728", "info": "#ff9f1c"}
F_COLORS = {"get": "#1f77b4", "put": "#9467bd", "delete": "#8c564b"}
FAULT_COLORS = {
    "partition": "#e15759",
    "crash": "#4e79a7",
    "pause": "#76b7b2",
    "drop": "#f28e2b",
    "delay": "#edc948",
    "duplicate": "#b07aa1",
    "reorder": "#ff9da7",
    "clock-skew": "#9c755f",
}


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "minikeydb", "font.size": 9})
    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", dpi=110)
    _mpl().close(fig)
    s = buf.getvalue()
    return s[s.find("<svg") :]


class _Collector:
    """Wraps the event stream: feeds the checker and keeps what the plots need, compactly."""

    def __init__(self, anomaly_keys: set[Any]) -> None:
        self.checker = ConvergenceChecker()
        self.inv: dict[Any, tuple[int, int | None, str, bool]] = {}
        self.proc: list[Any] = []
        self.t0: list[float] = []
        self.t1: list[float] = []
        self.f: list[str] = []
        self.typ: list[str] = []
        self.final: list[bool] = []
        self.anomaly_keys = anomaly_keys
        self.key_events: dict[Any, list[dict[str, Any]]] = {}
        self.events_by_index: dict[int, dict[str, Any]] = {}
        self.nemesis: list[dict[str, Any]] = []
        self.last_time = 0

    def feed(self, ev: dict[str, Any]) -> None:
        self.checker.feed(ev)
        t = ev.get("time")
        if t is not None:
            self.last_time = t
        p = ev["process"]
        if p == "nemesis":
            self.nemesis.append(ev)
            return
        key = ev.get("key")
        if key in self.anomaly_keys:
            lst = self.key_events.setdefault(key, [])
            if len(lst) < 5000:
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


def _shade(ax: Any, windows: list[dict[str, Any]], label: bool = True) -> None:
    seen = set()
    for w in windows:
        if w.get("start_s") is None:
            continue
        kind = w["kind"]
        color = FAULT_COLORS.get(kind, "#bab0ac")
        ax.axvspan(
            w["start_s"],
            w["stop_s"] if w.get("stop_s") is not None else ax.get_xlim()[1],
            color=color,
            alpha=0.15,
            lw=0,
            label=(kind if label and kind not in seen else None),
        )
        seen.add(kind)


def _heal_lines(ax: Any, heals: list[float]) -> None:
    for i, h in enumerate(heals):
        ax.axvline(h, color="#2ca02c", lw=1.2, ls="--", label="heal" if i == 0 else None)


def _timeline(c: _Collector, windows: list[dict[str, Any]], heals: list[float]) -> tuple[str, str]:
    plt = _mpl()
    n = len(c.t0)
    procs = sorted(set(c.proc), key=lambda p: (isinstance(p, str), p))
    lane_of = {p: i for i, p in enumerate(procs)}
    n_lanes = len(procs)
    shared = n_lanes > MAX_LANES
    if shared:
        lane_of = {p: i * MAX_LANES // n_lanes for i, p in enumerate(procs)}
        n_lanes = MAX_LANES
    height = max(2.5, min(9.0, 0.12 * n_lanes + 1.5))
    fig, ax = plt.subplots(figsize=(13, height))
    if n == 0:
        ax.text(0.5, 0.5, "no completed operations", ha="center", transform=ax.transAxes)
        return _svg(fig), ""
    lanes = np.fromiter((lane_of[p] for p in c.proc), dtype=np.int32, count=n)
    t0 = np.asarray(c.t0)
    t1 = np.asarray(c.t1)
    typ = np.asarray(c.typ)
    if n <= DETAIL_LIMIT and not shared:
        # One segment per operation, as a single LineCollection per outcome (patches are ~100x
        # slower); very short operations get a minimum visible width; dense plots are rasterised.
        min_w = max(float(t1.max()), 1e-3) / 1500
        lw = max(1.5, min(7.0, 260 / max(1, n_lanes)))
        for outcome, color in COLORS.items():
            m = typ == outcome
            if m.any():
                ax.hlines(
                    lanes[m],
                    t0[m],
                    np.maximum(t1[m], t0[m] + min_w),
                    colors=color,
                    lw=lw,
                    label=outcome,
                    rasterized=n > 2000,
                )
        note = f"{n:,} operations, one bar each (green ok, red fail, orange info)."
    else:
        bins = 400
        tmax = float(t1.max()) if n else 1.0
        edges = np.linspace(0, tmax, bins + 1)
        tb = np.clip(np.searchsorted(edges, t0, side="right") - 1, 0, bins - 1)
        grid = {}
        for outcome in COLORS:
            m = typ == outcome
            g = np.zeros((n_lanes, bins))
            np.add.at(g, (lanes[m], tb[m]), 1)
            grid[outcome] = g
        total = grid["ok"] + grid["fail"] + grid["info"]
        rgb = np.ones((n_lanes, bins, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            for outcome, color in COLORS.items():
                col = np.array([int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
                share = np.where(total > 0, grid[outcome] / total, 0)
                rgb -= share[..., None] * (1 - col)
            density = np.where(total > 0, 0.35 + 0.65 * total / max(1.0, total.max()), 0)
        img = 1 - (1 - rgb) * np.clip(density, 0, 1)[..., None]
        ax.imshow(
            img, aspect="auto", origin="lower", extent=(0, tmax, -0.5, n_lanes - 0.5), interpolation="nearest"
        )
        for outcome, color in COLORS.items():
            ax.plot([], [], color=color, lw=6, label=outcome)
        note = (
            f"{n:,} operations binned into {bins} time slices per lane"
            + (f" ({len(procs):,} processes folded into {n_lanes} lanes)" if shared else "")
            + ": colour is the outcome mix, darker means more operations."
        )
    _shade(ax, windows)
    _heal_lines(ax, heals)
    ax.set_xlabel("time since run start (s)")
    ax.set_ylabel("process" + (" lane" if shared else ""))
    if not shared and n_lanes <= 40:
        ax.set_yticks(range(n_lanes), [str(p) for p in procs])
    ax.set_ylim(-0.8, n_lanes - 0.2)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_title("Operations per process, fault windows shaded")
    return _svg(fig), note


def _latency(c: _Collector, windows: list[dict[str, Any]], heals: list[float]) -> str:
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(13, 3.6))
    t0 = np.asarray(c.t0)
    lat = (np.asarray(c.t1) - t0) * 1000
    f = np.asarray(c.f)
    typ = np.asarray(c.typ)
    client = ~np.asarray(c.final, dtype=bool) if len(c.final) else np.zeros(0, dtype=bool)
    for name in sorted(set(c.f)):
        m = (f == name) & client & (typ != "info")
        if not m.any():
            continue
        color = F_COLORS.get(name)
        if m.sum() <= DETAIL_LIMIT:
            ax.scatter(
                t0[m],
                np.maximum(lat[m], 1e-3),
                s=3,
                alpha=0.5,
                color=color,
                label=name,
                lw=0,
                rasterized=bool(m.sum() > 2000),
            )
        else:
            bins = 200
            edges = np.linspace(t0[m].min(), t0[m].max() + 1e-9, bins + 1)
            idx = np.searchsorted(edges, t0[m], side="right") - 1
            order = np.argsort(idx, kind="stable")
            li, ll = idx[order], lat[m][order]
            cuts = np.searchsorted(li, np.arange(bins + 1))
            xs, p50, p99, mx = [], [], [], []
            for b in range(bins):
                seg = ll[cuts[b] : cuts[b + 1]]
                if len(seg):
                    xs.append((edges[b] + edges[b + 1]) / 2)
                    p50.append(np.percentile(seg, 50))
                    p99.append(np.percentile(seg, 99))
                    mx.append(seg.max())
            ax.plot(xs, p50, color=color, lw=1.2, label=f"{name} p50")
            ax.plot(xs, p99, color=color, lw=0.8, ls="--", label=f"{name} p99")
            ax.plot(xs, mx, color=color, lw=0.5, ls=":", label=f"{name} max")
    timeouts = client & (typ == "info")
    if timeouts.any():
        ax.scatter(
            t0[timeouts], lat[timeouts], s=10, marker="x", color=COLORS["info"], label="info (timeout)"
        )
    _shade(ax, windows)
    _heal_lines(ax, heals)
    ax.set_yscale("log")
    ax.set_xlabel("time since run start (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency over time (invoke time), fault windows shaded")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return _svg(fig)


def _staleness(stats: dict[str, Any]) -> str:
    plt = _mpl()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 3.4))
    pbs = stats.get("pbs") or []
    if pbs:
        xs = [max(0.5, (p["t_ms_from"] + (p["t_ms_to"] or p["t_ms_from"] * 2)) / 2) for p in pbs]
        ys = [p["probability"] for p in pbs]
        ax.plot(xs, ys, marker="o", color="#1f77b4")
        for x, y, p in zip(xs, ys, pbs, strict=True):
            ax.annotate(
                str(p["reads"]),
                (x, y),
                textcoords="offset points",
                xytext=(0, 6),
                fontsize=7,
                ha="center",
                color="#666",
            )
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no reads after an acknowledged write", ha="center", transform=ax.transAxes)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("t: read start minus the latest acknowledgement before it (ms)")
    ax.set_ylabel("P(read sees it or newer)")
    ax.set_title("PBS t-visibility (numbers: reads per bucket)")
    st = stats.get("staleness", {})
    age = st.get("age_ms", {})
    if age.get("n"):
        labels = ["p50", "p95", "p99", "max"]
        ax2.bar(labels, [age[k] for k in labels], color="#ff9f1c")
        ax2.set_ylabel("stale read age (ms)")
        ax2.set_title(f"Age of stale reads ({st['stale_reads']:,} of {st['reads_checked']:,} reads)")
    else:
        ax2.text(0.5, 0.5, "no stale reads", ha="center", transform=ax2.transAxes)
        ax2.set_title("Age of stale reads")
    fig.tight_layout()
    return _svg(fig)


def _convergence(c: _Collector, heals: list[float]) -> str:
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(13, 3.0))
    agree = [ks.agree_since for ks in c.checker.keys.values() if ks.final]
    times = sorted(a / 1e9 for a in agree if a is not None)
    base = heals[-1] if heals else (times[0] if times else 0.0)
    if times:
        xs = np.asarray(times) - base
        ax.step(xs, np.arange(1, len(xs) + 1) / len(agree), where="post", color="#2ca02c")
        ax.set_xlabel("seconds after the last heal" if heals else "seconds after the first final read")
        ax.set_ylabel("fraction of keys agreed")
        ax.set_ylim(0, 1.05)
        not_agreed = len(agree) - len(times)
        ax.set_title(
            f"Convergence: when each key's final reads became unanimous ({len(agree):,} keys"
            + (f", {not_agreed} never agreed" if not_agreed else "")
            + ")"
        )
    else:
        ax.text(0.5, 0.5, "no final reads in this history", ha="center", transform=ax.transAxes)
        ax.set_title("Convergence")
    return _svg(fig)


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _table(rows: list[list[Any]], header: list[str], cls: str = "") -> str:
    out = [f'<table class="{cls}"><tr>' + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{_esc('' if x is None else x)}</td>" for x in r) + "</tr>")
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
            f"<td>{_esc(json.dumps(e.get('value')))}</td><td>{_esc(e.get('node', ''))}</td>"
            f"<td>{'yes' if e.get('final') else ''}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _anomaly_html(a: dict[str, Any], key_events: list[dict[str, Any]]) -> str:
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
        f"<p>{_esc(a.get('explanation', ''))}</p>"
        f"<details open><summary>events on this key (proof highlighted; index {min(proving) if proving else ''}"
        f"–{max(proving) if proving else ''})</summary>{_event_rows(window, proving)}</details></div>"
    )


def _stats_html(stats: dict[str, Any]) -> str:
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
            "<h3>Latency (ms), healthy vs under each fault kind</h3>"
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
            + _table(rows, ["fault", "from (s)", "to (s)", "ops", "ok", "availability"])
        )
    conv = stats.get("convergence") or []
    if conv:
        rows = [
            [
                c.get("heal_s"),
                c.get("stale_reads_after_heal"),
                c.get("last_stale_read_after_s"),
                c.get("keys_with_final_reads"),
                c.get("keys_not_agreed"),
                c.get("all_agreed_after_s"),
            ]
            for c in conv
        ]
        parts.append(
            "<h3>Convergence after each heal</h3>"
            + _table(
                rows,
                [
                    "heal at (s)",
                    "stale reads after",
                    "last stale read after (s)",
                    "keys with final reads",
                    "keys not agreed",
                    "all agreed after (s)",
                ],
            )
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
.summary b{display:block;font-size:18px}
table{border-collapse:collapse;margin:6px 0 14px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
.events td{font-family:ui-monospace,Menlo,monospace;font-size:12px}.proof td{background:#fff3b0;font-weight:600}
.t-ok{color:#2e7d32}.t-fail{color:#c62828}.t-info{color:#ef6c00}
.anomaly{border-left:4px solid #c62828;padding:4px 12px;margin:12px 0;background:#fffafa}
.tag{background:#c62828;color:#fff;border-radius:4px;padding:1px 6px;font-size:13px;margin-right:6px}
.note{color:#666;font-size:13px}svg{max-width:100%;height:auto}
"""


def _guard(section: Any) -> str:
    """Render one section; a failure there is shown in the page instead of losing the page."""
    try:
        return str(section())
    except Exception as e:
        return f"<p class='note'>this section could not be drawn: {_esc(type(e).__name__)}: {_esc(e)}</p>"


def _load_json(p: Path) -> dict[str, Any] | None:
    try:
        return orjson.loads(p.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def write_report(
    run_dir_or_history: str | Path, results: dict[str, Any] | None = None, *, out: Path | None = None
) -> Path:
    """Write report.html beside the history (or into the run directory); returns its path.

    ``results`` defaults to the run's results.json when there is one, else a fresh convergence
    check done in the same pass that gathers the plot data.
    """
    p = Path(run_dir_or_history)
    if p.is_dir():
        history = next((p / n for n in ("history.jsonl", "history.edn") if (p / n).is_file()), None)
        if history is None:
            raise HistoryError(p, None, None, "run directory has no history.jsonl (or history.edn)")
        run_dir = p
    else:
        history, run_dir = p, p.parent
    if results is None and history.name.startswith("history."):
        results = _load_json(run_dir / "results.json")  # only a run directory's own results
    anomaly_keys = {a.get("key") for a in (results or {}).get("anomalies", [])[:MAX_ANOMALIES_SHOWN]}
    c = _Collector(anomaly_keys)
    was_enabled = gc.isenabled()
    gc.disable()  # millions of small acyclic containers: see checker.convergence.check_events
    try:
        for ev in iter_events(history):
            c.feed(ev)
        c.close()
        fresh = c.checker.finish()
    finally:
        if was_enabled:
            gc.enable()
    if results is None:
        results = fresh
        for a in results["anomalies"][:MAX_ANOMALIES_SHOWN]:
            anomaly_keys.add(a.get("key"))
        if anomaly_keys:  # second, cheap pass only for the anomalies' own keys
            for ev in iter_events(history):
                k = ev.get("key")
                if k in anomaly_keys and ev["process"] != "nemesis":
                    c.key_events.setdefault(k, []).append(ev)
    # Plots need the convergence measurements; a linearizability-only result (or a harness that
    # replaced a stats entry) falls back to the fresh ones, key by key.
    given = results.get("stats") if results.get("checker", "convergence") == "convergence" else None
    stats = {**fresh["stats"], **(given if isinstance(given, dict) else {})}
    windows = stats.get("faults") or fresh["stats"]["faults"]
    heals = [h[0] / 1e9 for h in c.checker.faults.heals if h[0] is not None]
    run = _load_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else None

    timeline_svg, timeline_note = _timeline(c, windows, heals)
    body = []
    valid: Any = results.get("valid")
    vclass = {True: "v-true", False: "v-false"}.get(valid, "v-unknown")
    vtext = {True: "VALID", False: "INVALID"}.get(valid, "UNKNOWN")
    counts = stats.get("anomaly_counts") or {}
    st = stats.get("staleness") or {}
    body.append(f"<h1>MinikeyDB run report</h1><p class='note'>{_esc(history)}</p>")
    body.append(f"<span class='verdict {vclass}'>{vtext}</span> ")
    if counts:
        body.append(" ".join(f"<span class='tag'>{_esc(k)} × {v}</span>" for k, v in sorted(counts.items())))
    total_ops = sum(sum(x.values()) for x in (stats.get("ops") or {}).values())
    conv = [x for x in stats.get("convergence") or [] if x.get("all_agreed_after_s") is not None]
    cells = [
        ("operations", f"{total_ops:,}"),
        ("keys", f"{stats.get('keys', 0):,}"),
        ("duration", f"{stats.get('duration_s') or 0:.1f} s"),
        ("faults", ", ".join(sorted({w["kind"] for w in windows})) or "none"),
        ("stale reads", f"{st.get('stale_reads', 0):,} ({(st.get('stale_fraction') or 0):.1%})"),
        ("converged after heal", f"{conv[-1]['all_agreed_after_s']:.2f} s" if conv else "n/a"),
        ("undecided keys", f"{stats.get('unknown_keys', 0):,}"),
    ]
    body.append(
        "<div class='summary'>"
        + "".join(f"<div>{_esc(k)}<b>{_esc(v)}</b></div>" for k, v in cells)
        + "</div>"
    )
    if run:
        cfg = run.get("config", run)
        body.append(
            f"<details><summary>run.json</summary><pre>{_esc(json.dumps(cfg, indent=2)[:20000])}</pre></details>"
        )
    body.append("<h2>Timeline</h2>" + timeline_svg + f"<p class='note'>{_esc(timeline_note)}</p>")
    body.append("<h2>Latency</h2>" + _guard(lambda: _latency(c, windows, heals)))
    body.append("<h2>Staleness</h2>" + _guard(lambda: _staleness(stats)))
    body.append("<h2>Convergence after the heal</h2>" + _guard(lambda: _convergence(c, heals)))
    anomalies = results.get("anomalies") or []
    body.append(f"<h2>Anomalies ({sum(counts.values()) if counts else len(anomalies)})</h2>")
    if not anomalies:
        body.append(
            "<p>None: every read traces to a write, and every key converged to a value that no "
            "acknowledged write superseded.</p>"
        )
    for a in anomalies[:MAX_ANOMALIES_SHOWN]:
        body.append(_anomaly_html(a, c.key_events.get(a.get("key"), [])))
    if len(anomalies) > MAX_ANOMALIES_SHOWN:
        body.append(
            f"<p class='note'>{len(anomalies) - MAX_ANOMALIES_SHOWN} more anomalies in results.json.</p>"
        )
    unknown = results.get("unknown") or []
    if unknown:
        rows = [[u.get("key"), u.get("kind"), u.get("reason")] for u in unknown[:200]]
        body.append(
            f"<h2>Undecided keys ({stats.get('unknown_keys', len(unknown))})</h2>"
            + _table(rows, ["key", "why", "explanation"])
        )
    lin = results.get("linearizable")
    if isinstance(lin, dict):
        body.append("<h2>Linearizability</h2>")
        try:
            from checker.linearizable import render_html

            body.append(render_html(lin))
        except Exception as e:  # the report must still be written if the fragment fails
            body.append(f"<p>could not render the linearizability result: {_esc(e)}</p>")
    body.append("<h2>Measurements</h2>" + _guard(lambda: _stats_html(stats)))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>MinikeyDB report</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    target = out or (run_dir / "report.html")
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target
