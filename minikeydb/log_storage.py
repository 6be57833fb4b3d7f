"""The on-disk engine: an append-only log of checksummed records, replayed into memory at open.

File layout: an 8-byte magic (``MKDBLOG2``), then frames. A frame is the 4-byte mark
``FF FE 4D 4B``, a 4-byte little-endian payload length, a 4-byte CRC32 over mark, length and
payload, and the payload: a compact orjson array, ``[0, key, value, physical_us, logical, node_id]``
for a record (value ``null`` for a tombstone) or ``[1, key, physical_us, logical, node_id]`` for a
tombstone purge. Log order is the order changes were accepted, so replay applies frames
unconditionally, last one wins. The first format (``MKDBLOG1``: frames without the mark) is still
read, and rewritten in the current one at open.

Why this shape: a write is one ``write`` + ``fsync`` of the frames staged since the last one (group
commit), which is the cheapest durable thing a disk can do; the index is a dict, so reads never
touch the disk; and every frame can be found again without trusting the frames before it. The mark
holds 0xFF and 0xFE, bytes that UTF-8 (hence an orjson payload) never contains, so a scan that
lost its place (a damaged length, a flipped bit) finds the next frame by searching for the mark,
and a candidate counts only if its CRC also matches: a false resynchronisation needs garbage that
holds the mark and passes a 32-bit CRC. Recovery (``LogStorage._recover``) therefore keeps every
intact frame: damage in the middle or at the end is skipped, the damaged file is copied to
``<log>.corrupt-<UTC time>`` first and a WARNING says how many frames were skipped and where the
copy is. A damaged header is such damage too when marked frames follow it; a file with no
recognisable frame is refused untouched. Only a torn tail, the unfinished last write of a crash
(one partial frame of a size this engine writes, or at most a block of zeros, past the size the
log is known to have reached durably: after each fsync'd group commit the lock file notes it, see
``LogStorage._note_durable``), is cut quietly (INFO); a log shorter than that size was truncated.

Unflushed frames are buffered in user space (a ``bytearray``), never handed to the kernel before
the group-commit write, so ``crash()`` loses exactly what SIGKILL followed by power loss would.
A group commit's write and fsync run in the event loop by default, as Redis runs its
``appendfsync always``: the node stops for the fsync (about 0.15 ms on these machines), datagrams
wait in the socket buffer meanwhile and join the next group commit. Handing each one to a worker
thread (``write_in_thread=True``, the config's ``fsync = "thread"``) keeps the loop free on a slow
disk, but on this one the hand-over costs more CPU than it saves (``bench/throughput.py``, see
docs/storage-and-codec.md). The sync is ``fdatasync``: the appended bytes and the file size.

Compaction always runs in a worker thread. When the log grows to ``compaction_ratio`` times the
live data (and at least ``compaction_min_bytes``), the live records are rewritten to a new file
which atomically replaces the old one (rename, then fsync of the directory).
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import attrs
import orjson
import trio

from minikeydb.record import MergePolicy, Record, last_writer_wins
from minikeydb.storage import BucketOf, Entry, IndexedStorage, Purge, StorageError

logger = logging.getLogger("minikeydb.storage")

MAGIC = b"MKDBLOG2"
"""The current format: frames that start with ``FRAME_MARK`` (see the module docstring)."""
MAGIC_V1 = b"MKDBLOG1"
"""The first format, still read (and rewritten as the current one at open): no frame mark."""
FRAME_MARK = b"\xff\xfeMK"
"""Starts every frame. 0xFF and 0xFE never occur in UTF-8, so never inside an orjson payload."""
_HEADER = struct.Struct("<4sII")  # mark, payload length, CRC32 of mark + length + payload
_HEADER_V1 = struct.Struct("<II")  # payload length, CRC32 of length + payload
MAX_FRAME = 16 * 1024 * 1024
"""A length field above this is corruption, not a record (the wire limit is far smaller)."""
MAX_WRITE_FRAME = 1024 * 1024
"""The largest frame this engine writes (``encode_entry`` refuses bigger records).

A node's records are far smaller (a request fits one datagram, ``wire.MAX_DATAGRAM``), so this
bounds nothing real; it exists so that recovery can tell a torn write from a truncated file: a
frame cut short whose stated size is above this was never being written by this engine, so the
cut is damage (kept aside, WARNING), not a crash mid-append.
"""
TORN_ZEROS = 4096
"""The most zeros after the last frame that count as a torn write: one filesystem block.

