"""LogStorage recovery: torn tails are cut quietly, corrupt tails cut loudly and kept aside, bad files refused."""

from __future__ import annotations

import logging
import zlib

import orjson
import pytest

from minikeydb.log_storage import MAGIC, MAGIC_V1, LogStorage, encode_entry, frame_payload
from minikeydb.record import Record
from minikeydb.storage import StorageError

from .conftest import bucket_of


def rec(i: int) -> Record:
    return Record(f"key{i}", f"value-{i}", (1000 + i, 0, "n1"))


async def write_ten(log_engine) -> int:
    """Ten records in ten frames; returns the size of the last frame."""
    store = log_engine.open()
    for i in range(10):
        await store.apply([rec(i)])
    await store.aclose()
    return len(encode_entry(rec(9)))


@pytest.mark.parametrize("cut", [1, 5, 9, "frame"])
async def test_torn_tail_is_truncated_and_prefix_kept(log_engine, caplog, cut):
    """A last frame cut anywhere (in its header or its payload) is discarded at INFO; the nine before survive."""
    last = await write_ten(log_engine)  # fsync=False: no size is noted as durable, so any cut is a crash's
    path = log_engine.path()
    size = path.stat().st_size
    keep = size - last + 5 if cut == "frame" else size - cut  # "frame": only 5 header bytes remain
    with path.open("r+b") as f:
        f.truncate(keep)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert sorted(r.key for r in store.records()) == [f"key{i}" for i in range(9)]
    assert store.stats["bytes_discarded_on_recovery"] == keep - (size - last)
    assert "torn" in caplog.text and str(path) in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # a crash, not damage: INFO
    assert not list(path.parent.glob("a.log.corrupt-*"))
    assert path.stat().st_size == size - last  # the tail is gone from the file, not just skipped
    await store.apply([rec(10)])  # appending after the cut yields a readable log
    await store.aclose()
    again = log_engine.open()
    assert again.stats["records_recovered"] == 10 and again.stats["bytes_discarded_on_recovery"] == 0
    await again.aclose()


async def test_corrupt_tail_is_detected_by_checksum(log_engine, caplog):
    """Flipped bytes in the last record fail its checksum: it is cut off and logged, the rest kept."""
    last = await write_ten(log_engine)
    path = log_engine.path()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    data[-4] ^= 0x01
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.live_keys == 9 and store.get("key9") is None
    assert store.stats["bytes_discarded_on_recovery"] == last
    assert "checksum mismatch" in caplog.text
    copies = list(path.parent.glob("a.log.corrupt-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == bytes(data)  # damage, not a crash: kept aside
    await store.aclose()


async def test_corrupt_length_field_is_cut_not_trusted(log_engine, caplog):
    """A corrupted length in the last frame header cannot make recovery read past the end or keep garbage."""
    last = await write_ten(log_engine)
    path = log_engine.path()
    data = bytearray(path.read_bytes())
    data[len(data) - last] ^= 0x04  # length field of the last frame
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.live_keys == 9
    assert store.stats["bytes_discarded_on_recovery"] == last
    assert "skipped 1 damaged frame" in caplog.text  # its CRC matches with the file's length: not torn
    await store.aclose()


def test_file_that_is_not_a_log_is_refused(log_engine):
    """Opening a file with a foreign header fails with the path in the message and leaves it untouched."""
    path = log_engine.path()
    path.write_bytes(b"PK\x03\x04 definitely a zip file")
    with pytest.raises(StorageError, match=f"{path}: not a MinikeyDB log"):
        log_engine.open()
    assert path.read_bytes().startswith(b"PK")


def test_valid_checksum_with_foreign_payload_is_refused(log_engine):
    """A well-checksummed frame of unknown shape is an error naming the offset, not a silent truncation."""
    path = log_engine.path()
    path.write_bytes(MAGIC + frame_payload(orjson.dumps({"not": "a record"})))
    with pytest.raises(StorageError, match=r"offset 8: checksum is valid but the entry has an unknown shape"):
        log_engine.open()


def test_torn_magic_starts_a_fresh_log(log_engine):
    """A log torn while its header was being created opens as an empty log."""
    path = log_engine.path()
    path.write_bytes(MAGIC[:3])
    store = log_engine.open()
    assert list(store.records()) == [] and store.stats["bytes_discarded_on_recovery"] == 3
    store.crash()
    assert path.read_bytes() == MAGIC


def test_second_open_of_the_same_log_is_refused(log_engine):
    """Two stores appending to one file would interleave frames, so the second open fails clearly."""
    first = log_engine.open()
    with pytest.raises(StorageError, match="already open"):
        log_engine.open()
    first.crash()
    log_engine.open().crash()  # crash() releases the file


def test_directory_path_is_refused(tmp_path):
    """Passing the data directory instead of the log file is reported as such."""
    with pytest.raises(StorageError, match=f"{tmp_path}: is a directory"):
        LogStorage.open(tmp_path, bucket_of=bucket_of)


def v1_frame(record: Record) -> bytes:
    """A frame of the first format (MKDBLOG1): length, CRC32 of length and payload, payload."""
    payload = orjson.dumps([0, record.key, record.value, *record.stamp])
    length = len(payload).to_bytes(4, "little")
    return length + zlib.crc32(payload, zlib.crc32(length)).to_bytes(4, "little") + payload


async def test_first_format_log_is_read_and_rewritten(log_engine, caplog):
    """A MKDBLOG1 log written before frame marks opens with every record and is rewritten in the current format."""
    path = log_engine.path()
    path.write_bytes(MAGIC_V1 + b"".join(v1_frame(rec(i)) for i in range(100)))
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == 100 and store.live_keys == 100
    assert "MKDBLOG1" in caplog.text and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    await store.apply([rec(100)])
    await store.aclose()
    assert path.read_bytes().startswith(MAGIC)
    again = log_engine.open()
    assert again.live_keys == 101
    await again.aclose()


async def test_first_format_log_resynchronises_past_damage(log_engine):
    """A flipped bit in the middle of a MKDBLOG1 log loses only that frame, and the file is kept aside."""
    path = log_engine.path()
    frames = [v1_frame(rec(i)) for i in range(100)]
    data = bytearray(MAGIC_V1 + b"".join(frames))
    victim_at = len(MAGIC_V1) + sum(len(f) for f in frames[:50])
    data[victim_at + 15] ^= 0x02
    path.write_bytes(bytes(data))
    store = log_engine.open()
    assert {r.key for r in store.records()} == {rec(i).key for i in range(100) if i != 50}
    assert len(list(path.parent.glob("a.log.corrupt-*"))) == 1
    await store.aclose()
