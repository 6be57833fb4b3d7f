"""Conflict modes: how a key's versions meet. ``lww`` (the default), ``siblings`` and ``crdt``.

Under ``lww`` a record's value is the client's value and the larger stamp wins (``record``).
Under the other two a record's value is a *state* (``dvv.Siblings``, ``crdt.PNCounter``,
``crdt.ORSet``, or under ``crdt`` a register's plain value) encoded as a one-letter kind and JSON,
and records meet by the state's join (``Conflict.join``) wherever they meet: a coordinator's own
copy, replication, read repair, hinted handoff, anti-entropy. A joined state's record gets a stamp
of its own, ``(latest event's physical us, logical, "~" + 16 hex of the state's hash)``, so equal
states have equal stamps (duplicates are recognised, anti-entropy digests cover whole sibling
sets) and different states different ones. A client write is a *delta*: the state of that one
write, made by the coordinator from the request (``Conflict.delta``) and joined everywhere.

Under ``crdt`` a key's type is fixed by its first operation (register: put/delete; counter:
incr/decr; set: add/remove); another operation on it is a definite ``fail`` naming both. Where
two first operations of different types race, the join keeps the state of the higher type
(counter > set > register), the same everywhere.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable

import attrs
import orjson

from .crdt import ORSet, PNCounter
from .crdt import add as set_add
from .dvv import EMPTY_CONTEXT, Context, Siblings, StateError, StateTooLarge
from .dvv import write as siblings_write
from .record import Record, Stamp
from .wire import MAX_STATE_BYTES, encoded_size, fits

log = logging.getLogger("minikeydb.conflict")

LWW, SIBLINGS, CRDT = "lww", "siblings", "crdt"
MODES = (LWW, SIBLINGS, CRDT)

SIB, REGISTER, COUNTER, SET = "s", "r", "p", "o"
"""A state's kind, the first character of its encoded value."""
TYPE_NAMES = {SIB: "siblings", REGISTER: "register", COUNTER: "counter", SET: "set"}
_RANK = {REGISTER: 0, SET: 1, COUNTER: 2}

OPS = ("put", "delete", "incr", "decr", "add", "remove")
_OP_TYPE = {"put": REGISTER, "delete": REGISTER, "incr": COUNTER, "decr": COUNTER, "add": SET, "remove": SET}

State = Siblings | PNCounter | ORSet


class ConflictError(ValueError):
    """An operation this mode or this key's type does not allow: a definite fail, with this message."""


def encode(kind: str, state: State) -> str:
    return kind + orjson.dumps(state.to_json(), option=orjson.OPT_SORT_KEYS).decode("utf-8")


def state_record(key: str, kind: str, state: State) -> Record:
    """The record holding ``state``: its stamp is the latest event's time and the state's hash."""
    text = encode(kind, state)
    if not fits(text, MAX_STATE_BYTES):  # the very check the decoder makes: what is made here can travel
        raise StateTooLarge(
            f"too-large: key {key!r}: its {TYPE_NAMES[kind]} state would take {encoded_size(text)} bytes encoded; "
            f"a state is at most {MAX_STATE_BYTES} bytes"
        )
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return Record(key, text, (state.latest[0], state.latest[1], "~" + digest))


def decode(value: str | None) -> tuple[str, State | str | None]:
    """(kind, state) of a stored value; a register's state is its plain value (None: deleted)."""
    if value is None:
        return REGISTER, None
    kind = value[:1]
    if kind == REGISTER:
        return REGISTER, value[1:]
    try:
        data = orjson.loads(value[1:])
    except orjson.JSONDecodeError as e:
        raise StateError(f"a {TYPE_NAMES.get(kind, kind)!s} state that is not JSON ({e})") from None
    if kind == SIB:
        return SIB, Siblings.from_json(data)
    if kind == COUNTER:
        return COUNTER, PNCounter.from_json(data)
    if kind == SET:
        return SET, ORSet.from_json(data)
    raise StateError(f"unknown state kind {kind!r}")


