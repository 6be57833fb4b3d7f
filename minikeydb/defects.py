"""Seeded defects: the one place a ``--bug`` name turns into behaviour.

A node never knows it is tested; the one exception is the defect it is built with, a frozen value
saying which merge rule its storage uses, how lazily it flushes, which repair mechanisms run,
when it acknowledges, and whether deletes leave tombstones. ``Defect()`` is the correct store;
``Defect.named(name)`` is one of ``BUGS``, switched on only by the harness's (or ``serve``'s)
``--bug`` to prove the checker catches it. No other module compares a bug name.
"""

from __future__ import annotations

import attrs

from .record import MergePolicy, first_writer_wins, last_writer_wins

FLUSH_INTERVAL = 1.0
"""Seconds between storage's background flushes (group commits also happen on demand)."""

LAZY_FLUSH_INTERVAL = 2.3
"""Seconds between storage flushes under ack-before-durable: long, so the window the bug opens is
wide. Not 2: a fault window starts ``interval`` after the (re)start that also starts the flush
timer, so with a fault interval that is a multiple of the flush interval (explore's 2 s) every
crash in virtual time lands on the instant of a flush and loses nothing."""


@attrs.frozen
class Features:
    """The three repair mechanisms, each switchable so a test can show what one alone achieves."""

    read_repair: bool = True
    hinted_handoff: bool = True
    anti_entropy: bool = True


@attrs.frozen
class Defect:
    """How a node (and its storage) deviates from the correct store; the defaults deviate in nothing."""

    name: str | None = None
    """The ``--bug`` name, or None for the correct store."""
    merge: MergePolicy = last_writer_wins
    """Storage's merge rule."""
    flush_interval: float = FLUSH_INTERVAL
    """Seconds between storage's background flushes."""
    features: Features = Features()
    """Which repair mechanisms run."""
    ack_before_durable: bool = False
    """Acknowledge writes (to clients and to replicating peers) before they are durable or replicated."""
    tombstones: bool = True
    """Deletes write tombstones (False: they remove the key, so an old copy elsewhere comes back)."""
    siblings_by_timestamp: bool = False
    """Under conflict mode siblings, states meet keeping only the newest sibling (by stamp), not by causality."""
    counter_merge_adds: bool = False
    """Under conflict mode crdt, counter states meet by adding their entries instead of the join."""

    @classmethod
    def named(cls, name: str | None) -> Defect:
        """The defect ``--bug name`` switches on (None: no defect); an unknown name is a ``ValueError``."""
        if name is None:
            return NO_DEFECT
        try:
            return _SEEDED[name][1]
        except KeyError:
            raise ValueError(f"unknown bug {name!r}; known: {', '.join(BUGS)}") from None


NO_DEFECT = Defect()

_SEEDED: dict[str, tuple[str, Defect]] = {
    "no-tombstones": (
        "deletes remove the key instead of writing a tombstone, so an old copy elsewhere comes back",
        Defect("no-tombstones", tombstones=False),
    ),
    "no-repair": (
        "read repair, hinted handoff and anti-entropy are off: a replica that missed a write stays behind",
        Defect("no-repair", features=Features(read_repair=False, hinted_handoff=False, anti_entropy=False)),
    ),
    "ack-before-durable": (
        "writes are acknowledged before they are durable or replicated; a crash loses them",
        Defect("ack-before-durable", flush_interval=LAZY_FLUSH_INTERVAL, ack_before_durable=True),
    ),
    "first-writer-wins": (
        "every merge keeps the older version, so later acknowledged writes are lost",
        Defect("first-writer-wins", merge=first_writer_wins),
    ),
    "siblings-by-timestamp": (
        "under conflict mode siblings, states merge by timestamp (only the newest sibling survives) "
        "instead of by causal context, losing concurrent acknowledged writes",
        Defect("siblings-by-timestamp", siblings_by_timestamp=True),
    ),
    "counter-merge-adds": (
        "under conflict mode crdt, counter states merge by adding instead of the join (entry-wise "
        "maximum), so a state delivered, repaired or handed off twice counts twice",
        Defect("counter-merge-adds", counter_merge_adds=True),
    ),
}

BUGS: dict[str, str] = {name: text for name, (text, _) in _SEEDED.items()}
"""Seeded defects for validating the checker, by ``--bug`` name: what each does. Each is off unless asked for."""
