"""Running Trio deterministically: the one place that touches Trio's private scheduling switch.

Trio shuffles each batch of runnable tasks with a module-level ``random.Random``; with the private
``_ALLOW_DETERMINISTIC_SCHEDULING`` flag set it first sorts the batch by task creation order, so
with that generator seeded the schedule is a function of the seed (this is what Hypothesis and
pytest-trio rely on). Combined with ``MockClock(autojump_threshold=0)``, a network in memory, and
every other random choice drawn from the run's seed (``seeds.Seeds``), a simulated run is a pure function of its
options. The Trio range in pyproject.toml is pinned to versions where this was tested; the test
``tests/sim/test_determinism.py`` fails if it ever stops holding.

Never combine this with real sockets: autojump would fire timeouts while datagrams are in flight.

``network_clock`` makes that ``MockClock`` (``trio.testing.MockClock``) with the simulated network's deliveries counted in: its
autojump (a private hook of ``MockClock``, the second thing pinned here) stops at the next due
datagram as well as at the next deadline, and wakes its receivers in the same scheduler pass, so a
delivery needs neither a cancel scope of its own nor an extra pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio._core._run as trio_run

# trio.testing's MockClock, imported from where it is defined: ``import trio.testing`` also imports
# pytest (for RaisesGroup), a tenth of a simulated run's start-up.
from trio._core import MockClock

from minikeydb.testing.network import MemoryNetwork

T = TypeVar("T")


def _unsupported(what: str) -> RuntimeError:
    return RuntimeError(f"trio {trio.__version__} has no {what}; install a version in the range pyproject.toml names")


def network_clock(network: MemoryNetwork) -> MockClock:
    """``MockClock(autojump_threshold=0)`` whose autojump also delivers ``network``'s datagrams.

    Trio's run loop calls the clock's ``_autojump`` when every task is blocked; ``MockClock``
    then jumps to the next deadline. This one lets the network jump to its next due datagram
    when that comes first, and wake the receivers it is due to (``MemoryNetwork.advance``).
    ``MockClock`` cannot be subclassed, so the hook is replaced on the instance.
    """
    if not callable(getattr(MockClock, "_autojump", None)):
        raise _unsupported("MockClock._autojump hook")
    clock = MockClock(autojump_threshold=0)

    def autojump() -> None:
        # What ``current_statistics().seconds_to_next_deadline`` says, without building the rest;
        # and the run's own ``reschedule``, which ``trio.lowlevel.reschedule`` looks up per call.
        runner = trio_run.GLOBAL_RUN_CONTEXT.runner
        network.advance(clock, runner.deadlines.next_deadline() - clock.current_time(), runner.reschedule)

    clock._autojump = autojump  # type: ignore[method-assign]

    def current_time() -> float:
        # MockClock's own: ``_virtual_base + _rate * (real - real base)``; at rate 0 (autojump
        # only: nothing here sets a rate) that is ``_virtual_base + 0.0``, the same float, without
        # reading the real clock. Trio's run loop, timers and the network read it per datagram.
        return clock._virtual_base

    if clock.rate == 0:
        clock.current_time = current_time  # type: ignore[method-assign]
    network.drive(clock)  # after: the network keeps the clock's current_time as it is now
    return clock


def offset_reader(clock: MockClock, offset: float) -> Callable[[], float]:
    """``offset + clock.current_time()`` in one call: a simulated node's wall clock, read per datagram.

    For a ``network_clock`` at rate 0 that is ``offset + clock._virtual_base`` (what its
    ``current_time`` returns), without the call in between; any other clock is asked as it is.
    """
    if "current_time" in vars(clock) and clock.rate == 0:  # network_clock's own current_time
        return lambda: offset + clock._virtual_base
    return lambda: offset + clock.current_time()


POLL_EVERY = 64
"""Scheduler passes per look at the operating system's events in a simulated run (see ``_SparsePolling``)."""


class _SparsePolling:
    """Trio's I/O manager, asked for events on one zero-timeout pass in ``POLL_EVERY`` only.

    Under ``MockClock(autojump_threshold=0)`` Trio's run loop polls epoll with a zero timeout
    before every scheduler pass (a system call per pass, tens of thousands a run), although a
    simulation has no file descriptor of its own to wait on: only Trio's wake-up socket (a signal
    such as Ctrl-C, ``run_sync_soon`` from a thread), which is still looked at every
    ``POLL_EVERY`` passes, microseconds apart. Nothing the simulation does depends on when that
    happens, so the run is the same. Everything else goes to the real manager.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._passes = 0

    def get_events(self, timeout: float) -> Any:
        if timeout <= 0:
            self._passes += 1
            if self._passes < POLL_EVERY:
                return []
            self._passes = 0
        return self._inner.get_events(timeout)

    def process_events(self, events: Any) -> None:
        if events:
            self._inner.process_events(events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def run_deterministic(
    main: Callable[[], Awaitable[T]], seed: int, clock: MockClock | None = None
) -> T:
    """``trio.run(main)`` in virtual time with the scheduler seeded from ``seed``.

    ``clock`` defaults to ``MockClock(autojump_threshold=0)``; simulations pass a ``network_clock``.
    """
    if not hasattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING") or not hasattr(trio_run, "_r"):
        raise _unsupported("deterministic-scheduling switch")
    previous = trio_run._ALLOW_DETERMINISTIC_SCHEDULING
    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    trio_run._r.seed(seed)

    async def sparsely_polled() -> T:
        runner = trio_run.GLOBAL_RUN_CONTEXT.runner
        runner.io_manager = _SparsePolling(runner.io_manager)  # type: ignore[assignment]
        return await main()

    try:
        return trio.run(sparsely_polled, clock=clock or MockClock(autojump_threshold=0))
    finally:
        trio_run._ALLOW_DETERMINISTIC_SCHEDULING = previous  # type: ignore[misc]

