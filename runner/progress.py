"""The live progress line on a terminal: elapsed time, operations by outcome, active faults."""

from __future__ import annotations

import sys

import trio

from .recorder import HistoryRecorder


class ProgressLine:
    """Rewrites one stderr line twice a second while a run is going."""

    def __init__(self) -> None:
        self.phase = "load"
        self._shown = False

    async def run(self, recorder: HistoryRecorder, time_limit: float) -> None:
        while True:
            elapsed = recorder.elapsed()
            o = recorder.outcomes
            faults = ", ".join(sorted(recorder.active_faults)) or "none"
            clock = f"{min(elapsed, time_limit):5.1f}/{time_limit:.0f}s" if self.phase == "load" else self.phase
            line = f"  [{clock}] ok {o['ok']:>6}  fail {o['fail']:>4}  info {o['info']:>4}  faults: {faults}"
            sys.stderr.write("\r" + line[:100].ljust(100))
            sys.stderr.flush()
            self._shown = True
            await trio.sleep(0.5)

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
