"""The work of an OR-set join grows linearly with the set, counted in operations, never timed."""

from __future__ import annotations

import random
from collections import Counter

import orjson
import pytest

from minikeydb import conflict, crdt, dvv
from minikeydb.conflict import CRDT, Conflict, state_record
from minikeydb.crdt import ORSet
from minikeydb.crdt import add as set_add


def _set(n: int) -> ORSet:
    """``n`` elements added by 10 clients, interleaved (their dots leave gaps: all in the cloud)."""
    state = ORSet()
    for i in range(n):
        actor = f"c{i % 10:016x}"
        state = state.join(set_add(f"p{i}", (actor, i + 1), (i, 0, actor)))
    return state


def _count_work(monkeypatch: pytest.MonkeyPatch, n: int) -> Counter[str]:
    """Dot lookups, dots checked, sorts and encodes of one store-side join: an n-element set's record and one add."""
    work: Counter[str] = Counter()
    contains, check, encode, unseen = dvv.Context.__contains__, dvv._check_dot, conflict.encode, crdt._unseen

    def counted_contains(self: dvv.Context, dot: dvv.Dot) -> bool:
        work["lookups"] += 1
        return contains(self, dot)

    def counted_unseen(dots: frozenset[dvv.Dot], context: dvv.Context) -> frozenset[dvv.Dot]:
        work["lookups"] += len(dots)  # one lookup per dot, made inline
        return unseen(dots, context)

    def counted_check(item: object) -> dvv.Dot:
        work["dots_checked"] += 1
        return check(item)

    def counted_encode(kind: str, state: conflict.State) -> str:
        work["encodes"] += 1
        return encode(kind, state)

    record = state_record("k", "o", _set(n))
    delta = state_record("k", "o", set_add("new", ("cffff", 1), (n + 1, 0, "cffff")))
    monkeypatch.setattr(dvv.Context, "__contains__", counted_contains)
    monkeypatch.setattr(dvv, "_check_dot", counted_check)
    monkeypatch.setattr("minikeydb.crdt._check_dot", counted_check)
    monkeypatch.setattr(conflict, "encode", counted_encode)
    monkeypatch.setattr(crdt, "_unseen", counted_unseen)
    try:
        joined = Conflict(CRDT).join(record, delta)
    finally:
        monkeypatch.undo()
    assert joined is not None
    return work


def test_an_or_set_join_does_linear_work_in_the_set_size(monkeypatch):
    """Joining an add into a set of 400 does at most 8x (plus a little) the dot lookups and checks of a set of 50."""
    small, large = _count_work(monkeypatch, 50), _count_work(monkeypatch, 400)
    for what in ("lookups", "dots_checked"):
        assert small[what] > 0, what  # counted at all
        assert large[what] <= 8 * small[what] + 50, (what, small[what], large[what])


def test_a_join_encodes_one_state_not_the_incoming_one_again(monkeypatch):
    """A replica joining an incoming state into its own encodes one state (the join), whatever the set's size."""
    assert _count_work(monkeypatch, 100)["encodes"] == 1
    assert _count_work(monkeypatch, 400)["encodes"] == 1


def test_a_stream_of_adds_into_a_stored_set_decodes_the_stored_set_once(monkeypatch):
    """A replica applying 30 adds to a 300-element set decodes its own (large) state at most once, not once per add."""
    from minikeydb.testing.disk import MemoryDisk, MemoryStorage

    storage = MemoryStorage(MemoryDisk(), bucket_of=lambda key: 0)
    storage.use_join(Conflict(CRDT).join)
    assert storage.apply_nowait([state_record("k", "o", _set(300))]) == [True]
    large_decodes = 0
    from_json = ORSet.from_json.__func__  # type: ignore[attr-defined]

    def counted(cls: type[ORSet], data: object) -> ORSet:
        nonlocal large_decodes
        state = from_json(cls, data)
        large_decodes += len(state.elements) >= 300
        return state

    monkeypatch.setattr(ORSet, "from_json", classmethod(counted))
    for i in range(30):
        delta = state_record("k", "o", set_add(f"new{i}", ("cffff", i + 1), (1000 + i, 0, "cffff")))
        assert storage.apply_nowait([delta]) == [True]
    stored = storage.get("k")
    assert stored is not None and len(ORSet.from_json(orjson.loads(stored.value[1:])).elements) == 330
    assert large_decodes <= 2, large_decodes  # the first join's, and the check just above


def _naive_join(a: ORSet, b: ORSet) -> dict[str, frozenset[dvv.Dot]]:
    """The OR-set join as the paper writes it, element by element (the reference)."""
    out = {}
    for e in set(a.elements) | set(b.elements):
        mine, theirs = a.elements.get(e, frozenset()), b.elements.get(e, frozenset())
        dots = (mine & theirs) | {d for d in mine if d not in b.context} | {d for d in theirs if d not in a.context}
        if dots:
            out[e] = frozenset(dots)
    return out


def _dots(context: dvv.Context) -> set[dvv.Dot]:
    return {(a, n) for a, top in context.vv.items() for n in range(1, top + 1)} | set(context.cloud)


def test_the_linear_join_and_union_agree_with_the_reference_on_random_states():
    """500 random pairs of sets (gaps, removes, shared dots): the join's elements and context are the reference's, and contexts stay compact."""
    rng = random.Random(7)
    for _ in range(500):
        states = []
        for _side in range(2):
            seen = {(f"a{rng.randrange(3)}", rng.randrange(1, 12)) for _ in range(rng.randrange(0, 15))}
            live = {d: f"e{rng.randrange(5)}" for d in seen if rng.random() < 0.6}
            elements: dict[str, set[dvv.Dot]] = {}
            for dot, element in live.items():
                elements.setdefault(element, set()).add(dot)
            states.append(ORSet({e: frozenset(d) for e, d in elements.items()}, dvv.EMPTY_CONTEXT.add(seen)))
        a, b = states
        joined = a.join(b)
        assert dict(joined.elements) == _naive_join(a, b)
        assert _dots(joined.context) == _dots(a.context) | _dots(b.context)
        vv = joined.context.vv
        assert all(n > vv.get(actor, 0) + 1 for actor, n in joined.context.cloud), joined.context
        assert joined.context == dvv.EMPTY_CONTEXT.add(_dots(a.context) | _dots(b.context))


def test_the_coordinators_check_and_its_own_copy_join_a_delta_into_a_set_once(monkeypatch):
    """A client's add checked by the coordinator (strict join) and then joined into its own copy encodes the joined state once, not twice."""
    from minikeydb.testing.disk import MemoryDisk, MemoryStorage

    join = Conflict(CRDT).join
    storage = MemoryStorage(MemoryDisk(), bucket_of=lambda key: 0)
    storage.use_join(join)
    assert storage.apply_nowait([state_record("k", "o", _set(200))]) == [True]
    delta = state_record("k", "o", set_add("new", ("cffff", 1), (1000, 0, "cffff")))
    encodes = 0
    encode = conflict.encode

    def counted(kind: str, state: conflict.State) -> str:
        nonlocal encodes
        encodes += 1
        return encode(kind, state)

    monkeypatch.setattr(conflict, "encode", counted)
    checked = join(storage.get("k"), delta, trim=False)  # Coordinator.on_update's check
    assert storage.apply_nowait([delta]) == [True]
    assert storage.get("k") == checked
    assert encodes == 1, encodes
