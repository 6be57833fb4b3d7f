"""The longest event-loop stall while a node purges expired tombstones: per tombstone vs batched.

Usage: python bench/purge.py [--tombstones 40000] [--live 10000] [--dir DIR]

A ``LogStorage`` (real file, fdatasync on) holds ``--tombstones`` expired tombstones and ``--live``
live records. A ticker task wakes every millisecond and records the longest gap between two of its
wake-ups while the purge runs: that gap is how long the node's receive loop could not run. Two
purges are measured on fresh copies of the same data, in one run:

- ``per tombstone``: what ``AntiEntropy.purge_old_tombstones`` did before issue #12 (defect 4):
  ``await storage.purge_tombstone(...)`` per tombstone, each an fsync, and no scheduling point.
- ``batched``: the current ``AntiEntropy.purge_old_tombstones`` (``PURGE_BATCH`` per group commit,
  a yield after each batch).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikeydb.anti_entropy import PURGE_BATCH, AntiEntropy  # noqa: E402
from minikeydb.log_storage import LogStorage  # noqa: E402
from minikeydb.record import Record  # noqa: E402

NOW = 1_000_000.0
GRACE = 60.0


def bucket_of(key: str) -> int:
    return zlib.crc32(key.encode()) % 64


def fill(path: Path, tombstones: int, live: int) -> None:
    """Write the expired tombstones and the live records, then close (one fsync per 1000)."""

    async def main() -> None:
        store = LogStorage.open(path, bucket_of=bucket_of)
        records = [Record(f"dead{i}", None, (1_000_000 + i, 0, "n1")) for i in range(tombstones)]
        records += [Record(f"live{i}", f"value-{i}", (1_000_000 + i, 0, "n1")) for i in range(live)]
        for start in range(0, len(records), 1000):
            await store.apply(records[start : start + 1000])
        await store.aclose()

    trio.run(main)


async def per_tombstone(ae: AntiEntropy) -> int:
    """The purge loop as it was before the fix."""
    cutoff_us = int((ae.wall() - ae.tombstone_grace) * 1_000_000)
    old = [r for r in ae.storage.records() if r.value is None and r.stamp[0] < cutoff_us]
    purged = 0
    for record in old:
        if await ae.storage.purge_tombstone(record.key, record.stamp):
            purged += 1
    return purged


async def measure(path: Path, how: str) -> tuple[float, float, int, int, int]:
    """(longest stall s, purge duration s, purged, fsyncs, ticks) for one purge of the log at ``path``."""
    store = LogStorage.open(path, bucket_of=bucket_of)
    ae = AntiEntropy(
        "n1", None, store, None, None, {}, random.Random(1), Counter(),  # type: ignore[arg-type]
        interval=1.0, tombstone_grace=GRACE, wall=lambda: NOW,
    )
    fsyncs_before = store.stats["fsyncs"]
    longest = 0.0
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal longest, ticks
        last = time.perf_counter()
        while not done:
            await trio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            ticks += 1
            last = now

    purged = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await trio.sleep(0.01)  # the ticker is running
        start = time.perf_counter()
        purged = await (per_tombstone(ae) if how == "per tombstone" else ae.purge_old_tombstones())
        duration = time.perf_counter() - start
        done = True
    fsyncs = store.stats["fsyncs"] - fsyncs_before
    assert store.tombstones == 0, store.tombstones
    await store.aclose()
    return longest, duration, purged, fsyncs, ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tombstones", type=int, default=40_000, help="expired tombstones to purge")
    parser.add_argument("--live", type=int, default=10_000, help="live records beside them")
    parser.add_argument("--dir", default=None, help="directory for the log files (default: system temp)")
    args = parser.parse_args()
    if args.tombstones <= 0 or args.live < 0:
        parser.error("--tombstones must be positive and --live non-negative")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp) / "base.log"
        fill(base, args.tombstones, args.live)
        print(f"purge of {args.tombstones} expired tombstones beside {args.live} live records "
              f"(LogStorage, fdatasync on, PURGE_BATCH={PURGE_BATCH}), files in {tmp}")
        print(f"{'purge':<14} {'longest stall ms':>17} {'duration s':>11} {'purged':>8} {'fsyncs':>7} {'ticks':>6}")
        for how in ("per tombstone", "batched"):
            copy = Path(tmp) / f"{how.replace(' ', '-')}.log"
            copy.write_bytes(base.read_bytes())
            longest, duration, purged, fsyncs, ticks = trio.run(measure, copy, how)
            print(f"{how:<14} {longest * 1e3:>17.1f} {duration:>11.2f} {purged:>8} {fsyncs:>7} {ticks:>6}")


if __name__ == "__main__":
    main()
