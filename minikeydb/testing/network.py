"""The in-memory network of the simulation kit: datagrams between endpoints in one process.

``MemoryNetwork`` implements the ``Transport`` interface of ``minikeydb.transport`` without
sockets, in trio time: a queue per address, a latency per datagram, deliveries rounded up to a
``tick``. Unit tests use it in real time; simulation (``--mode sim``) drives it from an
autojumping clock (``minikeydb.testing.determinism.network_clock``) in virtual time.
"""

from __future__ import annotations

import errno
import heapq
import math
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import outcome
import trio

from minikeydb.transport import Address, Alarm, ScopeAlarm, UdpTransport

try:
    # What ``trio.lowlevel.wait_task_rescheduled(abort)`` yields to Trio's run loop, built once per
    # waiter and yielded without that coroutine: a parked receiver, sleeper or timer costs a frame
    # and an object less per wait (tens of thousands a simulated minute). Trio's own definitions;
    # the version range in pyproject.toml is the one they were tested with.
    from trio._core._traps import WaitTaskRescheduled as _make_trap
    from trio._core._traps import _async_yield as _yield_trap
except ImportError:  # pragma: no cover - another Trio: the public call, same behaviour
    def _make_trap(abort_func: Callable[[object], trio.lowlevel.Abort]) -> object:  # type: ignore[no-redef]
        return abort_func

    async def _yield_trap(trap: object) -> outcome.Outcome[object]:
        return outcome.Value(await trio.lowlevel.wait_task_rescheduled(trap))  # type: ignore[arg-type]

if TYPE_CHECKING:
    import trio.testing


class _Woken(outcome.Outcome[None]):
    """What a waiter of this network is rescheduled with: "woken", ``Value(None)`` without a new object.

    Trio sends a rescheduled task the outcome it was given (``trio.lowlevel.reschedule``'s
    ``next_send``) and makes a fresh ``Value(None)`` when given none; an outcome can be unwrapped
    only once, so that is an object per wake-up. The waits of this module are woken by this module
    only (or cancelled, with Trio's own ``Error``), so they share this one, which can be unwrapped
    any number of times, and skip unwrapping it: ``if woken is not _WOKEN: woken.unwrap()``.
    """

    __slots__ = ()

    def unwrap(self) -> None:
        return None

    def send(self, gen: Generator[Any, None, object]) -> Any:
        return gen.send(None)

    async def asend(self, agen: AsyncGenerator[Any, None]) -> Any:
        return await agen.asend(None)


_WOKEN = _Woken()


_Pending = tuple[float, int, bytes, Address]
"""A datagram on its way: due time, send order (ties deliver in send order), payload, source."""


