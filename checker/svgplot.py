"""Small hand-written SVG charts for report.html: axes, ticks, legend, and a few mark types.

matplotlib took most of the time of ``harness.py report`` (importing it alone is a second, and
every artist costs more); the report's charts are simple, so they are drawn here directly. Marks
of one kind share one ``<path>`` (a dot is a zero-length segment with a round cap), which keeps a
page with thousands of operations small and quick to open. No scripts, no network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"


def _f(v: float) -> str:
    """A coordinate, short: one decimal place."""
    return f"{v:.1f}" if v == v else "0"


def esc(v: Any) -> str:
    return html.escape(str(v))


def nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """About ``n`` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e7 or abs(v) < 0.001:
        return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{v:,.6g}" if abs(v) >= 1 else f"{v:.6g}"


class Plot:
    """One chart: a plotting area with linear or log axes, drawn into SVG on ``render``."""

    def __init__(
        self,
        width: int,
        height: int,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        xlog: bool = False,
        ylog: bool = False,
        left: int = 60,
        right: int = 160,
        top: int = 26,
        bottom: int = 42,
    ) -> None:
        self.width, self.height = width, height
        self.xlog, self.ylog = xlog, ylog
        self.x0, self.x1 = self._prep(xlim, xlog)
        self.y0, self.y1 = self._prep(ylim, ylog)
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.pw = width - left - right
        self.ph = height - top - bottom
        self.back: list[str] = []  # under the marks (fault windows)
        self.marks: list[str] = []
        self.legend_items: list[tuple[str, str, str]] = []
        self.ycats: list[str] | None = None
        self.xcats: list[str] | None = None  # one name per unit interval [i, i+1) of x, instead of numbers

    @staticmethod
    def _prep(lim: tuple[float, float], log: bool) -> tuple[float, float]:
        lo, hi = lim
        if log:
            lo, hi = math.log10(max(lo, 1e-12)), math.log10(max(hi, 1e-12))
        if hi <= lo:
            hi = lo + 1
        return lo, hi

    def x(self, v: float) -> float:
        if self.xlog:
            v = math.log10(max(v, 1e-12))
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.pw

    def y(self, v: float) -> float:
        if self.ylog:
            v = math.log10(max(v, 1e-12))
        return self.top + self.ph - (v - self.y0) / (self.y1 - self.y0) * self.ph

    def _clip_x(self, px: float) -> float:
        return min(max(px, self.left), self.left + self.pw)

    # -- marks ---------------------------------------------------------------------------------

    def vspan(self, a: float, b: float, color: str, opacity: float = 0.16) -> None:
        xa, xb = self._clip_x(self.x(a)), self._clip_x(self.x(b))
        if xb > xa:
            self.back.append(
                f'<rect x="{_f(xa)}" y="{self.top}" width="{_f(max(xb - xa, 1))}" height="{self.ph}" '
                f'fill="{color}" fill-opacity="{opacity}"/>'
            )

    def vline(self, v: float, color: str, dash: str = "5 3", width: float = 1.3) -> None:
        px = self.x(v)
        if self.left <= px <= self.left + self.pw:
            self.marks.append(
                f'<line x1="{_f(px)}" y1="{self.top}" x2="{_f(px)}" y2="{self.top + self.ph}" stroke="{color}" '
                f'stroke-width="{width}" stroke-dasharray="{dash}"/>'
            )

    def hsegments(self, segs: Iterable[tuple[float, float, float]], color: str, width: float) -> None:
        """Horizontal bars (x from, x to, y) in one path; each is at least 1.5 px long."""
        d = []
        if self.xlog or self.ylog:
            for a, b, yv in segs:
                xa, xb = self.x(a), self.x(b)
                d.append(f"M{_f(xa)} {_f(self.y(yv))}h{_f(max(xb - xa, 1.5))}")
        else:  # x and y inlined (the same arithmetic, in the same order): thousands of operations
            left, x0, dx, pw = self.left, self.x0, self.x1 - self.x0, self.pw
            top, y0, dy, ph = self.top, self.y0, self.y1 - self.y0, self.ph
            for a, b, yv in segs:
                xa, xb = left + (a - x0) / dx * pw, left + (b - x0) / dx * pw
                py = top + ph - (yv - y0) / dy * ph
                d.append(f"M{_f(xa)} {_f(py)}h{_f(max(xb - xa, 1.5))}")
        if d:
            self.marks.append(f'<path d="{"".join(d)}" stroke="{color}" stroke-width="{_f(width)}" fill="none"/>')

    def dots(
        self, xs: Sequence[float], ys: Sequence[float], color: str, size: float = 4.0, shape: str = "circle",
        opacity: float = 0.75,
    ) -> None:
        """Scatter marks in one path: circle, square, triangle (outlined), or cross."""
        d = []
        r = size / 2
        if shape not in ("cross", "triangle") and not (self.xlog or self.ylog):  # x and y inlined, as in hsegments
            left, x0, dx, pw = self.left, self.x0, self.x1 - self.x0, self.pw
            top, y0, dy, ph = self.top, self.y0, self.y1 - self.y0, self.ph
            d = [f"M{_f(left + (xv - x0) / dx * pw)} {_f(top + ph - (yv - y0) / dy * ph)}h0"
                 for xv, yv in zip(xs, ys, strict=True)]
        else:
            for xv, yv in zip(xs, ys, strict=True):
                px, py = _f(self.x(xv)), _f(self.y(yv))
                if shape == "cross":
                    d.append(f"M{px} {py}m-{_f(r)} -{_f(r)}l{_f(size)} {_f(size)}m0 -{_f(size)}l-{_f(size)} {_f(size)}")
                elif shape == "triangle":
                    d.append(f"M{px} {py}m0 -{_f(r * 1.2)}l{_f(r * 1.1)} {_f(r * 1.9)}h-{_f(r * 2.2)}z")
                else:
                    d.append(f"M{px} {py}h0")
        if not d:
            return
        path = "".join(d)
        if shape == "circle":
            self.marks.append(f'<path d="{path}" stroke="{color}" stroke-width="{_f(size)}" stroke-linecap="round" '
                              f'stroke-opacity="{opacity}" fill="none"/>')
        elif shape == "square":
            self.marks.append(f'<path d="{path}" stroke="{color}" stroke-width="{_f(size)}" stroke-linecap="square" '
                              f'stroke-opacity="{opacity}" fill="none"/>')
        elif shape == "triangle":
            self.marks.append(f'<path d="{path}" stroke="{color}" stroke-width="1" stroke-opacity="{opacity}" '
                              f'fill="none"/>')
        else:
            self.marks.append(f'<path d="{path}" stroke="{color}" stroke-width="1.4" fill="none"/>')

    def line(
        self, xs: Sequence[float], ys: Sequence[float], color: str, width: float = 1.5, dash: str = "",
        step: bool = False, markers: bool = False,
    ) -> None:
        if not xs:
            return
        pts = [(self.x(a), self.y(b)) for a, b in zip(xs, ys, strict=True)]
        d = [f"M{_f(pts[0][0])} {_f(pts[0][1])}"]
        for px, py in pts[1:]:
            d.append(f"H{_f(px)}V{_f(py)}" if step else f"L{_f(px)} {_f(py)}")
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.marks.append(f'<path d="{"".join(d)}" stroke="{color}" stroke-width="{width}" fill="none"{extra}/>')
        if markers:
            self.dots(xs, ys, color, 6, opacity=1)

    def rect(self, x0: float, x1: float, y0: float, y1: float, color: str, title: str = "", bleed: float = 0) -> None:
        """A filled rectangle; ``bleed`` px wider on the right so that adjacent cells leave no seam."""
        xa, xb = self.x(x0), self.x(x1) + bleed
        ya, yb = self.y(y1), self.y(y0)
        t = f"<title>{esc(title)}</title>" if title else ""
        self.marks.append(
            f'<rect x="{_f(xa)}" y="{_f(ya)}" width="{_f(max(xb - xa, 0.5))}" height="{_f(max(yb - ya, 0.5))}" '
            f'fill="{color}">{t}</rect>'
        )

    def label(self, xv: float, yv: float, text: str, dy: float = -7, color: str = "#555", size: int = 10) -> None:
        self.marks.append(
            f'<text x="{_f(self.x(xv))}" y="{_f(self.y(yv) + dy)}" font-size="{size}" text-anchor="middle" '
            f'fill="{color}">{esc(text)}</text>'
        )

    def note(self, text: str) -> None:
        """A message in the middle of an empty plot."""
        self.marks.append(
            f'<text x="{_f(self.left + self.pw / 2)}" y="{_f(self.top + self.ph / 2)}" text-anchor="middle" '
            f'font-size="12" fill="#666">{esc(text)}</text>'
        )

    def legend(self, label: str, color: str, kind: str = "line") -> None:
        """kind: line, dash, circle, ring (hollow circle), square, triangle, cross, block, span."""
        self.legend_items.append((label, color, kind))

    def categories(self, names: list[str]) -> None:
        """Label the y axis with one name per integer position (0, 1, ...), instead of numbers."""
        self.ycats = names

    # -- axes ----------------------------------------------------------------------------------

    def _ticks(self, lo: float, hi: float, log: bool, n: int) -> list[float]:
        if not log:
            return nice_ticks(lo, hi, n)
        first, last = math.floor(lo), math.ceil(hi)
        return [10.0**e for e in range(first, last + 1) if lo - 1e-9 <= e <= hi + 1e-9]

    def _axes(self) -> list[str]:
        out = []
        L, T, W, H = self.left, self.top, self.pw, self.ph
        out.append(f'<rect x="{L}" y="{T}" width="{W}" height="{H}" fill="none" stroke="#999"/>')
        for i, name in enumerate(self.xcats or []):
            out.append(f'<text x="{_f(self.x(i + 0.5))}" y="{T + H + 15}" text-anchor="middle">{esc(name)}</text>')
        for v in [] if self.xcats is not None else self._ticks(self.x0, self.x1, self.xlog, max(3, W // 90)):
            px = self.x(v)
            out.append(f'<line x1="{_f(px)}" y1="{T + H}" x2="{_f(px)}" y2="{T + H + 4}" stroke="#999"/>'
                       f'<line x1="{_f(px)}" y1="{T}" x2="{_f(px)}" y2="{T + H}" stroke="#eee"/>'
                       f'<text x="{_f(px)}" y="{T + H + 15}" text-anchor="middle">{esc(tick_label(v))}</text>')
        if self.ycats is not None:
            step = max(1, math.ceil(len(self.ycats) * 12 / max(H, 1)))
            for i, name in enumerate(self.ycats):
                if i % step == 0:
                    py = self.y(i)
                    out.append(f'<text x="{L - 5}" y="{_f(py + 3.5)}" text-anchor="end">{esc(name)}</text>')
        else:
            for v in self._ticks(self.y0, self.y1, self.ylog, max(2, H // 45)):
                py = self.y(v)
                out.append(f'<line x1="{L - 4}" y1="{_f(py)}" x2="{L}" y2="{_f(py)}" stroke="#999"/>'
                           f'<line x1="{L}" y1="{_f(py)}" x2="{L + W}" y2="{_f(py)}" stroke="#eee"/>'
                           f'<text x="{L - 6}" y="{_f(py + 3.5)}" text-anchor="end">{esc(tick_label(v))}</text>')
        if self.title:
            out.append(f'<text x="{L + W / 2:.1f}" y="{T - 9}" text-anchor="middle" font-size="13" '
                       f'font-weight="600">{esc(self.title)}</text>')
        if self.xlabel:
            out.append(f'<text x="{L + W / 2:.1f}" y="{T + H + 33}" text-anchor="middle">{esc(self.xlabel)}</text>')
        if self.ylabel:
            cy = T + H / 2
            out.append(f'<text x="13" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 13 {cy:.1f})">'
                       f"{esc(self.ylabel)}</text>")
        return out

    def _legend(self) -> list[str]:
        out = []
        lx = self.left + self.pw + 14
        for i, (label, color, kind) in enumerate(self.legend_items):
            y = self.top + 8 + i * 17
            if kind in ("block", "span"):
                op = ' fill-opacity="0.3"' if kind == "span" else ""
                out.append(f'<rect x="{lx}" y="{y - 5}" width="18" height="10" fill="{color}"{op}/>')
            elif kind in ("line", "dash", "dot"):
                dash = {"dash": ' stroke-dasharray="5 3"', "dot": ' stroke-dasharray="1.5 2.5"'}.get(kind, "")
                out.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 18}" y2="{y}" stroke="{color}" stroke-width="2"{dash}/>')
            elif kind == "cross":
                out.append(f'<path d="M{lx + 5} {y - 4}l8 8m0 -8l-8 8" stroke="{color}" stroke-width="1.6"/>')
            elif kind == "triangle":
                out.append(f'<path d="M{lx + 9} {y - 5}l5.5 9.5h-11z" stroke="{color}" fill="none"/>')
            elif kind == "ring":
                out.append(f'<circle cx="{lx + 9}" cy="{y}" r="3.5" stroke="{color}" stroke-width="1.3" fill="white"/>')
            else:
                cap = "square" if kind == "square" else "round"
                out.append(f'<path d="M{lx + 9} {y}h0" stroke="{color}" stroke-width="8" stroke-linecap="{cap}"/>')
            out.append(f'<text x="{lx + 24}" y="{y + 4}">{esc(label)}</text>')
        return out

    def render(self) -> str:
        clip = f"clip-{self.left}-{self.top}-{self.pw}-{self.ph}"  # equal ids only for equal rectangles
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" role="img" font-size="11" style="{FONT}">'
            f'<clipPath id="{clip}"><rect x="{self.left}" y="{self.top - 3}" width="{self.pw}" '
            f'height="{self.ph + 6}"/></clipPath>'
            + "".join(self.back)
            + f'<g clip-path="url(#{clip})">'
            + "".join(self.marks)
            + "</g>"
            + "".join(self._axes())
            + "".join(self._legend())
            + "</svg>"
        )


def bar_chart(
    width: int, height: int, labels: list[str], values: list[float], color: str, *, title: str, ylabel: str,
) -> str:
    """Vertical bars with their values written on top."""
    top = max(values) if values else 1.0
    p = Plot(width, height, (0, len(labels)), (0, top * 1.15 or 1), title=title, ylabel=ylabel, right=20)
    for i, v in enumerate(values):
        p.rect(i + 0.2, i + 0.8, 0, v, color, f"{labels[i]}: {v:,.1f}")
        p.label(i + 0.5, v, f"{v:,.0f}" if v >= 10 else f"{v:,.2f}", dy=-4, color="#333")
    p.xcats = labels
    return p.render()
