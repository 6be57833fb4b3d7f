"""The CRDT types of ``conflict = "crdt"``: a PN-counter and an observed-remove set, with their joins.

PN-counter (Shapiro et al., "A comprehensive study of Convergent and Commutative Replicated Data
Types", 2011): two maps actor -> total, one for increments and one for decrements; the value is
their difference and the join takes each entry's maximum, so a state delivered twice, repaired
or handed off counts once. An actor here is a client *lane* (``client id:lane``): a client runs
at most one operation per lane at a time and sends the lane's new total, so a definitely failed
operation can be taken back (the lane's total returns to what it was) and a resend or replay is
the same total again.

Observed-remove set (add-wins, the optimized OR-set of Bieniusa et al. 2012 with a causal context
from ``dvv``): each element maps to the dots of the adds that put it there; a remove carries the
dots it observed into the context, which removes them wherever the state meets, while an add no
remove observed survives. The dots are the ones the remove's client read (``client.remove`` reads
first), carried in the request: a replayed remove removes the same dots and nothing added since.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .dvv import EMPTY_CONTEXT, MAX_DOT, Context, Dot, StateError, _check_dot, check_stamp_json
from .record import Stamp


def _totals(data: Any, what: str) -> dict[str, int]:
    if type(data) is not dict or not all(type(n) is int and 0 <= n < MAX_DOT for n in data.values()):
        raise StateError(f"a counter's {what} map actors to totals in 0..2^62")
    return dict(data)


def _max_join(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for actor, n in b.items():
        if n > out.get(actor, 0):
            out[actor] = n
    return out


def _sum_join(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for actor, n in b.items():
        out[actor] = out.get(actor, 0) + n
    return out


def _nonzero(totals: Mapping[str, int]) -> dict[str, int]:
    """A total of 0 is the same as no entry: dropped, so equal counters encode (and hash) alike."""
    return {actor: n for actor, n in totals.items() if n}


@attrs.frozen
class PNCounter:
    """Increment and decrement totals per actor (no zero entries)."""

    p: Mapping[str, int] = attrs.field(factory=dict, converter=_nonzero)
    n: Mapping[str, int] = attrs.field(factory=dict, converter=_nonzero)
    latest: Stamp = (0, 0, "-")

    @property
    def value(self) -> int:
        return sum(self.p.values()) - sum(self.n.values())

    def join(self, other: PNCounter) -> PNCounter:
        """Entry-wise maximum: commutative, associative, idempotent."""
        return PNCounter(_max_join(self.p, other.p), _max_join(self.n, other.n), max(self.latest, other.latest))

    def adding_join(self, other: PNCounter) -> PNCounter:
        """The seeded bug ``counter-merge-adds``: entries are added, so a state seen twice counts twice."""
        return PNCounter(_sum_join(self.p, other.p), _sum_join(self.n, other.n), max(self.latest, other.latest))

    def to_json(self) -> dict[str, Any]:
        return {"p": dict(sorted(self.p.items())), "n": dict(sorted(self.n.items())), "t": list(self.latest)}

    @classmethod
    def from_json(cls, data: Any) -> PNCounter:
        if type(data) is not dict or set(data) != {"p", "n", "t"}:
            raise StateError("a counter state is {p: {actor: total}, n: {actor: total}, t}")
        return cls(_totals(data["p"], "increments"), _totals(data["n"], "decrements"), check_stamp_json(data["t"]))


@attrs.frozen
class ORSet:
    """Elements with the dots of the adds that put them there, and every dot seen."""

    elements: Mapping[str, frozenset[Dot]] = attrs.field(factory=dict)
    context: Context = EMPTY_CONTEXT
    latest: Stamp = (0, 0, "-")

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(sorted(e for e, dots in self.elements.items() if dots))

    def join(self, other: ORSet) -> ORSet:
        """Per element: dots both hold, plus dots the other side never saw; contexts unite."""
        out: dict[str, frozenset[Dot]] = {}
        ours, others = self.elements, other.elements
        for element, mine in ours.items():
            theirs = others.get(element)
            if theirs is None:  # only here: the dots the other side never saw (all, mostly)
                dots = _unseen(mine, other.context)
            else:
                dots = (mine & theirs) | _unseen(mine, other.context) | _unseen(theirs, self.context)
            if dots:
                out[element] = dots
        for element, theirs in others.items():
            if element not in ours:
                dots = _unseen(theirs, self.context)
                if dots:
                    out[element] = dots
        return ORSet(out, self.context.union(other.context), max(self.latest, other.latest))

    def to_json(self) -> dict[str, Any]:
        return {
            "e": {e: [[a, n] for a, n in sorted(dots)] for e, dots in sorted(self.elements.items())},
            "ctx": self.context.to_json(),
            "t": list(self.latest),
        }

    @classmethod
    def from_json(cls, data: Any) -> ORSet:
        if type(data) is not dict or set(data) != {"e", "ctx", "t"} or type(data["e"]) is not dict:
            raise StateError("a set state is {e: {element: [dots]}, ctx, t}")
        context = Context.from_json(data["ctx"])
        elements: dict[str, frozenset[Dot]] = {}
        for element, dots in data["e"].items():
            if type(dots) is not list or not dots:
                raise StateError(f"element {element!r}: expected a non-empty list of dots")
            checked = frozenset(_check_dot(d) for d in dots)
            if any(d not in context for d in checked):
                raise StateError(f"element {element!r}: a dot outside the state's causal context")
            elements[element] = checked
        return cls(elements, context, check_stamp_json(data["t"]))


def _unseen(dots: frozenset[Dot], context: Context) -> frozenset[Dot]:
    """The dots of ``dots`` that ``context`` does not hold (``dots`` itself, not a copy, when none)."""
    vv, cloud = context.vv, context.cloud
    seen = [d for d in dots if d[1] <= vv.get(d[0], 0) or d in cloud]  # Context.__contains__, inline
    return dots.difference(seen) if seen else dots


def add(element: str, dot: Dot, stamp: Stamp) -> ORSet:
    """The delta of adding ``element`` as event ``dot``."""
    return ORSet({element: frozenset([dot])}, EMPTY_CONTEXT.add([dot]), stamp)


def remove(observed: ORSet | None, element: str, stamp: Stamp) -> ORSet:
    """The delta of removing ``element`` as ``observed`` (a read's state) shows it: the dots of the
    adds it saw, and only those (an add made later survives, however late the remove arrives)."""
    return ORSet({}, EMPTY_CONTEXT.add(observed_dots(observed, element)), stamp)


def observed_dots(observed: ORSet | None, element: str) -> frozenset[Dot]:
    """The dots of the adds of ``element`` that ``observed`` holds (none when it is not a set)."""
    return frozenset() if observed is None else observed.elements.get(element, frozenset())
