"""Events paired into operations, key by key: what the set, counter and siblings rules start from.

Each operation keeps the line-order positions of its invoke and completion (line order is
authoritative, docs/HISTORY.md), their ``index`` and ``time``, and how it ended: ``ok``, ``fail``
or ``info`` (an invocation never completed counts as ``info``, its completion position ``None``,
meaning it may take effect at any later time).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from checker.faults import FaultTimeline
from checker.values import vkey


@attrs.define
class Op:
    """One client operation, invoke and completion together."""

    f: str
    key: Any
    value: Any  # the invoke's value (add/remove: the element; incr/decr: the amount; put: the value)
    process: Any
    node: Any
    inv_pos: int
    inv_index: int
    inv_time: int | None
    type: str = "info"  # how it ended
    comp_pos: int | None = None  # None: never completed
    comp_index: int | None = None
    comp_time: int | None = None
    result: Any = None  # the completion's value (a read's)
    final: bool = False
    context_from: int | None = None  # siblings: the index of the get whose context a write carried

    @property
    def indexes(self) -> list[int]:
        return [self.inv_index] if self.comp_index is None else [self.inv_index, self.comp_index]

    def when(self) -> str:
        """``acknowledged at 1.234 s`` style time of the completion, or of the invoke if none."""
        t = self.comp_time if self.comp_time is not None else self.inv_time
        return seconds(t)


def returned(op: Op) -> frozenset[Any]:
    """The values a read returned (a set's elements, a register's siblings), as comparable keys."""
    return frozenset(vkey(x) for x in (op.result or ()))


def seconds(t: int | None) -> str:
    return "an unknown time" if t is None else f"{t / 1e9:.3f} s"


def collect(events: Iterable[dict[str, Any]], read_fs: tuple[str, ...] = ("read", "get"),
            faults: FaultTimeline | None = None, keyless: bool = False) -> dict[Any, list[Op]]:
    """Every client operation of ``events`` by key, in invoke order; ``get`` reads become ``read``
    when ``read_fs`` says so. Nemesis events go to ``faults`` (finished at the end), if given.
    ``keyless`` (echo, unique-ids: a key is ignored there, whatever its type) files every
    operation under the key None."""
    by_key: dict[Any, list[Op]] = {}
    pending: dict[Any, Op] = {}
    pos = 0
    last_time = None
    for ev in events:
        pos += 1
        proc = ev.get("process")
        t = ev.get("time")
        if t is not None:
            last_time = t
        if proc == "nemesis":
            if faults is not None:
                faults.feed(ev)
            continue
        typ = str(ev.get("type"))
        f = str(ev.get("f"))
        if f in read_fs:
            f = "read"
        if typ == "invoke":
            op = Op(f=f, key=None if keyless else ev.get("key"), value=ev.get("value"), process=proc, node=ev.get("node"),
                    inv_pos=pos, inv_index=ev["index"], inv_time=ev.get("time"), final=bool(ev.get("final")),
                    context_from=ev.get("context_from"))
            pending[proc] = op
            by_key.setdefault(op.key, []).append(op)
            continue
        op_ = pending.pop(proc, None)
        if op_ is None:
            continue  # validated histories never get here
        op_.type = typ
        op_.comp_pos = pos
        op_.comp_index = ev["index"]
        op_.comp_time = ev.get("time")
        op_.result = ev.get("value")
        if op_.node is None:
            op_.node = ev.get("node")
        if ev.get("final"):
            op_.final = True
        if op_.context_from is None:
            op_.context_from = ev.get("context_from")
    if faults is not None:
        faults.finish(last_time)
    return by_key


def add_faults(anomalies: list[dict[str, Any]], faults: FaultTimeline) -> None:
    """Say which fault windows overlapped each anomaly's operations (its private ``_ops``, removed
    here), as the register checker's explanations do, and list them under ``faults``."""
    for a in anomalies:
        seen: dict[tuple[int, Any], str] = {}
        windows: list[Any] = []
        for op in a.pop("_ops", None) or ():
            end = op.comp_time if op.comp_time is not None else op.inv_time
            for w in faults.active(op.inv_time, end):
                k = (id(w), op.node if w.kind == "partition" else None)
                if k not in seen:
                    seen[k] = w.describe(op.node)
                    if all(x is not w for x in windows):
                        windows.append(w)
        if seen:
            text = " ".join(("A" + x[1:] if x.startswith("a ") else x) + "." for x in dict.fromkeys(seen.values()))
            a["explanation"] = f"{a['explanation']}. {text}"
        a["faults"] = [w.to_json() for w in windows]


