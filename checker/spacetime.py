"""A space-time (Lamport) diagram of one key's messages, as hand-written SVG.

One horizontal line per node (the key's replicas first, clients at the bottom), time running left
to right in seconds since the run started. The axis is cut between the windows that matter
(``checker.messages.Story.windows``), each cut marked with the time it skips. A datagram is an
arrow from sender to receiver; a dropped one ends in a red cross between the lines; applies are
dots on the receiving node's line (filled: won the merge, hollow: lost it; a square: a delete);
the version that won is green and drawn larger; decisive messages carry a numbered badge that
the explanation under the diagram refers to. Fault windows are shaded, the client operations
of the key are bars on the clients' line.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from checker.messages import CLIENT, Stamp, Story

if TYPE_CHECKING:
    from checker.maelstrom_messages import MStory
from checker.svgplot import FONT, esc, nice_ticks

TARGET_COLOR = "#009e73"
OTHER_COLORS = ("#d55e00", "#cc79a7", "#0072b2", "#e69f00", "#56b4e9", "#8c6d31")
PLAIN = "#a0a0a0"
DROP = "#d62728"
LANE_H = 48
LEFT, RIGHT, TOP, BOTTOM = 78, 330, 46, 58
GAP = 34  # px between two windows (the cut)


def _f(v: float) -> str:
    return f"{v:.1f}"


class _Axis:
    """Piecewise-linear time -> x over the story's windows."""

    def __init__(self, windows: list[tuple[int, int]], left: float, width: float) -> None:
        self.windows = windows or [(0, 1)]
        n = len(self.windows)
        avail = width - GAP * (n - 1)
        durs = [max(1, b - a) for a, b in self.windows]
        total = sum(durs)
        # Each window gets a share of the width by duration, but never less than a fifth of it.
        shares = [max(avail / (5 * n), avail * d / total) for d in durs]
        scale = avail / sum(shares)
        self.spans: list[tuple[int, int, float, float]] = []
        x = left
        for (a, b), s in zip(self.windows, shares, strict=True):
            self.spans.append((a, b, x, x + s * scale))
            x += s * scale + GAP

    def x(self, t: float) -> float | None:
        for a, b, xa, xb in self.spans:
            if a <= t <= b:
                return xa + (t - a) / max(1, b - a) * (xb - xa)
        return None

    def clamp(self, t: float, near: float) -> float:
        """x of ``t``, or of the edge of the window that holds ``near`` when ``t`` is in none."""
        x = self.x(t)
        if x is not None:
            return x
        for a, b, xa, xb in self.spans:
            if a <= near <= b:
                return xb if t > b else xa
        return self.spans[-1][3]


def _colors(story: Story) -> dict[Stamp, str]:
    """Green for the version that won; a colour each for the other versions, in order of appearance."""
    out: dict[Stamp, str] = {}
    if story.target is not None:
        out[story.target] = TARGET_COLOR
    palette = iter(OTHER_COLORS)
    for st in [x.stamp for x in story.applies] + [s.stamp for s in story.sends if s.stamp] + [o.stamp for o in story.ops if o.stamp]:
        if st not in out:
            out[st] = next(palette, PLAIN)
    return out


LABEL_ROW = 11  # px between rows of fault labels
LABEL_CHAR = 5.6  # px per character of a 10 px label (an estimate: SVG text is not measured)
MAX_LABEL_ROWS = 3


def _label_row(ends: list[float], x: float, width: float) -> int:
    """The first row of fault labels where a label at ``x`` does not run into the previous one
    (a new row if none; past `MAX_LABEL_ROWS`, the row that frees up first), noted as taken."""
    for row, end in enumerate(ends):
        if end <= x:
            ends[row] = x + width
            return row
    if len(ends) < MAX_LABEL_ROWS:
        ends.append(x + width)
        return len(ends) - 1
    row = min(range(len(ends)), key=ends.__getitem__)
    ends[row] = x + width
    return row


