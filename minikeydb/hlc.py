"""Hybrid logical clocks (Kulkarni et al., 2014): timestamps that track wall time and causality.

A plain wall clock cannot order writes on different machines: clocks drift and jump. A plain
Lamport counter orders causally but says nothing about real time. An HLC reading is
``(physical_us, logical)``: the physical part never falls behind the local wall clock nor behind
any timestamp the node has seen, and the logical part breaks ties within one microsecond. So a
write that causally follows another always gets a larger stamp, and stamps stay close to real
time, which is what last-writer-wins needs to pick the write a person would call "the last".

What an HLC cannot fix is a clock that is *ahead*: a writer whose wall clock runs seconds fast
wins every conflict for those seconds. The harness's clock-skew nemesis shows exactly that.

Who runs one: every client stamps its own writes with its own HLC (its id, ``c`` and 16 hex
digits, is the stamp's writer), observing the stamp of every reply it gets, so a client's writes
are ordered after everything it has seen; the coordinator takes that stamp as the version (a
replayed request is then the same version again, see ``wire``) and its own HLC observes it.
The logical counter never reaches ``LOGICAL_LIMIT`` (the wire's bound): at the limit the
physical part moves on one microsecond instead, so a hostile stamp cannot overflow it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .record import Stamp

LOGICAL_LIMIT = 2**32
"""Logical counters stay below this (the wire refuses larger ones)."""


class HybridClock:
    """One node's HLC. ``wall`` returns seconds (like ``time.time``); it is injected for skew and simulation."""

    def __init__(self, node_id: str, wall: Callable[[], float] = time.time) -> None:
        self.node_id = node_id
        self._wall = wall
        self._physical = 0
        self._logical = 0

    def now(self) -> Stamp:
        """A new stamp for a local event (a write this node coordinates): strictly larger than any before."""
        wall = int(self._wall() * 1_000_000)  # the wall in microseconds (every write's stamp)
        if wall > self._physical:
            self._physical, self._logical = wall, 0
        else:
            self._logical += 1
            if self._logical >= LOGICAL_LIMIT:  # _carry, inline
                self._physical, self._logical = self._physical + 1, 0
        return (self._physical, self._logical, self.node_id)

    def _carry(self) -> None:
        if self._logical >= LOGICAL_LIMIT:
            self._physical, self._logical = self._physical + 1, 0

    def observe(self, stamp: Stamp) -> None:
        """Merge a stamp received from elsewhere, so the next local stamp is larger than it."""
        wall = int(self._wall() * 1_000_000)  # the wall in microseconds (every stamp received)
        remote_physical, remote_logical = stamp[0], stamp[1]
        if wall > self._physical and wall > remote_physical:
            self._physical, self._logical = wall, 0
        elif remote_physical > self._physical:
            self._physical, self._logical = remote_physical, remote_logical + 1
        elif remote_physical == self._physical:
            self._logical = max(self._logical, remote_logical) + 1
        else:
            self._logical += 1
        if self._logical >= LOGICAL_LIMIT:  # _carry, inline
            self._physical, self._logical = self._physical + 1, 0
