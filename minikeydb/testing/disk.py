"""The simulation's engine: the same semantics as ``LogStorage``, on a disk that is a Python object.

A simulated node that crashes loses its ``MemoryStorage`` (and everything staged in it) but not
its ``MemoryDisk``, which the harness hands to the restarted node, exactly as a real node finds
its log file again. The engine uses nothing but ``trio.sleep`` for time (group-commit window,
flush interval, simulated fsync latency) and no threads, so under ``trio.testing.MockClock`` with
deterministic scheduling a run replays identically.

The disk holds the durable state as a dict rather than a log: torn tails and damaged frames are
a property of real files and are tested against ``LogStorage`` (``tests/storage/test_resync.py``);
what the simulation needs is the crash semantics (staged changes are lost, durable ones survive),
and those are shared code (``tests/storage/test_agreement.py`` runs one script on both engines).
"""

from __future__ import annotations

import attrs
import trio

from minikeydb.record import MergePolicy, Record, last_writer_wins
from minikeydb.storage import BucketOf, Entry, IndexedStorage, Purge, StorageError


@attrs.define
class MemoryDisk:
    """What survives a simulated crash: the durable records, and how slow an fsync is.

    ``fsync_delay`` (seconds of trio time) models disk latency, so group commit and slow-disk
    scenarios can be explored in virtual time.
    """

    fsync_delay: float = 0.0
    records: dict[str, Record] = attrs.field(factory=dict)
    fsyncs: int = 0
    opens: int = 0
    _owner: MemoryStorage | None = attrs.field(default=None, init=False, repr=False, eq=False)


class MemoryStorage(IndexedStorage):
    """Storage on a ``MemoryDisk``; construct a new one on the same disk to "restart"."""

    def __init__(
        self,
        disk: MemoryDisk,
        *,
        merge: MergePolicy = last_writer_wins,
        bucket_of: BucketOf,
        group_commit_window: float = 0.0,
        flush_interval: float = 1.0,
    ) -> None:
        if not isinstance(disk, MemoryDisk):
            raise TypeError(f"MemoryStorage needs a MemoryDisk, got {type(disk).__name__}")
        owner = disk._owner
        if owner is not None and not owner.closed:
            raise StorageError("this MemoryDisk is still in use: crash() or aclose() its MemoryStorage first")
        super().__init__(
            merge=merge,
            bucket_of=bucket_of,
            group_commit_window=group_commit_window,
            flush_interval=flush_interval,
        )
        self.disk = disk
        self._staged: list[Entry] = []
        disk._owner = self
        disk.opens += 1
        for record in disk.records.values():
            self._load(record)
        self.stats["records_recovered"] = len(disk.records)

    def _stage(self, entry: Entry) -> None:
        self._staged.append(entry)

    async def _write_staged(self) -> bool:
        batch = self._staged
        self._staged = []
        if self.disk.fsync_delay > 0:
            # Shielded, like LogStorage's uncancellable worker thread: a cancelled writer must not
            # leave a batch that is neither staged nor on disk while the index says it is stored.
            with trio.CancelScope(shield=True):
                await trio.sleep(self.disk.fsync_delay)
        # An instant disk writes without a scheduling point: nothing can happen "during" it.
        if self._crashed or self.disk._owner is not self:
            return False  # died during the fsync: the batch never reached the platter
        durable = self.disk.records
        for entry in batch:
            if isinstance(entry, Purge):
                current = durable.get(entry.key)
                if current is not None and current.stamp == entry.stamp:
                    del durable[entry.key]
            else:
                durable[entry.key] = entry
        self.disk.fsyncs += 1
        self.stats["fsyncs"] += 1
        self.stats["records_written"] += len(batch)
        return True

    def _writes_inline(self) -> bool:
        return self.disk.fsync_delay <= 0

    def _discard_staged(self) -> None:
        self._staged = []

    def _close_files(self) -> None:
        """Nothing to close; ``closed`` is what releases the disk for the next instance."""
