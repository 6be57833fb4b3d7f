"""LogStorage recovery past damage in the middle: every intact frame is kept, the damaged file is kept aside."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from minikeydb.log_storage import MAGIC, MAX_WRITE_FRAME, TORN_ZEROS, encode_entry, frame_payload
from minikeydb.record import Record
from minikeydb.storage import StorageError

RECORDS = 1000


def rec(i: int) -> Record:
    return Record(f"key{i:04d}", f"value-{i}", (1000 + i, 0, "n1"))


async def write_log(log_engine, n: int = RECORDS, **kwargs: object) -> list[int]:
    """``n`` records, one frame each, in one group commit; returns each frame's offset in the file."""
    store = log_engine.open(**kwargs)
    await store.apply([rec(i) for i in range(n)])
    await store.aclose()
    size = log_engine.path().stat().st_size
    frames = [len(encode_entry(rec(i))) for i in range(n)]
    offsets = [size - sum(frames)]
    for length in frames[:-1]:
        offsets.append(offsets[-1] + length)
    return offsets


def frame_of(offsets: list[int], position: int) -> int:
    """Which record's frame holds byte ``position``."""
    return max(i for i, start in enumerate(offsets) if start <= position)


def flip(path: Path, position: int, bit: int = 0x10) -> bytes:
    """Flip one bit of the file; returns the file's bytes before the flip."""
    data = path.read_bytes()
    damaged = bytearray(data)
    damaged[position] ^= bit
    path.write_bytes(bytes(damaged))
    return data


def corrupt_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


def keys(store) -> set[str]:
    return {r.key for r in store.records()}


