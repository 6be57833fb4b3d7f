"""The informational measurements: latency, availability, staleness, PBS visibility, sessions.

None of these decide the verdict; they say how the system behaved while being correct (or not).
They are collected while the history streams past, so everything here is either a counter or a
compact array of numbers, never a list of events: a million-operation run must fit in memory.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

# Log-spaced buckets (ms) for "how long after the acknowledgement did the read start".
PBS_EDGES_MS: tuple[float, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)


PBS_HOW_TO_READ = (
    "how to read it: each point is the probability that a read started t ms after a write's acknowledgement "
    "returned that write or a newer one (PBS t-visibility); 1 - P is the probability that such a read is stale. "
    "A read is healthy when no fault window was open at any moment from the write's invoke to the read's end, "
    "and under faults otherwise (a read after a heal of a write acknowledged during the partition is under "
    "faults). With replication working the healthy curve rises to 1 within a few ms and stays there. Under "
    "faults it stays lower and can fall as t grows: a read long after a write is most often one made during or "
    "just after a partition that kept the write from the replica read. A single curve over all reads mixes the "
    "two, which is why it may fall with t: compare the healthy and the under-faults curves"
)


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50, p95, p99, max of a sample (nearest-rank), or Nones for an empty sample."""
    n = len(values)
    if n == 0:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    s = sorted(values)

    def rank(q: float) -> float:
        return round(s[min(n - 1, max(0, math.ceil(q * n) - 1))], 3)

    return {"n": n, "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(s[-1], 3)}


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95 % at z = 1.96) for a proportion of ``k`` in ``n``: what a PBS bin's P can be
    given how few reads it holds ((0, 1) for none). Unlike p +- z sqrt(p(1-p)/n) it is not 1-1 for 2 of 2."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


JEPSEN_POINTS: tuple[tuple[str, float], ...] = (("0", 0.0), ("0.5", 0.5), ("0.95", 0.95), ("0.99", 0.99), ("1", 1.0))


def jepsen_quantiles(values: Sequence[float]) -> dict[str, int] | None:
    """Jepsen's ``frequency-distribution`` at its points 0, 0.5, 0.95, 0.99, 1 (the value at index
    ``min(n-1, floor(n*q))`` of the sorted sample), in whole ms as Maelstrom prints
    ``:stable-latencies``; None for an empty sample (Jepsen leaves the key out)."""
    s = sorted(values)
    n = len(s)
    if n == 0:
        return None
    return {name: int(s[min(n - 1, math.floor(n * q))]) for name, q in JEPSEN_POINTS}


def pbs_bucket(t_ms: float) -> int:
    """Index of the PBS bucket holding ``t_ms`` (the last bucket is open-ended)."""
    edges = PBS_EDGES_MS
    lo, hi = 0, len(edges) - 1
    if t_ms >= edges[-1]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if edges[mid] <= t_ms:
            lo = mid
        else:
            hi = mid - 1
    return lo


STALE_AGE_MEANS = "read start minus the acknowledgement of the earliest newer write it missed"
"""What a stale read's age is (``staleness_summary``'s ``age_ms``), in the words ``check`` and the report use."""


