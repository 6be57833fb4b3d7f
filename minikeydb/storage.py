"""The local storage interface a node calls, and the machinery both engines share.

A replica keeps every key's latest version in an in-memory index (so reads are a dict lookup) and
makes changes durable before a write is acknowledged. Two engines implement the same behaviour:
``LogStorage`` (``log_storage.py``, an append-only file, for real nodes) and ``MemoryStorage``
(``minikeydb/testing/disk.py``, a simulated disk in virtual time, for deterministic runs). Everything that
must behave identically in both lives here, in ``IndexedStorage``: the merge, the counters, the
anti-entropy digests, and group commit. The engines only say how a batch of changes reaches their
"disk" and how the durable state is read back.

Group commit is a lock around "write everything staged so far, then fsync". The writer that
takes it (the leader) writes the whole staged batch in one go; the writers that arrive meanwhile
wait for that flush to end, all woken together, and find their records durable or lead the next.
One fsync thus acknowledges every writer that arrived while the previous one was in flight. The leader can also wait ``group_commit_window``
seconds for more company when others are waiting; the default is 0 because ``bench/storage.py``
measured that on these machines (fsync ~0.4 ms) the natural batching above already puts every
concurrent writer in one fsync, and the window only adds its length to every write's latency
(see docs/storage-and-codec.md). A disk with slow fsyncs and spread-out arrivals may want it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import attrs
import trio

from minikeydb.dvv import StateTooLarge
from minikeydb.record import MergePolicy, Record, Stamp, last_writer_wins

log = logging.getLogger("minikeydb.storage")

JoinRule = Callable[[Record | None, Record], Record | None]
"""A conflict mode's merge (``conflict.Conflict.join``): the record to store, or None for no change."""

BucketOf = Callable[[str], int]
"""Maps a key to its anti-entropy bucket (the node derives it from the ring)."""


class StorageError(Exception):
    """The storage cannot continue: an unreadable log, a failed write, a file held by another process."""


class StorageClosedError(trio.ClosedResourceError):
    """The storage was closed or crashed; the caller's change may not be durable."""


@attrs.frozen(slots=True)
class Purge:
    """A durable removal of one tombstone (the log must remember a purge, or replay resurrects it)."""

    key: str
    stamp: Stamp


Entry = Record | Purge
"""One change as staged for, and replayed from, the disk."""


TOO_LARGE_WARN_EVERY = 60
"""Seconds between two WARNINGs of one key's record refused as too large."""
TOO_LARGE_MEMORY = 10_000
"""Keys whose too-large refusals are remembered at most (past it, forgotten all at once)."""


@runtime_checkable
class Storage(Protocol):
    """What a node needs from its local storage. Both engines implement exactly this."""

    live_keys: int
    tombstones: int
    stats: dict[str, int]

    def get(self, key: str) -> Record | None:
        """The stored version of ``key`` (possibly a tombstone), from the in-memory index."""
        ...

    def records(self) -> Iterator[Record]:
        """Every stored record, tombstones included (a snapshot: safe to await while iterating)."""
        ...

    async def apply(self, records: Sequence[Record]) -> list[bool]:
        """Merge each record; per record, whether it replaced the stored one. Returns once durable."""
        ...

    def apply_nowait(self, records: Sequence[Record]) -> list[bool]:
        """Merge into memory now; durable after ``wait_durable(staged)``, or the next periodic flush."""
        ...

    def use_join(self, join: JoinRule) -> None:
        """Merge by ``join`` (conflict modes siblings and crdt) instead of the merge policy."""
        ...

    @property
    def staged(self) -> int:
        """How many changes have been staged so far (a position to pass to ``wait_durable``)."""
        ...

    async def wait_durable(self, upto: int) -> None:
        """Return once the first ``upto`` staged changes are durable (flushing them if need be)."""
        ...

    @property
    def flushes_inline(self) -> bool:
        """True when a flush never waits (no thread, no window, no simulated fsync time).

        Then ``wait_durable`` completes without letting other tasks run, and a caller can make
        its group commit part of its own step instead of handing it to another task.
        """
        ...

    async def purge_tombstone(self, key: str, stamp: Stamp) -> bool:
        """Durably drop ``key`` if its stored record is still the tombstone with ``stamp``."""
        ...

    def purge_nowait(self, key: str, stamp: Stamp) -> bool:
        """Stage the drop of ``key`` if its stored record is still the tombstone with ``stamp``."""
        ...

    async def purge_tombstones(self, victims: Sequence[tuple[str, Stamp]]) -> int:
        """Durably drop each (key, stamp) that is still that tombstone, in one group commit; how many."""
        ...

    def bucket_digests(self) -> dict[int, int]:
        """Bucket -> XOR of record hashes, for every bucket holding at least one record."""
        ...

    def bucket_records(self, bucket: int) -> list[Record]:
        """The records (tombstones included) whose key falls in ``bucket``."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The background flusher: periodic flush of ``apply_nowait`` records, compaction."""
        ...

    def crash(self) -> None:
        """Simulate process death: lose everything not yet durable, close files, do not flush."""
        ...

    async def aclose(self) -> None:
        """Flush everything staged, then close."""
        ...


