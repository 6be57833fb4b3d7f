"""Appending events to ``history.jsonl`` in the format of docs/HISTORY.md, as they happen.

Line order is the order events happened in this process, which is the real-time order the checker
relies on; ``time`` is trio's clock since the run started, in nanoseconds (virtual nanoseconds in
simulation, which is what makes a simulated history byte-identical across replays). Lines are
written through a buffer and flushed on close, and counted by outcome for the progress line.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import IO, Any

import orjson
import trio


class HistoryRecorder:
    """Writes one history file; ``record`` returns the event's index."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] = path.open("wb")
        self._start = trio.current_time()
        self.index = 0
        self.outcomes: Counter[str] = Counter()
        self.active_faults: set[str] = set()
        self.faults: Counter[str] = Counter()

    def elapsed(self) -> float:
        return trio.current_time() - self._start

    def record(self, **fields: Any) -> int:
        event: dict[str, Any] = {"index": self.index, "time": int(self.elapsed() * 1e9)}
        event.update((k, v) for k, v in fields.items() if v is not None or k == "value")
        self._file.write(orjson.dumps(event) + b"\n")
        self.index += 1
        if fields.get("process") != "nemesis" and fields.get("type") != "invoke":
            self.outcomes[str(fields.get("type"))] += 1
        return event["index"]

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
        self._file.close()