class StatsCollector:
    """Counters and samples fed by the convergence checker, summarised by `summary`."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.final_counts: dict[str, int] = {"ok": 0, "fail": 0, "info": 0}
        # latency samples (ms) by (f, fault kinds active at invoke)
        self.latency: dict[tuple[str, tuple[str, ...]], array] = {}
        self.reads = 0  # ok non-final reads whose source write could be identified
        self.stale_ages_ms = array("d")
        self.stale_times = array("q")  # invoke times (ns) of stale reads, for post-heal convergence
        self.read_times = array("q")  # invoke times (ns) of every read checked for staleness (the same reads)
        self.stale_undecidable = 0
        self.pbs_total = [0] * len(PBS_EDGES_MS)
        self.pbs_fresh = [0] * len(PBS_EDGES_MS)
        # The same, split by whether a fault window was open at some moment from the write's invoke to the read's end.
        self.pbs_split = {
            "healthy": ([0] * len(PBS_EDGES_MS), [0] * len(PBS_EDGES_MS)),
            "under_faults": ([0] * len(PBS_EDGES_MS), [0] * len(PBS_EDGES_MS)),
        }
        self.ryw: dict[Any, int] = {}
        self.monotonic: dict[Any, int] = {}
        self.session_examples: list[dict[str, Any]] = []

    def count(self, f: str, typ: str) -> None:
        c = self.counts.get(f)
        if c is None:
            c = self.counts[f] = {"ok": 0, "fail": 0, "info": 0}
        c[typ] += 1

    def add_latency(self, f: str, kinds: tuple[str, ...], ms: float) -> None:
        a = self.latency.get((f, kinds))
        if a is None:
            a = self.latency[(f, kinds)] = array("d")
        a.append(ms)

    def add_pbs(self, t_ms: float, fresh: bool, under_faults: bool = False) -> None:
        """One read ``t_ms`` after the latest acknowledged write; ``under_faults``: a fault window was open at
        some moment from that write's invoke to the read's end (else the read is healthy)."""
        b = pbs_bucket(t_ms)
        self.pbs_total[b] += 1
        total, fresh_n = self.pbs_split["under_faults" if under_faults else "healthy"]
        total[b] += 1
        if fresh:
            self.pbs_fresh[b] += 1
            fresh_n[b] += 1

    def session_violation(self, kind: str, process: Any, example: dict[str, Any]) -> None:
        table = self.ryw if kind == "read-your-writes" else self.monotonic
        table[process] = table.get(process, 0) + 1
        if len(self.session_examples) < 50:
            self.session_examples.append({"kind": kind, "process": process, **example})

    def latency_summary(self) -> dict[str, dict[str, Any]]:
        """Per f: 'all', 'healthy' and one entry per fault kind (an op under two kinds is in both)."""
        groups: dict[str, dict[str, list[array]]] = {}
        for (f, kinds), arr in self.latency.items():
            g = groups.setdefault(f, {})
            g.setdefault("all", []).append(arr)
            for k in kinds or ("healthy",):
                g.setdefault(k, []).append(arr)
        out: dict[str, dict[str, Any]] = {}
        for f, g in sorted(groups.items()):
            out[f] = {}
            for label, arrs in sorted(g.items(), key=lambda kv: (kv[0] != "all", kv[0] != "healthy", kv[0])):
                merged: list[float] = []
                for a in arrs:
                    merged.extend(a)
                out[f][label] = percentiles(merged)
        return out

    def pbs_curve(self, part: str | None = None) -> list[dict[str, Any]]:
        """The PBS curve over every read, or over the ``healthy`` / ``under_faults`` reads."""
        out = []
        edges = PBS_EDGES_MS
        totals, freshes = (self.pbs_total, self.pbs_fresh) if part is None else self.pbs_split[part]
        for i, total in enumerate(totals):
            if total == 0:
                continue
            out.append(
                {
                    "t_ms_from": edges[i],
                    "t_ms_to": edges[i + 1] if i + 1 < len(edges) else None,
                    "reads": total,
                    "fresh": freshes[i],
                    "probability": round(freshes[i] / total, 6),
                }
            )
        return out

    def pbs_by_fault(self) -> dict[str, Any]:
        """The PBS curve split: healthy reads (no fault window open from the write's invoke to the read's end) and
        reads under faults (one was open at some moment of it)."""
        return {"healthy": self.pbs_curve("healthy"), "under_faults": self.pbs_curve("under_faults"),
                "how_to_read": PBS_HOW_TO_READ}

    def staleness_summary(self) -> dict[str, Any]:
        n = len(self.stale_ages_ms)
        return {
            "reads_checked": self.reads,
            "stale_reads": n,
            "stale_fraction": round(n / self.reads, 6) if self.reads else None,
            "age_ms": percentiles(self.stale_ages_ms),
            "undecidable_reads": self.stale_undecidable,
        }

    def sessions_summary(self) -> dict[str, Any]:
        return {
            "read_your_writes": {
                "violations": sum(self.ryw.values()),
                "by_process": {str(p): n for p, n in sorted(self.ryw.items(), key=lambda kv: str(kv[0]))},
            },
            "monotonic_reads": {
                "violations": sum(self.monotonic.values()),
                "by_process": {
                    str(p): n for p, n in sorted(self.monotonic.items(), key=lambda kv: str(kv[0]))
                },
            },
            "examples": self.session_examples,
        }
