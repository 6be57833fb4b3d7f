"""Clock skew: a wall-clock source whose offset the nemesis sets per node.

A node's hybrid logical clock reads physical time through a callable (seconds, like
``time.time()``) instead of calling ``time.time()`` itself. Giving each node a ``SkewableClock``
over the shared base lets the nemesis push one node's wall clock seconds ahead or behind, which is
how last-writer-wins loses acknowledged writes in real clusters, without the node knowing it is
being tested. In simulation the base is trio's virtual clock, so skew is virtual too.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class SkewableClock:
    """``base() + offset``; call it like ``time.time``."""

    def __init__(self, base: Callable[[], float]) -> None:
        if not callable(base):
            raise TypeError(f"SkewableClock needs a callable time source, got {base!r}")
        self._base = base
        self._offset = 0.0

    def __call__(self) -> float:
        return self._base() + self._offset

    @property
    def offset(self) -> float:
        """Seconds this clock runs ahead of the base (negative: behind)."""
        return self._offset

    def set_offset(self, seconds: float) -> None:
        """Run ``seconds`` ahead of the base from now on (replacing any earlier offset)."""
        if not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ValueError(f"clock offset must be a finite number of seconds, got {seconds!r}")
        self._offset = float(seconds)

    def clear(self) -> None:
        """Back in step with the base."""
        self._offset = 0.0