A crash can leave zeros where the file grew but the last write's data never landed; a file
system exposes that a block at a time. A longer run of zeros (everything after the header, half
the log) is damage over many frames, kept aside with a WARNING. Erring this way costs a needless
copy and WARNING after a crash on an unusual file system; erring the other way would cut
acknowledged data quietly.
"""

_PUT, _PURGE = 0, 1

MODE_NAME = "conflict_mode"
"""The file beside the log naming the conflict mode its records were written under (``claim_conflict_mode``)."""

_DURABLE = struct.Struct("<QQI")  # the log's inode, a size it reached durably, CRC32 of the two
"""What the lock file holds: a lower bound on the log's durable size (see ``LogStorage._note_durable``)."""


def frame_payload(payload: bytes) -> bytes:
    """Frame one payload: mark, length, CRC32 over mark, length and payload, then the payload."""
    head = FRAME_MARK + len(payload).to_bytes(4, "little")
    return head + zlib.crc32(payload, zlib.crc32(head)).to_bytes(4, "little") + payload


def encode_entry(entry: Entry) -> bytes:
    """One framed log entry (current format) holding an orjson payload."""
    physical, logical, node = entry.stamp
    if isinstance(entry, Purge):
        payload = orjson.dumps([_PURGE, entry.key, physical, logical, node])
    else:
        payload = orjson.dumps([_PUT, entry.key, entry.value, physical, logical, node])
    if len(payload) > MAX_WRITE_FRAME - _HEADER.size:
        raise ValueError(
            f"record {entry.key!r} encodes to {len(payload)} bytes, above the "
            f"{MAX_WRITE_FRAME - _HEADER.size}-byte limit of one log frame"
        )
    return frame_payload(payload)


def decode_payload(payload: bytes, where: str) -> Entry:
    """Turn a checksummed payload back into an entry; a well-checksummed but malformed one is an error.

    The checksum already matched, so a bad shape means a different program wrote this file, and
    silently cutting it off would throw data away: refuse with the file and offset instead.
    """
    try:
        items = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise StorageError(f"{where}: checksum is valid but the payload is not JSON ({exc})") from None
    ok = isinstance(items, list) and len(items) >= 5 and type(items[0]) is int
    if ok and items[0] == _PUT and len(items) == 6:
        _, key, value, physical, logical, node = items
        ok = isinstance(key, str) and (value is None or isinstance(value, str))
        if ok and type(physical) is int and type(logical) is int and isinstance(node, str):
            return Record(key, value, (physical, logical, node))
    elif ok and items[0] == _PURGE and len(items) == 5:
        _, key, physical, logical, node = items
        if isinstance(key, str) and type(physical) is int and type(logical) is int and isinstance(node, str):
            return Purge(key, (physical, logical, node))
    raise StorageError(f"{where}: checksum is valid but the entry has an unknown shape: {payload[:80]!r}")


@attrs.frozen
class Damage:
    """A stretch of the log that holds no valid frame: ``start`` to ``end`` (exclusive)."""

    start: int
    end: int
    reason: str
    frames: int
    """How many frames it held as far as the scan can tell (frame marks in it; at least 1)."""


@attrs.frozen
class LogScan:
    """What a scan of a log found: the entries of every valid frame, and where it found damage.

    ``damaged`` are stretches followed by a valid frame (corruption in the middle). ``tail`` is a
    stretch at the end with no valid frame after it: ``torn_tail`` says whether it is merely the
    unfinished last write of a crash (a frame cut short, or zeros), which is cut silently.
    """

    version: int
    entries: list[Entry]
    damaged: list[Damage]
    tail: Damage | None
    torn_tail: bool
    bad_header: bytes | None = None
    """The file's first bytes when they are not an intact header (``b""``: the file starts with a frame)."""

    @property
    def frames_skipped(self) -> int:
        return sum(d.frames for d in self.damaged) + (self.tail.frames if self.tail and not self.torn_tail else 0)

    @property
    def bytes_skipped(self) -> int:
        header = len(self.bad_header) if self.bad_header is not None else 0
        return header + sum(d.end - d.start for d in self.damaged) + (self.tail.end - self.tail.start if self.tail else 0)


