"""Running Trio deterministically: the one place that touches Trio's private scheduling switch.

Trio shuffles each batch of runnable tasks with a module-level ``random.Random``; with the private
``_ALLOW_DETERMINISTIC_SCHEDULING`` flag set it first sorts the batch by task creation order, so
with that generator seeded the schedule is a function of the seed (this is what Hypothesis and
pytest-trio rely on). Combined with ``MockClock(autojump_threshold=0)``, a network in memory, and
every other random choice drawn from the run's seed, a simulated run is a pure function of its
options. The Trio range in pyproject.toml is pinned to versions where this was tested; the test
``tests/sim/test_determinism.py`` fails if it ever stops holding.

Never combine this with real sockets: autojump would fire timeouts while datagrams are in flight.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio
import trio._core._run as trio_run
import trio.testing

T = TypeVar("T")


def run_deterministic(main: Callable[[], Awaitable[T]], seed: int) -> T:
    """``trio.run(main)`` in virtual time with the scheduler seeded from ``seed``."""
    if not hasattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING") or not hasattr(trio_run, "_r"):
        raise RuntimeError(
            f"trio {trio.__version__} has no deterministic-scheduling switch; install a version "
            "in the range pyproject.toml names"
        )
    previous = trio_run._ALLOW_DETERMINISTIC_SCHEDULING
    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    trio_run._r.seed(seed)
    try:
        return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        trio_run._ALLOW_DETERMINISTIC_SCHEDULING = previous  # type: ignore[misc]