def value_fits(mode: str, value: str | None) -> bool:
    """Whether ``value`` is one a node under ``mode`` stores (every value fits ``lww``; a tombstone fits all)."""
    if mode == LWW or value is None:
        return True
    kind = value[:1]
    if (kind == SIB) != (mode == SIBLINGS) or kind not in TYPE_NAMES:
        return False
    try:
        decode(value)
    except (StateError, ValueError):
        return False
    return True


def written_mode(values: Iterable[str | None], mode: str) -> str:
    """The conflict mode that wrote a store holding ``values``, judged against ``mode`` (the one it is
    opened under): ``mode`` while every value fits it, else the mode they all fit (``lww`` at worst).
    Under ``lww`` every value fits, so a store is judged siblings or crdt when all its values are
    states of that mode (a crdt store of registers alone, ``r`` + text, cannot be told from lww)."""
    present = [v for v in values if v is not None]
    candidates = [m for m in (SIBLINGS, CRDT) if m != mode]
    if mode != LWW and all(value_fits(mode, v) for v in present):
        return mode
    for other in candidates:
        if present and all(value_fits(other, v) for v in present) and (
            other == SIBLINGS or any(v[:1] in (COUNTER, SET) for v in present)
        ):
            return other
    return LWW


@attrs.frozen
class View:
    """What a read shows of a stored value, per mode and type (the client decodes the same way)."""

    value: str | None = None
    values: tuple[str, ...] | None = None
    context: str | None = None
    count: int | None = None
    elements: tuple[str, ...] | None = None


def view(mode: str, value: str | None, key: str) -> View:
    """A read's result fields for ``key``'s stored value (None: absent) under ``mode``."""
    if mode == LWW:
        return View(value=value)
    if value is None:
        return View(values=()) if mode == SIBLINGS else View()
    kind, state = decode(value)
    if isinstance(state, Siblings):
        return View(values=state.values, context=state.context.encode(key))
    if isinstance(state, PNCounter):
        return View(count=state.value)
    if isinstance(state, ORSet):
        return View(elements=state.members)
    return View(value=state)


def kind_of(record: Record) -> str:
    """A stored record's kind (``SIB``, ``REGISTER``, ``COUNTER``, ``SET``); a tombstone is a register's."""
    return REGISTER if record.value is None else record.value[:1]


def trim_siblings(key: str, state: Siblings) -> Record:
    """The record of ``state`` less its oldest siblings (by stamp, then dot), as few as make it fit;
    their dots stay in the causal context, so the trim is the same wherever it happens. Raises
    ``StateTooLarge`` when even no sibling would fit (the context alone is too large)."""
    entries = dict(state.entries)
    for dot, _ in sorted(state.entries.items(), key=lambda item: (item[1][1], item[0])):
        del entries[dot]
        try:
            record = state_record(key, SIB, Siblings(entries, state.context, state.latest))
        except StateTooLarge:
            continue
        log.warning("key %r: concurrent siblings over the state limit; the oldest %d dropped",
                    key, len(state.entries) - len(entries))
        return record
    raise StateTooLarge(f"too-large: key {key!r}: its causal context alone is over {MAX_STATE_BYTES} bytes")


def trim_set(key: str, state: ORSet) -> Record:
    """The record of ``state`` less as few elements as make it fit, largest first (then by element);
    their dots stay in the causal context, so the trim is a remove every replica makes alike and
    they converge (as ``trim_siblings``). Raises ``StateTooLarge`` when even the empty set would not
    fit (the context alone is too large)."""
    elements = dict(state.elements)
    order = sorted(state.elements, key=lambda element: (-len(element), element))
    dropped = 0
    for element in order:
        del elements[element]
        dropped += 1
        try:
            record = state_record(key, SET, ORSet(elements, state.context, state.latest))
        except StateTooLarge:
            continue
        log.warning("key %r: a set's join over the state limit; %d elements removed (the largest)", key, dropped)
        return record
    raise StateTooLarge(f"too-large: key {key!r}'s causal context alone is over {MAX_STATE_BYTES} bytes")


DECODED_KEYS = 1024
"""Keys whose last joined state ``Conflict`` keeps decoded at most (past it, forgotten all at once)."""