def _frame_at(data: bytes, pos: int, version: int) -> tuple[int, int] | str:
    """(payload start, frame end) of a valid frame at ``pos``, else why there is none."""
    header = _HEADER if version == 2 else _HEADER_V1
    end = len(data)
    if end - pos < header.size:
        return f"torn frame header ({end - pos} of {header.size} bytes)"
    if version == 2:
        mark, length, crc = header.unpack_from(data, pos)
        if mark != FRAME_MARK:
            return "no frame mark"
        covered = 8
    else:
        length, crc = header.unpack_from(data, pos)
        covered = 4
    if length > MAX_FRAME:
        return f"frame length {length} is out of range"
    start = pos + header.size
    if end - start < length:
        return f"torn frame ({end - start} of {length} payload bytes)"
    if zlib.crc32(data[start : start + length], zlib.crc32(data[pos : pos + covered])) != crc:
        return "checksum mismatch"
    return start, start + length


def _next_frame(data: bytes, pos: int, version: int) -> int | None:
    """The offset of the first valid frame at or after ``pos``, if any.

    Current format: only offsets holding ``FRAME_MARK`` are tried, and a payload cannot contain
    the mark, so the candidates are real frame starts (or garbage that also passes a 32-bit CRC).
    The first format has no mark: every offset that could start a frame whose payload begins with
    ``[`` is tried, the CRC deciding; slower, and only ever run on a damaged old log.
    """
    if version == 2:
        p = data.find(FRAME_MARK, pos)
        while p != -1:
            if not isinstance(_frame_at(data, p, 2), str):
                return p
            p = data.find(FRAME_MARK, p + 1)
        return None
    p = data.find(b"[", pos + _HEADER_V1.size)
    while p != -1:
        if not isinstance(_frame_at(data, p - _HEADER_V1.size, 1), str):
            return p - _HEADER_V1.size
        p = data.find(b"[", p + 1)
    return None


def _tail_verdict(data: bytes, pos: int, version: int, reason: str) -> tuple[bool, str]:
    """Whether the tail from ``pos`` is the unfinished last write of a crash (not damage), and why.

    A crash mid-append leaves the beginning of one frame cut short (the mark, or part of it, in
    the current format), or up to ``TORN_ZEROS`` zeros where the file grew but the data never
    landed. Frames of the same write that did land before the cut are valid and kept; so a torn
    tail is at most one partial frame, whatever the size of the group commit. Anything else is
    damage: zeros over more than a block, garbage, a cut frame whose stated size is above
    ``MAX_WRITE_FRAME`` (this engine never writes one: a truncated file, or a damaged length), and
    a complete frame whose length field alone was damaged, which also looks cut short but is told
    apart by its CRC, matching once the length is taken from the file's end instead.

    What the bytes alone cannot tell apart: a file truncated by something else at a point inside
    a frame of ordinary size looks exactly like a crash mid-append. ``LogStorage._recover`` tells
    them apart with the durable size noted in the lock file (a cut before it is damage); without
    a note (``fsync=False``, an older lock file) such a cut is taken for a torn write, at INFO.
    """
    tail = data[pos:]
    if not tail.strip(b"\x00"):
        if len(tail) > TORN_ZEROS:
            return False, f"{len(tail)} zero bytes, more than a torn write leaves ({TORN_ZEROS})"
        return True, reason
    header = _HEADER if version == 2 else _HEADER_V1
    if version == 2 and not FRAME_MARK.startswith(tail[:4]):
        return False, reason
    if len(tail) < header.size:
        return True, reason
    if not reason.startswith("torn frame ("):
        return False, reason
    stated = int.from_bytes(tail[header.size - 8 : header.size - 4], "little")
    if header.size + stated > MAX_WRITE_FRAME:
        return False, f"{reason}; a frame of that size is never written, so the file was cut, not torn"
    length = len(tail) - header.size
    covered = FRAME_MARK + length.to_bytes(4, "little") if version == 2 else length.to_bytes(4, "little")
    crc = int.from_bytes(tail[header.size - 4 : header.size], "little")
    return zlib.crc32(tail[header.size :], zlib.crc32(covered)) != crc, reason


def _frames_in(data: bytes, start: int, end: int, version: int) -> int:
    if version == 1:
        return 1
    marks = data.count(FRAME_MARK, start, end)
    return marks + (0 if data.startswith(FRAME_MARK, start) else 1)


def scan_log(data: bytes, path: Path) -> tuple[list[Entry], int, str | None]:
    """(entries of every valid frame, where the last valid frame ends, the first damage or None)."""
    scan = scan_frames(data, path)
    first = scan.damaged[0] if scan.damaged else scan.tail
    return scan.entries, scan.tail.start if scan.tail is not None else len(data), first.reason if first else None


