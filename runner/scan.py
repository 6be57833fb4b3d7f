"""The summary's counts and latencies, gathered from a history's events as they pass (``Scanner``).

Its own module, light to import (attrs alone): the check process (``runner/check_process.py``) gathers
them in its pass without importing the run machinery that ``runner.summary`` needs.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import attrs


@attrs.define
class _Scan:
    """What the summary reads from history.jsonl: client outcomes per f, and how long each op took."""

    counts: Counter[tuple[str, str]] = attrs.Factory(Counter)
    latencies: array[float] = attrs.Factory(lambda: array("d"))
    """Seconds from invoke to completion of each client operation (ok, fail, info), final reads aside."""
    info_n: int = 0
    failed_seconds: float = 0.0
    """Of ``latencies``, the seconds spent on operations that failed or waited out the timeout (fail, info)."""
    errors: Counter[str] = attrs.Factory(Counter)
    """The ``error`` of each failed or timed-out client operation (``unavailable``, ``timeout``...), counted."""

    @property
    def mean_latency(self) -> float | None:
        return sum(self.latencies) / len(self.latencies) if self.latencies else None


class Scanner:
    """Gathers the summary's `_Scan` from events as they pass: the check's own pass over the history
    (``watch``, handed to `checker.report.check_for_report`), or `_scan`'s read of the file."""

    def __init__(self) -> None:
        self.scan = _Scan()
        self.complete = False
        """True once the watched events ran to their end (the scan covers the whole history)."""
        self._invoked: dict[Any, int] = {}

    def feed(self, event: dict[str, Any]) -> None:
        if "index" not in event or event.get("process") == "nemesis" or event.get("final"):  # the header too
            return
        if event.get("type") == "invoke":
            self._invoked[event.get("process")] = event.get("time", 0)
            return
        scan = self.scan
        scan.counts[(event["f"], event["type"])] += 1
        began = self._invoked.pop(event.get("process"), None)
        if began is not None and event.get("time") is not None:
            latency = (event["time"] - began) / 1e9
            scan.latencies.append(latency)
            if event["type"] != "ok":
                scan.info_n += event["type"] == "info"
                scan.failed_seconds += latency
                scan.errors[str(event.get("error"))] += 1

    def watch(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Pass ``events`` on unchanged, scanning each one on the way."""
        feed = self.feed
        for event in events:
            feed(event)
            yield event
        self.complete = True
