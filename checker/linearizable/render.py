"""Draw each violating part on a time axis, as Porcupine's visualization does, in inline SVG.

One row per process, one bar per operation from its invocation to its completion (operations
that never completed or ended `info` run to the right edge, dashed). Bars of the longest
linearizable prefix are green and numbered in linearization order, joined by a line through
linearization points that respect real time; the operation that cannot be placed is red;
operations the model ignores (failed, or reads that constrain nothing) are faint. The x axis is
event order with equal steps between distinct event positions, so short gaps stay readable.
Hand-written SVG: no scripts, no network, nothing to install.
"""

from __future__ import annotations

import html
from typing import Any

_ROW = 26
_BAR = 18
_LEFT = 90
_STEP = 30  # px between event positions, at least
_WIDTH = 1150  # px the diagram may use before it scales down
_TOP = 28
_MAX_LABEL = 28

_STYLE = """<style>
.lin-part{font-family:sans-serif;font-size:13px;margin:1em 0}
.lin-part svg text{font-family:sans-serif;font-size:11px}
.lin-part .expl{max-width:70em}
.lin-part .legend span{display:inline-block;padding:0 .5em;margin-right:.5em;border:1px solid #888}
</style>"""


_CHAR_PX = 6.3  # average width of an 11 px sans-serif character


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "\u2026"


def _fit(label: str, width: float) -> str:
    """The label cut to what fits inside its bar (the full text is the bar's tooltip): labels of
    neighbouring bars must not run into each other."""
    room = int((width - 6) / _CHAR_PX)
    if len(label) <= room:
        return label
    if room < 2:
        return ""
    return label[: room - 1] + "\u2026"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _label(op: dict[str, Any]) -> str:
    return _short(op["label"]) if op["order"] is None else f"#{op['order']} {_short(op['label'])}"


def _step(right: int) -> float:
    """Spacing of event positions: the page's width shared out, but never under ``_STEP``."""
    return max(float(_STEP), (_WIDTH - _LEFT) / (right + 1))


