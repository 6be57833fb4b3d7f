"""Fault windows: turning nemesis events into time intervals anomalies can be related to.

An anomaly is only useful when it says what was going on: "n2 was on the minority side of the
partition from 10.0 s to 15.0 s". This module folds the nemesis's ``<fault>-start`` /
``<fault>-stop`` / ``heal`` edges into `FaultWindow`s and answers "which windows were active at
time t" and "which side of the partition was node n on".

Jepsen-style nemesis ops (``:start`` / ``:stop``, ``start-partition``, invoke/info pairs) are
folded the same way: a window opens and closes at the ``info`` edge, when the fault took effect.
"""

from __future__ import annotations

import bisect
from typing import Any

import attrs


@attrs.define(slots=True)
class FaultWindow:
    """One fault, from when it took effect to when it was stopped or healed."""

    kind: str
    start: int | None  # ns
    start_index: int
    value: Any = None
    stop: int | None = None  # ns; None while open (closed at end of history in `finish`)
    stop_index: int | None = None
    counters: list[int] = attrs.Factory(lambda: [0, 0])  # [ops invoked inside, of which ok]

    def overlaps(self, a: int, b: int) -> bool:
        return self.start is not None and self.start <= b and (self.stop is None or a < self.stop)

    def side_of(self, node: str | None) -> str | None:
        """For a partition: 'minority', 'majority', 'half' (an even split: no side has a majority) or
        'isolated' side of ``node``, else None."""
        groups = self.value.get("groups") if isinstance(self.value, dict) else None
        if not node or not isinstance(groups, list):
            return None
        sizes = [len(g) for g in groups if isinstance(g, list)]
        for g in groups:
            if isinstance(g, list) and node in g:
                if len(g) == 1:
                    return "isolated"
                if len(g) * 2 == sum(sizes):
                    return "half"
                return "majority" if len(g) * 2 > sum(sizes) else "minority"
        return None

    def describe(self, node: str | None = None) -> str:
        span = f"from {fmt_s(self.start)} to {fmt_s(self.stop) if self.stop is not None else 'the end'}"
        side = self.side_of(node) if self.kind == "partition" else None
        if side == "isolated":
            return f"{node} was isolated by a partition {span}"
        if side == "half":
            return f"{node} was on one half of a partition split evenly (equal sides: neither holds a quorum) {span}"
        if side:
            return f"{node} was on the {side} side of the partition {span}"
        extra = ""
        if isinstance(self.value, dict):
            nodes = self.value.get("nodes") or self.value.get("targets")
            if isinstance(nodes, list) and nodes:
                extra = " on " + ", ".join(map(str, nodes))
        return f"a {self.kind} fault{extra} was active {span}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start_s": None if self.start is None else self.start / 1e9,
            "stop_s": None if self.stop is None else self.stop / 1e9,
            "start_index": self.start_index,
            "stop_index": self.stop_index,
            "value": self.value,
        }


def fmt_s(t: int | None) -> str:
    """Nanoseconds as seconds for people: ``12.402 s``."""
    return "an unknown time" if t is None else f"{t / 1e9:.3f} s"


def split_fault_name(f: str) -> tuple[str, str]:
    """('partition', 'start') from 'partition-start'; ('nemesis', 'start') from Jepsen's 'start'."""
    for edge in ("start", "stop"):
        if f == edge:
            return "nemesis", edge
        if f.endswith("-" + edge):
            return f[: -len(edge) - 1], edge
        if f.startswith(edge + "-"):
            return f[len(edge) + 1 :], edge
    if f in ("heal", "heal-all", "stop-all"):
        return "all", "heal"
    return f, "point"


class FaultTimeline:
    """Accumulates nemesis events into windows; query after `finish`."""

    def __init__(self) -> None:
        self.windows: list[FaultWindow] = []
        self.heals: list[tuple[int | None, int]] = []  # (time, index) of every heal
        self._open: dict[str, FaultWindow] = {}
        self._starts: list[int] = []
        # What is open right now, in line order: streaming checkers snapshot these at invoke.
        self.current: tuple[tuple[FaultWindow, ...], tuple[str, ...]] = ((), ())
        # The line index of the latest stop or heal that closed a window (-1: none yet): with `current`, whether
        # any window was open at some moment after a given line (``last_closed_index`` past it, or one open now).
        self.last_closed_index = -1

    def _refresh(self) -> None:
        self.current = (tuple(self._open.values()), tuple(sorted(self._open)))

    def feed(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "invoke":
            return  # Jepsen's nemesis invokes; the fault takes effect at its info
        kind, edge = split_fault_name(ev["f"])
        t = ev.get("time")
        idx = ev["index"]
        w: FaultWindow | None
        if edge == "start":
            prev = self._open.pop(kind, None)
            if prev is not None:
                prev.stop, prev.stop_index = t, idx
                self.last_closed_index = idx
            w = FaultWindow(kind, t, idx, ev.get("value"))
            self.windows.append(w)
            self._open[kind] = w
        elif edge == "stop":
            w = self._open.pop(kind, None)
            if w is not None:
                w.stop, w.stop_index = t, idx
                self.last_closed_index = idx
        elif edge == "heal":
            for w in self._open.values():
                w.stop, w.stop_index = t, idx
                self.last_closed_index = idx
            self._open.clear()
            self.heals.append((t, idx))
        self._refresh()

    def finish(self, end_time: int | None) -> None:
        """Windows still open at the end of the history run to its last timestamp."""
        for w in self._open.values():
            w.stop = end_time
        self._open.clear()
        self._refresh()
        self.windows = [w for w in self.windows if w.start is not None]
        self.windows.sort(key=lambda w: w.start or 0)
        self._starts = [w.start or 0 for w in self.windows]

    def open_since(self, index: int) -> bool:
        """Whether a fault window was open at some moment after line ``index`` (one open now included)."""
        return bool(self.current[0]) or self.last_closed_index > index

    def active(self, a: int | None, b: int | None = None) -> list[FaultWindow]:
        """Windows overlapping [a, b] (or covering a)."""
        if a is None:
            return []
        if b is None:
            b = a
        hi = bisect.bisect_right(self._starts, b)
        return [w for w in self.windows[:hi] if w.overlaps(a, b)]