@attrs.define
class MemoryNetwork:
    """An in-memory datagram network: endpoints keyed by address, each with its arrivals queue.

    ``latency`` (seconds, from trio's clock, or a function returning a fresh sample per datagram)
    delays each delivery; with ``trio.testing.MockClock`` that is virtual time. A datagram waits in
    its destination address's queue (a heap by due time) and the receiver sleeps until the first
    one is due, its deadline moved earlier by a sender when needed: no delivery task stands
    between sender and receiver, so a delivery costs the receiver one wake-up and nothing else.
    Due times are rounded up to a multiple of ``tick``: under an autojumping clock every distinct
    wake-up time costs a scheduler pass, so coalescing deliveries into ticks is what makes a
    simulated second cheap. Queues are bounded: a full one drops, as a socket buffer does.

    Queues belong to addresses, not endpoints: a node that crashes and comes back at the same
    address finds the datagrams still in flight to it, as a restarted process re-binding its UDP
    port does; what arrived while nobody was bound is lost.

    Under a ``trio.testing.MockClock`` whose autojump calls ``advance`` (simulation's clock, see
    ``minikeydb.testing.determinism``), the network moves virtual time itself: when every task is blocked
    it jumps to the earlier of the next due datagram and Trio's next deadline, and wakes the
    receivers whose datagrams are due. A waiting receiver then needs no cancel scope and no
    deadline of its own: a delivery costs a direct wake-up, not a cancellation.
    """

    latency: float | Callable[[], float] = 0.0
    tick: float = 0.0
    inbox_size: int = 4096
    _endpoints: dict[Address, MemoryTransport] = attrs.field(factory=dict, init=False)
    _queues: dict[Address, list[_Pending]] = attrs.field(factory=dict, init=False)
    _sequence: int = attrs.field(default=0, init=False)
    _next_port: int = attrs.field(default=20_000, init=False)
    _driving: bool = attrs.field(default=False, init=False)
    _now: Callable[[], float] = attrs.field(default=trio.current_time, init=False)
    _wakeups: list[tuple[float, int, _Wakeable]] = attrs.field(factory=list, init=False)
    _alarms: list[tuple[float, int, _Wakeable]] = attrs.field(factory=list, init=False)
    delivered: int = attrs.field(default=0, init=False)
    dropped: int = attrs.field(default=0, init=False)

    def endpoint(self, address: Address | None = None) -> MemoryTransport:
        """Create an endpoint at ``address`` (or a fresh one), replacing any closed one there."""
        if address is None:
            while ("mem", self._next_port) in self._endpoints:
                self._next_port += 1
            address = ("mem", self._next_port)
        existing = self._endpoints.get(address)
        if existing is not None and not existing.closed:
            raise OSError(errno.EADDRINUSE, f"address {address} is in use")
        queue = self._queues.setdefault(address, [])
        if queue:  # datagrams that arrived while nobody was bound are lost
            now = self._now()
            while queue and queue[0][0] <= now:
                heapq.heappop(queue)
                self.dropped += 1
        transport = MemoryTransport(self, address, queue)
        self._endpoints[address] = transport
        return transport

    def schedule(self, delay: float, data: bytes, src: Address, dest: Address) -> None:
        """Deliver after ``delay`` seconds of trio time, or drop (no one there, or a full queue)."""
        target = self._endpoints.get(dest)
        if target is None or target.closed:
            self.dropped += 1
            return
        queue = target._queue
        if len(queue) >= self.inbox_size:
            self.dropped += 1
            return
        now = self._now()
        if delay < 0.0:  # max(delay, 0.0), without the call
            delay = 0.0
        due = now + delay
        if self.tick > 0:
            due = math.ceil(due / self.tick) * self.tick
        self._sequence += 1
        sequence = self._sequence
        heapq.heappush(queue, (due, sequence, data, src))
        self.delivered += 1
        if queue[0][1] == sequence:  # the new first arrival: the receiver must wake sooner
            # A receiver parked in recv wakes at its new first arrival; one asleep on a deadline, sooner.
            if target._task is not None:
                if due <= now:
                    target._wake()
                else:
                    target._due = due
                    self._wake_at(due, target)
            if target._waiting:
                target._due_earlier_scopes(due)

    @property
    def driving(self) -> bool:
        """Whether a clock calls ``advance``: receivers then wait to be woken, not on deadlines."""
        return self._driving

    def drive(self, clock: trio.testing.MockClock) -> None:
        """From now on ``clock`` calls ``advance`` whenever every task is blocked (see ``advance``).

        The network then reads the time from ``clock`` itself (the same value as
        ``trio.current_time()``, without two wrappers: it is read for every datagram).
        """
        self._driving = True
        self._now = clock.current_time

    def _wake_at(self, due: float, waiter: _Wakeable) -> None:
        """Wake ``waiter`` (a parked receiver or a sleeper) at ``due``; ties wake in the order they were asked."""
        self._sequence += 1
        heapq.heappush(self._wakeups, (due, self._sequence, waiter))

    def _alarm_at(self, due: float, alarm: _Wakeable) -> None:
        """Wake a timer ``alarm`` at ``due``, after the receivers and sleepers due then (``advance``)."""
        self._sequence += 1
        heapq.heappush(self._alarms, (due, self._sequence, alarm))

    async def sleep_until(self, when: float) -> None:
        """``trio.sleep_until``, woken by ``advance`` (no cancel scope) while this network drives.

        For the simulation's own waits (the workload's think time), so that they cost what a
        delivery costs.
        """
        if not self._driving:
            await trio.sleep_until(when)
            return
        if when <= self._now():  # due already: the next pass, as an expired deadline, without a cancel scope
            await trio.lowlevel.checkpoint()
            return
        sleeper = _Sleeper(trio.lowlevel.current_task(), when)
        self._wake_at(when, sleeper)
        woken = await _yield_trap(_make_trap(sleeper.abort))
        if woken is not _WOKEN:
            woken.unwrap()

    def advance(
        self,
        clock: trio.testing.MockClock,
        seconds_to_next_deadline: float,
        reschedule: Callable[[trio.lowlevel.Task, outcome.Outcome[Any]], object] = trio.lowlevel.reschedule,
    ) -> None:
        """Every task is blocked: jump ``clock`` to the next due datagram, sleeper, alarm or Trio
        deadline, and wake the receivers and sleepers due then (they run in the same scheduler pass).

        Timer alarms (``MemoryTransport.alarm``) due at that instant are woken only when no receiver
        or sleeper was, else at the next call (every task blocked again, at the same instant): a
        timer fires after the datagrams due with it were handled, as it did when it was a Trio
        deadline (expired on the pass after the clock's jump).

        Called by the ``MockClock`` named in ``drive``, from its autojump (``minikeydb.testing.determinism``),
        which passes the run's own ``reschedule`` (``trio.lowlevel.reschedule`` without its wrapper).

        Every waiter on the heaps (a parked receiver, a sleeper, an alarm) keeps ``_task`` (None once
        woken or cancelled) and ``_due`` (when it wants waking); an entry whose due time is no longer
        its waiter's is one left behind by a move, passed over.
        """
        heappop = heapq.heappop
        wakeups, alarms = self._wakeups, self._alarms
        _drop_left_behind(wakeups)
        _drop_left_behind(alarms)
        now = clock.current_time()
        target = now + seconds_to_next_deadline
        if wakeups and wakeups[0][0] < target:
            target = wakeups[0][0]
        if alarms and alarms[0][0] < target:
            target = alarms[0][0]
        if target == math.inf:
            return
        if target > now:
            clock.jump(target - now)
        woke = False
        while wakeups and wakeups[0][0] <= target:
            waiter = heappop(wakeups)[2]
            task = waiter._task
            if task is not None and waiter._due <= target:  # waiter._wake(), inline
                waiter._task = None
                reschedule(task, _WOKEN)
                woke = True
        if not woke:
            while alarms and alarms[0][0] <= target:
                waiter = heappop(alarms)[2]
                task = waiter._task
                if task is not None and waiter._due <= target:
                    waiter._task = None
                    reschedule(task, _WOKEN)


