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

Writing costs the run little: a hook appends the clock's reading and what it was given to a list;
about every 500 events (``HAND_OFF``) they are encoded (one ``orjson.dumps`` per record) and
compressed ``CHUNK`` records together: in a writer process in ``udp`` mode (``journal_writer``, ``runner/journal_writer.py``),
inline otherwise (``sim``: one thread, no other process), the same bytes wherever.
Nothing here draws a random number, sleeps or yields, so a simulated run's history is the same
with or without a journal. The file never exceeds ``max_bytes``, its ``END "size-limit"`` record and
gzip trailer included: a chunk of ``CHUNK`` records is written only when it surely fits (else its
first records that do), and then the END record, in room kept for it, ends the journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import itertools
import os
import queue
import select
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from minikeydb.record import Record
from minikeydb.ring import Ring, shared_ring
from minikeydb.wire import peek

# Trio, the cluster's config, the nemesis and the run's interrupt guard are the run's side alone: the
# writer process (runner/journal_writer.py), which imports this module too, does without them.
if TYPE_CHECKING:
    from minikeydb.config import ClusterConfig
    from nemesis import ClusterControl

    from .options import RunOptions
    from .recorder import HistoryRecorder

LEVELS = ("off", "applies", "full")
"""``--journal``: nothing; K, A, Q, R, C and END records; those and every datagram (S, D)."""
DEFAULT_MAX_MB = 512.0
"""``--journal-max-mb``: MiB of compressed journal at most."""
JOURNAL_NAME = "journal.jsonl.gz"
FORMAT_VERSION = 1
CHUNK = 4096
"""Records compressed and written together (a sync flush after each chunk)."""
HAND_OFF = 3072
"""Items of noted events (about 500 events) the hooks hand to the encoder at a time. The bytes do not
depend on it (a chunk ends at the same records however the events are handed over); the run's speed
does: the noted events keep their datagrams alive until encoded, and a hand-off of 4096 events
(24,576 items, as before) kept ~1 MB of them from being reused while the run went on (a 60 s seed-1
simulated run: median 6.20 -> 5.89 CPU s of Trio run over 8 interleaved pairs, at load ~2.5)."""
END_RESERVE = 160
"""Bytes kept free below ``max_bytes`` for the END record (at most ~80 bytes, compressed no larger than
stored) and gzip's end: the last deflate block and the 8-byte trailer."""
SLICE = 32
"""Events the writer thread encodes between two naps (``NAP``), about 50 us of holding the GIL."""
NAP = 0.0001
"""Seconds the writer thread sleeps after each slice: long enough that the Trio thread, if it waits
for the GIL (back from a socket call), takes it; ``time.sleep(0)`` would let the writer take it back
at once, and the Trio thread would wait for the interpreter's switch interval (5 ms)."""
QUEUE_CHUNKS = 128
"""Hand-offs waiting for the writer thread at most (about 64,000 events, as 16 of the former 4096-event
hand-offs were); past it a hook waits for the writer (bounded memory)."""
WRITERS = ("inline", "thread", "process")
"""Where noted events are encoded: the hooks' thread, a writer thread, a writer process."""
F_SETPIPE_SZ = 1031
"""``fcntl`` command (Linux) that sets a pipe's capacity."""
PIPE_BYTES = 1 << 20
"""The pipe to the writer process holds a chunk or more (1 MiB: Linux's limit for unprivileged users)."""
STALL_SECONDS = 10.0
"""Seconds a send to the writer process may make no progress (its pipe full: the writer stopped or
stuck) before the journal gives it up (cut short, the run goes on); the write waits in slices of
``STALL_POLL`` so that a signal (Ctrl-C) is handled meanwhile."""
STALL_POLL = 0.1


def _signal_pending() -> bool:
    from runner.interrupt import signal_pending

    return signal_pending()


