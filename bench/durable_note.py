"""What the durable-size note costs a group commit, beside the group commit's own write + fdatasync.

Usage: python bench/durable_note.py [--notes 100000] [--syncs 500]

After each fsync'd group commit ``LogStorage`` notes the log's inode and size in its lock file (an
unsynced 20-byte ``pwrite``), so that recovery can tell a truncated log from a torn write (see
docs/storage-and-codec.md, "What a crash leaves"). This times that note alone, then a 100-byte
append + ``fdatasync`` on the same file system, and prints both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikeydb.log_storage import LogStorage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=100_000, help="notes to time")
    parser.add_argument("--syncs", type=int, default=500, help="appends + fdatasync to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as directory:
        store = LogStorage.open(Path(directory) / "a.log", bucket_of=lambda key: 0)
        ino = os.fstat(store._fd).st_ino if store._fd is not None else 0
        start = time.perf_counter()
        for size in range(args.notes):
            store._note_durable(ino, size, sync=False)
        note = (time.perf_counter() - start) / args.notes
        store.crash()
        fd = os.open(Path(directory) / "sync", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        start = time.perf_counter()
        for _ in range(args.syncs):
            os.write(fd, b"x" * 100)
            os.fdatasync(fd)
        sync = (time.perf_counter() - start) / args.syncs
        os.close(fd)
    print(f"note {note * 1e6:.2f} us; write+fdatasync {sync * 1e6:.0f} us; note/fsync {note / sync:.4f}")


if __name__ == "__main__":
    main()
