"""Merge semantics shared by both engines: round trip, last-writer-wins, duplicates, bad input."""

from __future__ import annotations

import pytest
import trio

from minikeydb.record import Record, first_writer_wins
from minikeydb.storage import Storage, StorageClosedError
from minikeydb.testing.disk import MemoryDisk

from .conftest import MemoryEngine


def rec(key: str, value: str | None, physical: int, node: str = "n1") -> Record:
    return Record(key, value, (physical, 0, node))


async def test_round_trip(engine):
    """A stored record is returned by get() and records(), and counted as live."""
    store = engine.open()
    assert isinstance(store, Storage)
    assert await store.apply([rec("a", "1", 10), rec("b", None, 11)]) == [True, True]
    assert store.get("a") == rec("a", "1", 10)
    assert store.get("b") == rec("b", None, 11)
    assert store.get("missing") is None
    assert sorted(r.key for r in store.records()) == ["a", "b"]
    assert (store.live_keys, store.tombstones) == (1, 1)
    await store.aclose()


async def test_newer_stamp_replaces_older(engine):
    """A record with a larger stamp replaces the stored one; counters follow put -> delete."""
    store = engine.open()
    await store.apply([rec("k", "old", 10)])
    assert await store.apply([rec("k", None, 20)]) == [True]
    assert store.get("k") == rec("k", None, 20)
    assert (store.live_keys, store.tombstones) == (0, 1)
    await store.aclose()


async def test_older_and_duplicate_records_change_nothing(engine):
    """Older and duplicate records are rejected and leave the index, counters and digests alone."""
    store = engine.open()
    await store.apply([rec("k", "new", 20)])
    digests = store.bucket_digests()
    written = store.stats["records_applied"]
    assert await store.apply([rec("k", "older", 10), rec("k", "new", 20)]) == [False, False]
    assert store.get("k") == rec("k", "new", 20)
    assert store.bucket_digests() == digests
    assert store.stats["records_applied"] == written
    assert (store.live_keys, store.tombstones) == (1, 0)
    await store.aclose()


async def test_stamp_ties_broken_by_node_id(engine):
    """Equal time and counter from different nodes: the larger node id wins, in either order."""
    store = engine.open()
    await store.apply([rec("k", "from-n2", 5, "n2"), rec("k", "from-n1", 5, "n1")])
    assert store.get("k").value == "from-n2"
    await store.aclose()


async def test_first_writer_wins_policy_keeps_oldest(engine):
    """The seeded first-writer-wins policy is honoured: the older version survives."""
    store = engine.open(merge=first_writer_wins)
    await store.apply([rec("k", "new", 20)])
    assert await store.apply([rec("k", "old", 10), rec("k", "newest", 30)]) == [True, False]
    assert store.get("k").value == "old"
    await store.aclose()


async def test_malformed_record_is_rejected_with_field_name(engine):
    """A stamp sent as a list (as JSON decodes it) is refused with a message naming the stamp."""
    store = engine.open()
    bad = Record("k", "v", [1, 0, "n1"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"record 0 'k': stamp must be a tuple"):
        await store.apply([bad])
    assert store.get("k") is None
    await store.aclose()


async def test_closed_store_refuses_writes(engine):
    """After aclose(), apply raises StorageClosedError instead of silently dropping the write."""
    store = engine.open()
    await store.aclose()
    with pytest.raises(StorageClosedError):
        await store.apply([rec("k", "v", 1)])


async def test_changes_staged_before_a_wait_share_one_flush(engine):
    """Changes staged by many callers before one wait_durable are made durable by a single flush."""
    store = engine.open()
    for i in range(16):
        store.apply_nowait([rec(f"k{i}", "v", 1)])
    flushes = store.stats["flushes"]
    await store.wait_durable(store.staged)
    assert store.stats["flushes"] == flushes + 1
    await store.wait_durable(store.staged)  # nothing new staged: no flush
    assert store.stats["flushes"] == flushes + 1
    await store.aclose()


async def test_concurrent_writers_share_flushes(engine):
    """Sixteen concurrent apply calls on a disk with a real fsync time share far fewer flushes (group commit)."""
    if isinstance(engine, MemoryEngine):
        # An instant simulated disk finishes each flush before the next writer arrives, so there
        # is nothing to share; give it an fsync that takes time.
        engine.disks["a"] = MemoryDisk(fsync_delay=0.001)
        store = engine.open(group_commit_window=0.01)
    else:
        # Likewise an fsync in the event loop: writers can only share one that runs in a thread.
        store = engine.open(group_commit_window=0.01, write_in_thread=True)
    async with trio.open_nursery() as nursery:
        for i in range(16):
            nursery.start_soon(store.apply, [rec(f"k{i}", "v", 1)])
    assert store.live_keys == 16
    assert 1 <= store.stats["flushes"] <= 4
    await store.aclose()