def _refusal(data: bytes, path: Path) -> StorageError:
    """The error for a file in which no frame can be recognised: what it is, that nothing changed, what to do."""
    advice = (
        f"nothing was changed. If this is the node's log, move it aside (e.g. to {path.name}.bad) and "
        "restart to start this node empty: the other replicas hold the data and anti-entropy copies it back"
    )
    # A first-format frame right after the (damaged) header, or at the start (header cut off):
    # checked at those two places only, as a search would try every "[" of a foreign file.
    if any(not isinstance(_frame_at(data, at, 1), str) for at in (len(MAGIC_V1), 0)):
        return StorageError(
            f"{path}: not a MinikeyDB log it can read: this looks like a first-format (MKDBLOG1) log "
            f"whose header is damaged ({data[:8]!r}); that format has no frame marks to recover by, so "
            f"{advice}"
        )
    return StorageError(
        f"{path}: not a MinikeyDB log: it starts with {data[:8]!r}, not {MAGIC!r}, and holds no intact "
        f"MinikeyDB frame ({len(data)} bytes); {advice}"
    )


def _layout(data: bytes, path: Path) -> tuple[int, int, bytes | None]:
    """(format version, offset of the first frame, the damaged header or None if intact).

    A header that is not an intact magic, but followed by valid marked frames, is damage like any
    other: the current format is recognised by its frames, not only by its first 8 bytes. The
    first format has no mark to recognise a frame by, so a damaged first-format header (no marked
    frame anywhere) is refused (``_refusal``), as is a file with no frame at all.
    """
    if data.startswith(MAGIC):
        return 2, len(MAGIC), None
    if data.startswith(MAGIC_V1):
        # An intact first-format header over marked frames is a damaged current-format header
        # (MKDBLOG2 and MKDBLOG1 differ in two bits); a first-format log holds no marked frame.
        if not isinstance(_frame_at(data, len(MAGIC_V1), 1), str) or _next_frame(data, 0, 2) is None:
            return 1, len(MAGIC_V1), None
    first = _next_frame(data, 0, 2)
    if first is None:
        raise _refusal(data, path)
    return 2, first, data[: min(first, len(MAGIC))]


def scan_frames(data: bytes, path: Path) -> LogScan:
    """Parse every frame after the magic, resynchronising past damage to the next valid frame.

    Raises ``StorageError`` when the header is not intact and no frame can be recognised at all.
    """
    version, pos, bad_header = _layout(data, path)
    entries: list[Entry] = []
    damaged: list[Damage] = []
    if pos > len(MAGIC):  # a damaged header followed by more damage before the first frame
        found = _frame_at(data, len(MAGIC), version)
        assert isinstance(found, str)
        damaged.append(Damage(len(MAGIC), pos, found, _frames_in(data, len(MAGIC), pos, version)))
    end = len(data)
    while pos < end:
        found = _frame_at(data, pos, version)
        if not isinstance(found, str):
            start, pos_next = found
            entries.append(decode_payload(data[start:pos_next], f"{path}: offset {pos}"))
            pos = pos_next
            continue
        resume = _next_frame(data, pos + 1, version)
        if resume is None:
            frames = _frames_in(data, pos, end, version)
            torn, reason = _tail_verdict(data, pos, version, found)
            return LogScan(version, entries, damaged, Damage(pos, end, reason, frames), torn, bad_header)
        damaged.append(Damage(pos, resume, found, _frames_in(data, pos, resume, version)))
        pos = resume
    return LogScan(version, entries, damaged, None, False, bad_header)