def _drop_left_behind(heap: list[tuple[float, int, _Wakeable]]) -> None:
    """Pop the entries on top of ``heap`` that wake nobody: their waiter was woken or cancelled, or moved."""
    while heap:
        due, _, waiter = heap[0]
        if waiter._task is not None and waiter._due == due:
            return
        heapq.heappop(heap)


class _Wakeable(Protocol):
    """What ``MemoryNetwork.advance`` wakes: a parked receiver, a sleeping task, or a timer alarm.

    ``_task``: the waiting task, None when there is none (woken, cancelled, never parked);
    ``_due``: when it wants waking (``math.inf``: not before it is told otherwise).
    """

    _task: trio.lowlevel.Task | None
    _due: float


class _Sleeper:
    """A task in ``MemoryNetwork.sleep_until``."""

    __slots__ = ("_task", "_due")

    def __init__(self, task: trio.lowlevel.Task, due: float) -> None:
        self._task: trio.lowlevel.Task | None = task
        self._due = due

    def abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED


class _NetworkAlarm:
    """A ``transport.Alarm`` woken by the network's clock driver (``MemoryNetwork.advance``), no cancel scope.

    It is woken after the receivers due at the same instant (see ``advance``), as a Trio deadline was.

    What a ``MemoryTransport`` gives the messenger's timer task while the network drives the clock:
    a timer's wake-up then costs what a delivery costs, and moving it (a new earlier timer, the
    first one cancelled) pushes an entry on the network's wake-up heap instead of changing a cancel
    scope's deadline in Trio's. An entry left behind by a move no longer matches ``_due`` and is
    passed over.
    """

    __slots__ = ("network", "_task", "_due", "_trap")

    def __init__(self, network: MemoryNetwork) -> None:
        self.network = network
        self._task: trio.lowlevel.Task | None = None
        self._due = math.inf
        self._trap = _make_trap(self._abort)

    async def wait_until(self, when: float) -> None:
        network = self.network
        if when <= network._now():
            await trio.lowlevel.checkpoint()
            return
        self._task = trio.lowlevel.current_task()
        self._due = when
        if when < math.inf:
            network._alarm_at(when, self)
        woken = await _yield_trap(self._trap)
        if woken is not _WOKEN:
            woken.unwrap()

    def reset(self, when: float) -> None:
        if self._task is None or when == self._due:
            return
        self._due = when
        network = self.network
        if when <= network._now():
            self._wake()
        elif when < math.inf:
            network._alarm_at(when, self)

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake(self) -> None:
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task, _WOKEN)