async def test_flipped_bit_in_the_middle_keeps_every_other_record(log_engine, caplog):
    """One flipped bit at the middle of a 1,000-record log loses that one record only; the file is kept aside."""
    offsets = await write_log(log_engine)
    path = log_engine.path()
    middle = path.stat().st_size // 2
    original = flip(path, middle)
    damaged_bytes = path.read_bytes()
    lost = frame_of(offsets, middle)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert keys(store) == {rec(i).key for i in range(RECORDS) if i != lost}
    assert store.stats["records_recovered"] == RECORDS - 1
    assert store.stats["frames_skipped_on_recovery"] == 1
    copies = corrupt_copies(path)
    assert len(copies) == 1 and copies[0].read_bytes() == damaged_bytes != original
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 1 damaged frame" in warnings[0] and str(copies[0]) in warnings[0]
    await store.apply([rec(RECORDS)])  # appends after the rewrite make a clean log
    await store.aclose()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        again = log_engine.open()
    assert again.stats["records_recovered"] == RECORDS and again.stats["frames_skipped_on_recovery"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(corrupt_copies(path)) == 1
    await again.aclose()


async def test_flipped_bit_in_a_length_field_keeps_every_other_record(log_engine):
    """A length field damaged in the middle (pointing past the end of the file) loses only its own frame."""
    offsets = await write_log(log_engine)
    path = log_engine.path()
    victim = RECORDS // 2
    frame = encode_entry(rec(victim))
    payload_length = len(frame) - frame.index(b'[0,"')
    length_at = offsets[victim] + frame.index(payload_length.to_bytes(4, "little"))
    flip(path, length_at + 2, 0x08)  # +512 KiB: past the end of this ~40 kB file
    store = log_engine.open()
    assert keys(store) == {rec(i).key for i in range(RECORDS) if i != victim}
    assert len(corrupt_copies(path)) == 1
    await store.aclose()


async def test_flipped_bit_in_a_length_field_that_stays_in_the_file(log_engine):
    """A length field damaged to a smaller value (landing inside a later frame) loses only its own frame."""
    offsets = await write_log(log_engine)
    path = log_engine.path()
    victim = RECORDS // 2
    frame = encode_entry(rec(victim))
    payload_length = len(frame) - frame.index(b'[0,"')
    length_at = offsets[victim] + frame.index(payload_length.to_bytes(4, "little"))
    flip(path, length_at, 0x01 if payload_length & 1 else 0x02)
    store = log_engine.open()
    assert keys(store) == {rec(i).key for i in range(RECORDS) if i != victim}
    await store.aclose()


async def test_garbage_appended_after_valid_frames_is_cut_and_kept_aside(log_engine, caplog):
    """Bytes after the last frame that are no frame at all are cut with a warning; every record stays."""
    await write_log(log_engine)
    path = log_engine.path()
    size = path.stat().st_size
    with path.open("ab") as f:
        f.write(b"this is not a frame, it is garbage appended by someone" * 3)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == RECORDS
    assert len(corrupt_copies(path)) == 1
    assert any(r.levelno == logging.WARNING and str(path) in r.getMessage() for r in caplog.records)
    await store.aclose()
    assert path.stat().st_size <= size  # the garbage is gone from the log itself


async def test_many_damaged_frames_each_skipped(log_engine):
    """Damage in ten places loses ten records and keeps the other 990."""
    offsets = await write_log(log_engine)
    path = log_engine.path()
    victims = list(range(50, RECORDS, 100))
    data = bytearray(path.read_bytes())
    for v in victims:
        data[offsets[v] + 20] ^= 0x40
    path.write_bytes(bytes(data))
    store = log_engine.open()
    assert keys(store) == {rec(i).key for i in range(RECORDS) if i not in victims}
    assert store.stats["frames_skipped_on_recovery"] == len(victims)
    await store.aclose()


async def test_a_frame_inside_a_value_is_never_mistaken_for_a_real_one(log_engine):
    """A value that carries the text of a whole frame, its own frame damaged, yields no phantom record."""
    inner = encode_entry(Record("phantom", "boo", (5, 0, "n1"))).decode("latin-1")
    store = log_engine.open()
    await store.apply([rec(0), Record("carrier", inner, (2000, 0, "n1")), rec(2)])
    await store.aclose()
    path = log_engine.path()
    data = path.read_bytes()
    carrier_at = data.index(b"carrier")
    flip(path, carrier_at + 2)
    store = log_engine.open()
    assert keys(store) == {rec(0).key, rec(2).key}
    await store.aclose()


async def test_zero_length_log_starts_empty_and_says_so(log_engine, caplog):
    """A zero-length log file opens empty with an INFO line naming the file."""
    path = log_engine.path()
    path.write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert list(store.records()) == []
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(str(path) in m and "empty" in m for m in infos), infos
    await store.aclose()


async def test_missing_log_starts_empty_and_says_so(log_engine, caplog):
    """An absent log file is created, with an INFO line saying the node starts empty."""
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(str(log_engine.path()) in m and "empty" in m for m in infos), infos
    await store.aclose()


async def test_crash_while_rewriting_a_damaged_log_loses_nothing(log_engine, monkeypatch):
    """Dying between the copy aside and the rename of the rewritten log leaves the damaged log whole; the next open recovers it."""
    offsets = await write_log(log_engine)
    path = log_engine.path()
    middle = path.stat().st_size // 2
    flip(path, middle)
    damaged = path.read_bytes()
    lost = frame_of(offsets, middle)

    def die(*args: object) -> None:
        raise OSError("simulated crash before the rename")

    with monkeypatch.context() as patch:
        patch.setattr("minikeydb.log_storage.os.replace", die)
        with pytest.raises(StorageError, match="cannot recover the log: simulated crash"):
            log_engine.open()
    assert path.read_bytes() == damaged  # untouched: the rewrite never replaced it
    assert path.with_name("a.log.compact").exists()  # what the dead rewrite left behind
    store = log_engine.open()
    assert keys(store) == {rec(i).key for i in range(RECORDS) if i != lost}
    assert not path.with_name("a.log.compact").exists()
    assert all(copy.read_bytes() == damaged for copy in corrupt_copies(path))
    await store.aclose()


async def test_compaction_after_a_resync_keeps_the_recovered_state(log_engine):
    """Compacting a store recovered past damage, then crashing, keeps exactly the recovered records."""
    await write_log(log_engine)
    path = log_engine.path()
    flip(path, path.stat().st_size // 3)
    store = log_engine.open()
    recovered = sorted(store.records(), key=lambda r: r.key)
    await store.compact()
    store.crash()
    reopened = log_engine.open()
    assert sorted(reopened.records(), key=lambda r: r.key) == recovered
    assert reopened.stats["frames_skipped_on_recovery"] == 0
    await reopened.aclose()


async def test_a_node_restarted_on_a_damaged_log_keeps_the_rest_and_repairs_the_lost_record(tmp_path, monkeypatch):
    """End to end: a replica whose log got a flipped bit while it was down restarts with every other record, and anti-entropy brings the lost one back."""
    from minikeydb.config import SECRET_ENV
    from minikeydb.defects import Features
    from minikeydb.server import storage_path
    from tests.store.cluster_fixture import make_config, running_cluster, wait_until

    monkeypatch.setenv(SECRET_ENV, "resync-test-secret")
    config = make_config(tmp_path, 3, replicas=3)
    n = 200
    async with running_cluster(config, features=Features(read_repair=False, hinted_handoff=False)) as cluster:
        async with cluster.client() as client:
            for i in range(n):
                assert (await client.put(f"key{i}", f"value{i}", w=3)).ok
        before = {r.key: r for r in cluster.nodes["n3"].storage.records()}
        assert len(before) == n
        await cluster.stop("n3")
        path = storage_path(config, "n3")
        flip(path, path.stat().st_size // 2)
        node = await cluster.start("n3")
        assert node.storage.stats["records_recovered"] == n - 1
        assert node.storage.stats["frames_skipped_on_recovery"] == 1
        assert len(corrupt_copies(path)) == 1
        assert await wait_until(lambda: {r.key: r for r in node.storage.records()} == before, 8.0)


# -- a damaged header (F5) ---------------------------------------------------------------------


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: d[:3] + bytes([d[3] ^ 0x01]) + d[4:], id="flipped-bit"),
        pytest.param(lambda d: bytes(8) + d[8:], id="zeroed"),
        pytest.param(lambda d: d[8:], id="cut-off"),
        pytest.param(lambda d: d[5:], id="partly-cut-off"),
    ],
)
async def test_damaged_header_keeps_every_record(log_engine, caplog, damage):
    """A log whose 8-byte header is damaged, zeroed or cut off keeps all 1,000 frames, with a copy aside and a WARNING."""
    await write_log(log_engine)
    path = log_engine.path()
    damaged = damage(path.read_bytes())
    path.write_bytes(damaged)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == RECORDS and keys(store) == {rec(i).key for i in range(RECORDS)}
    copies = corrupt_copies(path)
    assert len(copies) == 1 and copies[0].read_bytes() == damaged
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "header" in warnings[0] and str(copies[0]) in warnings[0], warnings
    await store.aclose()
    assert path.read_bytes().startswith(MAGIC)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        again = log_engine.open()
    assert again.stats["records_recovered"] == RECORDS and not warnings_of(caplog)
    await again.aclose()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00" * 50_000, id="all-zeros"),
        pytest.param(b"PK\x03\x04" + b"not a log at all " * 1000, id="foreign"),
        pytest.param(MAGIC[:4] + b"\x00" * 4 + b"garbage" * 100, id="damaged-header-no-frames"),
    ],
)
def test_file_without_any_frame_is_refused_untouched_with_advice(log_engine, content):
    """A file with no recognisable frame is refused with a message saying what it is, that nothing changed, and what to do."""
    path = log_engine.path()
    path.write_bytes(content)
    with pytest.raises(StorageError) as error:
        log_engine.open()
    message = str(error.value)
    assert message.startswith(f"{path}: not a MinikeyDB log")
    assert "nothing was changed" in message and "move it aside" in message and "replicas" in message
    assert path.read_bytes() == content and not corrupt_copies(path)