def _worst(n: int) -> int:
    """The most compressed bytes ``n`` bytes of input can take after a sync flush (deflate falls back to
    stored blocks of at most 64 KiB with 5 bytes of header each; the flush adds an empty one)."""
    return n + 5 * (n // 16_000 + 2) + 8


dumps = orjson.dumps
_SENT, _DELIVERED, _APPLIED, _APPLIED_ONE, _QUEUED, _RECOVERED, _LIFECYCLE = 1, 2, 3, 4, 5, 6, 7
"""Tags of the noted events, compared with ``is``: small ints, the very same objects after a pickle
round trip to the writer process too (CPython keeps one object for each int below 257; strings
come back from a pickle as new objects)."""
# In the flat list of noted events: S t src dst data fault copies | D t dst data | A t node fields won via
# | A1 t node key stamp tombstone won via (one record) | Q t node peer key stamp reason | R t node fields
# | C t node what; ``fields`` is key, stamp, tombstone of each record, flat (``_fields``). A record's
# fields, not the ``Record``: a pickle of an attrs record (to the writer process) costs 6 us each.
PENDING_LIMIT = 200_000
"""Datagrams sent and not yet seen delivered that are remembered; past it the older half is
forgotten (a copy delivered after that has no D record: it counts as lost)."""


def _fields(records: Sequence[Record]) -> list[Any]:
    """Key, stamp and whether a tombstone, of each of ``records``, one after the other."""
    fields: list[Any] = []
    for record in records:
        fields += (record.key, record.stamp, record.value is None)
    return fields


def default_level(mode: str) -> str:
    """``full`` in ``sim`` and ``udp`` modes; ``off`` in ``processes`` mode, where the nodes, hence
    their applies, live in other processes."""
    return "off" if mode == "processes" else "full"


def _readings(clock: Callable[[], float]) -> tuple[Callable[[], float], float]:
    """``(reading, offset)`` with ``clock() == offset + reading()`` bit for bit.

    Trio's ``SystemClock.current_time`` is ``self.offset + time.perf_counter()``: the hooks read
    ``perf_counter`` itself (a Python call less per event, a third of a hook's cost) and the writer
    adds the offset. Any other clock (``MockClock`` in sim, a test's) is read as it is, offset 0.0.
    """
    owner = getattr(clock, "__self__", None)
    offset = getattr(owner, "offset", None)
    if (
        type(owner).__name__ == "SystemClock"
        and type(owner).__module__.startswith("trio.")
        and getattr(clock, "__name__", None) == "current_time"
        and type(offset) is float
        and abs(clock() - (offset + time.perf_counter())) < 0.1  # still what trio does
    ):
        return time.perf_counter, offset
    return clock, 0.0


SIM_WRITER = "inline"
"""Where a ``sim`` run's journal encodes: inline, unless a single run from the command line set
``process`` (``runner.cli.run_command``). Explore's trials, replays and the tests keep one thread."""


def journal_writer(mode: str, fsync: str) -> str:
    """Where the journal encodes (``WRITERS``): a writer process in ``udp`` mode, inline otherwise.

    In ``udp`` mode the nodes, clients and network share the run's one Trio thread, busy most of the
    time at full load; the encoding's Python (``wire.peek``, K records, delivery matching,
    ``orjson.dumps``, gzip: ~25 us per operation) costs it 15-20 % of ops/s inline, and in a writer
    thread it still takes the GIL from the Trio thread. The writer process (``runner/journal_writer.py``)
    leaves the Trio thread only the noting and one pickle per chunk (bench/throughput.py --journal ab:
    ~10 us of its CPU per operation, with either fsync setting). ``sim`` is one thread by design
    and stays inline, so a seed's journal does not depend on another process; ``processes`` (the
    router's journal) is left as it was, inline. The ``thread`` writer stays for comparison.

    A single ``harness.py run --mode sim`` (``SIM_WRITER``) encodes in the writer process too, when the
    run may use a second core (its CPU affinity, not the machine's count): the bytes are the same (the writer runs this very encoder), and the
    run's one thread is spared the encoding (~5 % of a simulated run's CPU). Explore's trials stay
    inline: they fill every core already, and a writer process per trial would cost its start-up.
    """
    if mode == "sim":
        from .journal_writer import usable_cores

        return SIM_WRITER if usable_cores() > 1 else "inline"
    return "process" if mode == "udp" else "inline"


def _disk_errors() -> frozenset[int]:
    """The OS errors of a disk the journal cannot be written to (full, over quota, read-only), as explore's."""
    from .explore_trial import DISK_ERRORS

    return DISK_ERRORS


class Journal:
    """One journal file; an ``ApplyObserver`` (nodes) and a ``DatagramObserver`` (the network).

    Times are ``clock()`` (trio's clock: ``trio.lowlevel.current_clock().current_time``, without
    ``trio.current_time``'s wrappers) less ``start`` (when the history recorder started), in
    nanoseconds, computed as the recorder computes them, so records line up with history events.

    The hooks only note each event (its clock reading and the objects it was given, flat in one
    list); about every 500 events (``HAND_OFF``) they are encoded (``wire.peek``, K records, delivery
    matching, one ``orjson.dumps`` per record) and compressed together. ``writer`` says where:
    ``inline`` in the hook that fills the list, ``thread`` in a writer thread fed through a bounded
    queue, ``process`` in a writer process (``runner/journal_writer.py``) fed a pickle of each list
    through a pipe, which runs this class's own encoder on a ``Journal`` of its own that owns the
    file. All three encode the same chunks the same way, so the bytes do not depend on it.
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
        writer: str = "inline",
    ) -> None:
        if level not in ("applies", "full"):
            raise ValueError(f"journal level must be 'applies' or 'full', got {level!r}")
        if writer not in WRITERS:
            raise ValueError(f"journal writer must be one of {', '.join(WRITERS)}, got {writer!r}")
        self.path = path
        self.level = level
        self.max_bytes = max_bytes
        self._clock, self._offset = _readings(clock)
        self._start = start
        self._ring = ring
        self._events: list[Any] = []
        """The events noted and not yet handed to the writer, flat: each is its tag, its clock
        reading and its fields one after the other (layouts beside ``_SENT``). Flat, because a tuple per event would be a container
        the garbage collector tracks, kept alive until encoded: they made the collections of the
        node's heap come more often and cost more (a third of the journal's cost in udp mode)."""
        self._chunk = min(HAND_OFF, 6 * CHUNK)  # (never more than about a chunk's events)
        self._buffer: list[bytes] = []
        """Encoded records not yet written: written ``CHUNK`` at a time, the records a chunk ends
        at do not depend on how the noted events were handed over."""
        self._known: set[str] = set()
        self._pending: dict[bytes, int | list[int]] = {}
        self._next_id = 0
        self.open = True
        """False once the journal ended (size limit, close): the hooks then note nothing."""
        self.end_reason: str | None = None
        self.bytes = 0
        self._closed = False
        self._error: BaseException | None = None
        self.writer_failure: str | None = None
        """Why the writer process was given up (died, stalled) and when: the journal is cut short
        without an END record, the run goes on (its verdict comes from the history)."""
        self.records = 0
        self._queue: queue.Queue[list[Any] | tuple[list[Any], str, float]] | None = None
        self._writer: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        if writer == "process":
            self._start_process(dict(path=path, level=level, mode=mode, nodes=list(nodes),
                                     replication=replication, max_bytes=max_bytes, start=start, run=run, seed=seed,
                                     ring=(ring.nodes, ring.replicas, ring.vnodes)))
            return
        self._raw: IO[bytes] = path.open("wb")
        # mtime=0 and no file name in the gzip header: the same run gives the same bytes.
        self._gz = gzip.GzipFile(filename="", fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)
        # The header always (a limit smaller than the header and END alone is the one the file exceeds).
        self._gz.write(orjson.dumps({
            "journal": FORMAT_VERSION, "level": level, "mode": mode, "nodes": list(nodes),
            "replication": replication, "max_bytes": max_bytes, "run": run, "seed": seed,
        }) + b"\n")
        self._gz.flush(zlib.Z_SYNC_FLUSH)
        self.records = 1
        if writer == "thread":
            self._queue = queue.Queue(maxsize=QUEUE_CHUNKS)
            self._writer = threading.Thread(target=self._work, name="journal-writer", daemon=True)
            self._writer.start()

    # -- the hooks (the caller's thread: note the event, nothing more) ---------------------------

    def sent(self, src: str, dst: str, data: bytes, fault: str | None, copies: int) -> None:
        if self.open:
            events = self._events
            events += (_SENT, self._clock(), src, dst, data, fault, copies)
            if len(events) >= self._chunk:
                self._hand_off()

    def delivered(self, dst: str, data: bytes) -> None:
        if self.open:
            events = self._events
            events += (_DELIVERED, self._clock(), dst, data)
            if len(events) >= self._chunk:
                self._hand_off()

    def applied(self, node: str, records: Sequence[Record], won: Sequence[bool], via: str) -> None:
        if self.open:
            events = self._events
            if len(records) == 1:  # the caller's one-record list is not kept alive (see _events)
                record = records[0]
                events += (_APPLIED_ONE, self._clock(), node, record.key, record.stamp, record.value is None, won[0], via)
            else:
                events += (_APPLIED, self._clock(), node, _fields(records), won, via)
            if len(events) >= self._chunk:
                self._hand_off()

    def queued(self, node: str, peer: str, record: Record, reason: str) -> None:
        if self.open:
            events = self._events
            events += (_QUEUED, self._clock(), node, peer, record.key, record.stamp, reason)
            if len(events) >= self._chunk:
                self._hand_off()

    def recovered(self, node: str, records: Sequence[Record]) -> None:
        """An R record: ``node`` started holding ``records`` (after a crash, only what was durable)."""
        if self.open:
            events = self._events
            events += (_RECOVERED, self._clock(), node, _fields(records))
            if len(events) >= self._chunk:
                self._hand_off()

    def lifecycle(self, node: str, what: str) -> None:
        """A C record: ``what`` is crash, restart, pause or resume."""
        if self.open:
            self._events += (_LIFECYCLE, self._clock(), node, what)
            if len(self._events) >= self._chunk:
                self._hand_off()

    def _hand_off(self) -> None:
        events, self._events = self._events, []
        if self._process is not None:
            self._to_process(events)
        elif self._queue is None:
            self._encode(events)
        else:
            self._queue.put(events)  # blocks only while QUEUE_CHUNKS chunks wait: the bound on memory

    # -- the writer process (runner/journal_writer.py) -------------------------------------------

    def _start_process(self, kwargs: dict[str, Any]) -> None:
        from . import journal_writer

        # Started from the caller's thread (the run's Trio thread, alive as long as the run): the
        # death signal the child asks for follows the thread that forked it.
        # This very code in the child, whatever the installed package or working directory: ``start``
        # puts ROOT on PYTHONPATH and runs ``python -P`` (plain ``-m`` would put the working directory
        # first on sys.path, and a ``runner`` package there would run instead).
        self._process = journal_writer.start("runner.journal_writer")
        assert self._process.stdin is not None and self._process.stdout is not None
        self._wire = journal_writer
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError):  # a bigger pipe: a chunk is copied in, not waited out
                fcntl.fcntl(self._process.stdin.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
        self._to_child: IO[bytes] = self._process.stdin
        self._from_child: IO[bytes] = self._process.stdout
        os.set_blocking(self._to_child.fileno(), False)  # written by _write: a bounded wait, never a hang
        self._send((os.getpid(), kwargs, self._offset, CHUNK))  # this module's CHUNK: the same chunks

    def _send(self, message: Any) -> None:
        data = self._wire.pack(message)
        try:
            self._write(memoryview(data))
        except OSError as failure:  # the writer process died: the journal ends, the run goes on
            self._give_up("died", str(failure))

    def _write(self, data: memoryview) -> None:
        """All of ``data`` down the (non-blocking) pipe; a full pipe is waited on ``STALL_POLL`` at a time
        (a signal's handler runs between: Ctrl-C is never held up), and given up (``_give_up``) after
        ``STALL_SECONDS`` without progress."""
        fd = self._to_child.fileno()
        waited = 0.0
        while data:
            try:
                done = os.write(fd, data)
            except BlockingIOError:
                done = 0
            if done:
                data, waited = data[done:], 0.0
                continue
            if waited >= STALL_SECONDS:
                self._give_up("stalled", f"no progress writing to it for {STALL_SECONDS:g} s")
                return
            if _signal_pending():  # Ctrl-C while the pipe is full: the run ends now, not after the bound
                self._give_up("stalled", "its pipe was full at the interruption")
                return
            started = time.monotonic()
            select.select([], [fd], [], STALL_POLL)
            waited += time.monotonic() - started

    def _give_up(self, how: str, why: str) -> None:
        """The writer process died or stalled: no more is sent, the hooks note nothing more, close()
        ends the process and leaves the journal cut short (no END record) without an error."""
        if self.writer_failure is None:
            at = self._offset + self._clock() - self._start
            self.writer_failure = f"the journal writer process {how} at t={at:.2f} s ({why})"
        self.open = False
        assert self._process is not None
        with contextlib.suppress(OSError):
            self._process.kill()

    def _to_process(self, events: list[Any]) -> None:
        if self.writer_failure is None:
            self._send(events)
        # Told the size limit ended the journal? Then the hooks stop noting (a look, never a wait).
        if self.open and select.select([self._from_child], [], [], 0)[0]:
            self.open = False

    def _close_process(self, events: list[Any], reason: str, now: float) -> None:
        assert self._process is not None
        if self.writer_failure is None:
            self._send(("close", events, reason, now))
        with contextlib.suppress(OSError):
            self._to_child.close()  # nothing more: the writer's reader sees the end
        try:
            while self.writer_failure is None and self._reply_ready():
                message = self._wire.receive(self._from_child)
                if message is None:
                    self._give_up("died", f"it ended without closing the journal, exit {self._process.wait()}")
                    break
                if message[0] == "closed":
                    _, self.records, self.end_reason, error, os_error = message
                    if os_error is not None and os_error[0] in _disk_errors():  # a full disk: the OS error,
                        self._error = self._error or OSError(*os_error)      # naming the file (exit 254)
                    elif error is not None:
                        self._error = self._error or RuntimeError(error)
                    break
        finally:
            with contextlib.suppress(OSError):
                self._to_child.close()
            self._from_child.close()
            self._process.wait()

    def _reply_ready(self) -> bool:
        """Wait for the writer process's next message, ``STALL_POLL`` at a time; False (given up) when the
        journal file has not grown for ``STALL_SECONDS`` (the writer stopped) or a signal came."""
        size, waited = -1, 0.0
        while not select.select([self._from_child], [], [], STALL_POLL)[0]:
            with contextlib.suppress(OSError):
                now = os.path.getsize(self.path)
                if now != size:
                    size, waited = now, 0.0
            waited += STALL_POLL
            if waited >= STALL_SECONDS or _signal_pending():
                self._give_up("stalled", "it did not close the journal" if waited >= STALL_SECONDS
                              else "it had not closed the journal at the interruption")
                return False
        return True

    def close(self, reason: str = "done") -> None:
        """Write what is noted and the END record (unless the size limit already ended it)."""
        if self._closed:
            return
        self._closed = True
        events, self._events = self._events, []
        ending = (events, reason, self._clock())
        if self._process is not None:
            self._close_process(*ending)
        elif self._queue is None:
            self._finish(*ending)
        else:
            assert self._writer is not None
            self._queue.put(ending)
            self._writer.join()
        self.open = False
        with contextlib.suppress(OSError):  # (no file: a writer process that could not open it)
            self.bytes = os.path.getsize(self.path)
        if isinstance(self._error, OSError) and self._error.errno is not None and not self._error.filename:
            raise OSError(self._error.errno, self._error.strerror, str(self.path)) from self._error
        if self._error is not None:
            raise self._error

    def summary(self) -> dict[str, Any]:
        """results.json's ``journal`` block."""
        block = {"path": self.path.name, "level": self.level, "records": self.records, "bytes": self.bytes,
                 "complete": self.end_reason == "done", "end": self.end_reason}
        if self.writer_failure is not None:
            block["writer"] = self.writer_failure
        return block

    # -- the writer (the writer thread, the writer process's Journal, or the caller's) ----------

    def _work(self) -> None:
        """The writer thread: encode chunks in order until the closing one."""
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if isinstance(item, tuple):
                try:
                    self._finish(*item)
                except BaseException as error:  # noqa: BLE001 - handed to close(), which raises it
                    self._error = self._error or error
                return
            if self._error is None:
                try:
                    self._encode(item, time.sleep)
                except BaseException as error:  # noqa: BLE001 - handed to close(), which raises it
                    self._error = error
                    self.open = False

    def _finish(self, events: list[Any], reason: str, now: float) -> None:
        try:
            if self._error is None:
                if events:
                    self._encode(events)
                if self.end_reason is None and self._buffer:
                    self._flush(now)
                if self.end_reason is None:
                    self._end(reason, now)
        finally:
            self._close_files()

    def _close_files(self) -> None:
        """Close the gzip stream (its trailer) and the file; the file is closed even when the trailer's write
        fails (a full disk), whose error is raised."""
        try:
            self._gz.close()
        finally:
            with contextlib.suppress(OSError):
                self._raw.close()

    def _flush(self, now: float) -> bool:
        """Write the buffered records; at the size limit, END "size-limit" (at clock reading ``now``)
        and False."""
        lines, self._buffer = self._buffer, []
        if self._put(lines):
            return True
        self._end("size-limit", now)
        return False

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

    def _end(self, reason: str, now: float) -> None:
        self.open = False
        self.end_reason = reason
        self._buffer = []
        # END_RESERVE keeps room for it: the file, trailer included, stays within max_bytes.
        end = ["END", int((self._offset + now - self._start) * 1e9), reason, self._raw.tell()]
        self._gz.write(dumps(end) + b"\n")
        self.records += 1

    def _key_record(self, key: str, now: float) -> bool:
        """A key's first mention: its K record (with its replicas) before the record naming it, and the
        chunk written if that filled it (False: the size limit ended the journal at ``now``)."""
        self._known.add(key)
        self._buffer.append(dumps(("K", key, self._ring.replicas_for(key))))
        return len(self._buffer) < CHUNK or self._flush(now)

    def _encode(self, events: list[Any], pause: Callable[[float], None] | None = None) -> None:
        """Encode the noted ``events`` into records, written ``CHUNK`` at a time; at the size limit,
        END "size-limit" and the rest dropped (noted before the encoder saw the limit).

        A chunk is written when, after a K record or after an event's records, ``CHUNK`` records or
        more wait: the same points at which the journal wrote when its hooks encoded as they went,
        so the bytes do not depend on when or where the events are encoded.

        ``pause`` (the writer thread's ``time.sleep``) is called with ``NAP`` every ``SLICE`` events:
        the Trio thread then waits for the GIL a slice at most, not a whole chunk or a switch interval.
        """
        if self.end_reason is not None:
            return
        start = self._start
        offset = self._offset
        known = self._known
        pending = self._pending
        buf = self._buffer
        line = buf.append
        chunk = CHUNK
        slice_left = SLICE
        i, n = 0, len(events)
        while i < n:
            what = events[i]
            raw = events[i + 1]
            t = int((offset + raw - start) * 1e9)  # (clock() - start), bit for bit
            if pause is not None:
                slice_left -= 1
                if not slice_left:
                    pause(NAP)
                    slice_left = SLICE
            if what is _SENT:
                src, dst, data, fault, copies = events[i + 2:i + 7]
                i += 7
                d = self._next_id
                self._next_id = d + 1
                kind, items = peek(data)
                for item in items:
                    key = item[0] if type(item) is list and item else item
                    if type(key) is str and key not in known:
                        if not self._key_record(key, raw):
                            return
                        buf = self._buffer
                        line = buf.append
                line(dumps(("S", t, d, src, dst, kind, fault, copies, items)))
                if copies:
                    waiting = pending.get(data)
                    if waiting is None:
                        # One id, or a list of ids for copies of the same bytes (duplicates, resends).
                        pending[data] = d if copies == 1 else [d] * copies
                        if len(pending) > PENDING_LIMIT:  # forget the older half (lost), in one amortised step
                            pending = self._pending = dict(
                                itertools.islice(pending.items(), PENDING_LIMIT // 2, None))
                    elif isinstance(waiting, int):
                        pending[data] = [waiting, *([d] * copies)]
                    else:
                        waiting.extend([d] * copies)
            elif what is _DELIVERED:
                dst, data = events[i + 2:i + 4]
                i += 4
                waiting = pending.pop(data, None)
                if waiting is None:
                    continue  # not sent through the observed network (or forgotten)
                if isinstance(waiting, int):
                    d = waiting
                else:
                    d = waiting.pop(0)
                    if waiting:
                        pending[data] = waiting
                line(dumps(("D", t, d, dst)))
            elif what is _APPLIED_ONE or what is _APPLIED:
                if what is _APPLIED_ONE:
                    node, key, stamp, tombstone, w, via = events[i + 2:i + 8]
                    i += 8
                    fields, won = (key, stamp, tombstone), (w,)
                else:
                    node, fields, won, via = events[i + 2:i + 6]
                    i += 6
                for j, w in enumerate(won):
                    key, stamp, tombstone = fields[3 * j:3 * j + 3]
                    if key not in known:
                        if not self._key_record(key, raw):
                            return
                        buf = self._buffer
                        line = buf.append
                    line(dumps(("A", t, node, key, stamp, via, w, tombstone)))
            elif what is _QUEUED:
                node, peer, key, stamp, reason = events[i + 2:i + 7]
                i += 7
                if key not in known:
                    if not self._key_record(key, raw):
                        return
                    buf = self._buffer
                    line = buf.append
                line(dumps(("Q", t, node, peer, key, stamp, reason)))
            elif what is _RECOVERED:
                node, fields = events[i + 2:i + 4]
                i += 4
                for key in fields[::3]:
                    if key not in known:
                        if not self._key_record(key, raw):
                            return
                        buf = self._buffer
                        line = buf.append
                line(dumps(("R", t, node, [fields[j:j + 3] for j in range(0, len(fields), 3)])))
            else:
                node, what_happened = events[i + 2:i + 4]
                i += 4
                line(dumps(("C", t, node, what_happened)))
            if len(buf) >= chunk:
                if not self._flush(raw):
                    return
                buf = self._buffer
                line = buf.append


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
    import trio

    level = options.journal_level
    if level == "off":
        return None
    return Journal(recorder.path.parent / JOURNAL_NAME, level=level, mode=options.mode,
                   ring=shared_ring(config.node_ids, config.replicas, config.vnodes), nodes=config.node_ids,
                   replication=config.replicas, max_bytes=int(options.journal_max_mb * 1024 * 1024),
                   clock=trio.lowlevel.current_clock().current_time, start=recorder.started,
                   run=recorder.path.parent.name, seed=options.seed,
                   writer=journal_writer(options.mode, config.fsync))


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