def _legend_names(story: Story, stamps: list[Stamp]) -> dict[Stamp, str]:
    """The legend's name of each version, shortened, and told apart when two share a name (two deletes by one
    process): by when the write was acknowledged, else by its stamp."""
    base = {st: story.versions.name(st) for st in stamps}
    names = list(base.values())
    twice = {n for n in names if names.count(n) > 1}
    out: dict[Stamp, str] = {}
    for st, name in base.items():
        extra = ""
        if name in twice:
            t = story.versions.write_t.get(st)
            same_time = t is not None and sum(1 for o in base if base[o] == name and story.versions.write_t.get(o) == t) > 1
            extra = f" at {t / 1e9:.3f} s" if t is not None and not same_time else f" (stamp {_stamp_text(st)})"
        room = 36 - len(extra)
        out[st] = (name if len(name) <= room else name[: room - 1] + "…") + extra
    return out


def _stamp_text(st: Stamp) -> str:
    return ".".join(str(x) for x in st[:2]) if st else "?"


def _badge(x: float, y: float, n: int) -> str:
    return (f'<circle cx="{_f(x)}" cy="{_f(y)}" r="8" fill="#222"/>'
            f'<text x="{_f(x)}" y="{_f(y + 3.8)}" text-anchor="middle" font-size="11" font-weight="700" '
            f'fill="#fff">{n}</text>')


def _shade_faults(faults: list[dict[str, Any]], ax: _Axis, ylane: dict[str, float], y_top: float, y_bot: float,
                  back: list[str]) -> list[str]:
    """Fault windows, shaded per window of the axis (crash/pause only their nodes' lines), appended to
    ``back``; the fault kinds drawn, for the legend."""
    from checker.report import fault_color  # the report's colours for fault kinds

    seen_kinds: list[str] = []
    label_ends: list[float] = []  # per row of fault labels, where its last label ends (px)
    for w in faults:
        if w.get("start_s") is None:
            continue
        a, b = w["start_s"] * 1e9, (w["stop_s"] * 1e9 if w.get("stop_s") is not None else math.inf)
        kind = str(w.get("kind"))
        color = fault_color(kind)
        raw = w.get("value")
        value: dict[str, Any] = raw if isinstance(raw, dict) else {}
        targets = value.get("nodes") or value.get("targets") if kind != "partition" else None
        rows = [n for n in targets if n in ylane] if isinstance(targets, list) else None
        drew = False
        for lo, hi, xa, xb in ax.spans:
            if b < lo or a > hi:
                continue
            x0 = ax.x(max(a, lo)) or xa
            x1 = ax.x(min(b, hi)) or xb
            if rows is None:
                back.append(f'<rect x="{_f(x0)}" y="{y_top}" width="{_f(max(1, x1 - x0))}" height="{y_bot - y_top}" '
                            f'fill="{color}" fill-opacity="0.14"/>')
            else:
                for n in rows:
                    back.append(f'<rect x="{_f(x0)}" y="{_f(ylane[n] - LANE_H / 2 + 3)}" width="{_f(max(1, x1 - x0))}" '
                                f'height="{LANE_H - 6}" fill="{color}" fill-opacity="0.22"/>')
            label = kind
            groups = value.get("groups")
            if kind == "partition" and isinstance(groups, list):
                label += ": " + " | ".join(" ".join(map(str, g)) for g in groups if isinstance(g, list))
            if rows is None:  # a fault on some nodes is named by the legend and their lines' marks
                ly = y_top + 11 + LABEL_ROW * _label_row(label_ends, x0 + 3, len(label) * LABEL_CHAR + 6)
                back.append(f'<text x="{_f(x0 + 3)}" y="{_f(ly)}" stroke="#fff" stroke-width="3" paint-order="stroke" '
                            f'font-size="10" fill="#8a2b2b">{esc(label)}</text>')
            drew = True
        if drew and kind not in seen_kinds:
            seen_kinds.append(kind)
    return seen_kinds