def _svg(timeline: list[dict[str, Any]]) -> str:
    positions = sorted({p for op in timeline for p in (op["start"], op["end"]) if p is not None})
    rank = {p: i for i, p in enumerate(positions)}
    right = len(positions)  # one step past the last event: where unfinished operations end
    processes = sorted({op["process"] for op in timeline}, key=lambda p: (str(type(p)), p))
    row = {p: i for i, p in enumerate(processes)}
    step = _step(right)
    width = int(_LEFT + (right + 1) * step + 20)
    height = _TOP + len(processes) * _ROW + 10

    def x(pos: int | None) -> float:
        return _LEFT + (rank[pos] if pos is not None else right) * step + step / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<text x="{_LEFT}" y="14" fill="#555">event order \u2192</text>',
    ]
    for p, i in row.items():
        y = _TOP + i * _ROW
        parts.append(
            f'<text x="4" y="{y + _BAR - 5}" fill="#333">process {html.escape(str(p))}</text>'
            f'<line x1="{_LEFT}" y1="{y + _BAR + 3}" x2="{width - 10}" y2="{y + _BAR + 3}" stroke="#eee"/>'
        )
    # A label may run past its bar up to the next bar in the same row (only those can collide).
    room: dict[int, float] = {}
    by_row: dict[Any, list[tuple[float, int]]] = {}
    for i, op in enumerate(timeline):
        by_row.setdefault(op["process"], []).append((x(op["start"]), i))
    for starts in by_row.values():
        starts.sort()
        for (x0, i), nxt in zip(starts, [*starts[1:], (width - 10.0, -1)], strict=True):
            room[i] = nxt[0] - x0 - 3
    points: list[tuple[int, float, float]] = []
    for i, op in enumerate(timeline):
        y = _TOP + row[op["process"]] * _ROW
        x0 = x(op["start"])
        x1 = x(op["end"]) if op["end"] is not None else x(None) + step / 2
        if op["blocked"]:
            fill, stroke = "#f4a6a6", "#b00"
        elif op["order"] is not None:
            fill, stroke = "#b7e1b0", "#2a7a1f"
        elif op["ignored"]:
            fill, stroke = "#f4f4f4", "#bbb"
        else:
            fill, stroke = "#dde3ea", "#667"
        dash = ' stroke-dasharray="4 3"' if op["end"] is None else ""
        title = f"process {op['process']}: {op['label']} [{op['status']}] events {op['indexes']}"
        if op["order"] is not None:
            title += f", linearized #{op['order']}"
        label = _fit(_label(op), max(x1 - x0, room[i]))
        text = (f'<text x="{x0 + 3:.1f}" y="{y + _BAR - 5}" fill="#111" stroke="#fff" stroke-width="3" '
                f'paint-order="stroke">{html.escape(label)}</text>' if label else "")
        parts.append(
            f'<g><title>{html.escape(title)}</title><rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 4):.1f}" '
            f'height="{_BAR}" rx="3" fill="{fill}" stroke="{stroke}"{dash}/>{text}</g>'
        )
        if op["order"] is not None:
            points.append((op["order"], x0, x1))
    # Linearization points: the earliest point after the previous one inside each bar keeps real-time order.
    points.sort()
    path: list[tuple[float, float]] = []
    last = float("-inf")
    for order, x0, x1 in points:
        op = next(o for o in timeline if o["order"] == order)
        px = min(max(x0 + 3, last + 2), x1 - 2)
        last = px
        path.append((px, _TOP + row[op["process"]] * _ROW + _BAR / 2))
    if len(path) > 1:
        coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in path)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="#2a7a1f" stroke-width="1.5"/>')
    for px, py in path:
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#2a7a1f"/>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(result: dict[str, Any]) -> str:
    """An HTML fragment for report.html: each violating part's operations on a time axis.

    Takes the results object of `check_events`. A valid history gives a one-line note; unknown
    parts are listed with how far the search got.
    """
    # No heading of its own: the report puts this fragment under its "Linearizability" heading.
    sections = ['<section class="linearizability">', _STYLE]
    stats = result.get("stats", {})
    verdict: Any = result.get("valid")
    sections.append(
        f"<p>Model <b>{html.escape(str(stats.get('model', '?')))}</b>: "
        f"{html.escape({True: 'linearizable', False: 'not linearizable'}.get(verdict, str(verdict)))} "
        f"({_count(stats.get('parts', 0), 'part')}: {stats.get('parts_invalid', 0):,} violating, "
        f"{stats.get('parts_unknown', 0):,} unknown; checked in {float(stats.get('seconds') or 0):.2f} s).</p>"
    )
    for anomaly in result.get("anomalies", []):
        if anomaly.get("type") != "nonlinearizable":
            continue
        sections.append('<div class="lin-part">')
        sections.append(f"<h3>key {html.escape(str(anomaly.get('key')))}</h3>")
        sections.append(f'<p class="expl">{html.escape(anomaly.get("explanation", ""))}</p>')
        timeline = anomaly.get("timeline") or []
        if timeline:
            sections.append(
                '<p class="legend"><span style="background:#b7e1b0">longest linearizable prefix (#order)</span>'
                '<span style="background:#f4a6a6">cannot be placed</span>'
                '<span style="background:#dde3ea">not placed</span>'
                '<span style="background:#f4f4f4">ignored (failed / unconstraining)</span>'
                "<span>dashed: may take effect any time later</span> hover over a bar for the whole operation</p>"
            )
            sections.append(_svg(timeline))
        sections.append("</div>")
    for part in result.get("unknown", []):
        sections.append(f'<p class="expl">Unknown: {html.escape(part.get("explanation", ""))}</p>')
    sections.append("</section>")
    return "\n".join(sections)
