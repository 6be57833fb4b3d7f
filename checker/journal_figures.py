"""What the journal measures that the history cannot: true convergence times and whether the faults bit.

Two results.json blocks come from here (docs/HISTORY.md, "The convergence and faults blocks"):

- ``convergence``: with a journal (``source: "journal"``), per acknowledged write its replication
  lag (from its ``ok`` until every replica of its key had applied it or a newer version, as the
  journal's A records show, won or not), as percentiles, healthy and per fault kind; after each
  heal, the exact time until every version acknowledged before it was on all its replicas or
  superseded, and after the last heal, until every replica of every key held the same version.
  Without a journal (``source: "final-reads upper bound"``) the figure of the final reads, which
  began only after the harness's quiescence wait, labelled as the upper bound it is.
- ``faults``: per fault window, what it did (datagrams dropped, delayed, duplicated, reordered;
  nodes crashed or paused; operations that failed or timed out in it) and whether the faults
  changed anything at all (``changed_nothing``), so a green run cannot hide an inert nemesis.

The history gives the acknowledged writes (their version stamp is the ``meta.stamp`` of an ``ok``
put/delete, which MinikeyDB's harness records) and the fault windows; the journal is read once,
streamed. Memory follows the number of acknowledged writes and keys, never the journal's records.
"""

from __future__ import annotations

import bisect
import math
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from checker.faults import FaultTimeline, FaultWindow
from checker.findings import SOURCE_FINAL_READS, SOURCE_JOURNAL, faults_sentence, plural
from checker.history import NEMESIS, iter_events
from checker.journal import (
    Apply,
    End,
    Journal,
    JournalError,
    JournalMismatch,
    Key,
    Lifecycle,
    Recovered,
    Replicas,
    Send,
    Stamp,
)
from checker.stats import percentiles

MAX_EXAMPLES = 20
SAMPLE = 256
"""The history's first acknowledged writes looked for in the journal's applies: a journal with none of
them applied is another run's."""
DATAGRAM_EFFECTS = {"partition": "dropped", "drop": "dropped", "delay": "delayed", "duplicate": "duplicated",
                    "reorder": "reordered"}
NODE_KINDS = ("crash", "pause")


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


def _s(ns: int) -> float:
    return round(ns / 1e9, 6)


SIM_TICK_MS = 1.0
"""The step of a ``--mode sim`` run's simulated clock (``runner.simulate.SIM_TICK``, which the checker does not
import; a test pins them equal): a journal whose header says mode sim has its times on this grid, so a
replication lag of 0 there is one below the tick, said as "< 1 ms" (``clock_tick_ms`` in the block)."""

HEAL_MERGE_NS = 1_000_000
"""Heals closer than this (1 ms) are one heal: the last window's stop and the final heal event."""

CONTROL_LEAD_NS = 1_000_000_000
"""How long before a crash/pause window's recorded start its own C records may come (the nemesis acts,
then records): they count for that window when they name its nodes."""


