"""Durability: what survives aclose(), crash() and a cancelled writer, in both engines."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from minikeydb.record import Record
from minikeydb.storage import StorageClosedError, StorageError
from minikeydb.testing.disk import MemoryDisk, MemoryStorage

from .conftest import bucket_of


def rec(key: str, value: str | None, physical: int) -> Record:
    return Record(key, value, (physical, 0, "n1"))


async def test_reopen_after_aclose_keeps_everything(engine):
    """aclose() flushes, so even apply_nowait records are there after reopening."""
    store = engine.open()
    await store.apply([rec("a", "1", 1), rec("b", None, 2)])
    store.apply_nowait([rec("c", "3", 3)])
    await store.aclose()
    reopened = engine.open()
    assert sorted(reopened.records(), key=lambda r: r.key) == [rec("a", "1", 1), rec("b", None, 2), rec("c", "3", 3)]
    assert (reopened.live_keys, reopened.tombstones) == (2, 1)
    assert reopened.stats["records_recovered"] == 3
    await reopened.aclose()


async def test_crash_keeps_acknowledged_and_loses_unflushed(engine):
    """After crash(), records whose apply returned survive and unflushed apply_nowait ones do not."""
    store = engine.open(flush_interval=60)
    await store.apply([rec("acked", "1", 1)])
    store.apply_nowait([rec("unflushed", "2", 2), rec("acked", "overwrite", 3)])
    store.crash()
    reopened = engine.open()
    assert list(reopened.records()) == [rec("acked", "1", 1)]
    await reopened.aclose()


async def test_background_flusher_makes_nowait_records_durable(engine):
    """run() flushes apply_nowait records within its flush interval, so a later crash keeps them."""
    store = engine.open(flush_interval=0.02)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        store.apply_nowait([rec("k", "v", 1)])
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    store.crash()
    reopened = engine.open()
    assert reopened.get("k") == rec("k", "v", 1)
    await reopened.aclose()


async def test_purge_drops_only_the_matching_tombstone_durably(engine):
    """purge_tombstone removes the key only when it still holds that tombstone, and survives a crash."""
    store = engine.open()
    await store.apply([rec("gone", None, 5), rec("live", "v", 5), rec("newer", None, 9)])
    assert await store.purge_tombstone("live", (5, 0, "n1")) is False  # not a tombstone
    assert await store.purge_tombstone("newer", (5, 0, "n1")) is False  # a different tombstone
    assert await store.purge_tombstone("gone", (5, 0, "n1")) is True
    assert store.get("gone") is None
    assert (store.live_keys, store.tombstones) == (1, 1)
    store.crash()
    reopened = engine.open()
    assert sorted(r.key for r in reopened.records()) == ["live", "newer"]
    # A later write of the purged key is kept, not swallowed by the replayed purge.
    await reopened.apply([rec("gone", "back", 7)])
    await reopened.aclose()
    again = engine.open()
    assert again.get("gone") == rec("gone", "back", 7)
    await again.aclose()


async def test_cancelled_writer_does_not_lose_others_records(engine):
    """A writer cancelled while waiting for its group commit does not stop the others' records becoming durable."""
    store = engine.open(group_commit_window=0.05)
    cancel_me = trio.CancelScope()

    async def doomed() -> None:
        with cancel_me:
            await store.apply([rec("a", "1", 1)])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(doomed)
        await trio.sleep(0.001)
        nursery.start_soon(store.apply, [rec("c", "3", 1)])
        await trio.sleep(0.01)  # the doomed leader is inside its group-commit window now
        cancel_me.cancel()
    store.crash()
    reopened = engine.open()
    # "a" was accepted into memory before its writer was cancelled; the survivor's flush took it along.
    assert {r.key for r in reopened.records()} == {"a", "c"}
    await reopened.aclose()


async def test_memory_crash_during_simulated_fsync_loses_the_batch(autojump_clock):
    """A crash in the middle of a simulated fsync fails the waiting writer and keeps the batch off the disk."""
    disk = MemoryDisk(fsync_delay=1.0)
    store = MemoryStorage(disk, bucket_of=bucket_of)
    outcome: list[str] = []

    async def writer() -> None:
        try:
            await store.apply([rec("k", "v", 1)])
            outcome.append("acked")
        except StorageClosedError:
            outcome.append("closed")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(0.5)
        store.crash()
    assert outcome == ["closed"]
    assert disk.records == {}
    assert MemoryStorage(disk, bucket_of=bucket_of).get("k") is None


async def test_memory_group_commit_in_virtual_time(autojump_clock):
    """With a 10 ms simulated fsync, 64 concurrent writers finish in a handful of fsyncs of virtual time."""
    disk = MemoryDisk(fsync_delay=0.01)
    store = MemoryStorage(disk, bucket_of=bucket_of)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(64):
            nursery.start_soon(store.apply, [rec(f"k{i}", "v", 1)])
    assert len(disk.records) == 64
    assert disk.fsyncs <= 3
    assert trio.current_time() - start < 0.05
    await store.aclose()


def test_memory_disk_refuses_a_second_open_store():
    """Opening a second MemoryStorage on a disk whose store is still open is refused with advice."""
    disk = MemoryDisk()
    MemoryStorage(disk, bucket_of=bucket_of)
    with pytest.raises(StorageError, match="crash\\(\\) or aclose\\(\\)"):
        MemoryStorage(disk, bucket_of=bucket_of)
