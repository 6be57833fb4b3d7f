"""The joins of conflict modes siblings and crdt: lattice laws, causality cases, encodings and the seeded bugs."""

from __future__ import annotations

import itertools
import random

import pytest

from minikeydb.conflict import CRDT, SIBLINGS, Conflict, ConflictError, decode, state_record, view
from minikeydb.crdt import ORSet, PNCounter, add, remove
from minikeydb.dvv import EMPTY_CONTEXT, Context, Siblings, StateError, write
from minikeydb.record import Record


def stamp(t: int, writer: str = "ca") -> tuple[int, int, str]:
    return (t, 0, writer)


def random_siblings(rng: random.Random) -> Siblings:
    """A state made by a random sequence of writes and joins, as replicas make them."""
    states = [Siblings()]
    for t in range(1, rng.randint(2, 7)):
        base = rng.choice(states)
        ctx = base.context if rng.random() < 0.5 else EMPTY_CONTEXT
        actor = rng.choice("abc")
        n = t
        value = None if rng.random() < 0.2 else f"v{t}"
        delta = write(ctx, (actor, n), value, stamp(t, actor))
        states.append(rng.choice(states).join(delta))
    return states[-1]


def random_counter(rng: random.Random) -> PNCounter:
    return PNCounter(
        {a: rng.randint(0, 5) for a in rng.sample("abcd", rng.randint(0, 3))},
        {a: rng.randint(0, 5) for a in rng.sample("abcd", rng.randint(0, 3))},
        stamp(rng.randint(0, 9)),
    )


def random_set(rng: random.Random) -> ORSet:
    state = ORSet()
    for t in range(1, rng.randint(2, 7)):
        element = rng.choice("xyz")
        if rng.random() < 0.7:
            state = state.join(add(element, (rng.choice("ab"), t), stamp(t)))
        else:
            state = state.join(remove(state, element, stamp(t)))
    return state


@pytest.mark.parametrize("make", [random_siblings, random_counter, random_set])
def test_joins_are_commutative_associative_and_idempotent(make) -> None:  # type: ignore[no-untyped-def]
    """For random reachable states of each type, join(a, b) = join(b, a), join is associative, join(a, a) = a."""
    rng = random.Random(17)
    for _ in range(200):
        a, b, c = make(rng), make(rng), make(rng)
        assert a.join(b) == b.join(a)
        assert a.join(b).join(c) == a.join(b.join(c))
        assert a.join(a) == a


def test_concurrent_writes_are_siblings_and_a_context_supersedes_exactly_what_it_saw() -> None:
    """Writes without a context are concurrent (both kept); a write with a read's context replaces
    the siblings it saw and keeps one written after that read."""
    a = write(EMPTY_CONTEXT, ("c1", 1), "a", stamp(1))
    b = write(EMPTY_CONTEXT, ("c2", 1), "b", stamp(2))
    both = a.join(b)
    assert both.values == ("a", "b")
    late = write(EMPTY_CONTEXT, ("c3", 1), "late", stamp(3))
    resolved = write(both.context, ("c1", 2), "c", stamp(4))
    assert both.join(late).join(resolved).values == ("c", "late")
    assert resolved.join(both).values == ("c",)  # the older siblings arriving later stay superseded


def test_a_newer_timestamp_does_not_supersede_a_concurrent_sibling() -> None:
    """Causality, not time: a write with a later stamp but an empty context leaves an older one standing."""
    old = write(EMPTY_CONTEXT, ("c1", 1), "old", stamp(1))
    new = write(EMPTY_CONTEXT, ("c2", 1), "new", stamp(999))
    assert old.join(new).values == ("new", "old")
    assert old.by_timestamp(new).values == ("new",)  # the seeded bug loses "old"


def test_delete_with_context_is_a_tombstone_that_keeps_its_context() -> None:
    """A delete leaves no value but remembers what it removed, so a late copy of it stays removed."""
    a = write(EMPTY_CONTEXT, ("c1", 1), "a", stamp(1))
    gone = a.join(write(a.context, ("c1", 2), None, stamp(2)))
    assert gone.values == () and ("c1", 1) in gone.context
    assert gone.join(a).values == ()


def test_context_compacts_gaps_and_round_trips() -> None:
    """Dots past a gap stay in the cloud until the gap fills; the printable encoding decodes to the same set."""
    ctx = EMPTY_CONTEXT.add([("a", 1), ("a", 3)])
    assert dict(ctx.vv) == {"a": 1} and ctx.cloud == frozenset({("a", 3)})
    filled = ctx.add([("a", 2)])
    assert dict(filled.vv) == {"a": 3} and not filled.cloud
    assert Context.decode(ctx.encode("k"), "k") == ctx
    assert ctx.encode("k").isascii() and ctx.encode("k").isprintable()


@pytest.mark.parametrize("bad", ["", "not base64!", "bnVsbA==", "eyJ2diI6e319"])
def test_a_context_no_read_returned_is_refused_by_name(bad: str) -> None:
    """Garbage, JSON of the wrong shape or missing fields: a StateError naming the causal context."""
    with pytest.raises(StateError, match="context"):
        Context.decode(bad, "k")


