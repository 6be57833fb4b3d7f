"""Reading a run's files while the run still writes them: the check of a run made as it goes.

A single simulated run (``harness.py run --mode sim``) checks its history in a process of its own
(``runner/check_process.py``) that reads ``history.jsonl`` and ``journal.jsonl.gz`` as they grow,
so the check, the journal's figures and the report's plot data are all but ready when the
simulation ends. The checker's own code reads them, unchanged: within ``following(paths, ended)``,
``open_input`` (which the history, header and journal readers open files with) hands out a
``GrowingFile`` for those paths, whose reads wait for more bytes at the end of the file until
``ended`` is set (the writer closed the file: its end is the end). The bytes read, hence every
figure, are the same as those of a read of the finished file.

``prefetch_journal`` parses the journal's records in a thread as the file grows (bounded), and the
journal pass (``Journal.records``) takes them from there: the same records, in the same order, with
the same errors at the same places, made while the history was still being checked.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

POLL = 0.01
"""Seconds a read at the end of a growing file waits before it looks again (unless the end comes)."""
PIECE = 1 << 16
BATCH = 512
"""Records handed from the prefetching thread at a time."""
BATCHES = 256
"""Batches the prefetching thread keeps ready at most (bounded memory; then it waits for the pass)."""

_following: dict[str, threading.Event] = {}
_prefetched: dict[str, Prefetch] = {}
_opened: list[GrowingFile] = []
"""The ``GrowingFile`` s opened within ``following``: ``changed_on_disk`` compares each with its path."""


def open_input(path: str | Path) -> IO[bytes]:
    """``open(path, "rb")``, or, within ``following`` for that path, a ``GrowingFile``."""
    ended = _following.get(os.fspath(path))
    if ended is None:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    return GrowingFile(path, ended)  # type: ignore[return-value]


@contextmanager
def following(paths: list[Path], ended: threading.Event) -> Iterator[None]:
    """Within: ``open_input`` of ``paths`` reads them as they grow until ``ended`` is set."""
    keys = [os.fspath(p) for p in paths]
    for key in keys:
        _following[key] = ended
    try:
        yield
    finally:
        for key in keys:
            _following.pop(key, None)
            _prefetched.pop(key, None)
        _opened.clear()


def changed_on_disk() -> str | None:
    """Why a file read within ``following`` is not, on disk now, what was read (one line), or None.

    The reads go through an open handle: a file deleted, replaced, truncated or rewritten while the run
    went on would still be read whole, so a check of what was read could judge bytes the run directory
    no longer holds. Call once ``ended`` is set and the check is done."""
    for file in list(_opened):
        why = file.changed()
        if why is not None:
            return why
    return None


class GrowingFile:
    """A file read while another process appends to it: at its end a read waits for more, or for ``ended``."""

    def __init__(self, path: str | Path, ended: threading.Event) -> None:
        self._path = os.fspath(path)
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._ended = ended
        opened = os.fstat(self._file.fileno())
        self._identity = (opened.st_dev, opened.st_ino)
        self._digest = hashlib.blake2b()
        self._count = 0
        self._at_end = False
        _opened.append(self)

    def _took(self, data: bytes) -> bytes:
        self._digest.update(data)
        self._count += len(data)
        return data

    def changed(self) -> str | None:
        """Why the file at this path is not the one read, or no longer holds the bytes read (one line), or None."""
        try:
            now = os.stat(self._path)
        except OSError as failure:
            return f"{self._path}: {failure.strerror or failure} (it was there when the check opened it)"
        if (now.st_dev, now.st_ino) != self._identity:
            return f"{self._path} was replaced by another file during the run"
        if now.st_size < self._count or (self._at_end and now.st_size != self._count):
            return f"{self._path} holds {now.st_size} bytes, {self._count} were read"
        digest, left = hashlib.blake2b(), self._count
        with open(self._path, "rb") as again:
            while left and (piece := again.read(min(left, 1 << 20))):
                digest.update(piece)
                left -= len(piece)
        if left or digest.digest() != self._digest.digest():
            return f"{self._path} changed during the run: its bytes differ from those read"
        return None

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            parts = []
            while piece := self.read(PIECE):
                parts.append(piece)
            return b"".join(parts)
        while True:
            data = self._file.read(n)
            if data:
                return self._took(data)
            if self._ended.is_set():  # the writer had closed the file: one more look reads its last bytes
                data = self._file.read(n) or b""
                self._at_end = not data
                return self._took(data)
            self._ended.wait(POLL)

    def __iter__(self) -> Iterator[bytes]:
        """Lines, each with its ``\\n``, as iterating a file gives them (the last one without, if so written)."""
        rest = b""
        while data := self.read(PIECE):
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line + b"\n"
        if rest:
            yield rest

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> GrowingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Prefetch:
    """A thread reading a journal's records (``Journal.records(kinds_for(level))``) as the file grows."""

    def __init__(self, path: Path, kinds_for: Callable[[str], tuple[str, ...]],
                 recorded: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self._recorded = recorded
        self.kinds: tuple[str, ...] | None = None
        self.ready = threading.Event()
        """Set once ``kinds`` is known (the header read) or the reading failed."""
        self.batches: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=BATCHES)
        self.journal: Any = None
        self._kinds_for = kinds_for
        threading.Thread(target=self._read, name="journal-prefetch", daemon=True).start()

    def _read(self) -> None:
        from checker.journal import Journal

        put = self.batches.put
        try:
            try:
                journal = Journal(self.path, self._recorded)
                self.kinds = self._kinds_for(journal.header.level)
            finally:
                self.ready.set()
            batch: list[Any] = []
            for rec in journal.records(self.kinds, ahead=False):
                batch.append(rec)
                if len(batch) >= BATCH:
                    put(batch)
                    batch = []
            self.journal = journal
            put(batch)
            put(None)
        except BaseException as error:  # noqa: BLE001 - raised by the pass, where its own read would have
            put(error)

    def records(self) -> Iterator[Any]:
        """The records read, then what the read raised (if it did)."""
        get = self.batches.get
        while True:
            item = get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item


def prefetch_journal(path: Path, kinds_for: Callable[[str], tuple[str, ...]],
                     recorded: Mapping[str, Any] | None = None) -> None:
    """Within ``following`` for ``path``: read its records ahead, for the first ``Journal.records`` call
    (``recorded``: results.json's ``journal`` block, as the pass's ``load_journal`` is given it)."""
    _prefetched[os.fspath(path)] = Prefetch(path, kinds_for, recorded)


def take_prefetched(path: Path, kinds: tuple[str, ...] | None) -> Prefetch | None:
    """The prefetch of ``path``'s records of ``kinds`` (once), or None."""
    key = os.fspath(path)
    p = _prefetched.get(key)
    if p is None:
        return None
    p.ready.wait()
    if p.kinds is None or kinds is None or tuple(kinds) != p.kinds:
        return None
    del _prefetched[key]
    return p