class HistoryFacts:
    """What the figures need from a history, gathered in one streaming pass."""

    def __init__(self) -> None:
        self.timeline = FaultTimeline()
        self.keys: list[Key] = []  # per acknowledged write with a stamp, in history order
        self.stamps: list[Stamp] = []
        self.acks = array("q")  # ns
        self.writes_acknowledged = 0  # ok put/delete, with or without a stamp
        self.without_stamp = 0
        self.window_ops: dict[int, list[int]] = {}
        """id(window) -> [operations in flight during it, failed, timed out]: an operation counts under every
        window open at its invoke or started before it completed."""
        self.last_time: int | None = None
        self._pending: dict[Any, tuple[tuple[FaultWindow, ...], bool, int]] = {}
        """Per process in flight: the windows open at its invoke, whether a final read, how many
        windows had started by then (those after started while it was in flight)."""
        self.complete = False
        """True once a whole history went through (`feed_all`, or `watch` to its end)."""
        self.writes_skipped = False
        """Set before a pass with no journal to use the acknowledged writes: they are skipped
        (`journal_blocks` then cannot use these facts; `history_faults_block` can)."""

    def feed_all(self, events: Iterable[dict[str, Any]]) -> HistoryFacts:
        for _ in self.watch(events):
            pass
        return self

    def watch(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``events`` passed through unchanged, each fed here after its consumer has taken it (so the
        consumer's own checks see a malformed event first): the facts of the same single pass that
        the convergence checker makes, with no second read of the file.

        With ``writes_skipped`` set (no journal to compare the writes with) only the nemesis's events
        and the operations of a fault window are fed: the pass costs little more than the checker's own.
        """
        feed = self.feed
        if not self.writes_skipped:
            for position, ev in enumerate(events):
                yield ev
                feed(ev if "index" in ev else {**ev, "index": position})  # hand-built lists have no index
        else:
            timeline, pending = self.timeline, self._pending
            last = self.last_time
            for position, ev in enumerate(events):
                yield ev
                t = ev.get("time")
                if t is not None:
                    last = t
                proc = ev["process"]
                if proc == NEMESIS or timeline.current[0] or proc in pending:
                    feed(ev if "index" in ev else {**ev, "index": position})
            self.last_time = last
        self.timeline.finish(self.last_time)
        self.complete = True

    def feed(self, ev: dict[str, Any]) -> None:
        t = ev.get("time")
        if t is not None:
            self.last_time = t
        proc = ev["process"]
        if proc == NEMESIS:
            self.timeline.feed(ev)
            return
        typ = ev["type"]
        timeline = self.timeline
        if typ == "invoke":
            final = bool(ev.get("final"))
            windows = () if final else timeline.current[0]
            for w in windows:
                self.window_ops.setdefault(id(w), [0, 0, 0])[0] += 1
            if windows or not self.writes_skipped:  # without the writes, only a window's operations matter
                self._pending[proc] = (windows, final, len(timeline.windows))
            return
        pending = self._pending.pop(proc, None)
        if pending is not None:
            windows, final, known = pending
            started: Sequence[FaultWindow] = timeline.windows[known:]
        elif self.writes_skipped and not ev.get("final"):
            # Invoked with no window open (so not kept): a window open now started while it was in flight.
            windows, final, started = (), False, timeline.current[0]
        else:
            windows, final, started = (), False, ()
        if final:
            return
        if started:
            # A window that started while the operation was in flight holds it too: an operation
            # invoked 1 ms before a partition and failing inside it failed under the partition.
            held = {id(w) for w in windows}
            late = tuple(w for w in started if id(w) not in held)
            for w in late:
                self.window_ops.setdefault(id(w), [0, 0, 0])[0] += 1
            windows = (*windows, *late)
        if typ in ("fail", "info"):
            for w in windows:
                self.window_ops.setdefault(id(w), [0, 0, 0])[1 if typ == "fail" else 2] += 1
            return
        if self.writes_skipped or typ != "ok" or ev.get("f") not in ("put", "delete", "write") or t is None:
            return
        self.writes_acknowledged += 1
        meta = ev.get("meta")
        st = meta.get("stamp") if isinstance(meta, dict) else None
        if (
            isinstance(st, list) and len(st) == 3 and isinstance(st[0], int) and isinstance(st[1], int)
            and isinstance(st[2], str) and "key" in ev
        ):
            self.keys.append(ev["key"])
            self.stamps.append((st[0], st[1], sys.intern(st[2])))  # a handful of writer ids, millions of writes
            self.acks.append(t)
        else:
            self.without_stamp += 1

    def _heal_groups(self) -> list[tuple[int, set[str], list[int]]]:
        """(time, kinds, member times) per heal, heals less than `HEAL_MERGE_NS` apart merged into one at
        the latest of them (the nemesis stops the last window and heals everything a moment apart)."""
        points: dict[int, set[str]] = {}
        for w in self.timeline.windows:
            if w.stop is not None and w.stop_index is not None:
                points.setdefault(w.stop, set()).add(w.kind)
        for t, _ in self.timeline.heals:
            if t is not None:
                points.setdefault(t, set()).add("all")
        groups: list[tuple[int, set[str], list[int]]] = []
        for t, kinds in sorted(points.items()):
            if groups and t - groups[-1][0] < HEAL_MERGE_NS:
                _, k, members = groups[-1]
                groups[-1] = (t, k | kinds, [*members, t])
            else:
                groups.append((t, set(kinds), [t]))
        return groups

    def heal_points(self) -> list[tuple[int, str]]:
        """(time, what healed) of every heal: each fault window's stop, and every ``heal`` event."""
        return [(t, "all" if "all" in kinds else ",".join(sorted(kinds))) for t, kinds, _ in self._heal_groups()]

    def last_heal(self) -> int | None:
        """The last ``heal`` event's time (else the last window's stop): the final phase follows it; the
        heal point it was merged into when a window's stop came a moment after it."""
        groups = self._heal_groups()
        heals = [t for t, _ in self.timeline.heals if t is not None]
        if heals:
            return next((t for t, _, members in groups if heals[-1] in members), heals[-1])
        return groups[-1][0] if groups else None


def pass_kinds(level: str) -> tuple[str, ...]:
    """The record types the journal pass reads in a journal of ``level`` (D and Q records say nothing
    these figures need: skipped unparsed; S only in a ``full`` journal)."""
    return ("A", "S", "C", "R") if level == "full" else ("A", "C", "R")


class _JournalPass:
    """One streaming pass over the journal: coverage of every acknowledged write, agreement, fault effects."""

    def __init__(self, facts: HistoryFacts, full: bool) -> None:
        self.facts = facts
        self.full = full
        # Writes of each key, ordered by stamp: per (key, node) a pointer advances as the node's
        # highest applied stamp grows, so each (write, replica) pair is visited once.
        by_key: dict[Key, list[int]] = {}
        for i, k in enumerate(facts.keys):
            by_key.setdefault(k, []).append(i)
        stamps = facts.stamps
        for ws in by_key.values():
            ws.sort(key=stamps.__getitem__)
        self.by_key = by_key
        self.covered = array("b", bytes(len(stamps)))
        self.done = array("q", [-1]) * len(stamps)  # when on all replicas (or superseded) now: -1 again after a crash loss
        self.first_done = array("q", [-1]) * len(stamps)  # when first on all replicas: the replication lag's end
        self.replicas: dict[Key, tuple[str, ...]] = {}
        self.ptr: dict[tuple[Key, str], int] = {}
        self.current: dict[tuple[Key, str], Stamp | None] = {}  # None: absent or deleted
        self.disagreeing: set[Key] = set()
        self.agreed_since: int | None = 0  # when the set of disagreeing keys last became empty
        self.end: End | None = None
        self.last_t = 0
        # Fault effects: datagram counts at every window edge (S records come in time order).
        windows = facts.timeline.windows
        self.windows = windows
        edges = sorted({w.start for w in windows if w.start is not None}
                       | {w.stop for w in windows if w.stop is not None})
        self.edges = edges
        self.sent_before = [0] * len(edges)
        self._edge = 0
        self.sent = 0
        self.faulty: dict[str, array] = {}  # fault -> times of datagrams it touched
        self.lost: array = array("q")  # times of datagrams a fault left with no delivery
        self.lifecycle: list[Lifecycle] = []
        self.losses: list[dict[str, Any]] = []  # per restart that lost versions: what it lost
        self.restarts = 0
        self.started: set[str] = set()  # nodes with an R record (a second one is a restart)
        # Does the journal belong to the history? Its applies must include the history's first writes.
        self.sample = {(facts.keys[i], facts.stamps[i]): facts.acks[i] for i in range(min(SAMPLE, len(facts.keys)))}
        self.matched = not self.sample
        self.applies = 0
        self.crashes = 0

    def run(self, journal: Journal) -> None:
        # D and Q records say nothing these figures need: skipped unparsed.
        send, apply = self._send, self._apply
        for rec in journal.records(pass_kinds(journal.header.level)):
            if isinstance(rec, Send):  # the most common, first
                send(rec)
            elif isinstance(rec, Apply):
                apply(rec)
            elif isinstance(rec, Recovered):
                self._recovered(rec)
            elif isinstance(rec, Replicas):
                self.replicas[rec.key] = rec.nodes
            elif isinstance(rec, Lifecycle):
                self.lifecycle.append(rec)
                self.crashes += rec.what == "crash"
                self.last_t = max(self.last_t, rec.t)
            elif isinstance(rec, End):
                self.end = rec
                self.last_t = max(self.last_t, rec.t)
        while self._edge < len(self.edges):
            self.sent_before[self._edge] = self.sent
            self._edge += 1

    def _apply(self, a: Apply) -> None:
        t, node, key, stamp = a.t, a.node, a.key, a.stamp
        self.last_t = max(self.last_t, t)
        self.applies += 1
        if not self.matched and (key, stamp) in self.sample:
            self.matched = True
        reps = self.replicas.get(key)
        if reps is None or node not in reps:
            return  # not a replica of the key (or a key the journal never placed): no bearing on convergence
        ws = self.by_key.get(key)
        if ws is not None:
            pk = (key, node)
            i = self.ptr.get(pk, 0)
            stamps, covered, done, n = self.facts.stamps, self.covered, self.done, len(reps)
            while i < len(ws) and stamps[ws[i]] <= stamp:
                w = ws[i]
                covered[w] += 1
                if covered[w] == n:
                    done[w] = t
                    if self.first_done[w] < 0:
                        self.first_done[w] = t
                i += 1
            self.ptr[pk] = i
        if a.won:
            # What a read of this replica would return: a tombstone reads as absent, whatever its stamp.
            self.current[(key, node)] = None if a.deleted else stamp
            self._agreement(key, reps, t)

    def _agreement(self, key: Key, reps: tuple[str, ...], t: int) -> None:
        cur = self.current
        first = cur.get((key, reps[0]), None)
        agree = all(cur.get((key, r), None) == first for r in reps[1:])
        was_empty = not self.disagreeing
        if agree:
            self.disagreeing.discard(key)
            if not was_empty and not self.disagreeing:
                self.agreed_since = t
        else:
            self.disagreeing.add(key)
            if was_empty:
                self.agreed_since = None

    def _recovered(self, r: Recovered) -> None:
        """A node (re)started holding exactly ``r.versions``: every other version it had applied is gone
        (a crash lost what was not yet durable), so its coverage of the writes and its current version
        of each key go back to what it kept, and a write it alone completed is not on all replicas any more."""
        t, node = r.t, r.node
        self.last_t = max(self.last_t, t)
        held = {k: (st, deleted) for k, st, deleted in r.versions}
        stamps, covered, done = self.facts.stamps, self.covered, self.done
        lost: list[dict[str, Any]] = []
        n_lost = 0
        for key, reps in self.replicas.items():
            if node not in reps:
                continue
            pk = (key, node)
            got = held.get(key)
            ws = self.by_key.get(key)
            writes_lost = 0
            if ws is not None:
                old = self.ptr.get(pk, 0)
                new = 0 if got is None else bisect.bisect_right(ws, got[0], key=stamps.__getitem__)
                for w in ws[new:old]:  # acknowledged writes it had applied (or superseded) and no longer holds
                    if covered[w] == len(reps):
                        done[w] = -1
                    covered[w] -= 1
                    writes_lost += 1
                for w in ws[old:new]:  # held on restart though never seen applied: counts as held
                    covered[w] += 1
                    if covered[w] == len(reps):
                        done[w] = t
                        if self.first_done[w] < 0:
                            self.first_done[w] = t
                self.ptr[pk] = new
            had = self.current.get(pk, _NONE)
            kept: Any = _NONE if got is None else (None if got[1] else got[0])
            if kept is _NONE:
                self.current.pop(pk, None)
            else:
                self.current[pk] = kept
            if had != kept or writes_lost:
                n_lost += 1
                if len(lost) < MAX_EXAMPLES:
                    lost.append({"key": key, "had": _for_people(had), "kept": _for_people(kept)})
            self._agreement(key, reps, t)
        if node in self.started:
            self.restarts += 1
        self.started.add(node)
        if n_lost:
            self.losses.append({"node": node, "restart_s": _s(t), "keys_lost": n_lost, "examples": lost})

    def _send(self, s: Send) -> None:
        t = s.t
        if t > self.last_t:
            self.last_t = t
        edges = self.edges
        if self._edge < len(edges):
            while self._edge < len(edges) and edges[self._edge] <= t:
                self.sent_before[self._edge] = self.sent
                self._edge += 1
        self.sent += 1
        fault = s.fault
        if fault is not None:
            arr = self.faulty.get(fault)
            if arr is None:
                arr = self.faulty[fault] = array("q")
            arr.append(t)
            if s.copies == 0:
                self.lost.append(t)

    # -- after the pass ------------------------------------------------------------------------

    def sent_in(self, a: int, b: int) -> int:
        def at(x: int) -> int:
            i = bisect.bisect_left(self.edges, x)
            return self.sent_before[i] if i < len(self.edges) and self.edges[i] == x else self.sent

        return at(b) - at(a)


_NONE: Any = object()
"""A replica that holds no version of a key (never applied one, or lost it)."""


def _for_people(v: Any) -> list[Any] | str | None:
    return None if v is _NONE else "deleted" if v is None else list(v)


def _count_in(times: array | None, a: int, b: int) -> int:
    if times is None:
        return 0
    return bisect.bisect_left(times, b) - bisect.bisect_left(times, a)


def final_reads_convergence(stats: dict[str, Any], why: str = "no journal") -> dict[str, Any]:
    """The ``convergence`` block without a journal: the final reads' figure, labelled as an upper bound.
    ``why``: why no journal figure, the start of ``how`` (a journal that could not be used says so)."""
    entry = None
    for c in reversed(stats.get("convergence") or []):
        if c.get("keys_with_final_reads") is not None:
            entry = c
            break
    out: dict[str, Any] = {"source": SOURCE_FINAL_READS, "after_last_heal_s": None, "upper_bound": True}
    if entry is None:
        out["how"] = f"{why} and no final reads: convergence time was not measured"
        return out
    began = entry.get("final_reads_began_after_s")
    out["last_heal_s"] = entry.get("heal_s")
    out["keys"] = entry.get("keys_with_final_reads")
    out["keys_not_agreed"] = entry.get("keys_not_agreed")
    out["after_last_heal_s"] = entry.get("all_agreed_after_s")
    out["how"] = (
        f"{why}: the time until the final reads of every key agreed, measured from final read rounds"
        + (f" that began {began:.2f} s after the heal (the harness's quiescence wait, then its wait until nothing was queued)" if began is not None else "")
        + "; convergence happened at or before it"
    )
    return out


def _facts(history: str | Path | Iterable[dict[str, Any]], facts: HistoryFacts | None) -> HistoryFacts:
    if facts is not None and facts.complete and not facts.writes_skipped:  # gathered in the check's own pass
        return facts
    events = iter_events(history) if isinstance(history, str | Path) else history
    return HistoryFacts().feed_all(events)


def journal_blocks(
    history: str | Path | Iterable[dict[str, Any]], journal: Journal, facts: HistoryFacts | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``convergence``, ``faults``) blocks of results.json from a history (or its `HistoryFacts`,
    already gathered) and its journal."""
    facts = _facts(history, facts)
    jp = _JournalPass(facts, journal.header.level == "full")
    jp.run(journal)
    _check_fits(facts, jp, journal)
    return _convergence_block(facts, jp, journal), _faults_block(facts, jp)


def _check_fits(facts: HistoryFacts, jp: _JournalPass, journal: Journal) -> None:
    """`JournalError` for a journal whose figures would be silently wrong: no K records though keys
    were written or applied, or none of the history's first acknowledged writes applied (another run's)."""
    if journal.header.mode == "processes":  # no applies: the figures come from the final reads anyway
        return
    if not jp.replicas and (facts.keys or jp.applies):
        if jp.end is not None and jp.end.reason == "size-limit":
            raise JournalError(journal.path, None, "END", (
                "the journal's size limit (--journal-max-mb) stopped it before any key was placed (no K record): "
                "no convergence can be measured from it"))
        if journal.damage:
            raise JournalError(journal.path, None, None, (
                f"{journal.damage}, before any key was placed (no K record): no convergence can be measured from it"))
        raise JournalError(journal.path, None, "K", (
            f"the journal has no K records (which nodes replicate each key) though the history acknowledged "
            f"{plural(len(facts.keys), 'write')} and the journal holds {plural(jp.applies, 'apply', 'applies')}: "
            "no convergence can be measured from it"))
    seen = [(k, st) for (k, st), t in jp.sample.items() if t <= jp.last_t]
    if seen and not jp.matched:
        k, st = seen[0]
        raise JournalMismatch(journal.path, None, None, (
            f"none of the history's first {plural(len(seen), 'acknowledged write')} was applied in the journal "
            f"(e.g. key {k!r} at stamp {list(st)}): the journal is not this history's (another run's?)"))


def history_faults_block(
    history: str | Path | Iterable[dict[str, Any]], facts: HistoryFacts | None = None
) -> dict[str, Any]:
    """The ``faults`` block from a history alone (no journal: datagram effects unknown)."""
    if facts is not None and facts.complete:  # the fault windows' operations are all it needs
        return _faults_block(facts, None)
    return _faults_block(_facts(history, None), None)


def _convergence_block(facts: HistoryFacts, jp: _JournalPass, journal: Journal) -> dict[str, Any]:
    end = jp.end
    complete = end is not None and end.complete
    out: dict[str, Any] = {"source": SOURCE_JOURNAL, "journal": journal.path.name, "complete": complete}
    if not complete:
        why = (
            "the journal stopped at its size limit" if end is not None and end.reason == "size-limit"
            else "the run was interrupted" if end is not None
            else f"the journal has no END record ({journal.damage or 'cut short'})"
        )
        out["incomplete"] = (
            f"{why}; its last record is at {_s(jp.last_t):.3f} s: later applies are missing, so the "
            "figures below may be too high and writes not seen converging may have converged"
        )
    # Replication lag per acknowledged write: until it was first on every replica (or superseded there),
    # whatever a crash later lost (that is in crash_losses, and in the per-heal figures below).
    first_done, acks, keys = jp.first_done, facts.acks, facts.keys
    lags: dict[str, list[float]] = {"all": [], "healthy": []}
    not_done: list[int] = []
    no_replicas = 0
    timeline = facts.timeline
    for i in range(len(acks)):
        if keys[i] not in jp.replicas:
            no_replicas += 1
            continue
        if first_done[i] < 0:
            not_done.append(i)
            continue
        lag = _ms(max(0, first_done[i] - acks[i]))
        lags["all"].append(lag)
        kinds = {w.kind for w in timeline.active(acks[i])}
        for k in kinds or ("healthy",):
            lags.setdefault(k, []).append(lag)
    rl: dict[str, Any] = {k: v for k, v in percentiles(lags["all"]).items() if k != "p95"}
    rl["healthy"] = {k: v for k, v in percentiles(lags["healthy"]).items() if k != "p95"}
    rl["by_fault"] = {
        k: {a: b for a, b in percentiles(v).items() if a != "p95"}
        for k, v in sorted(lags.items()) if k not in ("all", "healthy")
    }
    # How many lags are 0: on every replica no later than the client recorded the ok (a sim run's clock moves in
    # ticks, so there: within the ok's tick). A p50 of 0 is said with this count, not as a bare "0 ms".
    rl["zero"] = sum(1 for lag in lags["all"] if lag == 0)
    out["replication_lag_ms"] = rl
    if journal.header.mode == "sim":
        out["clock_tick_ms"] = SIM_TICK_MS
    out["replication_lag_cdf"] = {k: _cdf(v) for k, v in sorted(lags.items()) if k != "all" and v}
    # A journal that stopped early cannot say "never": those writes were not seen on all replicas
    # before its last record, which is all it can tell.
    out["writes"] = {
        "acknowledged": facts.writes_acknowledged,
        "measured": len(lags["all"]),
        "never_on_all_replicas": len(not_done) if complete else 0,
        "not_seen_before_journal_end": 0 if complete else len(not_done),
        "without_stamp": facts.without_stamp,
        "key_not_in_journal": no_replicas,
        "examples_never_on_all_replicas": [
            {"key": keys[i], "stamp": list(facts.stamps[i]), "ack_s": _s(acks[i]),
             "replicas_with_it": _holders(jp, keys[i], facts.stamps[i])}
            for i in not_done[:MAX_EXAMPLES]
        ],
    }
    # After each heal: every version acknowledged before it, on all its replicas or superseded, and not
    # taken off one since by a crash (then it counts from when repair brought it back, or never).
    done = jp.done
    order = sorted(range(len(acks)), key=acks.__getitem__)
    heals = facts.heal_points()
    last = facts.last_heal()
    after: list[dict[str, Any]] = []
    j = 0
    latest_done = -1
    pending = 0
    for h, what in heals:
        while j < len(order) and acks[order[j]] < h:
            w = order[j]
            if keys[w] in jp.replicas:
                if done[w] < 0:
                    pending += 1
                else:
                    latest_done = max(latest_done, done[w])
            j += 1
        entry: dict[str, Any] = {"heal_s": _s(h), "healed": what, "writes_before": j, "writes_never_converged": pending}
        entry["converged_after_s"] = None if pending else _s(max(0, latest_done - h))
        if not complete and (pending or h > jp.last_t):  # past what the journal covers: not measured
            entry["writes_never_converged"] = None
            entry["not_covered"] = True
        if h == last:
            entry["last"] = True
        after.append(entry)
    out["after_heal"] = after
    # After the last heal: every replica of every key holds the same version.
    out["keys"] = len(jp.replicas)
    out["keys_not_agreed"] = len(jp.disagreeing)
    if jp.disagreeing:
        out["examples_not_agreed"] = [
            {"key": k, "versions": {n: _version(jp.current, k, n) for n in jp.replicas[k]}}
            for k in sorted(jp.disagreeing, key=str)[:MAX_EXAMPLES]
        ]
    out["last_heal_s"] = None if last is None else _s(last)
    agreed_at = jp.agreed_since
    if last is None or agreed_at is None or jp.disagreeing:
        out["after_last_heal_s"] = None
    elif not complete and jp.last_t < last:
        out["after_last_heal_s"] = None
    else:
        out["after_last_heal_s"] = _s(max(0, agreed_at - last))
        out["all_agreed_at_s"] = _s(max(agreed_at, last))
    out["crash_losses"] = _crash_losses(jp, [i for i in range(len(acks)) if first_done[i] >= 0 and jp.done[i] < 0
                                             and keys[i] in jp.replicas])
    out["how"] = _how(out)
    return out


def _crash_losses(jp: _JournalPass, writes_lost: list[int]) -> dict[str, Any]:
    """What crashes lost: per restart that came back without versions it had applied, the keys; and the
    acknowledged writes (indexes into the facts, ``writes_lost``) that were on every replica, then lost by a
    crash on some replica and not back on all of them by the journal's end."""
    if jp.crashes and not jp.started:
        return {"recorded": False, "why": (
            f"the journal has {jp.crashes} crash record(s) but no R records (written before they existed): "
            "a version a crash lost counts as still held, so the figures above may be too low")}
    out: dict[str, Any] = {"recorded": True, "restarts": jp.restarts,
                           "keys_lost": sum(x["keys_lost"] for x in jp.losses), "by_restart": jp.losses,
                           "writes_lost": len(writes_lost),
                           "examples_writes_lost": [
                               {"key": jp.facts.keys[i], "stamp": list(jp.facts.stamps[i]),
                                "ack_s": _s(jp.facts.acks[i]), "on_all_replicas_s": _s(jp.first_done[i]),
                                "replicas_with_it": _holders(jp, jp.facts.keys[i], jp.facts.stamps[i])}
                               for i in writes_lost[:MAX_EXAMPLES]]}
    if jp.losses:
        out["summary"] = "; ".join(
            f"{x['node']} restarted at {x['restart_s']:.3f} s without {x['keys_lost']} "
            f"key version{'s' if x['keys_lost'] != 1 else ''} it had applied" for x in jp.losses[:5]
        ) + (f" (and {len(jp.losses) - 5} more restarts)" if len(jp.losses) > 5 else "") + (
            f"; {plural(len(writes_lost), 'acknowledged write')} once on all replicas never on all of them again"
            if writes_lost else "")
    return out


CDF_POINTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)


