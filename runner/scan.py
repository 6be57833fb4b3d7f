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
    unavailable_seconds: float = 0.0
    """Of ``latencies``, the seconds spent on operations no node answered in time (``info``, e.g. ``timeout``)
    or that failed as ``unavailable`` (too few replicas reachable): what nodes down or cut off cost the clients."""
    unavailable_errors: Counter[str] = attrs.Factory(Counter)
    """Those operations counted by their error's name (the text before any ``:``)."""

    @property
    def mean_latency(self) -> float | None:
        return sum(self.latencies) / len(self.latencies) if self.latencies else None


UNAVAILABLE = "unavailable"
"""The error of a definite failure for want of reachable replicas (``minikeydb.client``)."""


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
                info = event["type"] == "info"
                scan.info_n += info
                error = str(event.get("error")).partition(":")[0]
                if info or error == UNAVAILABLE:
                    scan.unavailable_seconds += latency
                    scan.unavailable_errors[error] += 1

    def watch(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Pass ``events`` on unchanged, scanning each one on the way."""
        feed = self.feed
        for event in events:
            feed(event)
            yield event
        self.complete = True
