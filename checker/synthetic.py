"""Synthetic but realistic key-value histories, for tests, the benchmark and report screenshots.

The real harness records histories from a running cluster; until then (and for million-operation
benchmarks that a 2-core machine cannot run live) this models what such a run looks like: a
Dynamo-style store with W=1/R=1 where each write lands on its coordinator first and reaches the
other replicas a few milliseconds later, unless a partition separates them, in which case it
arrives after the partition heals (anti-entropy). Reads return what their node holds, so stale
reads and divergence during partitions appear naturally, and the final reads after the heal
converge (or do not, with ``merge="first-writer-wins"``, the seeded lost-write bug).

Nothing here imports the store: it is a model of the *history*, not of the system.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

NS = 1_000_000_000
MS = 1_000_000


def _replicas(key_no: int, nodes: list[str], n: int) -> list[str]:
    start = (key_no * 2654435761) % len(nodes)
    return [nodes[(start + i) % len(nodes)] for i in range(min(n, len(nodes)))]


def _separated(windows: list[tuple[str, int, int, Any]], a: str, b: str, t: int) -> int | None:
    """If a partition separates a and b at time t, when does it end?"""
    for kind, start, stop, value in windows:
        if kind == "partition" and start <= t < stop:
            for g in value["groups"]:
                if (a in g) != (b in g):
                    return stop
    return None


def _crashed(windows: list[tuple[str, int, int, Any]], node: str, t: int) -> bool:
    return any(k == "crash" and s <= t < e and node in v["nodes"] for k, s, e, v in windows)


def generate(
    *,
    seed: int = 1,
    duration_s: float = 30.0,
    processes: int = 8,
    keys: int = 20,
    nodes: int = 5,
    replication: int = 3,
    think_ms: float = 40.0,
    faults: list[tuple[str, float, float]] | None = None,
    merge: str = "last-writer-wins",
    final_rounds: int = 6,
) -> Iterator[dict[str, Any]]:
    """Yield the events of one modelled run, in line order, with ``index`` set.

    ``faults`` is a list of (kind, start s, stop s) with kind ``partition`` or ``crash``;
    the default is one halves partition in the middle third of the run.
    """
    rnd = random.Random(seed)
    names = [f"n{i + 1}" for i in range(nodes)]
    dur = int(duration_s * NS)
    if faults is None:
        faults = [("partition", duration_s / 3, 2 * duration_s / 3)]
    windows: list[tuple[str, int, int, Any]] = []
    for kind, a, b in faults:
        if kind == "partition":
            shuffled = names[:]
            rnd.shuffle(shuffled)
            half = len(names) // 2
            value: Any = {"kind": "halves", "groups": [sorted(shuffled[:half]), sorted(shuffled[half:])]}
        else:
            value = {"nodes": [rnd.choice(names)]}
        windows.append((kind, int(a * NS), int(b * NS), value))
    fww = merge == "first-writer-wins"

    ev: list[tuple[Any, ...]] = []  # (time, seq, process, type, f, key, value, node, error, final)
    seq = 0
    # writes[key] = list of (stamp, value_or_None, {node: arrival time})
    writes: dict[int, list[tuple[tuple[int, str], Any, dict[str, int]]]] = {}
    reads: list[tuple[int, int, str, int]] = []  # (event position, key, node, read time)
    next_pid = processes
    touched: set[int] = set()
    for p0 in range(processes):
        pid = p0
        t = int(rnd.uniform(0, think_ms) * MS)
        opno = 0
        while t < dur:
            key = rnd.randrange(keys)
            touched.add(key)
            reps = _replicas(key, names, replication)
            node = rnd.choice(reps)
            r = rnd.random()
            f = "get" if r < 0.5 else ("put" if r < 0.9 else "delete")
            opno += 1
            value = f"p{pid}-{opno}" if f == "put" else None
            lat = int(rnd.lognormvariate(0.7, 0.6) * MS)
            down = _crashed(windows, node, t)
            if down or rnd.random() < 0.002:
                typ, err, lat = "info", "timeout", 1000 * MS
                applied = (not down) and rnd.random() < 0.5
            elif rnd.random() < 0.003:
                typ, err, applied = "fail", "unavailable", False
            else:
                typ, err, applied = "ok", None, True
            if _separated(windows, reps[0], reps[-1], t) is not None:
                lat += int(rnd.uniform(0, 4) * MS)  # retries towards unreachable replicas
            t_apply = t + lat // 2
            ev.append((t, seq, pid, "invoke", f, key, value, node, None, False))
            seq += 1
            if f != "get" and applied:
                arrival = {node: t_apply}
                for other in reps:
                    if other == node:
                        continue
                    stop = _separated(windows, node, other, t_apply)
                    if stop is not None:
                        arrival[other] = stop + int(rnd.uniform(50, 3000) * MS)
                    else:
                        arrival[other] = t_apply + int(rnd.uniform(1, 30) * MS)
                writes.setdefault(key, []).append(((t_apply, node), value, arrival))
            done_value = value
            if f == "get" and typ == "ok":
                reads.append((len(ev), key, node, t_apply))
            ev.append((t + lat, seq, pid, typ, f, key, done_value, node, err, False))
            seq += 1
            if typ == "info":
                pid = next_pid
                next_pid += 1
                opno = 0
            t += lat + int(rnd.expovariate(1 / think_ms) * MS)

    for ws in writes.values():
        ws.sort(key=lambda w: w[0])
    heal = max([dur] + [w[2] for w in windows]) + 100 * MS
    t = heal + 2 * NS  # quiescence
    final_pid = next_pid
    keys_written = sorted(touched)
    pending_keys = set(keys_written)
    for _ in range(final_rounds):
        if not pending_keys:
            break
        for key in keys_written:
            if key not in pending_keys:
                continue
            vals = set()
            for node in _replicas(key, names, replication):
                ev.append((t, seq, final_pid, "invoke", "get", key, None, node, None, True))
                seq += 1
                reads.append((len(ev), key, node, t + MS // 2))
                ev.append((t + MS, seq, final_pid, "ok", "get", key, None, node, None, True))
                seq += 1
                vals.add(_value_at(writes.get(key, []), node, t + MS // 2, fww))
                t += MS
            if len(vals) == 1:
                pending_keys.discard(key)
        t += 500 * MS
    for pos, key, node, rt in reads:
        e = ev[pos]
        ev[pos] = e[:6] + (_value_at(writes.get(key, []), node, rt, fww),) + e[7:]

    nem: list[tuple[Any, ...]] = []
    for kind, a, b, value in windows:
        nem.append((a, -1, "nemesis", "info", f"{kind}-start", None, value, None, None, False))
        nem.append((b, -1, "nemesis", "info", f"{kind}-stop", None, None, None, None, False))
    nem.append((heal, -1, "nemesis", "info", "heal", None, None, None, None, False))
    ev.extend(nem)
    ev.sort(key=lambda e: (e[0], e[1]))
    for i, (tt, _, pid, typ, f, key, value, node, err, final) in enumerate(ev):
        d: dict[str, Any] = {"index": i, "time": tt, "process": pid, "type": typ, "f": f}
        if pid != "nemesis":
            d["key"] = f"k{key}"
            d["node"] = node
        d["value"] = value
        if err:
            d["error"] = err
        if final:
            d["final"] = True
        yield d


def _value_at(ws: list[tuple[tuple[int, str], Any, dict[str, int]]], node: str, t: int, fww: bool) -> Any:
    """The value ``node`` holds at ``t``: the largest stamp that has arrived (smallest for the bug).

    ``ws`` is sorted by stamp, and a write never arrives before its stamp's time, so the scan
    starts at the last stamp not after ``t`` and usually stops at once.
    """
    if fww:
        for stamp, value, arrival in ws:
            if stamp[0] > t:
                break
            at = arrival.get(node)
            if at is not None and at <= t:
                return value
        return None
    i = bisect.bisect_right(ws, (t, "\uffff"), key=lambda w: w[0]) - 1
    while i >= 0:
        stamp, value, arrival = ws[i]
        at = arrival.get(node)
        if at is not None and at <= t:
            return value
        i -= 1
    return None


def write_history(path: str | Path, events: Iterator[dict[str, Any]]) -> int:
    """Write events as history.jsonl; returns how many were written."""
    n = 0
    with open(path, "wb") as fh:
        for e in events:
            fh.write(orjson.dumps(e))
            fh.write(b"\n")
            n += 1
    return n