@pytest.mark.parametrize("header", [b"MKDBLOG3", bytes(8), b""], ids=["flipped-bit", "zeroed", "cut-off"])
def test_first_format_log_with_a_damaged_header_is_refused_clearly(log_engine, header):
    """A MKDBLOG1 log (no frame marks) with a damaged header is refused as such, untouched, not rewritten empty."""
    from tests.storage.test_recovery import v1_frame

    path = log_engine.path()
    content = header + b"".join(v1_frame(rec(i)) for i in range(50))
    path.write_bytes(content)
    with pytest.raises(StorageError) as error:
        log_engine.open()
    message = str(error.value)
    assert "first-format (MKDBLOG1)" in message and "header is damaged" in message
    assert "nothing was changed" in message and "move it aside" in message
    assert path.read_bytes() == content and not corrupt_copies(path)


def test_header_torn_as_zeros_at_creation_starts_empty(log_engine):
    """A header that never landed (a crash while the log was created: 8 zero bytes, nothing after) starts empty at INFO."""
    path = log_engine.path()
    path.write_bytes(bytes(8))
    store = log_engine.open()
    assert list(store.records()) == []
    store.crash()
    assert path.read_bytes() == MAGIC


# -- large "torn tails" that are damage (F6) --------------------------------------------------


async def test_zeroed_body_is_damage_not_a_torn_write(log_engine, caplog):
    """Everything after the header zeroed is damage over many frames: kept aside with a WARNING giving the byte count."""
    await write_log(log_engine)
    path = log_engine.path()
    data = path.read_bytes()
    zeroed = MAGIC + bytes(len(data) - len(MAGIC))
    path.write_bytes(zeroed)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == 0
    copies = corrupt_copies(path)
    assert len(copies) == 1 and copies[0].read_bytes() == zeroed
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and f"{len(zeroed) - len(MAGIC)} bytes" in warnings[0], warnings
    await store.aclose()


async def test_zeroed_second_half_is_damage(log_engine, caplog):
    """The second half of the log zeroed keeps the first half and warns, with the copy aside."""
    offsets = await write_log(log_engine)
    path = log_engine.path()
    data = path.read_bytes()
    half = len(data) // 2
    path.write_bytes(data[:half] + bytes(len(data) - half))
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == frame_of(offsets, half)
    assert len(corrupt_copies(path)) == 1 and len(warnings_of(caplog)) == 1
    await store.aclose()


