"""Siblings with dotted version vectors: a multi-value register and its causal context.

Every write is an *event* named by a dot ``(actor, n)``. A state keeps the live siblings (dot ->
value and stamp) and a *causal context*: every dot the state has seen, written compactly as a
version vector (actor -> n, meaning dots 1..n of that actor) plus the dots seen past that
contiguous prefix (the "dot cloud"). This is the dotted version vector of Preguica, Baquero et al.
("Dotted Version Vectors: Logical Clocks for Optimistic Replication", 2010, and the causal contexts
of Almeida, Shoker and Baquero's delta-state CRDTs), which Riak 2.0 uses for siblings.

Join (``Siblings.join``): a sibling survives when both sides have it, or when the other side has
never seen its dot; contexts unite. So a write supersedes exactly the siblings whose dots its
context saw, concurrent writes (neither saw the other) stay side by side, and the join is
commutative, associative and idempotent: replicas can exchange states in any order, any number
of times.

Actors are the writing clients, not the nodes: MinikeyDB's versions are made by clients (see
``client``: a replayed request is the same version again), and any node may coordinate a write,
replica or not. A client numbers its writes per key (1, 2, 3, ...), so a key's dots from one
client are contiguous and the context stays a version vector; a number whose write definitely
failed is used again, and one whose outcome is unknown stays in the cloud until it arrives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import orjson

from .record import Stamp

Dot = tuple[str, int]
"""(actor, n): one event, n >= 1."""

MAX_DOT = 2**62


class StateError(ValueError):
    """A state or context that does not decode: names what is wrong."""


class StateTooLarge(StateError):
    """A joined state over the limit a record value may take on the wire (``wire.MAX_STATE_BYTES``):
    it could not be stored, replicated or read. Its message begins with "too-large"."""


def _check_dot(item: Any) -> Dot:
    if type(item) is not list or len(item) != 2 or type(item[0]) is not str or type(item[1]) is not int:
        raise StateError(f"a dot is [actor, n], got {item!r}")
    if not item[0] or not 0 < item[1] < MAX_DOT:
        raise StateError(f"dot {item!r}: actor empty or n outside 1..{MAX_DOT - 1}")
    return (item[0], item[1])


def check_stamp_json(item: Any) -> Stamp:
    if (
        type(item) is not list
        or len(item) != 3
        or type(item[0]) is not int
        or type(item[1]) is not int
        or type(item[2]) is not str
        or item[0] < 0
        or item[1] < 0
    ):
        raise StateError(f"a stamp is [physical_us, logical, writer], got {item!r}")
    return (item[0], item[1], item[2])


@attrs.frozen
class Context:
    """A set of dots: a version vector (contiguous prefixes) plus the dots past them."""

    vv: Mapping[str, int] = attrs.field(factory=dict)
    cloud: frozenset[Dot] = frozenset()

    def __contains__(self, dot: Dot) -> bool:
        return dot[1] <= self.vv.get(dot[0], 0) or dot in self.cloud

    def union(self, other: Context) -> Context:
        """Every dot of both. Linear in the smaller side's dots plus this side's cloud, with no
        sort of the whole cloud: only the dots of actors whose prefix may move are compacted again
        (a delta's union into a large state is most of what a replica does per write)."""
        mine = self.vv
        advanced = {actor: n for actor, n in other.vv.items() if n > mine.get(actor, 0)}
        new = other.cloud - self.cloud if other.cloud else other.cloud
        if not advanced and not new:
            return self
        vv = dict(mine)
        vv.update(advanced)
        actors = set(advanced)
        actors.update(actor for actor, _ in new)
        # A cloud dot of another actor stays as it is: its prefix did not move (the cloud is compact).
        kept = [dot for dot in self.cloud if dot[0] not in actors]
        moved = [dot for dot in self.cloud if dot[0] in actors] if len(kept) < len(self.cloud) else []
        folded = _compact(vv, new.union(moved))
        return Context(folded.vv, folded.cloud.union(kept))

    def add(self, dots: Iterable[Dot]) -> Context:
        return _compact(dict(self.vv), self.cloud | frozenset(dots))

    def to_json(self) -> dict[str, Any]:
        return {"vv": dict(sorted(self.vv.items())), "c": [[a, n] for a, n in sorted(self.cloud)]}

    @classmethod
    def from_json(cls, data: Any) -> Context:
        if type(data) is not dict or set(data) != {"vv", "c"}:
            raise StateError("a causal context is {vv: {actor: n}, c: [dots]}")
        vv = data["vv"]
        if type(vv) is not dict or not all(a and type(n) is int and 0 < n < MAX_DOT for a, n in vv.items()):
            raise StateError("a version vector maps actors (not empty) to counts in 1..2^62")
        if type(data["c"]) is not list:
            raise StateError("a dot cloud is a list of dots")
        return _compact(dict(vv), frozenset(_check_dot(d) for d in data["c"]))

    def encode(self, key: str) -> str:
        """The opaque, printable context a client gets with a read of ``key`` and gives back with a
        write of it: the dots, and a hash of the key they belong to (``decode`` checks it)."""
        data = {"k": key_tag(key), "ctx": self.to_json()}
        return base64.urlsafe_b64encode(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).decode("ascii")

    @classmethod
    def decode(cls, text: str, key: str) -> Context:
        """The context in ``text`` for ``key``; ``StateError`` for anything a read of ``key`` did not return
        (a context of another key would supersede or hide writes it never saw)."""
        try:
            raw = base64.urlsafe_b64decode(text.encode("ascii"))
            data = orjson.loads(raw)
        except (UnicodeEncodeError, binascii.Error, ValueError) as e:
            raise StateError(f"the causal context is not one a read returned ({e})") from None
        if type(data) is not dict or set(data) != {"k", "ctx"}:
            raise StateError("the causal context is not one a read returned (no key in it)")
        if data["k"] != key_tag(key):
            raise StateError(f"the causal context is of another key, not {key!r}: give the context a read of this key returned")
        return cls.from_json(data["ctx"])


def key_tag(key: str) -> str:
    """16 hex digits naming ``key`` inside a context (binds it to its key; no secret)."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, person=b"mk-context").hexdigest()


EMPTY_CONTEXT = Context()


def _compact(vv: dict[str, int], cloud: frozenset[Dot]) -> Context:
    """Fold cloud dots that extend a prefix into the version vector; drop those it covers."""
    if not cloud:
        return Context(vv, cloud)
    rest = set()
    for actor, n in sorted(cloud):
        have = vv.get(actor, 0)
        if n == have + 1:
            vv[actor] = n
        elif n > have:
            rest.add((actor, n))
    # A dot left in the cloud may now extend the prefix (it came after a gap that closed).
    changed = True
    while changed and rest:
        changed = False
        for actor, n in sorted(rest):
            if n <= vv.get(actor, 0):
                rest.discard((actor, n))
                changed = True
            elif n == vv.get(actor, 0) + 1:
                vv[actor] = n
                rest.discard((actor, n))
                changed = True
    return Context(vv, frozenset(rest))


@attrs.frozen
class Siblings:
    """A multi-value register: live siblings by dot, and every dot seen. Invariant: live dots are in ``context``."""

    entries: Mapping[Dot, tuple[str, Stamp]] = attrs.field(factory=dict)
    context: Context = EMPTY_CONTEXT
    latest: Stamp = (0, 0, "-")
    """The largest stamp of any event in this state (what a record's stamp is made from)."""

    def join(self, other: Siblings) -> Siblings:
        """The least upper bound: keep what both keep, and what the other side never saw."""
        mine, theirs = self.entries, other.entries
        entries = {d: v for d, v in mine.items() if d in theirs or d not in other.context}
        entries.update((d, v) for d, v in theirs.items() if d not in self.context)
        return Siblings(entries, self.context.union(other.context), max(self.latest, other.latest))

    def by_timestamp(self, other: Siblings) -> Siblings:
        """The seeded bug ``siblings-by-timestamp``: only the newest sibling of both survives."""
        joined = self.join(other)
        if not joined.entries:
            return joined
        newest = max(joined.entries.items(), key=lambda item: item[1][1])
        return Siblings(dict([newest]), joined.context, joined.latest)

    @property
    def values(self) -> tuple[str, ...]:
        """The live values, sorted (two siblings may hold equal values: both are listed)."""
        return tuple(sorted(value for value, _ in self.entries.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "s": [[a, n, v, list(s)] for (a, n), (v, s) in sorted(self.entries.items())],
            "ctx": self.context.to_json(),
            "t": list(self.latest),
        }

    @classmethod
    def from_json(cls, data: Any) -> Siblings:
        if type(data) is not dict or set(data) != {"s", "ctx", "t"} or type(data["s"]) is not list:
            raise StateError("a siblings state is {s: [[actor, n, value, stamp]], ctx, t}")
        context = Context.from_json(data["ctx"])
        entries: dict[Dot, tuple[str, Stamp]] = {}
        for item in data["s"]:
            if type(item) is not list or len(item) != 4 or type(item[2]) is not str:
                raise StateError(f"a sibling is [actor, n, value, stamp], got {item!r}")
            dot = _check_dot(item[:2])
            if dot not in context:
                raise StateError(f"sibling {dot!r} is not in its state's causal context")
            entries[dot] = (item[2], check_stamp_json(item[3]))
        return cls(entries, context, check_stamp_json(data["t"]))


def write(context: Context, dot: Dot, value: str | None, stamp: Stamp) -> Siblings:
    """The state a client's write makes (a delta, joined into every replica's state): ``value``
    under ``dot`` (None: a delete, no sibling) superseding every dot ``context`` saw."""
    entries = {} if value is None else {dot: (value, stamp)}
    return Siblings(entries, context.add([dot]), stamp)
