"""Durable writes per second: MinikeyDB's append log vs SQLite, and recovery time of 100k records.

Usage: python bench/storage.py [--seconds 1.0] [--records 100000] [--dir DIR]

Each writer task loops ``apply([one record])`` and counts only writes that returned, i.e. that are
durable (fsync'd). Both engines get the same group commit (the leader writes everything staged as
one write+fsync, or one SQLite transaction, in a worker thread; writers that arrive meanwhile share
the next one), so the comparison is between the storage formats, not the batching. SQLite runs in
WAL mode with synchronous=FULL, which fsyncs the WAL on every commit. The log is also run with a
2 ms group-commit window, to show what waiting for company costs or buys, and with its write in
the event loop (the node's default), where concurrent ``apply`` callers cannot share a flush: a
node batches differently, by staging a whole burst of datagrams before one flush (see
docs/storage-and-codec.md). "per fsync" is durable writes per fsync (per commit for SQLite).
Default run: about 20 s.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikeydb.log_storage import LogStorage, scan_log  # noqa: E402
from minikeydb.record import Record  # noqa: E402
from minikeydb.storage import Entry, IndexedStorage  # noqa: E402


def bucket_of(key: str) -> int:
    return zlib.crc32(key.encode()) % 64


class SqliteStorage(IndexedStorage):
    """The SQLite baseline as a full engine: same index, digests, merge and group commit as the log.

    Only the "disk" differs: each group commit is one SQLite transaction (an upsert per record)
    instead of one append+fsync, so the table compares storage formats, not bookkeeping.
    """

    def __init__(self, path: Path, window: float) -> None:
        super().__init__(bucket_of=bucket_of, group_commit_window=window)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT, p INTEGER, l INTEGER, n TEXT)"
        )
        self._staged: list[tuple[str, str | None, int, int, str]] = []

    def _stage(self, entry: Entry) -> None:
        if not isinstance(entry, Record):
            raise NotImplementedError("the benchmark never purges")
        self._staged.append((entry.key, entry.value, *entry.stamp))

    async def _write_staged(self) -> bool:
        batch, self._staged = self._staged, []
        await trio.to_thread.run_sync(self._commit, batch)
        self.stats["fsyncs"] += 1
        return True

    def _commit(self, batch: list[tuple[str, str | None, int, int, str]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO kv VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
            " value=excluded.value, p=excluded.p, l=excluded.l, n=excluded.n"
            " WHERE (excluded.p, excluded.l, excluded.n) > (kv.p, kv.l, kv.n)",
            batch,
        )
        self.db.execute("COMMIT")

    def _discard_staged(self) -> None:
        self._staged = []

    def _close_files(self) -> None:
        self.db.close()


async def drive(store: IndexedStorage, writers: int, seconds: float) -> tuple[int, list[float]]:
    """Run ``writers`` tasks for ``seconds``; return durable writes and per-write latencies."""
    count = 0
    latencies: list[float] = []
    deadline = trio.current_time() + seconds

    async def writer(w: int) -> None:
        nonlocal count
        i = 0
        while trio.current_time() < deadline:
            i += 1
            start = time.perf_counter()
            await store.apply([Record(f"w{w}-k{i % 1000}", f"value-{i}", (i, 0, "n1"))])
            latencies.append(time.perf_counter() - start)
            count += 1

    async with trio.open_nursery() as nursery:
        for w in range(writers):
            nursery.start_soon(writer, w)
    return count, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


ENGINES = ("log, thread", "log, thread, 2 ms", "log, inline", "sqlite WAL FULL")
WRITERS = (1, 16, 64)
ROUNDS = 3

Row = tuple[float, float, float, float]  # writes/s, writes per fsync, p50 ms, p99 ms


async def bench_writes(directory: Path, seconds: float) -> dict[tuple[str, int], Row]:
    """Every (engine, writers) cell runs ROUNDS times for seconds/ROUNDS, interleaved; best round wins.

    The machine is shared: a burst of someone else's I/O can slow one run several-fold. Interleaving
    spreads that over all engines instead of punishing whichever ran at the wrong moment.
    """
    best: dict[tuple[str, int], Row] = {}
    for round_no in range(ROUNDS):
        for engine_no, name in enumerate(ENGINES):
            for writers in WRITERS:
                # A fresh file per cell: a reused one would reject these restarted stamps as old.
                tag = f"engine{engine_no}-{writers}w-round{round_no}"
                if name.startswith("log"):
                    window = 0.002 if "2 ms" in name else 0.0
                    store: IndexedStorage = LogStorage.open(
                        directory / f"{tag}.log", bucket_of=bucket_of, group_commit_window=window,
                        write_in_thread="thread" in name,
                    )
                else:
                    store = SqliteStorage(directory / f"{tag}.db", window=0.0)
                start = time.perf_counter()
                count, latencies = await drive(store, writers, seconds / ROUNDS)
                elapsed = time.perf_counter() - start
                syncs = store.stats["fsyncs"]
                await store.aclose()
                row = (
                    count / elapsed,
                    count / max(syncs, 1),
                    percentile(latencies, 50) * 1e3,
                    percentile(latencies, 99) * 1e3,
                )
                if (name, writers) not in best or row[0] > best[name, writers][0]:
                    best[name, writers] = row
    for (name, writers), (rate, per_sync, p50, p99) in best.items():
        print(f"{name:<18} {writers:>7} {rate:>10.0f} {per_sync:>11.1f} {p50:>9.2f} {p99:>9.2f}")
    return best


def best_of(repeats: int, fn: Callable[[], None]) -> float:
    """Fastest of a few runs: the machine is shared, and noise only ever adds time."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