def record_hash(key: str, stamp: Stamp) -> int:
    """A 64-bit hash of one version, stable across processes (unlike ``hash()``, which is salted).

    The value is not hashed: a stamp identifies one write, so (key, stamp) identifies the version.
    """
    physical, logical, node = stamp
    data = f"{key}\x00{physical}\x00{logical}\x00{node}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def check_record(record: object, where: str = "record") -> Record:
    """Reject a malformed record before it touches the index, with a message naming the field.

    A stamp that arrived as a JSON list instead of a tuple would compare with a TypeError in the
    middle of a merge, so it is caught here instead.
    """
    if not isinstance(record, Record):
        raise TypeError(f"{where}: expected a Record, got {type(record).__name__}")
    if not isinstance(record.key, str):
        raise TypeError(f"{where}: key must be a str, got {type(record.key).__name__}")
    if record.value is not None and not isinstance(record.value, str):
        raise TypeError(f"{where} {record.key!r}: value must be a str or None, got {type(record.value).__name__}")
    check_stamp(record.stamp, f"{where} {record.key!r}")
    return record


def check_stamp(stamp: object, where: str) -> Stamp:
    """Reject anything but a ``(int, int, str)`` tuple, naming the place it came from."""
    if (
        not isinstance(stamp, tuple)
        or len(stamp) != 3
        or not isinstance(stamp[0], int)
        or not isinstance(stamp[1], int)
        or not isinstance(stamp[2], str)
    ):
        raise TypeError(f"{where}: stamp must be a tuple (physical_us: int, logical: int, node_id: str), got {stamp!r}")
    return stamp