class MemoryTransport:
    """One endpoint of a ``MemoryNetwork``.

    Like ``UdpTransport``, a send, or a receive that finds a datagram due, completes without a
    scheduling point, and every ``BURST`` of them yields once. Each scheduling point is a pass of
    Trio's scheduler, and in virtual time those passes are what a simulated second costs.
    """

    BURST = UdpTransport.BURST

    def __init__(self, network: MemoryNetwork, address: Address, queue: list[_Pending]) -> None:
        self._network = network
        self._address = address
        self._queue = queue
        self._waiting: set[trio.CancelScope] = set()
        self._task: trio.lowlevel.Task | None = None
        """The task parked in ``recv`` while the network drives (see ``_Wakeable``)."""
        self._due = math.inf
        """While a task is parked: its first arrival's due time (``math.inf``: none)."""
        self._trap = _make_trap(self._abort_park)
        self._burst = 0
        self.closed = False

    @property
    def address(self) -> Address:
        return self._address

    def alarm(self) -> Alarm:
        """The messenger's timer alarm: woken by the clock driver while the network drives, else Trio's."""
        return _NetworkAlarm(self._network) if self._network._driving else ScopeAlarm()

    async def send(self, data: bytes, dest: Address) -> None:
        if self.closed:  # send_nowait, inline (a call less per datagram)
            raise trio.ClosedResourceError("transport closed")
        network = self._network
        latency = network.latency
        network.schedule(latency() if callable(latency) else latency, data, self._address, dest)
        self._burst += 1  # _maybe_yield, inline (a coroutine less per datagram)
        if self._burst >= self.BURST:
            self._burst = 0
            await trio.lowlevel.checkpoint()

    def send_nowait(self, data: bytes, dest: Address) -> None:
        if self.closed:
            raise trio.ClosedResourceError("transport closed")
        network = self._network
        latency = network.latency
        network.schedule(latency() if callable(latency) else latency, data, self._address, dest)

    def recv_nowait(self) -> tuple[bytes, Address]:
        if self.closed:
            raise trio.ClosedResourceError("transport closed")
        queue = self._queue
        if queue and queue[0][0] <= self._network._now():
            _, _, data, src = heapq.heappop(queue)
            if self._task is not None:  # another task is parked in recv: its first arrival moved
                self._due = queue[0][0] if queue else math.inf
            return data, src
        raise trio.WouldBlock

    async def recv(self) -> tuple[bytes, Address]:
        network = self._network
        while True:
            if self.closed:
                raise trio.ClosedResourceError("transport closed")
            queue = self._queue  # recv_nowait, without raising WouldBlock on every wait
            if queue and queue[0][0] <= network._now():
                _, _, data, src = heapq.heappop(queue)
                self._burst += 1  # _maybe_yield, inline (a coroutine less per datagram)
                if self._burst >= self.BURST:
                    self._burst = 0
                    await trio.lowlevel.checkpoint()
                return data, src
            self._burst = 0
            if network._driving:
                # Park until the clock driver (or a sender, or close) wakes us; look again then.
                self._task = trio.lowlevel.current_task()
                if queue:
                    due = self._due = queue[0][0]
                    network._wake_at(due, self)
                else:
                    self._due = math.inf
                woken = await _yield_trap(self._trap)
                if woken is not _WOKEN:
                    woken.unwrap()
                continue
            # Sleep until the first datagram is due; a sender moves the deadline earlier (see
            # _due_earlier_scopes) and close() cancels. Either way, look at the queue again.
            deadline = self._queue[0][0] if self._queue else math.inf
            with trio.CancelScope(deadline=deadline) as scope:
                self._waiting.add(scope)
                try:
                    await trio.sleep_forever()
                finally:
                    self._waiting.discard(scope)

    def _abort_park(self, _: object) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake(self) -> None:
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task, _WOKEN)

    def _due_earlier_scopes(self, due: float) -> None:
        """A datagram due at ``due`` became the first arrival: wake the deadline-sleeping receiver sooner."""
        for scope in self._waiting:
            if due < scope.deadline:
                scope.deadline = due

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wake()
            for scope in list(self._waiting):
                scope.cancel()
