"""Appending events to ``history.jsonl`` in the format of docs/HISTORY.md, as they happen.

Line order is the order events happened in this process, which is the real-time order the checker
relies on; ``time`` is trio's clock since the run started, in nanoseconds (virtual nanoseconds in
simulation, which is what makes a simulated history byte-identical across replays). Lines are
written through a buffer and flushed on close, and counted by outcome for the progress line.

Nothing here grows with the number of operations: events go straight to the file, and the only
tallies are counters by outcome and by ``WINDOW`` seconds of load (60 of them in a 600 s run),
from which the achieved rate and its trend (``throughput``) are computed.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import IO, Any

import orjson
import trio

WINDOW = 10.0
"""Seconds per window of the achieved-rate series."""
TREND_SPAN = 30.0
"""The first and the last this many seconds of load are compared in runs of at least ``TREND_MIN``."""
TREND_MIN = 60.0


def history_header(conflict: str, workload: str) -> dict[str, Any]:
    """The header line of a harness history (docs/HISTORY.md "Conflict modes and workloads"): not an event."""
    return {"history": 1, "conflict": conflict, "workload": workload, "meta": {"system": "minikeydb"}}


class HistoryRecorder:
    """Writes one history file; ``record`` returns the event's index.

    ``header`` (``history_header``) is written as the first line; it takes no index.
    """

    def __init__(self, path: Path, header: dict[str, Any] | None = None) -> None:
        self.path = path
        self._file: IO[bytes] = path.open("wb")
        if header is not None:
            self._file.write(orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE))
        self._clock = trio.lowlevel.current_clock().current_time
        """trio.current_time() without its two wrappers (it is read for every event)."""
        self._start = self._clock()
        self.index = 0
        self.outcomes: Counter[str] = Counter()
        self.active_faults: set[str] = set()
        self.faults: Counter[str] = Counter()
        self.load_start: float | None = None
        self.closed_at: float | None = None
        self.load_seconds: float | None = None
        """Seconds from the start of the load to ``close`` (a run a signal stopped: what it ran)."""
        self.window_completed: list[int] = []
        """Client operations completed (ok, fail or info; final reads aside) per ``WINDOW`` of load."""
        self.window_ok: list[int] = []
        self.journal: dict[str, Any] | None = None
        """results.json's ``journal`` block, set by the run when it wrote one (``runner.journal``)."""

    def start_load(self) -> None:
        """Mark the start of the load phase: the achieved-rate windows count from here."""
        self.load_start = trio.current_time()

    @property
    def started(self) -> float:
        """trio's clock when the recorder started: ``time`` 0 of the history."""
        return self._start

    def elapsed(self) -> float:
        return self._clock() - self._start

    def record(self, **fields: Any) -> int:
        index = self.index
        event: dict[str, Any] = {"index": index, "time": int((self._clock() - self._start) * 1e9)}
        for k, v in fields.items():
            if v is not None or k == "value":
                event[k] = v
        try:
            line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # an integer beyond 64 bits (a Maelstrom node's id): kept exact, as a plain JSON integer
            line = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        self._file.write(line)
        self.index = index + 1
        kind = event.get("type")
        if kind != "invoke" and event.get("process") != "nemesis":
            self.outcomes[kind if type(kind) is str else str(kind)] += 1
            if self.load_start is not None and not event.get("final"):
                self._count_window(kind == "ok")
        return index

    def operation(
        self, process: int, kind: str, f: str, key: str, value: Any, node: str,
        error: str | None = None, final: bool | None = None, meta: dict[str, Any] | None = None,
    ) -> int:
        """``record(process=, type=kind, f=, key=, value=, node=, error=, final=, meta=)``: the same line and
        tallies, for the workload's two events per operation, without packing and walking keywords."""
        if process is None or kind is None or f is None or key is None or node is None or process == "nemesis":
            return self.record(process=process, type=kind, f=f, key=key, value=value, node=node,
                               error=error, final=final, meta=meta)
        index = self.index
        event: dict[str, Any] = {"index": index, "time": int((self._clock() - self._start) * 1e9),
                                 "process": process, "type": kind, "f": f, "key": key, "value": value, "node": node}
        if error is not None:
            event["error"] = error
        if final is not None:
            event["final"] = final
        if meta is not None:
            event["meta"] = meta
        try:
            line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # as record's
            line = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        self._file.write(line)
        self.index = index + 1
        if kind != "invoke":
            self.outcomes[kind if type(kind) is str else str(kind)] += 1
            if self.load_start is not None and not final:
                self._count_window(kind == "ok")
        return index

    def _count_window(self, ok: bool) -> None:
        window = int((self._clock() - self.load_start) // WINDOW)  # type: ignore[operator]  # (set: the caller looked)
        completed = self.window_completed
        if window < len(completed):
            completed[window] += 1
            if ok:
                self.window_ok[window] += 1
            return
        while len(completed) <= window:
            completed.append(0)
            self.window_ok.append(0)
        completed[window] += 1
        self.window_ok[window] += ok

    def throughput(self, time_limit: float, requested: float) -> dict[str, Any]:
        """The achieved rate over the load (completions within ``time_limit``), per window, and its trend.

        ``requested`` is ops/s, or infinity for closed-loop clients (recorded as ``"max"``).
        """
        full = int(time_limit // WINDOW)
        tail = time_limit - full * WINDOW
        spans = [WINDOW] * full + ([tail] if tail > 1e-9 else [])
        completed = [self.window_completed[i] if i < len(self.window_completed) else 0 for i in range(len(spans))]
        ok = [self.window_ok[i] if i < len(self.window_ok) else 0 for i in range(len(spans))]
        out: dict[str, Any] = {
            "requested_rate": "max" if math.isinf(requested) else requested,
            "achieved_rate": round(sum(completed) / time_limit, 2) if time_limit > 0 else 0.0,
            "achieved_ok_rate": round(sum(ok) / time_limit, 2) if time_limit > 0 else 0.0,
            "completed": sum(completed),
            "window_seconds": WINDOW,
            "windows": [{"start": round(i * WINDOW, 3), "seconds": round(span, 3), "completed": c, "ok": k,
                         "rate": round(c / span, 2)} for i, (span, c, k) in enumerate(zip(spans, completed, ok,
                                                                                          strict=True))],
        }
        if time_limit >= TREND_MIN and full >= 2 * int(TREND_SPAN // WINDOW):
            n = int(TREND_SPAN // WINDOW)
            first = sum(completed[:n]) / (n * WINDOW)
            last = sum(completed[full - n: full]) / (n * WINDOW)
            out["trend"] = {"seconds": TREND_SPAN, "first_rate": round(first, 2), "last_rate": round(last, 2),
                            "change": round((last - first) / first, 4) if first else None}
        return out

    def nemesis(self, f: str, value: object) -> None:
        """The ``record`` callback the fault schedule calls for every start, stop and heal."""
        self.record(process="nemesis", type="info", f=f, value=value)
        kind, _, edge = f.rpartition("-")
        if edge == "start":
            self.active_faults.add(kind)
            self.faults[kind] += 1
        elif edge == "stop":
            self.active_faults.discard(kind)
        elif f == "heal":
            self.active_faults.clear()

    def close(self) -> None:
        """Flush and close the file (inside the Trio run: ``closed_at`` keeps the run's length)."""
        self._file.close()
        self.closed_at = self.elapsed()
        if self.load_start is not None:
            self.load_seconds = trio.current_time() - self.load_start
