"""Child process for the SIGKILL test: writes forever with apply() and prints each acknowledged record.

Usage: python -m tests.storage.sigkill_writer LOG_PATH. One line per acknowledged record,
``key physical``, printed only after ``apply`` returned, i.e. after the record is durable.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import trio

from minikeydb.log_storage import LogStorage
from minikeydb.record import Record

WRITERS = 8
KEYS_PER_WRITER = 20


async def writer(store: LogStorage, w: int) -> None:
    physical = 0
    while True:
        physical += 1
        key = f"w{w}-k{physical % KEYS_PER_WRITER}"
        await store.apply([Record(key, f"v{physical}", (physical, 0, f"n{w}"))])
        sys.stdout.write(f"{key} {physical}\n")
        sys.stdout.flush()


async def main(path: Path) -> None:
    store = LogStorage.open(path, bucket_of=lambda key: zlib.crc32(key.encode()) % 16, fsync=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        for w in range(WRITERS):
            nursery.start_soon(writer, store, w)


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]))
