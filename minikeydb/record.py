"""The versioned record every replica stores, and the merge rule that decides between two versions.

A record is a key, a value (``None`` for a tombstone: deletes are writes), and a stamp. The stamp
is a hybrid logical clock reading plus the writer's id, ``(physical_us, logical, writer)``: the
writing client's id (``c`` + 16 hex digits; clients stamp their own writes, see ``client``), or a
node id in records written before wire version 3. Python compares tuples lexicographically, so
last-writer-wins is just "the larger stamp wins", and ties between distinct writes are impossible
(two writes with equal time and counter come from different writers), while a replayed request
carries the very same stamp, which is no new version at all. Merging is therefore commutative, associative and idempotent, which is what
lets replicas apply updates in any order, any number of times, and still agree.

Microseconds, not milliseconds: a write invoked after another was acknowledged must get a larger
stamp even when both fall within the same millisecond on different coordinators.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

Stamp = tuple[int, int, str]
"""(physical microseconds, logical counter, writer id): totally ordered."""


@attrs.frozen(slots=True)
class Record:
    """One version of one key. ``value is None`` marks a tombstone."""

    key: str
    value: str | None
    stamp: Stamp

    @property
    def is_tombstone(self) -> bool:
        return self.value is None


MergePolicy = Callable[[Record | None, Record], bool]
"""Given the stored record (or None) and an incoming one, does the incoming one replace it?"""


def last_writer_wins(current: Record | None, incoming: Record) -> bool:
    """The correct merge: the incoming version wins when its stamp is strictly larger."""
    return current is None or incoming.stamp > current.stamp


def first_writer_wins(current: Record | None, incoming: Record) -> bool:
    """The seeded bug ``first-writer-wins``: the older version survives every merge."""
    return current is None or incoming.stamp < current.stamp