def _time_axis(ax: _Axis, y_top: float, y_bot: float, mid: float, back: list[str]) -> None:
    """The time axis per window of ``ax`` and the cuts between windows, appended to ``back``."""
    for i, (lo, hi, xa, xb) in enumerate(ax.spans):
        ticks = nice_ticks(lo / 1e9, hi / 1e9, max(2, int((xb - xa) // 95)))
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        digits = max(0, min(4, -math.floor(math.log10(step)) if step > 0 else 0))
        last_x = -1e9
        for v in ticks:
            x = ax.x(v * 1e9)
            if x is None or x - last_x < 48:  # labels never collide in a narrow window
                continue
            last_x = x
            back.append(f'<line x1="{_f(x)}" y1="{y_bot}" x2="{_f(x)}" y2="{y_bot + 4}" stroke="#999"/>'
                        f'<line x1="{_f(x)}" y1="{y_top}" x2="{_f(x)}" y2="{y_bot}" stroke="#eee"/>'
                        f'<text x="{_f(x)}" y="{y_bot + 16}" text-anchor="middle">{v:.{digits}f}</text>')
        back.append(f'<line x1="{_f(xa)}" y1="{y_bot}" x2="{_f(xb)}" y2="{y_bot}" stroke="#999"/>')
        if i + 1 < len(ax.spans):
            nxt = ax.spans[i + 1]
            cx = (xb + nxt[2]) / 2
            skipped = (nxt[0] - hi) / 1e9
            back.append(f'<path d="M{_f(cx - 6)} {y_bot + 6}l6 -12m2 12l6 -12" stroke="#666" fill="none"/>'
                        f'<text x="{_f(cx)}" y="{y_top - 4}" text-anchor="middle" font-size="10" fill="#666">'
                        f'{skipped:.2f} s skipped</text>')
    back.append(f'<text x="{mid:.1f}" y="{y_bot + 36}" text-anchor="middle">time since the run started (s); '
                'the axis is cut where nothing of interest happened</text>')


def render(story: Story, faults: list[dict[str, Any]], uid: str, width: int = 1200) -> str:
    """The SVG of ``story``; ``faults`` are the report's fault windows (kind, start_s, stop_s, value)."""
    from checker.report import fault_color  # the report's colours for fault kinds

    lanes = story.lanes
    height = TOP + LANE_H * len(lanes) + BOTTOM
    pw = width - LEFT - RIGHT
    ax = _Axis(story.windows, LEFT, pw)
    ylane = {name: TOP + LANE_H * (i + 0.5) for i, name in enumerate(lanes)}
    y_top, y_bot = TOP, TOP + LANE_H * len(lanes)
    colors = _colors(story)
    back: list[str] = []
    marks: list[str] = []
    over: list[str] = []

    seen_kinds = _shade_faults(faults, ax, ylane, y_top, y_bot, back)

    # lanes
    for name, y in ylane.items():
        replica = name in story.replicas
        for _, _, xa, xb in ax.spans:
            back.append(f'<line x1="{_f(xa)}" y1="{_f(y)}" x2="{_f(xb)}" y2="{_f(y)}" stroke="#555" stroke-width="1"/>')
        back.append(f'<text x="{LEFT - 8}" y="{_f(y + 4)}" text-anchor="end" font-size="12" '
                    f'font-weight="{"600" if replica else "400"}">{esc(name)}</text>')
        if replica:
            back.append(f'<text x="{LEFT - 8}" y="{_f(y + 16)}" text-anchor="end" font-size="9" fill="#777">replica</text>')

    _time_axis(ax, y_top, y_bot, LEFT + pw / 2, back)

    # client operations on the clients' line
    cy = ylane.get(CLIENT)
    finals: dict[str, str] = {}
    if cy is not None:
        row = 0
        for op in story.ops:
            x0 = ax.clamp(op.t0, op.t1)
            x1 = ax.clamp(op.t1, op.t0)
            col = colors.get(op.stamp, PLAIN) if op.stamp is not None else PLAIN
            marks.append(f'<line x1="{_f(x0)}" y1="{_f(cy + 9)}" x2="{_f(max(x1, x0 + 2))}" y2="{_f(cy + 9)}" '
                         f'stroke="{col}" stroke-width="{6 if op.proof else 4}" '
                         f'stroke-opacity="{1 if op.proof else 0.6}"><title>{esc(op.label)}</title></line>')
            if op.proof and op.final and op.node in ylane:
                # what the node returned at the end, written at the end of its line
                finals[op.node] = op.value
            elif op.proof:
                over.append(f'<text x="{_f(x0)}" y="{_f(cy + 22 + 11 * (row % 2))}" font-size="10" fill="#333">'
                            f"{esc(op.label)}</text>")
                row += 1
    xend = ax.spans[-1][3]
    for node, held in finals.items():
        y = ylane[node]
        short = held if len(held) <= 11 else held[:10] + "…"
        back.append(f'<rect x="{_f(xend + 4)}" y="{_f(y - 8)}" width="{len(short) * 6 + 12:.0f}" height="16" rx="3" '
                    f'fill="#fff" stroke="#999"/><text x="{_f(xend + 10)}" y="{_f(y + 4)}" font-size="10">'
                    f"{esc(short)}<title>{esc(node)}'s final read returned {esc(held)}</title></text>")
    if finals:
        back.append(f'<text x="{_f(xend + 6)}" y="{y_top - 4}" font-size="10" fill="#555">final read</text>')

    # datagrams
    delivered = sorted(d - s.t for s in story.sends for d in s.delivered)
    latency = delivered[len(delivered) // 2] if delivered else 1_000_000
    numbered: dict[int, int] = {}
    for i, f in enumerate(story.findings, 1):
        for s in f.sends[:1]:
            numbered.setdefault(id(s), i)
        for ap in f.applies[:1]:
            numbered.setdefault(id(ap), i)
    arrow = f"ah-{uid}"
    for s in story.sends:
        if s.src not in ylane or s.dst not in ylane or s.src == s.dst:
            continue
        sx = ax.x(s.t)
        if sx is None:
            continue
        x0 = sx
        y0, y1 = ylane[s.src], ylane[s.dst]
        col = colors.get(s.stamp, PLAIN) if s.stamp is not None else PLAIN
        lw = 2.2 if s.stamp == story.target and s.stamp is not None else 1.1
        tip = f"{s.kind} {s.src}→{s.dst} at {s.t / 1e9:.3f} s" + (f", {s.fault}" if s.fault else "")
        if s.delivered:
            for d in s.delivered:
                x1 = max(ax.clamp(d, s.t), x0 + 3)
                marks.append(f'<line x1="{_f(x0)}" y1="{_f(y0)}" x2="{_f(x1)}" y2="{_f(y1)}" stroke="{col}" '
                             f'stroke-width="{lw}" marker-end="url(#{arrow})"><title>{esc(tip)}</title></line>')
        else:
            # the cross just short of the receiver's line, so it is plain whom the datagram was for
            xm = max(ax.clamp(s.t + latency * 0.8, s.t), x0 + 8)
            ym = y1 - math.copysign(11, y1 - y0)  # 11 px short of the receiver's line
            marks.append(f'<line x1="{_f(x0)}" y1="{_f(y0)}" x2="{_f(xm)}" y2="{_f(ym)}" stroke="{col}" '
                         f'stroke-width="{lw}" stroke-dasharray="3 2"><title>{esc(tip)}, dropped</title></line>'
                         f'<path d="M{_f(xm - 5)} {_f(ym - 5)}l10 10m0 -10l-10 10" stroke="{DROP}" stroke-width="2.4">'
                         f'<title>{esc(tip)}, dropped</title></path>')
            if id(s) in numbered:
                over.append(_badge(xm + 12, ym - 10, numbered[id(s)]))
        if s.delivered and id(s) in numbered:
            over.append(_badge(x0 - 10, y0 - 12, numbered[id(s)]))

    # applies
    for ap in story.applies:
        if ap.node not in ylane:
            continue
        px = ax.x(ap.t)
        if px is None:
            continue
        y = ylane[ap.node]
        col = colors.get(ap.stamp, PLAIN)
        big = ap.stamp == story.target
        r = 6 if big else 4.5
        fill = col if ap.won else "#fff"
        stroke = "#111" if big else col
        tip = (f"{ap.node} applied {story.versions.name(ap.stamp)} at {ap.t / 1e9:.3f} s via {ap.via}: "
               f"{'won' if ap.won else 'lost'} the merge")
        if ap.deleted:
            marks.append(f'<rect x="{_f(px - r)}" y="{_f(y - r)}" width="{_f(2 * r)}" height="{_f(2 * r)}" fill="{fill}" '
                         f'stroke="{stroke}" stroke-width="1.6"><title>{esc(tip)}</title></rect>')
        else:
            marks.append(f'<circle cx="{_f(px)}" cy="{_f(y)}" r="{r}" fill="{fill}" stroke="{stroke}" '
                         f'stroke-width="1.6"><title>{esc(tip)}</title></circle>')
        if id(ap) in numbered:
            over.append(_badge(px + 12, y - 12, numbered[id(ap)]))

    for t, node, what in story.lifecycle:
        px = ax.x(t)
        if px is None or node not in ylane:
            continue
        y = ylane[node]
        marks.append(f'<line x1="{_f(px)}" y1="{_f(y - 14)}" x2="{_f(px)}" y2="{_f(y + 14)}" stroke="#4e79a7" '
                     f'stroke-width="3"/><text x="{_f(px + 3)}" y="{_f(y - 16)}" font-size="10" fill="#4e79a7">'
                     f"{esc(what)}</text>")

    # legend
    leg: list[str] = []
    lx = LEFT + pw + 90  # after the final reads' labels
    items: list[tuple[str, str]] = []
    names = _legend_names(story, list(colors))
    for st, col in colors.items():
        name = names[st]
        items.append((f'<circle cx="{lx + 9}" cy="0" r="5" fill="{col}"/>', name))
        if st == story.target:
            items.append(("", "↑ the version that should have won"))
        if len(items) >= 7:
            break
    items += [
        (f'<circle cx="{lx + 9}" cy="0" r="4.5" fill="#777"/>', "apply, won the merge"),
        (f'<circle cx="{lx + 9}" cy="0" r="4.5" fill="#fff" stroke="#777" stroke-width="1.6"/>', "apply, lost the merge"),
        (f'<rect x="{lx + 4.5}" y="-4.5" width="9" height="9" fill="#777"/>', "apply of a delete"),
        (f'<line x1="{lx}" y1="0" x2="{lx + 18}" y2="0" stroke="#777" stroke-width="1.4" marker-end="url(#{arrow})"/>',
         "datagram sent → delivered"),
        (f'<path d="M{lx + 4} -5l10 10m0 -10l-10 10" stroke="{DROP}" stroke-width="2.4"/>', "datagram dropped"),
        (f'<line x1="{lx}" y1="0" x2="{lx + 18}" y2="0" stroke="{PLAIN}" stroke-width="5"/>', "client operation"),
        (_badge(lx + 9, 0, 1), "decisive message (see below)"),
    ]
    for kind in seen_kinds:
        items.append((f'<rect x="{lx}" y="-5" width="18" height="10" fill="{fault_color(kind)}" fill-opacity="0.3"/>',
                      f"{kind} window"))
    for i, (mark, text) in enumerate(items):
        y = TOP + 6 + i * 17
        leg.append(f'<g transform="translate(0 {y})">{mark}<text x="{lx + 24}" y="4">{esc(text)}</text></g>')
    height = max(height, TOP + 6 + len(items) * 17 + 10)

    title = f"Messages of key {story.key}: one line per node, arrows are datagrams, dots are applies"
    clip = f"cl-{uid}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" font-size="11" style="{FONT}" class="spacetime">'
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" '
        f'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#555"/></marker>'
        f'<clipPath id="{clip}"><rect x="{LEFT - 14}" y="{y_top - 30}" width="{pw + 28}" height="{y_bot - y_top + 60}"/>'
        f"</clipPath></defs>"
        f'<text x="{LEFT + pw / 2:.1f}" y="16" text-anchor="middle" font-size="13" font-weight="600">{esc(title)}</text>'
        + "".join(back)
        + f'<g clip-path="url(#{clip})">' + "".join(marks) + "".join(over) + "</g>"
        + "".join(leg)
        + "</svg>"
    )


REPLY_COLOR = "#56b4e9"
MAX_BODY_LABELS = 40


def render_maelstrom(story: MStory, faults: list[dict[str, Any]], uid: str, width: int = 1200) -> str:
    """The SVG of a Maelstrom anomaly's messages; ``faults`` as for `render`."""
    from checker.maelstrom_messages import CLIENTS, SERVICES, is_client

    lanes = story.lanes
    height = TOP + LANE_H * len(lanes) + BOTTOM
    pw = width - LEFT - RIGHT
    ax = _Axis(story.windows, LEFT, pw)
    ylane = {name: TOP + LANE_H * (i + 0.5) for i, name in enumerate(lanes)}
    y_top, y_bot = TOP, TOP + LANE_H * len(lanes)
    back: list[str] = []
    marks: list[str] = []
    over: list[str] = []
    seen_kinds = _shade_faults(faults, ax, ylane, y_top, y_bot, back)
    for name, y in ylane.items():
        for _, _, xa, xb in ax.spans:
            back.append(f'<line x1="{_f(xa)}" y1="{_f(y)}" x2="{_f(xb)}" y2="{_f(y)}" stroke="#555" stroke-width="1"/>')
        back.append(f'<text x="{LEFT - 8}" y="{_f(y + 4)}" text-anchor="end" font-size="12">{esc(name)}</text>')
    _time_axis(ax, y_top, y_bot, LEFT + pw / 2, back)

    def lane(n: str) -> str:
        return n if n in ylane and n not in (CLIENTS, SERVICES) else CLIENTS if is_client(n) else SERVICES

    # client operations
    cy = ylane.get(CLIENTS)
    finals: dict[str, str] = {}
    if cy is not None:
        row = 0
        for op in story.ops:
            x0, x1 = ax.clamp(op.t0, op.t1), ax.clamp(op.t1, op.t0)
            marks.append(f'<line x1="{_f(x0)}" y1="{_f(cy + 9)}" x2="{_f(max(x1, x0 + 2))}" y2="{_f(cy + 9)}" '
                         f'stroke="{PLAIN}" stroke-width="5"><title>{esc(op.label)}</title></line>')
            if op.final and op.node in ylane:
                finals[op.node] = op.value
            else:
                over.append(f'<text x="{_f(x0)}" y="{_f(cy + 22 + 11 * (row % 2))}" font-size="10" fill="#333">'
                            f"{esc(op.label)}</text>")
                row += 1
    xend = ax.spans[-1][3]
    for node, held in finals.items():
        y = ylane[node]
        short = held if len(held) <= 16 else held[:15] + "…"
        back.append(f'<rect x="{_f(xend + 4)}" y="{_f(y - 8)}" width="{len(short) * 6 + 12:.0f}" height="16" rx="3" '
                    f'fill="#fff" stroke="#999"/><text x="{_f(xend + 10)}" y="{_f(y + 4)}" font-size="10">'
                    f"{esc(short)}<title>{esc(node)}'s final read returned {esc(held)}</title></text>")
    if finals:
        back.append(f'<text x="{_f(xend + 6)}" y="{y_top - 4}" font-size="10" fill="#555">final read</text>')

    # messages
    numbered: dict[int, int] = {}
    for i, f in enumerate(story.findings, 1):
        for m in f.messages[:1]:
            numbered.setdefault(id(m), i)
    arrow = f"ah-{uid}"
    labels = 0
    label_rows: dict[str, list[float]] = {}
    last_label: dict[tuple[str, str], float] = {}
    badges: list[str] = []  # drawn last, over every label
    for m in story.messages:
        a, b = lane(m.src), lane(m.dest)
        sx = ax.x(m.t)
        if sx is None or a == b or a not in ylane or b not in ylane:
            continue
        y0, y1 = ylane[a], ylane[b]
        col = TARGET_COLOR if m.carries else REPLY_COLOR if m.in_reply_to is not None else PLAIN
        lw = 2.0 if m.carries else 1.1
        body = m.body_text(300)
        tip = (f"{m.type} {m.src}→{m.dest} at {m.t / 1e9:.3f} s: {m.fate}" + (f" ×{m.copies}" if m.copies > 1 else "")
               + (f"; body {body}" if body else ""))
        delivered = m.delivered
        badge_at = (sx - 10, y0 - 12)
        if delivered:
            for d in delivered:
                x1 = max(ax.clamp(d, m.t), sx + 3)
                marks.append(f'<line x1="{_f(sx)}" y1="{_f(y0)}" x2="{_f(x1)}" y2="{_f(y1)}" stroke="{col}" '
                             f'stroke-width="{lw}" marker-end="url(#{arrow})"><title>{esc(tip)}</title></line>')
            if b not in (CLIENTS, SERVICES):  # at the receiver's end: messages a node sends at once share a start
                badge_at = (x1 - 13, y1 - math.copysign(11, y1 - y0))
        else:
            xm = sx + 14
            ym = y1 - math.copysign(11, y1 - y0)
            why = m.cut[0][1] if m.cut else m.fate
            marks.append(f'<line x1="{_f(sx)}" y1="{_f(y0)}" x2="{_f(xm)}" y2="{_f(ym)}" stroke="{col}" '
                         f'stroke-width="{lw}" stroke-dasharray="3 2"><title>{esc(tip)}, lost</title></line>'
                         f'<path d="M{_f(xm - 5)} {_f(ym - 5)}l10 10m0 -10l-10 10" stroke="{DROP}" stroke-width="2.4">'
                         f'<title>{esc(tip)}, lost ({esc(why)})</title></path>')
            over.append(f'<text x="{_f(xm + 7)}" y="{_f(ym + 3)}" font-size="9" fill="{DROP}">{esc(why)}</text>')
            badge_at = (xm + 7 + len(why) * 5.2 + 11, ym)  # after the fate's word
        if id(m) in numbered:
            badges.append(_badge(*badge_at, numbered[id(m)]))
        text = f"{m.type} {m.body_text(28)}".strip()
        said = last_label.get((a, text))
        if (m.carries or id(m) in numbered) and labels < MAX_BODY_LABELS and (said is None or sx - said > 120):
            last_label[(a, text)] = sx  # one label for a node's same message to several peers at once
            ends = label_rows.setdefault(a, [])
            row = _label_row(ends, sx + 3, len(text) * LABEL_CHAR + 6)
            ly = y0 - 5 - 10 * row if y1 >= y0 else y0 + 12 + 10 * row
            over.append(f'<text x="{_f(sx + 3)}" y="{_f(ly)}" font-size="9.5" fill="#0b5e45" stroke="#fff" '
                        f'stroke-width="2.5" paint-order="stroke">{esc(text)}<title>{esc(tip)}</title></text>')
            labels += 1

    for t, node, what in story.lifecycle:
        px = ax.x(t)
        if px is None or node not in ylane:
            continue
        y = ylane[node]
        marks.append(f'<line x1="{_f(px)}" y1="{_f(y - 14)}" x2="{_f(px)}" y2="{_f(y + 14)}" stroke="#4e79a7" '
                     f'stroke-width="3"/><text x="{_f(px + 3)}" y="{_f(y - 16)}" font-size="10" fill="#4e79a7">'
                     f"{esc(what)}</text>")

    lx = LEFT + pw + 110
    items: list[tuple[str, str]] = []
    if story.needle is not None:
        items.append((f'<line x1="{lx}" y1="0" x2="{lx + 18}" y2="0" stroke="{TARGET_COLOR}" stroke-width="2" '
                      f'marker-end="url(#{arrow})"/>', f"holds {story.needle}"))
    items += [
        (f'<line x1="{lx}" y1="0" x2="{lx + 18}" y2="0" stroke="{REPLY_COLOR}" stroke-width="1.4" '
         f'marker-end="url(#{arrow})"/>', "a reply"),
        (f'<line x1="{lx}" y1="0" x2="{lx + 18}" y2="0" stroke="{PLAIN}" stroke-width="1.4" marker-end="url(#{arrow})"/>',
         "another message"),
        (f'<path d="M{lx + 4} -5l10 10m0 -10l-10 10" stroke="{DROP}" stroke-width="2.4"/>', "lost (its fate beside it)"),
        (f'<line x1="{lx}" y1="0" x2="{lx + 18}" y2="0" stroke="{PLAIN}" stroke-width="5"/>', "client operation"),
        (f'<line x1="{lx + 9}" y1="-7" x2="{lx + 9}" y2="7" stroke="#4e79a7" stroke-width="3"/>', "crash, restart, pause"),
        (_badge(lx + 9, 0, 1), "decisive message (see above)"),
    ]
    for kind in seen_kinds:
        from checker.report import fault_color

        items.append((f'<rect x="{lx}" y="-5" width="18" height="10" fill="{fault_color(kind)}" fill-opacity="0.3"/>',
                      f"{kind} window"))
    leg = [f'<g transform="translate(0 {TOP + 6 + i * 17})">{mark}<text x="{lx + 24}" y="4">{esc(text)}</text></g>'
           for i, (mark, text) in enumerate(items)]
    height = max(height, TOP + 6 + len(items) * 17 + 10)
    clip = f"cl-{uid}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" font-size="11" style="{FONT}" class="spacetime">'
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#555"/></marker>'
        f'<clipPath id="{clip}"><rect x="{LEFT - 14}" y="{y_top - 30}" width="{pw + 28}" height="{y_bot - y_top + 60}"/>'
        f"</clipPath></defs>"
        f'<text x="{LEFT + pw / 2:.1f}" y="16" text-anchor="middle" font-size="13" font-weight="600">'
        f"{esc(story.title)}</text>"
        + "".join(back)
        + f'<g clip-path="url(#{clip})">' + "".join(marks) + "".join(over) + "".join(badges) + "</g>"
        + "".join(leg)
        + "</svg>"
    )
