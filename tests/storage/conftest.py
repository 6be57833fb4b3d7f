"""Engines under test: every behavioural test runs against both the log and the in-memory engine."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest

from minikeydb.log_storage import LogStorage
from minikeydb.storage import IndexedStorage
from minikeydb.testing.disk import MemoryDisk, MemoryStorage

BUCKETS = 16


def bucket_of(key: str) -> int:
    """A stable bucket function (builtin hash() is salted per process)."""
    return zlib.crc32(key.encode()) % BUCKETS


class LogEngine:
    """Opens LogStorage files in a temporary directory; ``name`` picks the file."""

    kind = "log"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str = "a") -> Path:
        return self.directory / f"{name}.log"

    def open(self, name: str = "a", **kwargs: Any) -> IndexedStorage:
        kwargs.setdefault("fsync", False)  # crash() semantics do not depend on fsync; speed does
        kwargs.setdefault("bucket_of", bucket_of)
        return LogStorage.open(self.path(name), **kwargs)


class MemoryEngine:
    """Opens MemoryStorage instances on named MemoryDisks that outlive them."""

    kind = "memory"

    def __init__(self) -> None:
        self.disks: dict[str, MemoryDisk] = {}

    def open(self, name: str = "a", **kwargs: Any) -> IndexedStorage:
        kwargs.setdefault("bucket_of", bucket_of)
        disk = self.disks.setdefault(name, MemoryDisk())
        return MemoryStorage(disk, **kwargs)


@pytest.fixture(params=["log", "memory"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> LogEngine | MemoryEngine:
    if request.param == "log":
        return LogEngine(tmp_path)
    return MemoryEngine()


@pytest.fixture
def log_engine(tmp_path: Path) -> LogEngine:
    return LogEngine(tmp_path)
