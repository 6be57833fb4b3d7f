"""LogStorage compaction rewrites the log to exactly the live state, by hand or from the flusher."""

from __future__ import annotations

import trio

from minikeydb.record import Record


def rec(key: str, value: str | None, physical: int) -> Record:
    return Record(key, value, (physical, 0, "n1"))


async def overwrite_many(store, rounds: int = 20, keys: int = 10) -> None:
    for r in range(rounds):
        await store.apply([rec(f"k{i}", f"v{r}" if (i + r) % 7 else None, r) for i in range(keys)])


async def test_compaction_keeps_exactly_the_live_state(log_engine):
    """After compact() the file is smaller and reopening yields the same records, tombstones included."""
    store = log_engine.open()
    await overwrite_many(store)
    await store.apply([rec("purged", None, 99)])
    assert await store.purge_tombstone("purged", (99, 0, "n1"))
    before = sorted(store.records(), key=lambda r: r.key)
    size_before = log_engine.path().stat().st_size
    await store.compact()
    assert log_engine.path().stat().st_size < size_before / 5
    assert store.stats["compactions"] == 1
    await store.apply([rec("after", "x", 100)])  # appends go to the new file
    await store.aclose()
    reopened = log_engine.open()
    expected = sorted([*before, rec("after", "x", 100)], key=lambda r: r.key)
    assert sorted(reopened.records(), key=lambda r: r.key) == expected
    assert reopened.stats["records_recovered"] == len(expected)
    assert not log_engine.path().with_name("a.log.compact").exists()
    await reopened.aclose()


async def test_flusher_compacts_when_log_outgrows_live_data(log_engine):
    """run() compacts on its own once the log is several times the live data, and keeps writing after."""
    store = log_engine.open(flush_interval=0.01, compaction_ratio=3.0, compaction_min_bytes=2000)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        await overwrite_many(store)
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert store.stats["compactions"] >= 1
    live = sorted(store.records(), key=lambda r: r.key)
    store.crash()
    reopened = log_engine.open()
    assert sorted(reopened.records(), key=lambda r: r.key) == live
    await reopened.aclose()


async def test_stale_compaction_file_is_ignored(log_engine):
    """A compaction output left by a crash before its rename is removed; the old log is used whole."""
    store = log_engine.open()
    await overwrite_many(store, rounds=3)
    live = sorted(store.records(), key=lambda r: r.key)
    await store.aclose()
    stale = log_engine.path().with_name("a.log.compact")
    stale.write_bytes(b"half a compaction")
    reopened = log_engine.open()
    assert sorted(reopened.records(), key=lambda r: r.key) == live
    assert not stale.exists()
    await reopened.aclose()
