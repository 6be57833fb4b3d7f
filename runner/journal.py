"""The run's journal: every datagram and every apply, written beside the history (issue #15).

``journal.jsonl.gz`` (format in docs/HISTORY.md, "Journal") is gzip (level 1) of JSON lines: a
header object, then one compact array per record. Its times are the history's (nanoseconds of
trio's clock since the recorder started, virtual in simulation), so the two line up as they are.

Who tells it what:

- datagrams (``S`` sent with the fault that decided its fate, ``D`` each copy delivered): the
  nemesis's ``FaultyNetwork`` (``udp`` and ``sim`` modes) or ``UdpRouter`` (``processes``), as
  their ``observer`` (``nemesis.link_faults.DatagramObserver``); a delivery is matched to its send
  by the datagram's bytes. Kind and items come from ``minikeydb.wire.peek`` (no tag check).
- applies and queued records (``A``, ``Q``): each node, through ``minikeydb.observe.ApplyObserver``.
- node lifecycle (``C``): the cluster control the fault schedule drives (``JournalControl``).
- the replicas of each key (``K``, once, before the first record naming the key): the ring.

Writing costs the run little: a record is one ``orjson.dumps`` appended to a list, and the list is
compressed in chunks of ``CHUNK`` records. Nothing here draws a random number, sleeps or yields, so a
simulated run's history is the same with or without a journal. At ``max_bytes`` of compressed output
the journal writes one ``END "size-limit"`` record and nothing more.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from minikeydb.record import Record
from minikeydb.ring import Ring
from minikeydb.wire import peek
from nemesis import ClusterControl

LEVELS = ("off", "applies", "full")
"""``--journal``: nothing; K, A, Q, C and END records; those and every datagram (S, D)."""
DEFAULT_MAX_MB = 512.0
"""``--journal-max-mb``: MiB of compressed journal at most."""
JOURNAL_NAME = "journal.jsonl.gz"
FORMAT_VERSION = 1
CHUNK = 4096
"""Records buffered before they are compressed and written together."""
PENDING_LIMIT = 200_000
"""Datagrams sent and not yet seen delivered that are remembered (the oldest are forgotten: lost)."""


def default_level(mode: str) -> str:
    """``full`` in ``sim`` and ``udp`` modes; ``off`` in ``processes`` mode, where the nodes, hence
    their applies, live in other processes."""
    return "off" if mode == "processes" else "full"


class Journal:
    """One journal file; an ``ApplyObserver`` (nodes) and a ``DatagramObserver`` (the network).

    ``elapsed`` is the history recorder's clock (seconds since it started), so records line up
    with history events.
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
        elapsed: Callable[[], float],
    ) -> None:
        if level not in ("applies", "full"):
            raise ValueError(f"journal level must be 'applies' or 'full', got {level!r}")
        self.path = path
        self.level = level
        self.max_bytes = max_bytes
        self.elapsed = elapsed
        self._ring = ring
        self._raw: IO[bytes] = path.open("wb")
        # mtime=0 and no file name in the gzip header: the same run gives the same bytes.
        self._gz = gzip.GzipFile(filename="", fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)
        self._buffer: list[bytes] = []
        self._known: set[str] = set()
        self._pending: dict[bytes, list[int]] = {}
        self._next_id = 0
        self.records = 0
        self.open = True
        self.end_reason: str | None = None
        self.bytes = 0
        self._write(orjson.dumps({
            "journal": FORMAT_VERSION, "level": level, "mode": mode, "nodes": list(nodes),
            "replication": replication, "max_bytes": max_bytes,
        }))

    # -- writing ---------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.elapsed() * 1e9)

    def _write(self, line: bytes) -> None:
        self._buffer.append(line)
        self.records += 1
        if len(self._buffer) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        self._buffer.append(b"")
        self._gz.write(b"\n".join(self._buffer))
        self._buffer = []
        if self._raw.tell() >= self.max_bytes and self.open:
            self._end("size-limit")

    def _end(self, reason: str) -> None:
        self.open = False
        self.end_reason = reason
        self._buffer.append(orjson.dumps(["END", self._now(), reason, self._raw.tell()]))
        self._buffer.append(b"")
        self.records += 1
        self._gz.write(b"\n".join(self._buffer))
        self._buffer = []

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
                "complete": self.end_reason != "size-limit", "end": self.end_reason}

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
        for item in items:
            self._key(item[0] if type(item) is list and item else item)
        self._write(orjson.dumps(["S", self._now(), d, src, dst, kind, fault, copies, items]))
        if copies:
            pending = self._pending
            waiting = pending.get(data)
            if waiting is None:
                pending[data] = [d] * copies
                if len(pending) > PENDING_LIMIT:
                    del pending[next(iter(pending))]
            else:
                waiting.extend([d] * copies)

    def delivered(self, dst: str, data: bytes) -> None:
        if not self.open:
            return
        waiting = self._pending.get(data)
        if waiting is None:
            return  # not sent through the observed network (or forgotten)
        d = waiting.pop(0)
        if not waiting:
            del self._pending[data]
        self._write(orjson.dumps(["D", self._now(), d, dst]))

    # -- ApplyObserver ---------------------------------------------------------------------------

    def applied(self, node: str, records: Sequence[Record], won: Sequence[bool], via: str) -> None:
        if not self.open:
            return
        t = self._now()
        for record, w in zip(records, won, strict=False):
            key = record.key
            if key not in self._known:
                self._key(key)
            self._write(orjson.dumps(["A", t, node, key, record.stamp, via, w, record.value is None]))

    def queued(self, node: str, peer: str, record: Record, reason: str) -> None:
        if not self.open:
            return
        key = record.key
        if key not in self._known:
            self._key(key)
        self._write(orjson.dumps(["Q", self._now(), node, peer, key, record.stamp, reason]))

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


def open_journal(run_dir: Path, level: str, max_mb: float, mode: str, ring: Ring, nodes: Sequence[str],
                 replication: int, elapsed: Callable[[], float]) -> Journal | None:
    """The run's journal at ``level`` (None for ``off``)."""
    if level == "off":
        return None
    return Journal(run_dir / JOURNAL_NAME, level=level, mode=mode, ring=ring, nodes=nodes, replication=replication,
                   max_bytes=int(max_mb * 1024 * 1024), elapsed=elapsed)