class IndexedStorage:
    """The engine-independent half of a store: index, counters, digests, merge and group commit.

    Subclasses implement four hooks: ``_stage`` (remember one change for the next write, before the
    index changes, so an unencodable record changes nothing), ``_write_staged`` (make the staged
    changes durable; it must not be interruptible half-way), ``_discard_staged`` and ``_close_files``.
    """

    def __init__(
        self,
        *,
        merge: MergePolicy = last_writer_wins,
        bucket_of: BucketOf,
        group_commit_window: float = 0.0,
        flush_interval: float = 1.0,
    ) -> None:
        if not callable(bucket_of):
            raise TypeError("bucket_of must be a function from key to bucket number")
        if group_commit_window < 0 or flush_interval <= 0:
            raise ValueError(
                f"group_commit_window must be >= 0 and flush_interval > 0 "
                f"(got {group_commit_window!r}, {flush_interval!r})"
            )
        self._merge = merge
        self._join: JoinRule | None = None
        self._too_large: dict[str, tuple[Stamp, Stamp]] = {}
        """Per key: the (stored, incoming) stamps whose join was over the limit (not joined again)."""
        self._too_large_warned: dict[str, float] = {}
        """Per key: when its too-large WARNING was last logged (monotonic seconds; logging only)."""
        self._bucket_of = bucket_of
        self._window = group_commit_window
        self._flush_interval = flush_interval
        self._index: dict[str, Record] = {}
        # Insertion-ordered dicts, not sets: string hashing is salted per process, and a
        # simulated run must list a bucket's records in the same order every time.
        self._buckets: dict[int, dict[str, None]] = {}
        self._digests: dict[int, int] = {}
        self._hashes: dict[str, tuple[Stamp, int]] = {}
        """Each indexed key's stamp and ``record_hash``: its digest share, taken out again when it is replaced."""
        self.live_keys = 0
        self.tombstones = 0
        self.stats: dict[str, int] = {
            "records_recovered": 0,
            "bytes_discarded_on_recovery": 0,
            "frames_skipped_on_recovery": 0,
            "records_applied": 0,
            "records_written": 0,
            "purges": 0,
            "flushes": 0,
            "fsyncs": 0,
            "compactions": 0,
        }
        self._staged_seq = 0  # changes staged so far (monotonic)
        self._durable_seq = 0  # changes known durable
        self._commit_lock = trio.Lock()  # held by whoever flushes or compacts
        self._commit_done = trio.Event()  # set (and replaced) whenever the holder lets go
        self._inflight = 0  # apply/purge calls waiting for durability
        self._closed = False
        self._crashed = False
        self._tracks_replace = type(self)._on_replace is not IndexedStorage._on_replace
        """Whether the engine overrides ``_on_replace`` (else ``_replace`` skips the empty hook)."""

    # -- reads ---------------------------------------------------------------------------------

    def get(self, key: str) -> Record | None:
        return self._index.get(key)

    def records(self) -> Iterator[Record]:
        return iter(list(self._index.values()))

    def __len__(self) -> int:
        return len(self._index)

    def bucket_digests(self) -> dict[int, int]:
        return dict(self._digests)

    def bucket_records(self, bucket: int) -> list[Record]:
        keys = self._buckets.get(bucket)
        if not keys:
            return []
        return [self._index[key] for key in keys]

    @property
    def closed(self) -> bool:
        return self._closed

    # -- writes --------------------------------------------------------------------------------

    def use_join(self, join: JoinRule) -> None:
        self._join = join

    def _warn_too_large(self, key: str, error: StateTooLarge) -> None:
        """One WARNING per key per ``TOO_LARGE_WARN_EVERY`` seconds; the rest are counted only
        (``records_too_large``): a state every round of repair offers again must not flood the log."""
        now = time.monotonic()
        last = self._too_large_warned.get(key)
        if last is not None and now - last < TOO_LARGE_WARN_EVERY:
            return
        if len(self._too_large_warned) >= TOO_LARGE_MEMORY:
            self._too_large_warned.clear()
        self._too_large_warned[key] = now
        log.warning("record not applied: %s (again within %d s: counted in records_too_large only)", error, TOO_LARGE_WARN_EVERY)

    def _apply_joined(self, records: Sequence[Record], join: JoinRule) -> list[bool]:
        """``apply_nowait`` under a join: the stored record becomes the join of it and each incoming one.

        Log order stays acceptance order (what is staged is the joined record, a whole state), so
        recovery replays without a merge, as under last-writer-wins.
        """
        accepted = []
        for record in records:
            current = self._index.get(record.key)
            if current is not None and current.stamp == record.stamp:
                accepted.append(False)  # the same state again
                continue
            pair = (current.stamp if current is not None else (0, 0, ""), record.stamp)
            if self._too_large.get(record.key) == pair:  # refused already: the same answer, no join
                self.stats["records_too_large"] = self.stats.get("records_too_large", 0) + 1
                accepted.append(False)
                continue
            try:
                merged = join(current, record)
            except StateTooLarge as e:  # the join would not fit a datagram: the stored state stays
                self.stats["records_too_large"] = self.stats.get("records_too_large", 0) + 1
                if len(self._too_large) >= TOO_LARGE_MEMORY:
                    self._too_large.clear()
                self._too_large[record.key] = pair
                self._warn_too_large(record.key, e)
                accepted.append(False)
                continue
            except ValueError:  # a state that does not decode (dvv.StateError): counted and dropped
                self.stats["records_malformed"] = self.stats.get("records_malformed", 0) + 1
                accepted.append(False)
                continue
            if merged is None:
                accepted.append(False)
                continue
            self._stage(merged)
            self._staged_seq += 1
            self._replace(record.key, current, merged)
            accepted.append(True)
        self.stats["records_applied"] += sum(accepted)
        return accepted

    def apply_nowait(self, records: Sequence[Record]) -> list[bool]:
        if self._closed:  # _check_open, inline
            self._check_open()
        for i, record in enumerate(records):
            if type(record) is Record:  # check_record's checks, inline for a well-formed record
                value, stamp = record.value, record.stamp
                if (type(record.key) is str and (value is None or type(value) is str) and type(stamp) is tuple
                        and len(stamp) == 3 and type(stamp[0]) is int and type(stamp[1]) is int
                        and type(stamp[2]) is str):
                    continue
            check_record(record, f"record {i}")  # anything else the long way, with its error
        if self._join is not None:
            return self._apply_joined(records, self._join)
        accepted = []
        applied = 0
        index, merge = self._index, self._merge
        lww = merge is last_writer_wins
        for record in records:
            current = index.get(record.key)
            if current is not None and current.stamp == record.stamp:
                accepted.append(False)  # a duplicate delivery; merge policies need not handle it
                continue
            # last_writer_wins, inline when it is the policy (the seeded defects bring their own)
            if not ((current is None or record.stamp > current.stamp) if lww else merge(current, record)):
                accepted.append(False)
                continue
            self._stage(record)
            self._staged_seq += 1
            self._replace(record.key, current, record)
            accepted.append(True)
            applied += 1
        self.stats["records_applied"] += applied
        return accepted

    async def apply(self, records: Sequence[Record]) -> list[bool]:
        accepted = self.apply_nowait(records)
        # Even when nothing was accepted, wait for what is staged: the newer version that beat
        # this one may itself not be durable yet, and the caller is about to acknowledge.
        await self.wait_durable(self._staged_seq)
        return accepted

    @property
    def staged(self) -> int:
        return self._staged_seq

    @property
    def flushes_inline(self) -> bool:
        return self._window == 0 and self._writes_inline()

    async def purge_tombstone(self, key: str, stamp: Stamp) -> bool:
        if not self.purge_nowait(key, stamp):
            await trio.lowlevel.checkpoint()
            return False
        await self.wait_durable(self._staged_seq)
        return True

    async def purge_tombstones(self, victims: Sequence[tuple[str, Stamp]]) -> int:
        """Stage every purge first, then wait for one group commit: a batch costs one fsync.

        Only the commit can wait; the staging is one step, so the caller bounds the pause it
        causes by the size of ``victims`` (``AntiEntropy`` purges in batches of ``PURGE_BATCH``).
        """
        purged = sum(self.purge_nowait(key, stamp) for key, stamp in victims)
        if purged:
            await self.wait_durable(self._staged_seq)
        else:
            await trio.lowlevel.checkpoint()
        return purged

    def purge_nowait(self, key: str, stamp: Stamp) -> bool:
        self._check_open()
        check_stamp(stamp, f"purge of {key!r}")
        current = self._index.get(key)
        if current is None or not current.is_tombstone or current.stamp != stamp:
            return False
        self._stage(Purge(key, stamp))
        self._staged_seq += 1
        self._replace(key, current, None)
        self.stats["purges"] += 1
        return True

    def _replace(self, key: str, old: Record | None, new: Record | None) -> None:
        """Move the index, counters and digests from ``old`` to ``new`` (None = absent)."""
        bucket = self._bucket_of(key)
        digest = self._digests.get(bucket, 0)
        hashes = self._hashes
        if old is not None:
            known = hashes.get(key)
            digest ^= known[1] if known is not None and known[0] == old.stamp else record_hash(key, old.stamp)
            if old.value is None:  # is_tombstone, inline (every replaced version)
                self.tombstones -= 1
            else:
                self.live_keys -= 1
        if new is not None:
            new_hash = record_hash(key, new.stamp)
            hashes[key] = (new.stamp, new_hash)
            digest ^= new_hash
            if new.value is None:
                self.tombstones += 1
            else:
                self.live_keys += 1
            self._index[key] = new
            self._buckets.setdefault(bucket, {})[key] = None
            self._digests[bucket] = digest
        else:
            self._index.pop(key, None)
            hashes.pop(key, None)
            members = self._buckets.get(bucket)
            if members is not None:
                members.pop(key, None)
                if not members:
                    del self._buckets[bucket]
                    self._digests.pop(bucket, None)
                    return
            self._digests[bucket] = digest
        if self._tracks_replace:
            self._on_replace(old, new)

    def _load(self, entry: Entry) -> None:
        """Replay one durable change at open time: log order is acceptance order, so no merge."""
        current = self._index.get(entry.key)
        if isinstance(entry, Purge):
            if current is not None and current.stamp == entry.stamp:
                self._replace(entry.key, current, None)
            return
        self._replace(entry.key, current, entry)

    # -- durability ----------------------------------------------------------------------------

    async def wait_durable(self, upto: int) -> None:
        """Return once the first ``upto`` staged changes are durable, leading the flush if need be.

        While someone else holds the commit lock (a flush in progress), the writers behind it wait
        together for it to end rather than queue on the lock: a queue would hand the lock on one
        writer per scheduler pass, each finding its change already durable. They all wake at
        once; those whose change was in that flush return, and one of the rest leads the next.
        """
        if self._durable_seq >= upto:
            await trio.lowlevel.checkpoint()
            return
        self._inflight += 1
        try:
            while self._durable_seq < upto:
                if self._closed:  # _check_open, inline
                    self._check_open()
                if self._commit_lock.locked():
                    await self._commit_done.wait()
                    continue
                # Free, so taken without a scheduling point: an engine whose write does not
                # wait (the simulated disk) then makes the change durable within this step.
                self._commit_lock.acquire_nowait()
                try:
                    # Wait for company only when there is company to wait for: a lone writer
                    # would just pay the window in latency, while under concurrency the
                    # window is what lets one fsync acknowledge many writers.
                    if self._window > 0 and self._inflight > 1:
                        await trio.sleep(self._window)
                    if self._staged_seq != self._durable_seq:  # _flush_locked, inline (a coroutine less per commit)
                        if self._closed:
                            self._check_open()
                        staged = self._staged_seq
                        if await self._write_staged():
                            self._durable_seq = staged
                            self.stats["flushes"] += 1
                finally:
                    self._commit_lock.release()
                    self._end_commit()
                if self._durable_seq < upto:
                    raise StorageClosedError("storage crashed before the change became durable")
        finally:
            self._inflight -= 1

    def _end_commit(self) -> None:
        """Wake everyone waiting for the current commit-lock holder to finish."""
        done, self._commit_done = self._commit_done, trio.Event()
        done.set()

    @contextlib.asynccontextmanager
    async def _committing(self) -> AsyncIterator[None]:
        """Hold the commit lock (to flush, compact or close), waking the waiting writers after."""
        async with self._commit_lock:
            try:
                yield
            finally:
                self._end_commit()

    async def _flush_locked(self) -> None:
        """Write everything staged (caller holds the commit lock)."""
        if self._staged_seq == self._durable_seq:
            return
        self._check_open()
        upto = self._staged_seq
        written = await self._write_staged()
        if written:
            self._durable_seq = upto
            self.stats["flushes"] += 1

    async def flush(self) -> None:
        """Make everything staged so far durable (what the periodic flusher does)."""
        async with self._committing():
            await self._flush_locked()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self._closed:
            await trio.sleep(self._flush_interval)
            if self._closed:
                return
            if self._staged_seq != self._durable_seq or self._should_compact():
                async with self._committing():
                    if self._closed:
                        return
                    await self._flush_locked()
                    if self._should_compact():
                        await self._compact_locked()

    def crash(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._crashed = True
        self._discard_staged()
        self._close_files()

    async def aclose(self) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        try:
            async with self._committing():
                if not self._closed:
                    await self._flush_locked()
        finally:
            if not self._closed:
                self._closed = True
                self._discard_staged()
                self._close_files()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError("storage crashed" if self._crashed else "storage is closed")

    # -- engine hooks --------------------------------------------------------------------------

    def _stage(self, entry: Entry) -> None:
        raise NotImplementedError

    async def _write_staged(self) -> bool:
        """Make every staged change durable; False when a crash got there first."""
        raise NotImplementedError

    def _discard_staged(self) -> None:
        raise NotImplementedError

    def _close_files(self) -> None:
        raise NotImplementedError

    def _on_replace(self, old: Record | None, new: Record | None) -> None:
        """Engines that track their live size override this."""

    def _writes_inline(self) -> bool:
        """Whether ``_write_staged`` completes without waiting for anything."""
        return False

    def _should_compact(self) -> bool:
        return False

    async def _compact_locked(self) -> None:
        """Rewrite the disk to hold only the live state (caller holds the commit lock)."""