def test_counter_join_takes_maxima_and_the_seeded_bug_adds() -> None:
    """The same lane total delivered twice counts once; the adding merge counts it twice."""
    once = PNCounter({"c:0": 5}, {"c:0": 2})
    assert once.join(once).value == 3
    assert once.adding_join(once).value == 6


def test_or_set_add_wins_over_a_remove_that_did_not_observe_it() -> None:
    """A remove takes the adds it observed; a concurrent add of the same element survives."""
    first = add("x", ("a", 1), stamp(1))
    removed = remove(first, "x", stamp(2))
    concurrent = add("x", ("b", 1), stamp(3))
    assert first.join(removed).members == ()
    assert first.join(removed).join(concurrent).members == ("x",)
    assert concurrent.join(first).join(removed).members == ("x",)


def test_records_meet_by_join_with_stamps_that_name_the_state() -> None:
    """Equal states have equal record stamps whatever order made them; joining a record already
    included changes nothing; a register under crdt stays last-writer-wins."""
    conflict = Conflict(SIBLINGS)
    a = state_record("k", "s", write(EMPTY_CONTEXT, ("c1", 1), "a", stamp(1)))
    b = state_record("k", "s", write(EMPTY_CONTEXT, ("c2", 1), "b", stamp(2)))
    ab, ba = conflict.join(a, b), conflict.join(b, a)
    assert ab is not None and ba is not None and ab == ba
    assert conflict.join(ab, a) is None
    assert view(SIBLINGS, ab.value, "k").values == ("a", "b")
    crdt = Conflict(CRDT)
    r1, r2 = Record("k", "rold", stamp(1)), Record("k", "rnew", stamp(2))
    assert crdt.join(r1, r2) == r2 and crdt.join(r2, r1) is None


def test_a_wrong_operation_on_a_typed_key_is_refused() -> None:
    """Under crdt a key's first operation fixes its type: another type's operation raises ConflictError."""
    crdt = Conflict(CRDT)
    counter = crdt.delta("incr", "k", None, None, 3, 0, stamp(1, "cx"), None)
    assert decode(counter.value)[0] == "p"
    for op, arg in [("add", "e"), ("put", "v"), ("delete", None)]:
        with pytest.raises(ConflictError, match="counter"):
            crdt.delta(op, "k", arg, None, 1, 0, stamp(2, "cx"), counter)
    with pytest.raises(ConflictError, match="crdt"):
        Conflict(SIBLINGS).delta("incr", "k", None, None, 1, 0, stamp(1, "cx"), None)


def test_malformed_states_are_refused_by_name() -> None:
    """A stored or replicated value that is not a state of its mode raises StateError, never a bare exception."""
    conflict = Conflict(SIBLINGS)
    for value in ["s{", 's{"s":[],"ctx":{"vv":{},"c":[]}}', 's{"s":[["a",1,"v",[1,0,"c"]]],"ctx":{"vv":{},"c":[]},"t":[1,0,"c"]}', "rplain"]:
        with pytest.raises(StateError):
            conflict.join(None, Record("k", value, stamp(1)))


def test_join_order_of_many_replicas_does_not_matter() -> None:
    """Every order of joining five replicas' states gives the same record (what anti-entropy relies on)."""
    conflict = Conflict(SIBLINGS)
    records = [
        state_record("k", "s", write(EMPTY_CONTEXT, (f"c{i}", 1), f"v{i}", stamp(i))) for i in range(5)
    ]
    results = {conflict.combine(order) for order in itertools.permutations(records)}
    assert len(results) == 1


async def test_a_failed_writes_dot_is_never_reused_and_the_next_write_closes_its_gap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """After a definite fail the client numbers its next write past the failed dot and carries that
    dot in the write's context, so the replicas' version vector has no gap; a lane's failed amount is taken back."""
    from minikeydb.client import Client, Result
    from minikeydb.wire import Codec, Update

    from .cluster_fixture import make_config

    sent: list[Update] = []
    outcomes = iter(["fail", "ok", "fail", "ok"])

    async def fake_call(message: Update, node: str) -> Result:
        sent.append(message)
        return Result(next(outcomes), node=node)

    for mode in (SIBLINGS, CRDT):
        sent.clear()
        outcomes = iter(["fail", "ok", "fail", "ok"])
        client = Client(make_config(tmp_path, conflict=mode), transport=None, codec=Codec(b"x" * 32))  # type: ignore[arg-type]
        client._call = fake_call  # type: ignore[method-assign, assignment]
        if mode == SIBLINGS:
            await client.put("k", "a", node="n1")
            await client.put("k", "b", node="n1")
        else:
            await client.add("k", "a", node="n1")
            await client.add("k", "b", node="n1")
        first, second = sent
        assert (first.n, second.n) == (1, 2) and first.context is None
        assert second.context is not None and (first.stamp[2], 1) in Context.decode(second.context, "k")
        if mode == CRDT:
            await client.incr("c", 5, node="n1")  # fails: taken back
            await client.incr("c", 2, node="n1")
            assert [m.n for m in sent[2:]] == [5, 2]