async def test_small_zero_tail_is_still_a_torn_write(log_engine, caplog):
    """A few zeros after the last frame (a block of the last write that never landed) are cut quietly at INFO."""
    await write_log(log_engine)
    path = log_engine.path()
    with path.open("ab") as f:
        f.write(bytes(TORN_ZEROS))
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == RECORDS
    assert not corrupt_copies(path) and not warnings_of(caplog) and "torn" in caplog.text
    await store.aclose()


async def test_cut_frame_larger_than_any_write_is_damage(log_engine, caplog):
    """A log cut inside a frame whose stated size no write of this engine reaches is truncation, not a crash: warned and kept aside."""
    await write_log(log_engine, 10)
    path = log_engine.path()
    big = frame_payload(orjson.dumps([0, "big", "x" * (MAX_WRITE_FRAME + 10), 1, 0, "n1"]))
    cut = path.read_bytes() + big[: len(big) // 2]
    path.write_bytes(cut)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == 10
    copies = corrupt_copies(path)
    assert len(copies) == 1 and copies[0].read_bytes() == cut
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and f"{len(big) // 2} bytes" in warnings[0], warnings
    await store.aclose()


def test_the_engine_never_writes_a_frame_above_the_write_limit():
    """encode_entry refuses a record whose frame would exceed MAX_WRITE_FRAME, so a longer cut frame cannot be a torn write."""
    with pytest.raises(ValueError, match="limit"):
        encode_entry(Record("big", "x" * MAX_WRITE_FRAME, (1, 0, "n1")))


# -- a log shorter than what was once durable (F6: truncation) -----------------------------------


async def test_log_truncated_inside_a_frame_is_damage_not_a_torn_write(log_engine, caplog):
    """A synced log cut to half its size (inside a frame) is a truncation, told from a crash by the durable size: WARNING, copy."""
    offsets = await write_log(log_engine, fsync=True)
    path = log_engine.path()
    half = path.stat().st_size // 2
    with path.open("r+b") as f:
        f.truncate(half)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == frame_of(offsets, half)
    assert len(corrupt_copies(path)) == 1
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "truncated" in warnings[0], warnings
    await store.aclose()


async def test_log_truncated_at_a_frame_boundary_is_damage(log_engine, caplog):
    """A synced log cut exactly between two frames (no partial frame at all) is still reported as truncated."""
    offsets = await write_log(log_engine, fsync=True)
    path = log_engine.path()
    with path.open("r+b") as f:
        f.truncate(offsets[600])
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == 600
    assert len(corrupt_copies(path)) == 1
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "truncated" in warnings[0], warnings
    await store.aclose()


async def test_unsynced_last_write_cut_short_is_still_a_quiet_torn_tail(log_engine, caplog):
    """With the durable size known, a partial frame after it (a write whose fsync never returned) is cut at INFO, no copy."""
    await write_log(log_engine, fsync=True)
    path = log_engine.path()
    frame = encode_entry(rec(RECORDS))
    with path.open("ab") as f:
        f.write(frame[: len(frame) - 7])
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open()
    assert store.stats["records_recovered"] == RECORDS
    assert not corrupt_copies(path) and not warnings_of(caplog) and "torn" in caplog.text
    await store.aclose()


async def test_log_moved_aside_or_replaced_is_not_called_truncated(log_engine, caplog):
    """Moving the log aside starts empty, and a different (shorter) log put in its place opens, both without a WARNING."""
    await write_log(log_engine, fsync=True)
    path = log_engine.path()
    path.rename(path.with_name("a.log.bad"))
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open(fsync=True)
        assert list(store.records()) == []
        await store.apply([rec(0)])
        await store.aclose()
    other = log_engine.path("other")
    store = log_engine.open("other", fsync=True)
    await store.apply([rec(1)])
    await store.aclose()
    await write_log(log_engine, fsync=True)  # a long log again, then a short one moved over it
    other.replace(path)
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        store = log_engine.open(fsync=True)
    assert keys(store) == {rec(1).key}
    assert not warnings_of(caplog) and not corrupt_copies(path)
    await store.aclose()


async def test_compaction_then_crash_is_not_called_truncated(log_engine, caplog):
    """A compaction shrinks the log below the size once synced; the durable size moves with it, so the reopen is quiet."""
    store = log_engine.open(fsync=True)
    for i in range(200):
        await store.apply([Record("same", f"v{i}", (1000 + i, 0, "n1"))])
    await store.compact()
    await store.apply([rec(1)])
    store.crash()
    with caplog.at_level(logging.INFO, logger="minikeydb.storage"):
        again = log_engine.open(fsync=True)
    assert again.get("same").value == "v199" and again.get(rec(1).key) == rec(1)
    assert not warnings_of(caplog) and not corrupt_copies(log_engine.path())
    await again.aclose()