JoinRule = Callable[[Record | None, Record], Record | None]
"""Given the stored record (or None) and an incoming one: the record to store, or None (no change)."""


@attrs.frozen
class Conflict:
    """One non-lww mode, with the defects that change its joins."""

    mode: str
    siblings_by_timestamp: bool = False
    counter_merge_adds: bool = False
    _decoded: dict[str, tuple[str, State]] = attrs.field(factory=dict, eq=False, repr=False, alias="_decoded")
    """Per key: the last state this join made, with its encoded value. The next join of the key
    (the next delta into a stored state) starts from it instead of decoding the stored value
    again: decoding was 40 % of a large set's join, once per replica per write."""
    _last_join: dict[str, tuple[Stamp, str | None, Stamp, str | None, Record | None]] = attrs.field(
        factory=dict, eq=False, repr=False, alias="_last_join"
    )
    """Per key: the last join's two records (stamps and values) and its result (see ``join``)."""

    def _checked(self, record: Record) -> tuple[str, State | str | None]:
        """``record``'s kind and decoded state; ``StateError`` for one this mode does not store."""
        kind, state = decode(record.value)
        if self.mode == SIBLINGS and kind != SIB:
            raise StateError(f"{record.key!r}: a {TYPE_NAMES[kind]} record under conflict mode siblings")
        if self.mode == CRDT and kind == SIB:
            raise StateError(f"{record.key!r}: a siblings record under conflict mode crdt")
        return kind, state

    @staticmethod
    def _canonical(record: Record, kind: str, state: State | str | None) -> Record:
        """The record as this node would make it from its state (its own encoding and stamp): made
        only when the incoming record is stored as it is, not when it is joined (the join's record
        is made anyway, and encoding a large state twice was a quarter of a join's cost)."""
        if kind == REGISTER:
            return record
        assert not isinstance(state, str | None)
        return state_record(record.key, kind, state)

    def join(self, current: Record | None, incoming: Record, *, trim: bool = True) -> Record | None:
        """The storage's merge under this mode (``JoinRule``).

        Siblings (or set elements) added concurrently on both sides of a partition may join into a
        state over the limit (``StateTooLarge``). With ``trim`` (replicas, hints, reads) the oldest
        siblings (the largest elements) are dropped until it fits (``trim_siblings``, ``trim_set``:
        their dots stay in the context, so every replica drops them alike and they converge); without it (the coordinator's check of a client's
        write) the error is raised, and the write is refused instead of acknowledged.

        Two shortcuts, both pure (the same records in, the same record out): a record met again
        as it is stored changes nothing (a read's equal answers), and the last join of each key is
        remembered, so the coordinator's check of a client's write and its own copy's join of the
        same delta, which follows, make the joined state once."""
        if current is not None and current.stamp == incoming.stamp and current.value == incoming.value:
            if not (self.counter_merge_adds or self.siblings_by_timestamp):  # seeded defects: a state met
                return None  # again is counted twice, or loses siblings, as they always did
        last = self._last_join.get(incoming.key)
        if (
            last is not None and current is not None and last[0] == current.stamp and last[2] == incoming.stamp
            and last[1] == current.value and last[3] == incoming.value
        ):
            return last[4]
        out, trimmed = self._join(current, incoming, trim)
        if current is not None and not trimmed:  # a trimmed join must still raise without ``trim``
            if len(self._last_join) >= DECODED_KEYS:
                self._last_join.clear()
            self._last_join[incoming.key] = (current.stamp, current.value, incoming.stamp, incoming.value, out)
        return out

    def _join(self, current: Record | None, incoming: Record, trim: bool) -> tuple[Record | None, bool]:
        """``join`` itself: the record to store (or None), and whether it was trimmed to fit."""
        kind_b, b = self._checked(incoming)
        if current is None:
            return self._canonical(incoming, kind_b, b), False
        known = self._decoded.get(incoming.key)
        a: State | str | None
        if known is not None and known[0] == current.value:  # equal strings: mostly the same object
            kind_a, a = current.value[:1], known[1]
        else:
            kind_a, a = decode(current.value)
        if kind_a != kind_b:
            return (self._canonical(incoming, kind_b, b) if _RANK[kind_b] > _RANK[kind_a] else None), False
        if kind_a == REGISTER:
            return (incoming if incoming.stamp > current.stamp else None), False
        if isinstance(a, Siblings) and isinstance(b, Siblings):
            joined: State = a.by_timestamp(b) if self.siblings_by_timestamp else a.join(b)
        elif isinstance(a, PNCounter) and isinstance(b, PNCounter):
            joined = a.adding_join(b) if self.counter_merge_adds else a.join(b)
        elif isinstance(a, ORSet) and isinstance(b, ORSet):
            joined = a.join(b)
        else:  # pragma: no cover - kinds matched above
            raise StateError(f"{incoming.key!r}: states of different types")
        try:
            record = state_record(incoming.key, kind_a, joined)
        except StateTooLarge:
            if not trim or isinstance(joined, PNCounter):
                raise
            record = trim_siblings(incoming.key, joined) if isinstance(joined, Siblings) else trim_set(incoming.key, joined)
            return (None if record.stamp == current.stamp else record), True
        else:
            if len(self._decoded) >= DECODED_KEYS:
                self._decoded.clear()
            assert record.value is not None
            self._decoded[incoming.key] = (record.value, joined)
        return (None if record.stamp == current.stamp else record), False

    def combine(self, records: Iterable[Record | None]) -> Record | None:
        """The join of several replicas' answers (a read's result, and what read repair sends)."""
        out: Record | None = None
        for record in records:
            if record is None:
                continue
            merged = self.join(out, record)
            if merged is not None:
                out = merged
        return out

    def delta(
        self, op: str, key: str, arg: str | None, context: str | None, n: int, lane: int, stamp: Stamp,
        local: Record | None, known: str | None = None,
    ) -> Record:
        """The record a client's operation writes, checked against the key's type as ``local`` (this
        node's copy, or the replicas' join) shows it, else as ``known`` (a kind learned before)."""
        actor = stamp[2]
        if self.mode == SIBLINGS:
            if op not in ("put", "delete"):
                raise ConflictError(f"{op} needs conflict mode crdt; this cluster's is siblings")
            if n < 1:
                raise ConflictError("a siblings write needs its dot number (n >= 1)")
            ctx = EMPTY_CONTEXT if context is None else Context.decode(context, key)
            return state_record(key, SIB, siblings_write(ctx, (actor, n), arg if op == "put" else None, stamp))
        if context is not None and op not in ("add", "remove"):
            raise ConflictError("a causal context is for conflict mode siblings; this cluster's is crdt")
        kind = _OP_TYPE[op]
        have = kind_of(local) if local is not None else known
        if have is not None:
            if have != kind:
                raise ConflictError(f"key {key!r} is a {TYPE_NAMES[have]}; {op} is an operation on a {TYPE_NAMES[kind]}")
        if op == "put":
            return Record(key, REGISTER + (arg or ""), stamp)
        if op == "delete":
            return Record(key, None, stamp)
        if op in ("incr", "decr"):
            totals = {f"{actor}:{lane}": n}
            state: State = PNCounter(p=totals, latest=stamp) if op == "incr" else PNCounter(n=totals, latest=stamp)
            return state_record(key, COUNTER, state)
        if arg is None:
            raise ConflictError(f"{op} needs an element")
        if op == "add":
            if n < 1:
                raise ConflictError("an add needs its dot number (n >= 1)")
            # An add's context holds only this client's retired dots (of adds that failed).
            retired = EMPTY_CONTEXT if context is None else Context.decode(context, key)
            added = set_add(arg, (actor, n), stamp)
            return state_record(key, SET, ORSet(added.elements, added.context.union(retired), stamp))
        # A remove carries the dots of the adds its client's read observed: what it removes is
        # fixed when it is made, so a replay (to any node, at any time) removes nothing added since.
        if context is None:
            raise ConflictError("a remove needs the dots a read observed (a client from before removes read first)")
        return state_record(key, SET, ORSet({}, Context.decode(context, key), stamp))
