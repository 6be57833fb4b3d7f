"""The on-disk engine: an append-only log of checksummed records, replayed into memory at open.

File layout: an 8-byte magic (``MKDBLOG1``), then frames. A frame is a 4-byte little-endian payload
length, a 4-byte CRC32 over the length and the payload, and the payload: a compact orjson array,
``[0, key, value, physical_ms, logical, node_id]`` for a record (value ``null`` for a tombstone)
or ``[1, key, physical_ms, logical, node_id]`` for a tombstone purge. Log order is the order
changes were accepted, so replay applies frames unconditionally, last one wins.

Why this shape: a write is one ``write`` + ``fsync`` of the frames staged since the last one (group
commit), which is the cheapest durable thing a disk can do; the index is a dict, so reads never
touch the disk; and a crash can only damage the end of the file, which the length and checksum
detect. Recovery keeps the longest valid prefix, cuts the rest off and logs what it cut: a torn
last frame from a SIGKILL, or a corrupt tail. Corruption in the middle is indistinguishable from a
corrupt tail by a scan and is cut the same way; replicas' anti-entropy restores what was lost.

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
import zlib
from pathlib import Path

import orjson
import trio

from minikeydb.record import MergePolicy, Record, last_writer_wins
from minikeydb.storage import BucketOf, Entry, IndexedStorage, Purge, StorageError

logger = logging.getLogger("minikeydb.storage")

MAGIC = b"MKDBLOG1"
_HEADER = struct.Struct("<II")
MAX_FRAME = 16 * 1024 * 1024
"""A length field above this is corruption, not a record (the wire limit is far smaller)."""

_PUT, _PURGE = 0, 1


def encode_entry(entry: Entry) -> bytes:
    """One framed log entry: length, CRC32 of length and payload, orjson payload."""
    physical, logical, node = entry.stamp
    if isinstance(entry, Purge):
        payload = orjson.dumps([_PURGE, entry.key, physical, logical, node])
    else:
        payload = orjson.dumps([_PUT, entry.key, entry.value, physical, logical, node])
    if len(payload) > MAX_FRAME:
        raise ValueError(f"record {entry.key!r} encodes to {len(payload)} bytes, above the {MAX_FRAME}-byte limit")
    length = len(payload).to_bytes(4, "little")
    return _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


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


def scan_log(data: bytes, path: Path) -> tuple[list[Entry], int, str | None]:
    """Parse frames after the magic: (entries, end of the valid prefix, why the rest is bad or None)."""
    entries: list[Entry] = []
    pos = len(MAGIC)
    end = len(data)
    header_size = _HEADER.size
    crc32 = zlib.crc32
    while pos < end:
        if end - pos < header_size:
            return entries, pos, f"torn frame header ({end - pos} of {header_size} bytes)"
        length, crc = _HEADER.unpack_from(data, pos)
        if length > MAX_FRAME:
            return entries, pos, f"frame length {length} is out of range"
        start = pos + header_size
        if end - start < length:
            return entries, pos, f"torn frame ({end - start} of {length} payload bytes)"
        payload = data[start : start + length]
        if crc32(payload, crc32(data[pos : pos + 4])) != crc:
            return entries, pos, "checksum mismatch"
        entries.append(decode_payload(payload, f"{path}: offset {pos}"))
        pos = start + length
    return entries, pos, None


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
    ) -> LogStorage:
        """Open (creating if absent) the log at ``path``, recovering its valid prefix into memory.

        ``path`` is the log file itself; its directory also holds ``<name>.lock`` (which keeps a
        second process from opening the same log) and, briefly, ``<name>.compact``.
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
        except BaseException:
            self._close_files()
            raise

    def _recover(self) -> None:
        path = self.path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        if len(data) < len(MAGIC):
            if not MAGIC.startswith(data):
                raise StorageError(f"{path}: not a MinikeyDB log (bad magic {data!r})")
            # Absent, or torn while being created: start a fresh log, durably.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            os.write(fd, MAGIC)
            os.fsync(fd)
            _fsync_dir(path.parent)
            self._fd = fd
            self.log_bytes = len(MAGIC)
            if data:
                self.stats["bytes_discarded_on_recovery"] = len(data)
                logger.warning("%s: discarded a torn %d-byte log header", path, len(data))
            return
        if not data.startswith(MAGIC):
            raise StorageError(f"{path}: not a MinikeyDB log (bad magic {data[:8]!r})")
        entries, good_end, problem = scan_log(data, path)
        for entry in entries:
            self._load(entry)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        if problem is not None:
            discarded = len(data) - good_end
            os.ftruncate(fd, good_end)
            os.fsync(fd)
            self.stats["bytes_discarded_on_recovery"] = discarded
            logger.warning(
                "%s: %s at offset %d; discarded %d bytes of tail, kept %d records",
                path,
                problem,
                good_end,
                discarded,
                len(entries),
            )
        self._fd = fd
        self.log_bytes = good_end
        self.stats["records_recovered"] = len(entries)

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
        tmp = self.path.with_name(self.path.name + ".compact")
        data = MAGIC + b"".join(encode_entry(record) for record in snapshot)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._io_lock:
            if self._fd is None:  # crashed meanwhile: as if killed before the rename
                tmp.unlink(missing_ok=True)
                return None
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            new_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            os.close(self._fd)
            self._fd = new_fd
            self.stats["fsyncs"] += 2
        return len(data)


def _frame_size(record: Record) -> int:
    """Approximate encoded frame size, without encoding (ASCII-exact; close enough otherwise)."""
    value = record.value
    return 40 + len(record.key) + (len(value) + 2 if value is not None else 4) + len(record.stamp[2])