def _cdf(lags: list[float]) -> list[list[float]]:
    """[lag ms, fraction of writes with at most that lag] at fixed fractions: a distribution small enough to
    store and chart."""
    xs = sorted(lags)
    n = len(xs)
    out: list[list[float]] = []
    for q in CDF_POINTS:
        i = min(n - 1, max(0, math.ceil(q * n) - 1))
        point = [xs[i], round((i + 1) / n, 4)]
        if not out or point != out[-1]:
            out.append(point)
    return out


def _version(current: dict[tuple[Key, str], Stamp | None], key: Key, node: str) -> list[Any] | str | None:
    """A replica's version for people: its stamp, ``"deleted"``, or None (it never applied one)."""
    if (key, node) not in current:
        return None
    st = current[(key, node)]
    return "deleted" if st is None else list(st)


def _holders(jp: _JournalPass, key: Key, stamp: Stamp) -> list[str]:
    """The replicas whose highest applied stamp reached ``stamp`` (from the pointers of the pass)."""
    ws = jp.by_key.get(key) or []
    pos = bisect.bisect_left([jp.facts.stamps[w] for w in ws], stamp)
    return [n for n in jp.replicas.get(key, ()) if jp.ptr.get((key, n), 0) > pos]


def _how(c: dict[str, Any]) -> str:
    return (
        "measured from the journal: replication lag is the time from a write's acknowledgement until every "
        "replica of its key had applied it or a newer version; after the last heal, the time until every "
        "replica of every key held the same version (not an upper bound from polling)"
    )


