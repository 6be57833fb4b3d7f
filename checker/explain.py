"""Anomaly objects with explanations a person can follow without reading the checker.

Every anomaly names its type, key and the indexes of the events that prove it, and a paragraph in
the style of: "lost write on key k7: put p3-41 was acknowledged by n2 at 12.402 s; put p5-12,
acknowledged at 9.870 s (before p3-41 was invoked at 11.955 s), is the value every node returned
in the final reads (n1, n2, n3 at 41.200 s). n2 was on the minority side of the partition from
10.000 s to 15.000 s." The last sentence, relating the operations to the fault windows active
while they ran, is what turns an anomaly into a lead.
"""

from __future__ import annotations

import json
from array import array
from typing import Any

from checker.convergence import (
    INF,
    R_COMP,
    R_COMP_T,
    R_FINAL,
    R_INV,
    R_INV_T,
    R_NODE,
    R_PROC,
    R_VALUE,
    W_COMP,
    W_COMP_T,
    W_INV,
    W_INV_T,
    W_KIND,
    W_NODE,
    W_OUT,
    W_PROC,
    W_SEEN,
    W_STAMP,
    W_VALUE,
)
from checker.faults import FaultTimeline, FaultWindow, fmt_s
from checker.values import brief, vkey


def _v(value: Any) -> str:
    """A value as the history wrote it: strings bare, everything else as JSON (true, 1.0, [1, 2]); a long
    one cut to its beginning and its size (`checker.values.brief`)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return brief(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return brief(json.dumps(value, default=str))
    return brief(repr(value))


def _sentence(s: str) -> str:
    """Capitalise a leading article only: node names like n2 stay as they are written."""
    return ("A" + s[1:] if s.startswith("a ") else s) + "."


def _by(node: Any) -> str:
    return f" by {node}" if node is not None else ""


def _write_name(w: list[Any]) -> str:
    return f"put {_v(w[W_VALUE])}" if w[W_KIND] == "put" else f"delete (process {w[W_PROC]})"


def _short(w: list[Any]) -> str:
    return _v(w[W_VALUE]) if w[W_KIND] == "put" else "the delete"


def _status(w: list[Any]) -> str:
    out = w[W_OUT]
    if out == "ok":
        return f"acknowledged{_by(w[W_NODE])} at {fmt_s(w[W_COMP_T])}"
    if out == "fail":
        return f"failed{_by(w[W_NODE])} at {fmt_s(w[W_COMP_T])}"
    return f"of unknown outcome (invoked{_by(w[W_NODE])} at {fmt_s(w[W_INV_T])})"


def _newest_write(ks: Any, vk: Any) -> list[Any] | None:
    """The newest write (largest invoke index) that did not fail and whose outcome is the value ``vk``
    (`vkey`; None for null: a delete), preferring acknowledged ones: the write a replica's final value
    most likely corresponds to. None when no such write exists (a phantom, or null with no delete)."""
    if vk is None:
        cands = [d for d in ks.deletes if d[W_OUT] != "fail"]
    else:
        first = ks.writes.get(vk)
        cands = [w for w in ((ks.dups or {}).get(vk) or ([first] if first is not None else [])) if w[W_OUT] != "fail"]
        if not cands and first is not None:
            return first  # only failed puts wrote it (a phantom read says so): name the put
    if not cands:
        return None
    acked = [w for w in cands if w[W_OUT] == "ok"]
    return max(acked or cands, key=lambda w: w[W_INV])


class Explainer:
    """Builds anomaly dicts; knows the fault windows so it can say what was going on."""

    def __init__(self, faults: FaultTimeline, keys: dict[Any, Any] | None = None) -> None:
        self.faults = faults
        self.keys = keys or {}  # the checker's `KeyState` s: their acknowledged writes' stamps
        self._clock: tuple[int, int] | None | bool = False  # `_stamp_clock`, once worked out

    def _stamp_clock(self) -> tuple[int, int] | None:
        """(offset, tolerance) in ns that put the acknowledged writes' stamps (``meta.stamp``, µs on the
        store's clock, e.g. an epoch) on the history's clock, or None with fewer than 5 stamped writes.

        The offset is the median of (stamp - acknowledgement time) over the writes no clock-skew window
        overlapped (all of them when fewer than 5 did): a store stamps a write while it runs, so on a
        clock without skew a stamp falls within its write, at most a write's latency before its
        acknowledgement. The tolerance is the run's delays: the 99th percentile of those writes'
        latencies (at least 1 ms, the simulated clock's step): a stamp further ahead than that is a
        clock ahead of the history's."""
        if self._clock is not False:
            return self._clock  # type: ignore[return-value]
        skews = [w for w in self.faults.windows if w.kind == "clock-skew"]
        # (offset, latency) pairs as flat 64-bit arrays: a run may have millions of acknowledged writes
        calm, every = (array("q"), array("q")), (array("q"), array("q"))
        for ks in self.keys.values():
            for w in ks.acked:
                st, a, b = w[W_STAMP], w[W_INV_T], w[W_COMP_T]
                if st is None or a is None or b is None or not -(2**62) < st * 1000 - b < 2**62:
                    continue
                for into in (every, calm) if not any(x.overlaps(a, b) for x in skews) else (every,):
                    into[0].append(st * 1000 - b)
                    into[1].append(b - a)
        use = calm if len(calm[0]) >= 5 else every
        if len(use[0]) < 5:
            self._clock = None
            return None
        offsets = sorted(use[0])
        latencies = sorted(use[1])
        self._clock = (offsets[len(offsets) // 2], max(1_000_000, latencies[min(len(latencies) - 1,
                                                                              len(latencies) * 99 // 100)]))
        return self._clock

    def _ahead(self, w: list[Any]) -> float | None:
        """Seconds by which write ``w``'s stamp is ahead of its acknowledgement on the history's clock, or
        None (no stamp, no times, too few stamped writes to line the clocks up)."""
        clock = self._stamp_clock()
        if clock is None or w[W_STAMP] is None or w[W_COMP_T] is None:
            return None
        return (w[W_STAMP] * 1000 - clock[0] - w[W_COMP_T]) / 1e9

    def _carried(self, survivor: list[Any], newer: list[Any], skewed: bool) -> tuple[dict[str, float], str]:
        """When the surviving write's stamp is ahead of its time by more than the run's delays (`_stamp_clock`),
        the field ``stamp_ahead_s`` and a sentence blaming a clock ahead: after a clock-skew window ended, a
        hybrid clock carries the lead on (a stamp never goes back) until real time catches up."""
        lead = self._ahead(survivor)
        clock = self._stamp_clock()
        if lead is None or clock is None or lead * 1e9 <= clock[1]:
            return {}, ""
        field = {"kept": round(lead, 3)}
        other = self._ahead(newer)
        if other is not None:
            field["lost"] = round(other, 3)
        if skewed:
            return field, ""  # the skewed node's offset, said already, explains it
        text = (f"{_short(survivor)}'s stamp was {lead:.3f} s ahead of its acknowledgement at "
                f"{fmt_s(survivor[W_COMP_T])} (more than the run's delays, at most {clock[1] / 1e9:.3f} s)")
        if other is not None:
            text += (f", {_short(newer)}'s {other:.3f} s" if other * 1e9 > clock[1]
                     else f", {_short(newer)}'s was not ahead")
        t = survivor[W_INV_T]
        ended = [w for w in self.faults.windows if w.kind == "clock-skew" and w.stop is not None
                 and t is not None and w.stop <= t]
        if ended:
            last = max(ended, key=lambda w: w.stop or 0)
            text += (f": the clock skew of {fmt_s(last.start)} to {fmt_s(last.stop)} had ended, but a hybrid clock "
                     "carries a lead it has seen on past the skew (a stamp never goes back) until real time "
                     f"catches up, so {_short(survivor)}'s stamp beat {_short(newer)}'s although "
                     f"{_short(newer)} was written later")
        else:
            text += (f": a clock ahead of the others (no clock-skew fault was recorded before it) gave "
                     f"{_short(survivor)} a stamp that beat {_short(newer)}'s although {_short(newer)} was "
                     "written later")
        return field, text

    def _context(self, spans: list[tuple[int | None, int | None, Any]]) -> tuple[str, list[dict[str, Any]]]:
        """Sentences about the fault windows overlapping any of (start, end, node) spans."""
        seen: dict[tuple[int, Any], str] = {}
        windows: list[FaultWindow] = []
        for a, b, node in spans:
            if a is None:
                continue
            for w in self.faults.active(a, b if b is not None else a):
                k = (id(w), node if w.kind == "partition" else None)
                if k not in seen:
                    seen[k] = w.describe(node)
                    if all(x is not w for x in windows):
                        windows.append(w)
        text = " ".join(_sentence(s) for s in dict.fromkeys(seen.values()))
        return text, [w.to_json() for w in windows]

    @staticmethod
    def _finals(ok: dict[Any, tuple[Any, ...]]) -> str:
        nodes = sorted(ok, key=str)
        times = [v[2] for v in ok.values() if v[2] is not None]
        when = f" at {fmt_s(max(times))}" if times else ""
        return f"{', '.join(map(str, nodes))}{when}"

    def _anomaly(
        self,
        typ: str,
        key: Any,
        indexes: list[int],
        text: str,
        spans: list[tuple[Any, Any, Any]],
        **extra: Any,
    ) -> dict[str, Any]:
        ctx, windows = self._context(spans)
        return {
            "type": typ,
            "key": key,
            "indexes": sorted({i for i in indexes if i is not None and i < INF}),
            "explanation": f"{typ.replace('-', ' ')} on key {_v(key)}: {text}" + (f" {ctx}" if ctx else ""),
            "faults": windows,
            **extra,
        }

    def future_read(self, key: Any, read: tuple[Any, ...], w: list[Any]) -> dict[str, Any]:
        phase = "final read" if read[R_FINAL] else "read"
        text = (
            f"a {phase}{_by(read[R_NODE])} (process {read[R_PROC]}) returned {_v(read[R_VALUE])}, "
            f"completing at {fmt_s(read[R_COMP_T])} (line index {read[R_COMP]}), but the put of "
            f"{_v(w[W_VALUE])} was only invoked afterwards, at {fmt_s(w[W_INV_T])} (index {w[W_INV]}): "
            "the read saw a value before anyone had started writing it."
        )
        return self._anomaly(
            "future-read",
            key,
            [read[R_INV], read[R_COMP], w[W_INV]],
            text,
            [(read[R_INV_T], read[R_COMP_T], read[R_NODE]), (w[W_INV_T], w[W_COMP_T], w[W_NODE])],
            value=read[R_VALUE],
        )

    def phantom_read(self, key: Any, value: Any, reads: list[tuple[Any, ...]]) -> dict[str, Any]:
        r = reads[0]
        more = f" ({len(reads)} reads returned it; the first is shown)" if len(reads) > 1 else ""
        text = (
            f"a read{_by(r[R_NODE])} (process {r[R_PROC]}) returned {_v(value)} at {fmt_s(r[R_COMP_T])} "
            f"(index {r[R_COMP]}), but no put of key {_v(key)} ever wrote that value{more}."
        )
        idx = []
        for x in reads[:20]:
            idx += [x[R_INV], x[R_COMP]]
        return self._anomaly(
            "phantom-read", key, idx, text, [(r[R_INV_T], r[R_COMP_T], r[R_NODE])], value=value
        )

    def failed_read(self, key: Any, w: list[Any]) -> dict[str, Any]:
        r = w[W_SEEN]
        text = (
            f"a read{_by(r[R_NODE])} (process {r[R_PROC]}) returned {_v(w[W_VALUE])} at {fmt_s(r[R_COMP_T])} "
            f"(index {r[R_COMP]}), but the put of that value failed{_by(w[W_NODE])} at {fmt_s(w[W_COMP_T])} "
            f"(index {w[W_COMP]}): a failed operation must never take effect."
        )
        return self._anomaly(
            "phantom-read",
            key,
            [r[R_INV], r[R_COMP], w[W_INV], w[W_COMP]],
            text,
            [(r[R_INV_T], r[R_COMP_T], r[R_NODE]), (w[W_INV_T], w[W_COMP_T], w[W_NODE])],
            value=w[W_VALUE],
        )

    def divergent(self, key: Any, ks: Any, ok: dict[Any, tuple[Any, ...]]) -> dict[str, Any]:
        groups: dict[Any, list[Any]] = {}
        shown: dict[Any, Any] = {}
        for node, v in ok.items():
            k = vkey(v[0])
            groups.setdefault(k, []).append(node)
            shown[k] = v[0]
        parts: list[str] = []
        origins: dict[Any, list[Any] | None] = {vk: _newest_write(ks, vk) for vk in groups}
        for vk, nodes in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            value = shown[vk]
            w = origins[vk]
            if w is not None:
                origin = f", {'the ' if w[W_KIND] == 'delete' else ''}{_write_name(w)} {_status(w)}"
            elif vk is None:
                origin = " (no delete of the key was attempted: nothing written reached it)"
            else:
                origin = ""
            parts.append(f"{', '.join(map(str, sorted(nodes, key=str)))} returned {_v(value)}{origin}")
        times = [v[2] for v in ok.values() if v[2] is not None]
        text = (
            "after the final heal the nodes still disagree in their last final reads"
            + (f" (up to {fmt_s(max(times))})" if times else "")
            + ": "
            + "; ".join(parts)
            + "."
        )
        spans = []
        for vk in groups:
            w = origins[vk]
            if w is not None:
                spans.append((w[W_INV_T], w[W_COMP_T], w[W_NODE]))
        return self._anomaly(
            "divergent",
            key,
            [v[1] for v in ok.values()],
            text,
            spans,
            values={str(n): v[0] for n, v in ok.items()},
        )

    def lost_write(
        self,
        key: Any,
        ks: Any,
        ok: dict[Any, tuple[Any, ...]],
        survivor: list[Any],
        newer: list[Any],
        typ: str,
    ) -> dict[str, Any]:
        text = (
            f"{_write_name(newer)} was {_status(newer)}; {_write_name(survivor)}, {_status(survivor)} "
            f"(before {_short(newer)} was invoked at {fmt_s(newer[W_INV_T])}), is the value every node "
            f"returned in the final reads ({self._finals(ok)})."
        )
        if typ == "resurrected-delete":
            text += " The acknowledged delete was undone: the older value came back."
        else:
            text += " The acknowledged newer write is lost."
        skew, why = self._skew(survivor, newer)
        if why:
            text += f" {why}."
        ahead, carried = self._carried(survivor, newer, self._offset(survivor) is not None)
        if carried:
            text += f" {carried}."
        return self._anomaly(
            typ,
            key,
            [newer[W_INV], newer[W_COMP], survivor[W_INV], survivor[W_COMP]] + [v[1] for v in ok.values()],
            text,
            [
                (newer[W_INV_T], newer[W_COMP_T], newer[W_NODE]),
                (survivor[W_INV_T], survivor[W_COMP_T], survivor[W_NODE]),
            ],
            value=survivor[W_VALUE],
            lost=newer[W_VALUE] if newer[W_KIND] == "put" else None,
            **({"clock_skew": skew} if skew else {}),
            **({"stamp_ahead_s": ahead} if ahead else {}),
        )

    def _offset(self, w: list[Any]) -> float | None:
        """The clock offset (s, + ahead) of the node that took write ``w``, from a clock-skew window active
        while it ran (the nemesis event's ``value.offsets``), or None."""
        for win in self.faults.active(w[W_INV_T], w[W_COMP_T] if w[W_COMP_T] is not None else w[W_INV_T]):
            offsets = win.value.get("offsets") if win.kind == "clock-skew" and isinstance(win.value, dict) else None
            off = offsets.get(w[W_NODE]) if isinstance(offsets, dict) else None
            if isinstance(off, int | float) and not isinstance(off, bool) and off:
                return float(off)
        return None

    def _skew_elsewhere(self, survivor: list[Any], newer: list[Any]) -> tuple[dict[str, float], str]:
        """Skew on nodes that took neither write, while either ran: a hybrid clock takes the highest time it
        hears, so a node ahead passes its lead on to every node it talks to, and so to their stamps."""
        skew: dict[str, float] = {}
        for w in (survivor, newer):
            for win in self.faults.active(w[W_INV_T], w[W_COMP_T] if w[W_COMP_T] is not None else w[W_INV_T]):
                offsets = win.value.get("offsets") if win.kind == "clock-skew" and isinstance(win.value, dict) else None
                if not isinstance(offsets, dict):
                    continue
                for node, off in offsets.items():
                    if isinstance(off, int | float) and not isinstance(off, bool) and off:
                        skew.setdefault(str(node), float(off))
        if not skew:
            return {}, ""
        clocks = ", ".join(f"{n}'s clock ran {abs(o):g} s {'ahead' if o > 0 else 'behind'}" for n, o in skew.items())
        return skew, (f"Meanwhile {clocks}; neither write went through a skewed node, but a hybrid clock passes a "
                      f"node's lead on to the nodes it talks to, so {_short(survivor)}'s stamp could still beat "
                      f"{_short(newer)}'s")

    def _skew(self, survivor: list[Any], newer: list[Any]) -> tuple[dict[str, float], str]:
        """Whose clock ran how far ahead or behind when the two writes were stamped, as a field and a sentence."""
        so, no = self._offset(survivor), self._offset(newer)
        if so is None and no is None:
            return self._skew_elsewhere(survivor, newer)
        skew: dict[str, float] = {}
        parts: list[str] = []
        for w, off, lead in ((survivor, so, True), (newer, no, False)):
            if off is None:
                continue
            skew[str(w[W_NODE])] = off
            side = f"whose clock ran {abs(off):g} s {'ahead' if off > 0 else 'behind'}"
            parts.append(f"{_short(w)} was written via {w[W_NODE]}, {side}" if lead or not parts
                         else f"{_short(w)} via {w[W_NODE]}, {side}")
        text = ", and ".join(parts)
        if (so or 0.0) > (no or 0.0):
            text += (f": {_short(survivor)}'s stamp beat {_short(newer)}'s although {_short(newer)} was "
                     "written later")
        return skew, text[0].upper() + text[1:] if text.startswith("the ") else text

    def lost_to_null(
        self, key: Any, ks: Any, ok: dict[Any, tuple[Any, ...]], newer: list[Any]
    ) -> dict[str, Any]:
        dels = [d for d in ks.deletes if d[W_OUT] != "fail"]
        if dels:
            why = (
                f"every delete of the key completed before it was invoked (the last at "
                f"{fmt_s(max((d[W_COMP_T] or 0) for d in dels))})"
            )
        else:
            why = "no delete of the key was ever attempted"
        text = (
            f"{_write_name(newer)} was {_status(newer)}, and {why}; yet every node returned null in the "
            f"final reads ({self._finals(ok)}). The acknowledged write is lost."
        )
        idx = [newer[W_INV], newer[W_COMP]] + [v[1] for v in ok.values()]
        for d in dels[-3:]:
            idx += [d[W_INV], d[W_COMP]]
        return self._anomaly(
            "lost-write",
            key,
            idx,
            text,
            [(newer[W_INV_T], newer[W_COMP_T], newer[W_NODE])],
            value=None,
            lost=newer[W_VALUE],
        )
