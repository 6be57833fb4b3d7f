"""The run's journal: every datagram and every apply, written beside the history (issue #15).

``journal.jsonl.gz`` (format in docs/HISTORY.md, "Journal") is gzip (level 1) of JSON lines: a
header object, then one compact array per record. Its times are the history's (nanoseconds of
trio's clock since the recorder started, virtual in simulation), so the two line up as they are.

Who tells it what:

- datagrams (``S`` sent with the fault that decided its fate, ``D`` each copy delivered): the
  nemesis's ``FaultyNetwork`` (``udp`` and ``sim`` modes) or ``UdpRouter`` (``processes``), as
  their ``observer`` (``nemesis.link_faults.DatagramObserver``); a delivery is matched to its send
  by the datagram's bytes. Kind and items come from ``minikeydb.wire.peek`` (no tag check).
- applies and queued records (``A``, ``Q``), and what a node held when it started (``R``: after a
  crash, what was durable): each node, through ``minikeydb.observe.ApplyObserver``.
- node lifecycle (``C``): the cluster control the fault schedule drives (``JournalControl``).
- the replicas of each key (``K``, once, before the first record naming the key): the ring.

Writing costs the run little: a record is one ``orjson.dumps`` appended to a list, and the list is
compressed in chunks of ``CHUNK`` records. Nothing here draws a random number, sleeps or yields, so a
simulated run's history is the same with or without a journal. The file never exceeds ``max_bytes``,
its ``END "size-limit"`` record and gzip trailer included: a chunk is written only when it surely fits
(else its first records that do), and then the END record, in room kept for it, ends the journal.
"""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
import trio

from minikeydb.config import ClusterConfig
from minikeydb.record import Record
from minikeydb.ring import Ring
from minikeydb.wire import peek
from nemesis import ClusterControl

if TYPE_CHECKING:
    from .options import RunOptions
    from .recorder import HistoryRecorder

LEVELS = ("off", "applies", "full")
"""``--journal``: nothing; K, A, Q, R, C and END records; those and every datagram (S, D)."""
DEFAULT_MAX_MB = 512.0
"""``--journal-max-mb``: MiB of compressed journal at most."""
JOURNAL_NAME = "journal.jsonl.gz"
FORMAT_VERSION = 1
CHUNK = 4096
"""Records buffered before they are compressed and written together."""
END_RESERVE = 160
"""Bytes kept free below ``max_bytes`` for the END record (at most ~80 bytes, compressed no larger than
stored) and gzip's end: the last deflate block and the 8-byte trailer."""