def _fsync_dir(directory: Path) -> None:
    """Make a create or rename in ``directory`` durable (the file's own fsync does not cover it)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LogStorage(IndexedStorage):
    """The durable engine for real nodes. Open with ``LogStorage.open(path, bucket_of=...)``."""

    def __init__(
        self,
        path: Path,
        *,
        merge: MergePolicy = last_writer_wins,
        bucket_of: BucketOf,
        fsync: bool = True,
        group_commit_window: float = 0.0,
        flush_interval: float = 1.0,
        compaction_ratio: float = 4.0,
        compaction_min_bytes: int = 4 * 1024 * 1024,
        write_in_thread: bool = False,
    ) -> None:
        super().__init__(
            merge=merge,
            bucket_of=bucket_of,
            group_commit_window=group_commit_window,
            flush_interval=flush_interval,
        )
        self.path = Path(path)
        self._fsync = fsync
        self._write_in_thread = write_in_thread
        self._compaction_ratio = compaction_ratio
        self._compaction_min_bytes = compaction_min_bytes
        self._staged = bytearray()
        self._staged_frames = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._ino = 0  # the log file's inode, which the durable-size note in the lock file names
        # Held by the worker thread for a write+fsync and by crash(): after crash() returns no
        # write is in flight and none will start, as after a real process death.
        self._io_lock = threading.Lock()
        self._live_bytes = 0  # encoded size of the current records: the compaction yardstick
        self.stats["log_bytes"] = 0

    @property
    def log_bytes(self) -> int:
        """Current size of the log file (valid frames only)."""
        return self.stats["log_bytes"]

    @log_bytes.setter
    def log_bytes(self, size: int) -> None:
        self.stats["log_bytes"] = size

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        merge: MergePolicy = last_writer_wins,
        bucket_of: BucketOf,
        fsync: bool = True,
        group_commit_window: float = 0.0,
        flush_interval: float = 1.0,
        compaction_ratio: float = 4.0,
        compaction_min_bytes: int = 4 * 1024 * 1024,
        write_in_thread: bool = False,
        conflict_mode: str | None = None,
    ) -> LogStorage:
        """Open (creating if absent) the log at ``path``, recovering its valid prefix into memory.

        ``path`` is the log file itself; its directory also holds ``<name>.lock`` (which keeps a
        second process from opening the same log) and, briefly, ``<name>.compact``. With
        ``conflict_mode``, the directory must hold that mode's data (``claim_conflict_mode``).
        """
        store = cls(
            Path(path),
            merge=merge,
            bucket_of=bucket_of,
            fsync=fsync,
            group_commit_window=group_commit_window,
            flush_interval=flush_interval,
            compaction_ratio=compaction_ratio,
            compaction_min_bytes=compaction_min_bytes,
            write_in_thread=write_in_thread,
        )
        store._open_files()
        if conflict_mode is not None:
            try:
                claim_conflict_mode(store, conflict_mode)
            except BaseException:
                store._close_files()
                raise
        return store

    # -- opening and recovery ------------------------------------------------------------------

    def _open_files(self) -> None:
        path = self.path
        if path.exists() and path.is_dir():
            raise StorageError(f"{path}: is a directory; LogStorage.open takes the log file's path")
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(path.name + ".lock")
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise StorageError(f"{path}: already open (by another process or another open store)") from None
        self._lock_fd = lock_fd
        try:
            stale = path.with_name(path.name + ".compact")
            if stale.exists():  # a compaction that died before its rename: the old log is whole
                stale.unlink()
            self._recover()
        except OSError as exc:
            self._close_files()
            raise StorageError(f"{path}: cannot recover the log: {exc}") from exc
        except BaseException:
            self._close_files()
            raise

    def _recover(self) -> None:
        """Replay every valid frame; keep damaged bytes aside; never destroy an intact frame.

        Damage in the middle of the log (a flipped bit, a bad sector) is skipped: the scan
        resynchronises at the next valid frame, found by its mark and CRC (see ``_next_frame``),
        and every intact frame after the damage is replayed. Refusing to start instead was the
        alternative; it is rejected because it turns one bad frame into a node down until an
        operator acts, while what a skip loses is exactly the damaged frame, which the replicas
        hold too (anti-entropy and read repair bring it back, as after any crash), and because
        the original file is never destroyed, so nothing is lost for an operator either: before
        anything is rewritten, the whole file is copied to ``<log>.corrupt-<UTC time>`` (fsync'd),
        and a WARNING names the copy, the frames skipped and where. The log is then rewritten
        from the recovered state (as compaction does: temporary file, rename, directory fsync),
        so the next open is clean and appends never follow damage.

        What a skip can do to one replica's state: the key of a skipped frame goes back to its
        previous version in this log (an older value, or absent), as if that write had not
        reached this replica; a skipped purge brings a tombstone back, to be purged again.

        A damaged header (a flipped bit, zeros, the first bytes cut off) over valid marked
        frames is damage like any other: the frames are recovered, the file copied aside, the log
        rewritten with a good header (see ``_layout``). A file in which no frame can be
        recognised, a first-format log with a damaged header among them, is refused untouched
        with a message saying what to do (``_refusal``).

        Only a torn tail, the unfinished last write of a crash (at most one partial frame, or a
        block of zeros: see ``_tail_verdict``), is cut without a copy, at INFO. An empty or
        missing log, or one whose header never landed, starts empty, at INFO. A log in the first
        format (``MKDBLOG1``, no frame marks) is read the same way and rewritten in the current one.
        """
        path = self.path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        # Absent, empty, or torn while being created (a prefix of the magic, or zeros where the
        # magic never landed: nothing after it, so no record can be lost): start a fresh log.
        if data is None or (len(data) <= len(MAGIC) and data not in (MAGIC, MAGIC_V1)):
            if data and not (MAGIC.startswith(data) or MAGIC_V1.startswith(data) or not data.strip(b"\x00")):
                raise _refusal(data, path)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            os.write(fd, MAGIC)
            os.fsync(fd)
            _fsync_dir(path.parent)
            self._fd = fd
            self.log_bytes = len(MAGIC)
            self._ino = os.fstat(fd).st_ino
            self._note_durable(self._ino, len(MAGIC), sync=True)  # forget any earlier log's size
            if data:
                self.stats["bytes_discarded_on_recovery"] = len(data)
                logger.info("%s: log header torn while the log was created (%d bytes); starting empty", path, len(data))
            elif data is None:
                logger.info("%s: no log yet; starting empty with a new one", path)
            else:
                logger.info("%s: log is empty (0 bytes); starting empty", path)
            return
        scan = scan_frames(data, path)
        # A log shorter than a size it once reached durably was cut by something other than a
        # crash (a crash only loses what was never synced): damage, even where the cut looks
        # like a torn last write or falls between two frames.
        durable = self._durable_size(os.stat(path).st_ino)
        ends = scan.tail.start if scan.tail is not None else len(data)
        lost_synced = durable is not None and ends < durable
        truncated = durable if durable is not None and len(data) < durable else None
        if lost_synced and scan.tail is not None and scan.torn_tail:
            reason = f"{scan.tail.reason}; it starts before the {durable} bytes once synced, so it is no torn write"
            scan = attrs.evolve(scan, tail=attrs.evolve(scan.tail, reason=reason), torn_tail=False)
        for entry in scan.entries:
            self._load(entry)
        self.stats["records_recovered"] = len(scan.entries)
        self.stats["frames_skipped_on_recovery"] = scan.frames_skipped
        self.stats["bytes_discarded_on_recovery"] = scan.bytes_skipped
        damaged = (
            bool(scan.damaged)
            or (scan.tail is not None and not scan.torn_tail)
            or scan.bad_header is not None
            or lost_synced
        )
        if not damaged and scan.version == 2:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            self._ino = os.fstat(fd).st_ino
            if scan.tail is not None:  # torn: the crash's unfinished write, nothing to keep
                os.ftruncate(fd, scan.tail.start)
                os.fsync(fd)
                logger.info(
                    "%s: cut a torn last write at offset %d (%s, %d bytes); kept %d records",
                    path, scan.tail.start, scan.tail.reason, scan.bytes_skipped, len(scan.entries),
                )
            self._fd = fd
            self.log_bytes = scan.tail.start if scan.tail is not None else len(data)
            return
        copy = self._keep_aside(data) if damaged else None
        size = self._rewrite_blocking(list(self._index.values()), reopen=False)
        assert size is not None  # only a running store's rewrite can be overtaken by a crash
        self.log_bytes = size
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._ino = os.fstat(self._fd).st_ino
        if copy is not None:
            where = [*scan.damaged, *([scan.tail] if scan.tail is not None and not scan.torn_tail else [])]
            parts = []
            if scan.bad_header is not None:
                parts.append(
                    f"the log header was damaged ({scan.bad_header!r} instead of {MAGIC!r})"
                    if scan.bad_header
                    else f"the log header was missing (the file starts with a frame, not {MAGIC!r})"
                )
            if where:
                frames = scan.frames_skipped
                parts.append(
                    f"skipped {frames} damaged frame{'' if frames == 1 else 's'} "
                    f"({sum(d.end - d.start for d in where)} bytes in {len(where)} place{'' if len(where) == 1 else 's'}; "
                    f"first at offset {where[0].start}: {where[0].reason})"
                )
            if truncated is not None:
                parts.append(
                    f"the log was truncated: it is {len(data)} bytes, shorter than the {truncated} bytes it "
                    f"had reached durably (synced frames are gone; the other replicas hold them)"
                )
            logger.warning(
                "%s: %s; kept %d intact records; the damaged file is kept at %s, the log was rewritten without the damage",
                path, " and ".join(parts), len(scan.entries), copy,
            )
        if scan.version == 1:
            logger.info("%s: rewrote a first-format (MKDBLOG1) log in the current format (%d records)", path, len(self._index))
        if scan.tail is not None and scan.torn_tail:
            logger.info("%s: dropped a torn last write at offset %d (%s)", path, scan.tail.start, scan.tail.reason)

    def _keep_aside(self, data: bytes) -> Path:
        """Copy the damaged log, as read, to ``<log>.corrupt-<UTC time>`` durably; returns its path."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for n in range(1000):
            copy = self.path.with_name(f"{self.path.name}.corrupt-{stamp}" + (f".{n}" if n else ""))
            try:
                fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(self.path.parent)
            return copy
        raise StorageError(f"{self.path}: cannot keep the damaged log aside: 1000 copies named {copy.name} exist")

    def _durable_size(self, ino: int) -> int | None:
        """The size the log with inode ``ino`` is known to have reached durably, if the lock file says."""
        assert self._lock_fd is not None
        note = os.pread(self._lock_fd, _DURABLE.size, 0)
        if len(note) != _DURABLE.size:
            return None  # no note yet (a new lock file, or one from before the note existed)
        noted_ino, size, crc = _DURABLE.unpack(note)
        if crc != zlib.crc32(note[:16]) or noted_ino != ino:
            return None  # torn, or about another file (the log was replaced or moved aside)
        return size

    def _note_durable(self, ino: int, size: int, *, sync: bool) -> None:
        """Record in the lock file that the log (inode ``ino``) has reached ``size`` bytes durably.

        Called only after those bytes were fsync'd, so the note, whichever version of it a crash
        leaves on disk, never exceeds what the log durably holds: a lower bound, which lets
        recovery tell a truncated log (shorter than the note) from a crash's torn write (past it).
        It costs one unsynced 20-byte ``pwrite`` per group commit. Before a rewrite shrinks the log
        the note is synced (``sync``), so that an older, larger note cannot come back.
        """
        assert self._lock_fd is not None
        head = struct.pack("<QQ", ino, size)
        os.pwrite(self._lock_fd, head + zlib.crc32(head).to_bytes(4, "little"), 0)
        if sync:
            os.fsync(self._lock_fd)

    # -- engine hooks --------------------------------------------------------------------------

    def _stage(self, entry: Entry) -> None:
        self._staged += encode_entry(entry)
        self._staged_frames += 1

    def _on_replace(self, old: Record | None, new: Record | None) -> None:
        # An estimate is enough to decide when to compact, and costs no encoding.
        if old is not None:
            self._live_bytes -= _frame_size(old)
        if new is not None:
            self._live_bytes += _frame_size(new)

    async def _write_staged(self) -> bool:
        data = bytes(self._staged)
        frames = self._staged_frames
        self._staged.clear()
        self._staged_frames = 0
        try:
            if self._write_in_thread:
                # Not cancellable (abandon_on_cancel=False): a cancelled writer waits for the
                # thread, so a batch is never half-forgotten between the buffer and the file.
                written = await trio.to_thread.run_sync(self._write_blocking, data)
            else:
                written = self._write_blocking(data)
        except OSError as exc:
            # What reached the disk is unknown now; refuse further work rather than guess.
            self.crash()
            raise StorageError(f"{self.path}: write failed, storage closed: {exc}") from exc
        if written:
            self.log_bytes += len(data)
            self.stats["records_written"] += frames
        return written

    def _writes_inline(self) -> bool:
        return not self._write_in_thread

    def _write_blocking(self, data: bytes) -> bool:
        """Append and fsync (in the event loop or a worker thread), unless a crash closed the file first."""
        with self._io_lock:
            fd = self._fd
            if fd is None:
                return False
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self._fsync:
                # fdatasync: the appended bytes and the file size, not the timestamps; what an
                # append-only log needs to be read back, and measurably cheaper (PostgreSQL's
                # default for its WAL on Linux for the same reason).
                os.fdatasync(fd)
                self.stats["fsyncs"] += 1
                self._note_durable(self._ino, self.log_bytes + len(data), sync=False)
            return True

    def _discard_staged(self) -> None:
        self._staged.clear()
        self._staged_frames = 0

    def _close_files(self) -> None:
        with self._io_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the flock
                self._lock_fd = None

    # -- compaction ----------------------------------------------------------------------------

    def _should_compact(self) -> bool:
        return (
            not self._closed
            and self.log_bytes >= self._compaction_min_bytes
            and self.log_bytes > self._compaction_ratio * max(self._live_bytes, 1)
        )

    async def compact(self) -> None:
        """Rewrite the log to hold exactly the live state (the flusher does this when it pays)."""
        async with self._committing():
            self._check_open()
            await self._flush_locked()
            await self._compact_locked()

    async def _compact_locked(self) -> None:
        # The commit lock is held and the staged buffer was just flushed, so the index is exactly
        # the file's content: snapshot it now, before any await lets new writes in. Records are
        # immutable, so the worker thread can encode the snapshot while writers keep staging.
        snapshot = list(self._index.values())
        size = await trio.to_thread.run_sync(self._compact_blocking, snapshot)
        if size is not None:
            self.log_bytes = size
            self.stats["compactions"] += 1
            logger.info("%s: compacted to %d bytes (%d records)", self.path, size, len(snapshot))

    def _compact_blocking(self, snapshot: list[Record]) -> int | None:
        with self._io_lock:
            if self._fd is None:  # crashed before we started: nothing to do
                return None
        return self._rewrite_blocking(snapshot, reopen=True)

    def _rewrite_blocking(self, snapshot: list[Record], *, reopen: bool) -> int | None:
        """Replace the log by one holding exactly ``snapshot``, atomically; the new size, or None.

        The new log is written and fsync'd under ``<name>.compact``, then renamed over the log and
        the directory fsync'd: a crash at any point leaves either the old log whole (and a stale
        ``.compact`` that the next open deletes) or the new one whole. With ``reopen`` (a running
        store) the append descriptor is moved to the new file, unless a crash closed it meanwhile,
        in which case the rename does not happen, as if killed before it.
        """
        tmp = self.path.with_name(self.path.name + ".compact")
        data = MAGIC + b"".join(encode_entry(record) for record in snapshot)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            ino = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        if not reopen:
            self._note_durable(ino, len(data), sync=True)
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            return len(data)
        with self._io_lock:
            if self._fd is None:  # crashed meanwhile: as if killed before the rename
                tmp.unlink(missing_ok=True)
                return None
            # The note names the new file before the rename makes it the log: a crash in
            # between leaves the old log, which the note does not name (no check, no false alarm).
            self._note_durable(ino, len(data), sync=True)
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            new_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            os.close(self._fd)
            self._fd = new_fd
            self._ino = ino
            self.stats["fsyncs"] += 3
        return len(data)


def _frame_size(record: Record) -> int:
    """Approximate encoded frame size, without encoding (ASCII-exact; close enough otherwise)."""
    value = record.value
    return 44 + len(record.key) + (len(value) + 2 if value is not None else 4) + len(record.stamp[2])


def claim_conflict_mode(store: LogStorage, mode: str) -> None:
    """Refuse (``StorageError``, one line) a log written under another conflict mode than ``mode``;
    mark an unmarked one as ``mode``'s.

    Each mode stores values of its own shape (lww: the client's value; siblings and crdt: encoded
    states), and a record of one is malformed under another: every read and write of its key
    would fail. The mode is named in ``MODE_NAME`` beside the log, written (durably) the first time
    a node opens the directory. A directory from before the marker is judged by its records
    (``conflict.written_mode``): it starts under the mode they fit, and is marked then.
    """
    from .conflict import MODES, written_mode  # the store's only use of conflict modes

    marker = store.path.with_name(MODE_NAME)
    try:
        written: str | None = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        written = None
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"{marker}: cannot read the data directory's conflict mode: {exc}") from None
    if written is not None and written not in MODES:
        raise StorageError(f"{marker}: names conflict mode {written!r}, not one of {', '.join(MODES)}")
    if written is None:
        written = written_mode((record.value for record in store.records()), mode)
    if written != mode:
        raise StorageError(
            f"{store.path.parent}: its data was written under conflict mode {written}, and this cluster's is {mode}: "
            f"start it with conflict = \"{written}\", or give it another data_dir (one mode's records are unreadable under another)"
        )
    if marker.exists():
        return
    tmp = marker.with_name(MODE_NAME + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, (mode + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, marker)
        _fsync_dir(marker.parent)
    except OSError as exc:
        raise StorageError(f"{marker}: cannot record the data directory's conflict mode: {exc.strerror or exc}") from None