def final_reads(ops: list[Op]) -> dict[Any, Op]:
    """The last final read of each node (by completion), whatever its outcome."""
    last: dict[Any, Op] = {}
    for op in ops:
        if op.f == "read" and op.final:
            prev = last.get(op.node)
            if prev is None or (op.comp_pos or 0) >= (prev.comp_pos or 0):
                last[op.node] = op
    return last


def unknown_entry(key: Any, kind: str, reason: str, indexes: list[int] | None = None) -> dict[str, Any]:
    return {"key": key, "kind": kind, "reason": reason, "indexes": indexes or []}


def verdict(anomalies: list[dict[str, Any]], unknown: list[dict[str, Any]]) -> bool | str:
    return False if anomalies else ("unknown" if unknown else True)


def counts(items: list[dict[str, Any]], field: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in items:
        out[a[field]] = out.get(a[field], 0) + 1
    return out


def op_counts(by_key: dict[Any, list[Op]]) -> dict[str, dict[str, int]]:
    """Operations by ``f`` and outcome, as the register checker's ``stats.ops``."""
    out: dict[str, dict[str, int]] = {}
    for ops in by_key.values():
        for op in ops:
            c = out.setdefault(op.f, {"ok": 0, "fail": 0, "info": 0})
            c[op.type] += 1
    return out


def on(node: Any) -> str:
    """Where a read ran, for a sentence: "on n1", or that the history did not say."""
    return f"on {node}" if node is not None else "(its node not recorded)"


def show(v: Any) -> str:
    """A value as a person reads it in an explanation (JSON-ish, short)."""
    import orjson

    from checker.values import brief, preview

    try:
        text = orjson.dumps(v).decode()
    except TypeError:  # not JSON, or nested past orjson's 255 levels
        return preview(v)
    return brief(text)


def _order(v: Any) -> tuple[int, Any]:
    """Numbers in numeric order first, then everything else by its text."""
    return (0, v) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v))


def _values(n: int) -> str:
    return f"{n:,} value" if n == 1 else f"{n:,} values"


def _set_differences(seen: dict[Any, list[Op]]) -> str:
    """What each group of nodes' final set lacks that another node's holds (the part that differs), not the
    sets themselves, whose shared beginnings would hide it."""
    union: frozenset[Any] = frozenset().union(*seen)
    parts = []
    for held, group in seen.items():
        lacking = union - held
        nodes = ", ".join(str(o.node) for o in group)
        if lacking:
            shown = sorted(lacking, key=_order)
            listed = ", ".join(show(v) for v in shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")
            them = "it" if len(lacking) == 1 else f"these {len(lacking)}"
            parts.append(f"{nodes} read {_values(len(held))}, lacking {them}, which another node holds: {listed}")
        else:
            parts.append(f"{nodes} read {_values(len(held))}, every value any node holds")
    return "; ".join(parts)


def final_verdicts(key: Any, ops: list[Op], anomalies: list[dict[str, Any]], unknown: list[dict[str, Any]],
                   normal: Any) -> dict[Any, Op] | None:
    """The ok final read of each node of ``key``, after recording what is missing or divergent.

    ``normal`` turns a read into something comparable (a frozenset, an int). Returns
    ``None`` when the key has no ok final read (an unknown entry is added).
    """
    finals = final_reads(ops)
    if not finals:
        unknown.append(unknown_entry(key, "no-final-reads",
                                     f"key {show(key)} has no final reads, so its final state cannot be judged"))
        return None
    missing = [op for op in finals.values() if op.type != "ok"]
    for op in missing:
        unknown.append(unknown_entry(key, "final-read-missing",
                                     f"the last final read of key {show(key)} {on(op.node)} did not return "
                                     f"a value ({op.type})", op.indexes))
    ok = {n: op for n, op in finals.items() if op.type == "ok"}
    if not ok:
        return None
    seen: dict[Any, list[Op]] = {}
    for op in ok.values():
        seen.setdefault(normal(op), []).append(op)
    if len(seen) > 1:
        if all(isinstance(normal_value, frozenset) for normal_value in seen):
            parts = _set_differences(seen)
        else:
            parts = "; ".join(f"{', '.join(str(o.node) for o in group)} read {show(group[0].result)}"
                              for group in seen.values())
        anomalies.append({
            "type": "divergent",
            "key": key,
            "indexes": sorted(i for op in ok.values() for i in op.indexes),
            "explanation": f"divergent final reads of key {show(key)}: in the final reads {parts}",
            "_ops": list(ok.values()),
        })
    return ok