async def bench_recovery(directory: Path, n: int) -> None:
    path = directory / "recovery.log"
    store = LogStorage.open(path, bucket_of=bucket_of, fsync=False)
    records = [Record(f"key{i}", f"value-{i:08d}", (1763930000000 + i, 0, "n1")) for i in range(n)]
    for start in range(0, n, 1000):
        store.apply_nowait(records[start : start + 1000])
    await store.aclose()
    size = path.stat().st_size

    def open_log() -> None:
        reopened = LogStorage.open(path, bucket_of=bucket_of, fsync=False)
        assert reopened.live_keys == n, reopened.stats
        reopened.crash()

    def scan() -> None:
        entries, _, _ = scan_log(path.read_bytes(), path)
        assert len(entries) == n

    db_path = directory / "recovery.db"
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT, p INTEGER, l INTEGER, n TEXT)")
    with db:
        db.executemany("INSERT INTO kv VALUES (?, ?, ?, ?, ?)", [(r.key, r.value, *r.stamp) for r in records])
    db.close()

    def open_sqlite() -> None:
        db = sqlite3.connect(db_path)
        rows = db.execute("SELECT * FROM kv")
        index = {key: Record(key, value, (p, lo, node)) for key, value, p, lo, node in rows}
        db.close()
        assert len(index) == n

    def open_sqlite_indexed() -> None:
        store = SqliteStorage(db_path, window=0.0)
        for key, value, p, lo, node in store.db.execute("SELECT * FROM kv"):
            store._load(Record(key, value, (p, lo, node)))
        assert store.live_keys == n
        store.crash()

    log_open, log_scan, sqlite_open, sqlite_indexed = (
        best_of(3, f) for f in (open_log, scan, open_sqlite, open_sqlite_indexed)
    )

    print(f"\nrecovery of {n} records into the in-memory index (best of 3):")
    print(f"  log open     {log_open * 1e3:6.0f} ms   ({size / 1e6:.1f} MB file, {n / log_open:,.0f} records/s)")
    print(f"    of which read+checksum+decode {log_scan * 1e3:6.0f} ms, index+counters+digests the rest")
    print(f"  sqlite open  {sqlite_indexed * 1e3:6.0f} ms   (the same index, counters and digests)")
    print(f"    of which SELECT * into a dict of Records {sqlite_open * 1e3:6.0f} ms")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        print(f"durable writes, best of {ROUNDS} interleaved rounds of {args.seconds / ROUNDS:.2g} s, files in {directory}")
        print(f"{'engine':<18} {'writers':>7} {'writes/s':>10} {'per fsync':>11} {'p50 ms':>9} {'p99 ms':>9}")
        await bench_writes(directory, args.seconds)
        await bench_recovery(directory, args.records)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of each writes/s row")
    parser.add_argument("--records", type=int, default=100_000, help="records for the recovery test")
    parser.add_argument("--dir", default=None, help="directory for the test files (default: system temp)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.records <= 0:
        parser.error("--seconds and --records must be positive")
    trio.run(main, args)