def _faults_block(facts: HistoryFacts, jp: _JournalPass | None) -> dict[str, Any]:
    bite = []
    seen_datagrams = jp is not None and jp.full
    for w in facts.timeline.windows:
        if w.start is None:
            continue
        a = w.start
        b = w.stop if w.stop is not None else (jp.last_t if jp is not None else facts.last_time) or a
        entry: dict[str, Any] = {"kind": w.kind, "start_s": _s(a), "stop_s": _s(b)}
        effects = 0
        # A journal that stopped early (size limit, a kill) says nothing of a window past its end.
        covered = jp is not None and ((jp.end is not None and jp.end.complete) or b <= jp.last_t)
        if jp is not None and not covered:
            entry["not_covered"] = "the journal stops before this window ends"
        if seen_datagrams and covered:
            assert jp is not None
            d: dict[str, Any] = {"sent": jp.sent_in(a, b), "dropped": _count_in(jp.lost, a, b)}
            for fault, word in DATAGRAM_EFFECTS.items():
                if word != "dropped":
                    d[word] = _count_in(jp.faulty.get(fault), a, b)
            d["by_fault"] = {f: n for f in DATAGRAM_EFFECTS if (n := _count_in(jp.faulty.get(f), a, b))}
            effects += sum(d["by_fault"].values())  # every datagram a fault touched, counted once
            entry["datagrams"] = d
        else:
            entry["datagrams"] = None
        crashed: set[str] = set()
        paused: set[str] = set()
        if jp is not None:
            # The nemesis crashes or pauses the nodes, then records the window's start: its own C
            # records come just before `a` (microseconds in udp mode), so they count from a lead before.
            nodes = set(map(str, w.value["nodes"])) if (
                w.kind in NODE_KINDS and isinstance(w.value, dict) and isinstance(w.value.get("nodes"), list)) else set()
            for c in jp.lifecycle:
                if a <= c.t < b or (c.node in nodes and a - CONTROL_LEAD_NS <= c.t < a and c.what == w.kind):
                    if c.what == "crash":
                        crashed.add(c.node)
                    elif c.what == "pause":
                        paused.add(c.node)
        elif w.kind in NODE_KINDS and isinstance(w.value, dict) and isinstance(w.value.get("nodes"), list):
            (crashed if w.kind == "crash" else paused).update(map(str, w.value["nodes"]))
        entry["nodes_crashed"] = sorted(crashed)
        entry["nodes_paused"] = sorted(paused)
        invoked, failed, timed_out = facts.window_ops.get(id(w), [0, 0, 0])
        entry["ops"] = {"invoked": invoked, "failed": failed, "timed_out": timed_out}
        effects += len(crashed) + len(paused) + failed + timed_out
        observable = covered and (seen_datagrams or w.kind in NODE_KINDS)
        if effects:
            entry["bit"] = True
        elif observable and w.kind != "clock-skew":
            entry["bit"] = False
        else:
            entry["bit"] = None  # nothing seen, and nothing this run recorded could have shown it
        bite.append(entry)
    inert = [e for e in bite if e["bit"] is False]
    out: dict[str, Any] = {"bite": bite, "windows": len(bite), "inert_windows": len(inert)}
    out["changed_nothing"] = bool(bite) and len(inert) == len(bite)
    out["summary"] = faults_sentence(out)
    return out
