"""The simulated disk and the real log agree on what survives crashes, batched purges included."""

from __future__ import annotations

import random
from pathlib import Path

from minikeydb.record import Record

from .conftest import LogEngine, MemoryEngine


async def run_script(engine: LogEngine | MemoryEngine, seed: int) -> list[list[Record]]:
    """A seeded mix of durable and staged writes, deletes, batched purges and crashes; the state after each reopen."""
    rng = random.Random(seed)
    store = engine.open(flush_interval=60)
    states: list[list[Record]] = []
    clock = 0
    for _ in range(400):
        clock += 1
        roll = rng.random()
        key = f"k{rng.randrange(30)}"
        if roll < 0.45:
            record = Record(key, None if rng.random() < 0.4 else f"v{clock}", (clock, 0, "n1"))
            if rng.random() < 0.5:
                await store.apply([record])
            else:
                store.apply_nowait([record])
        elif roll < 0.6:
            victims = [(r.key, r.stamp) for r in store.records() if r.is_tombstone]
            rng.shuffle(victims)
            await store.purge_tombstones(victims[: rng.randrange(1, 6)])
        elif roll < 0.7:
            victims = [(r.key, r.stamp) for r in store.records() if r.is_tombstone]
            if victims:
                store.purge_nowait(*rng.choice(victims))
        elif roll < 0.78:
            store.crash()
            store = engine.open(flush_interval=60)
            states.append(sorted(store.records(), key=lambda r: r.key))
    await store.aclose()
    return states


async def test_memory_disk_and_log_agree_after_crashes(tmp_path: Path):
    """The same seeded script of writes, purges and crashes leaves identical states on MemoryDisk and on the log file."""
    for seed in range(5):
        on_log = await run_script(LogEngine(tmp_path / f"log{seed}"), seed)
        on_memory = await run_script(MemoryEngine(), seed)
        assert len(on_log) > 3
        assert on_log == on_memory, seed
