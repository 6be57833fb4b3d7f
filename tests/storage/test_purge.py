"""Purging expired tombstones: batched group commits, a scheduling point between batches, durable."""

from __future__ import annotations

import math
import random
from collections import Counter

import trio

from minikeydb import anti_entropy
from minikeydb.anti_entropy import AntiEntropy
from minikeydb.config import SECRET_ENV
from minikeydb.defects import Features
from minikeydb.record import Record
from tests.store.cluster_fixture import make_config, running_cluster

NOW = 10_000.0  # the wall clock the purger reads, seconds
GRACE = 60.0
OLD_US = 1_000_000  # 1 s after the epoch: long expired
RECENT_US = int((NOW - 1) * 1_000_000)  # within the grace period
BATCH = anti_entropy.PURGE_BATCH


def purger(storage) -> AntiEntropy:
    """An AntiEntropy whose only job here is purging: no peers, a fixed wall clock."""
    return AntiEntropy(
        "n1", None, storage, None, None, {}, random.Random(1), Counter(),  # type: ignore[arg-type]
        interval=1.0, tombstone_grace=GRACE, wall=lambda: NOW,
    )


def fsyncs(store) -> int:
    return store.stats["fsyncs"]


async def test_expired_tombstones_purge_in_batches_with_yields_and_durably(engine):
    """Many expired tombstones: one group commit per batch, other tasks run between batches, all gone after a restart, nothing live or recent purged."""
    expired = 2 * BATCH + 37  # three batches, the last one partial
    kwargs = {"fsync": True} if engine.kind == "log" else {}
    store = engine.open(**kwargs)
    records = [Record(f"dead{i}", None, (OLD_US + i, 0, "n1")) for i in range(expired)]
    records += [Record(f"live{i}", f"v{i}", (OLD_US + i, 0, "n1")) for i in range(50)]  # old but live
    records += [Record(f"fresh{i}", None, (RECENT_US, 0, "n1")) for i in range(20)]  # tombstones in grace
    await store.apply(records)
    ae = purger(store)
    syncs_before = fsyncs(store)

    seen: list[int] = []  # the tombstone count each time the observer got the CPU
    done = trio.Event()

    async def observer() -> None:
        while not done.is_set():
            seen.append(store.tombstones)
            await trio.lowlevel.checkpoint()

    async def purge() -> None:
        await ae.purge_old_tombstones()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(observer)
        nursery.start_soon(purge)

    batches = math.ceil(expired / BATCH)
    # (a) durability was paid per batch, not per tombstone
    assert fsyncs(store) - syncs_before == batches, (fsyncs(store) - syncs_before, batches)
    # (b) the observer ran while the purge was under way: it saw counts strictly between the two ends
    start, end = expired + 20, 20
    # (Trio shuffles each scheduling round, so which intermediate counts it saw varies; some must be.)
    assert any(end < n < start for n in seen), sorted(set(seen))
    assert ae.counters["tombstones_purged"] == expired
    # (c) every expired tombstone is gone, durably; nothing live and no recent tombstone was touched
    store.crash()
    reopened = engine.open()
    keys = {r.key for r in reopened.records()}
    assert not any(k.startswith("dead") for k in keys)
    assert keys == {f"live{i}" for i in range(50)} | {f"fresh{i}" for i in range(20)}
    assert (reopened.live_keys, reopened.tombstones) == (50, 20)
    await reopened.aclose()


async def test_purge_skips_a_tombstone_overwritten_meanwhile(engine):
    """A tombstone rewritten by a newer value between the scan and its batch is not purged."""
    store = engine.open()
    await store.apply([Record(f"dead{i}", None, (OLD_US, 0, "n1")) for i in range(BATCH + 1)])
    ae = purger(store)

    async def overwrite_later() -> None:
        await trio.lowlevel.checkpoint()  # runs between the first and second batch
        await store.apply([Record(f"dead{BATCH}", "back", (RECENT_US, 0, "n1"))])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ae.purge_old_tombstones)
        nursery.start_soon(overwrite_later)
    assert store.get(f"dead{BATCH}") == Record(
        f"dead{BATCH}", "back", (RECENT_US, 0, "n1")
    )
    assert (store.live_keys, store.tombstones) == (1, 0)
    await store.aclose()


async def test_a_node_answers_clients_while_it_purges(tmp_path, monkeypatch):
    """A real node (UDP, log with fdatasync) answers client reads between purge batches, not only before and after."""
    monkeypatch.setenv(SECRET_ENV, "purge-test-secret")

    expired = 8 * BATCH
    config = make_config(tmp_path, 1, replicas=1, write_quorum=1, read_quorum=1)
    async with running_cluster(config, features=Features(anti_entropy=False)) as cluster:
        node = cluster.nodes["n1"]
        for start in range(0, expired, 1000):
            await node.storage.apply(
                [Record(f"dead{i}", None, (OLD_US + i, 0, "n1")) for i in range(start, min(start + 1000, expired))]
            )
        node.anti_entropy.tombstone_grace = GRACE  # the node's real wall clock makes OLD_US long expired
        answered_at: list[int] = []  # the node's tombstone count each time a read came back
        done = trio.Event()
        async with cluster.client() as client:
            assert (await client.put("probe", "here")).ok

            async def reader() -> None:
                while not done.is_set():
                    result = await client.get("probe")
                    assert result.ok and result.value == "here", result
                    answered_at.append(node.storage.tombstones)

            async def purge() -> None:
                await trio.sleep(0.05)  # the reader is under way
                await node.anti_entropy.purge_old_tombstones()
                done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                nursery.start_soon(purge)
        assert node.storage.tombstones == 0
        assert any(0 < n < expired for n in answered_at), sorted(set(answered_at))


async def test_a_crash_during_the_purge_ends_it_quietly_keeping_committed_batches(engine):
    """A crash between purge batches ends the purge without an error; the batches committed before it stay purged."""
    expired = 3 * BATCH
    store = engine.open()
    await store.apply([Record(f"dead{i}", None, (OLD_US + i, 0, "n1")) for i in range(expired)])
    ae = purger(store)

    async def crash_after_first_batch() -> None:
        while store.tombstones == expired:
            await trio.lowlevel.checkpoint()
        store.crash()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(crash_after_first_batch)
        nursery.start_soon(ae.purge_old_tombstones)
    purged = ae.counters["tombstones_purged"]
    assert purged % BATCH == 0 and 0 < purged < expired
    reopened = engine.open()
    assert reopened.tombstones == expired - purged  # exactly the committed batches are gone
    await reopened.aclose()