def _worst(n: int) -> int:
    """The most compressed bytes ``n`` bytes of input can take after a sync flush (deflate falls back to
    stored blocks of at most 64 KiB with 5 bytes of header each; the flush adds an empty one)."""
    return n + 5 * (n // 16_000 + 2) + 8
dumps = orjson.dumps
PENDING_LIMIT = 200_000
"""Datagrams sent and not yet seen delivered that are remembered; past it the older half is
forgotten (a copy delivered after that has no D record: it counts as lost)."""


def default_level(mode: str) -> str:
    """``full`` in ``sim`` and ``udp`` modes; ``off`` in ``processes`` mode, where the nodes, hence
    their applies, live in other processes."""
    return "off" if mode == "processes" else "full"


class Journal:
    """One journal file; an ``ApplyObserver`` (nodes) and a ``DatagramObserver`` (the network).

    Times are ``clock()`` (trio's clock: ``trio.lowlevel.current_clock().current_time``, without
    ``trio.current_time``'s wrappers) less ``start`` (when the history recorder started), in
    nanoseconds, computed as the recorder computes them, so records line up with history events.
    """

    def __init__(
        self,
        path: Path,
        *,
        level: str,
        mode: str,
        ring: Ring,
        nodes: Sequence[str],
        replication: int,
        max_bytes: int,
        clock: Callable[[], float],
        start: float,
        run: str | None = None,
        seed: int | None = None,
    ) -> None:
        if level not in ("applies", "full"):
            raise ValueError(f"journal level must be 'applies' or 'full', got {level!r}")
        self.path = path
        self.level = level
        self.max_bytes = max_bytes
        self._clock = clock
        self._start = start
        self._ring = ring
        self._raw: IO[bytes] = path.open("wb")
        # mtime=0 and no file name in the gzip header: the same run gives the same bytes.
        self._gz = gzip.GzipFile(filename="", fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)
        self._buffer: list[bytes] = []
        self._known: set[str] = set()
        self._pending: dict[bytes, int | list[int]] = {}
        self._next_id = 0
        self.open = True
        self.end_reason: str | None = None
        self.bytes = 0
        # The header always (a limit smaller than the header and END alone is the one the file exceeds).
        self._gz.write(orjson.dumps({
            "journal": FORMAT_VERSION, "level": level, "mode": mode, "nodes": list(nodes),
            "replication": replication, "max_bytes": max_bytes, "run": run, "seed": seed,
        }) + b"\n")
        self._gz.flush(zlib.Z_SYNC_FLUSH)
        self.records = 1

    # -- writing ---------------------------------------------------------------------------------

    def _now(self) -> int:
        return int((self._clock() - self._start) * 1e9)

    def _write(self, line: bytes) -> None:
        self._buffer.append(line)
        if len(self._buffer) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        lines, self._buffer = self._buffer, []
        if not self._put(lines):
            self._end("size-limit")

    def _put(self, lines: list[bytes]) -> bool:
        """Compress ``lines`` and write them out (a sync flush, so the file's size is exact after it),
        if they surely fit under ``max_bytes`` with room left for the END record and the gzip
        trailer; else as many of the first ones as surely fit (halving), and False."""
        data = b"\n".join(lines) + b"\n"
        if _worst(len(data)) <= self.max_bytes - self._raw.tell() - END_RESERVE:
            self._gz.write(data)
            self._gz.flush(zlib.Z_SYNC_FLUSH)
            self.records += len(lines)
            return True
        if len(lines) == 1:
            return False
        half = len(lines) // 2
        return self._put(lines[:half]) and self._put(lines[half:])

    def _end(self, reason: str) -> None:
        self.open = False
        self.end_reason = reason
        self._buffer = []
        # END_RESERVE keeps room for it: the file, trailer included, stays within max_bytes.
        self._gz.write(orjson.dumps(["END", self._now(), reason, self._raw.tell()]) + b"\n")
        self.records += 1

    def close(self, reason: str = "done") -> None:
        """Write what is buffered and the END record (unless the size limit already ended it)."""
        if self._gz.closed:
            return
        if self.open:
            self._flush()
        if self.open:
            self._end(reason)
        self._gz.close()
        self._raw.close()
        self.bytes = os.path.getsize(self.path)

    def summary(self) -> dict[str, Any]:
        """results.json's ``journal`` block."""
        return {"path": self.path.name, "level": self.level, "records": self.records, "bytes": self.bytes,
                "complete": self.end_reason == "done", "end": self.end_reason}

    def _key(self, key: Any) -> None:
        """The K record of ``key``, before the first record naming it."""
        if type(key) is str and key not in self._known:
            self._known.add(key)
            self._write(orjson.dumps(["K", key, self._ring.replicas_for(key)]))

    # -- DatagramObserver ------------------------------------------------------------------------

    def sent(self, src: str, dst: str, data: bytes, fault: str | None, copies: int) -> None:
        if not self.open:
            return
        d = self._next_id
        self._next_id = d + 1
        kind, items = peek(data)
        known = self._known
        for item in items:
            key = item[0] if type(item) is list and item else item
            if key not in known:
                self._key(key)
        buffer = self._buffer
        buffer.append(dumps(("S", int((self._clock() - self._start) * 1e9), d, src, dst, kind, fault, copies, items)))
        if copies:
            pending = self._pending
            waiting = pending.get(data)
            if waiting is None:
                # One id, or a list of ids for copies of the same bytes (duplicates, resends).
                pending[data] = d if copies == 1 else [d] * copies
                if len(pending) > PENDING_LIMIT:  # forget the older half (lost), in one amortised step
                    self._pending = dict(itertools.islice(pending.items(), PENDING_LIMIT // 2, None))
            elif isinstance(waiting, int):
                pending[data] = [waiting, *([d] * copies)]
            else:
                waiting.extend([d] * copies)
        if len(buffer) >= CHUNK:
            self._flush()

    def delivered(self, dst: str, data: bytes) -> None:
        if not self.open:
            return
        pending = self._pending
        waiting = pending.pop(data, None)
        if waiting is None:
            return  # not sent through the observed network (or forgotten)
        if isinstance(waiting, int):
            d = waiting
        else:
            d = waiting.pop(0)
            if waiting:
                pending[data] = waiting
        buffer = self._buffer
        buffer.append(dumps(("D", int((self._clock() - self._start) * 1e9), d, dst)))
        if len(buffer) >= CHUNK:
            self._flush()

    # -- ApplyObserver ---------------------------------------------------------------------------

    def applied(self, node: str, records: Sequence[Record], won: Sequence[bool], via: str) -> None:
        if not self.open:
            return
        t = int((self._clock() - self._start) * 1e9)
        known, buffer = self._known, self._buffer
        for record, w in zip(records, won, strict=False):
            key = record.key
            if key not in known:
                self._key(key)
            buffer.append(dumps(("A", t, node, key, record.stamp, via, w, record.value is None)))
        if len(buffer) >= CHUNK:
            self._flush()

    def queued(self, node: str, peer: str, record: Record, reason: str) -> None:
        if not self.open:
            return
        key = record.key
        if key not in self._known:
            self._key(key)
        buffer = self._buffer
        buffer.append(dumps(("Q", int((self._clock() - self._start) * 1e9), node, peer, key, record.stamp, reason)))
        if len(buffer) >= CHUNK:
            self._flush()

    def recovered(self, node: str, records: Sequence[Record]) -> None:
        """An R record: ``node`` started holding ``records`` (after a crash, only what was durable)."""
        if not self.open:
            return
        known = self._known
        for record in records:
            if record.key not in known:
                self._key(record.key)
        self._write(dumps(["R", self._now(), node, [[r.key, r.stamp, r.value is None] for r in records]]))

    # -- lifecycle -------------------------------------------------------------------------------

    def lifecycle(self, node: str, what: str) -> None:
        """A C record: ``what`` is crash, restart, pause or resume."""
        if self.open:
            self._write(orjson.dumps(["C", self._now(), node, what]))


class JournalControl:
    """A ``ClusterControl`` that records crash, restart, pause and resume (C) before passing them on."""

    def __init__(self, inner: ClusterControl, journal: Journal) -> None:
        self._inner = inner
        self._journal = journal

    async def crash(self, node_id: str) -> None:
        self._journal.lifecycle(node_id, "crash")
        await self._inner.crash(node_id)

    async def restart(self, node_id: str) -> None:
        await self._inner.restart(node_id)
        self._journal.lifecycle(node_id, "restart")

    async def pause(self, node_id: str) -> None:
        self._journal.lifecycle(node_id, "pause")
        await self._inner.pause(node_id)

    async def resume(self, node_id: str) -> None:
        self._journal.lifecycle(node_id, "resume")
        await self._inner.resume(node_id)

    def set_clock_offset(self, node_id: str, seconds: float) -> None:
        self._inner.set_clock_offset(node_id, seconds)


def open_journal(options: RunOptions, config: ClusterConfig, recorder: HistoryRecorder) -> Journal | None:
    """The run's journal beside its history, at ``options.journal_level`` (None for ``off``)."""
    level = options.journal_level
    if level == "off":
        return None
    return Journal(recorder.path.parent / JOURNAL_NAME, level=level, mode=options.mode,
                   ring=Ring(config.node_ids, config.replicas, config.vnodes), nodes=config.node_ids,
                   replication=config.replicas, max_bytes=int(options.journal_max_mb * 1024 * 1024),
                   clock=trio.lowlevel.current_clock().current_time, start=recorder.started,
                   run=recorder.path.parent.name, seed=options.seed)


@contextmanager
def journal_open(journal: Journal | None, recorder: HistoryRecorder) -> Iterator[None]:
    """Close ``journal`` when the block ends: END "done", or "interrupted" when it raised (a signal's
    cancellation included); results.json's ``journal`` block goes to ``recorder.journal``."""
    if journal is None:
        yield
        return
    ending = "interrupted"
    try:
        yield
        ending = "done"
    finally:
        journal.close(ending)
        recorder.journal = journal.summary()
