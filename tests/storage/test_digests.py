"""Anti-entropy digests: equal for equal contents in any order, different where one record differs."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from minikeydb.record import Record
from minikeydb.testing.disk import MemoryDisk, MemoryStorage

from .conftest import bucket_of


def sample_records(n: int = 60) -> list[Record]:
    out = []
    for i in range(n):
        out.append(Record(f"key{i % 40}", None if i % 9 == 0 else f"v{i}", (i, i % 3, f"n{i % 3}")))
    return out


def fill(store, records: list[Record]) -> None:
    for record in records:
        store.apply_nowait([record])


def by_bucket(store) -> dict[int, set[Record]]:
    return {b: set(store.bucket_records(b)) for b in store.bucket_digests()}


async def test_same_records_any_order_give_same_digests(engine):
    """Two stores fed the same records in different orders agree on every digest and bucket."""
    records = sample_records()
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    a, b = engine.open("a"), engine.open("b")
    fill(a, records)
    fill(b, shuffled)
    assert a.bucket_digests() == b.bucket_digests()
    assert by_bucket(a) == by_bucket(b)
    assert sorted(a.records(), key=lambda r: r.key) == sorted(b.records(), key=lambda r: r.key)
    await a.aclose()
    await b.aclose()


async def test_one_differing_record_changes_exactly_its_bucket(engine):
    """When one replica holds a newer version of one key, only that key's bucket digest differs."""
    records = sample_records()
    a, b = engine.open("a"), engine.open("b")
    fill(a, records)
    fill(b, records)
    b.apply_nowait([Record("key3", "newer", (10_000, 0, "n9"))])
    differing = {k for k in a.bucket_digests().keys() | b.bucket_digests().keys()
                 if a.bucket_digests().get(k) != b.bucket_digests().get(k)}
    assert differing == {bucket_of("key3")}
    await a.aclose()
    await b.aclose()


async def test_digests_survive_reopen_and_purge(engine):
    """Digests rebuilt at open equal the live ones, and a purged key leaves its bucket as if never written."""
    records = sample_records()
    a = engine.open("a")
    await a.apply(records)
    expected = a.bucket_digests()
    await a.aclose()
    reopened = engine.open("a")
    assert reopened.bucket_digests() == expected
    tomb = Record("only-key", None, (5, 0, "n1"))
    before = reopened.bucket_digests()
    await reopened.apply([tomb])
    assert reopened.bucket_digests() != before
    assert await reopened.purge_tombstone("only-key", tomb.stamp)
    assert reopened.bucket_digests() == before
    await reopened.aclose()


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_digest_is_order_independent_for_any_history(data):
    """For any set of writes and any two delivery orders (with duplicates), digests and contents agree."""
    writes = data.draw(
        st.lists(
            st.builds(
                Record,
                st.sampled_from([f"k{i}" for i in range(8)]),
                st.one_of(st.none(), st.text(max_size=3)),
                st.tuples(st.integers(0, 5), st.integers(0, 2), st.sampled_from(["n1", "n2"])),
            ),
            max_size=30,
            unique_by=lambda r: (r.key, r.stamp),
        )
    )
    order_a = data.draw(st.permutations(writes))
    order_b = data.draw(st.permutations(writes + writes[: len(writes) // 2]))
    a = MemoryStorage(MemoryDisk(), bucket_of=bucket_of)
    b = MemoryStorage(MemoryDisk(), bucket_of=bucket_of)
    fill(a, order_a)
    fill(b, order_b)
    assert a.bucket_digests() == b.bucket_digests()
    assert {r.key: r for r in a.records()} == {r.key: r for r in b.records()}
    assert a.live_keys + a.tombstones == len({r.key for r in writes})
