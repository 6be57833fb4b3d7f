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
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import attrs
import trio

from minikeydb.transport import Address, Alarm, ScopeAlarm, UdpTransport

if TYPE_CHECKING:
    import trio.testing


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
        heapq.heappush(queue, (due, self._sequence, data, src))
        self.delivered += 1
        if queue[0][1] == self._sequence:  # the new first arrival: the receiver must wake sooner
            target._due_earlier(due, now)

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
        self._sequence += 1
        heapq.heappush(self._wakeups, (due, self._sequence, waiter))

    def _alarm_at(self, due: float, alarm: _Wakeable) -> None:
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
        await trio.lowlevel.wait_task_rescheduled(sleeper.abort)

    def advance(self, clock: trio.testing.MockClock, seconds_to_next_deadline: float) -> None:
        """Every task is blocked: jump ``clock`` to the next due datagram, sleeper, alarm or Trio
        deadline, and wake the receivers and sleepers due then (they run in the same scheduler pass).

        Timer alarms (``MemoryTransport.alarm``) due at that instant are woken only when no receiver
        or sleeper was, else at the next call (every task blocked again, at the same instant): a
        timer fires after the datagrams due with it were handled, as it did when it was a Trio
        deadline (expired on the pass after the clock's jump).

        Called by the ``MockClock`` named in ``drive``, from its autojump (``minikeydb.testing.determinism``).
        """
        wakeups, alarms = self._wakeups, self._alarms
        while wakeups and not wakeups[0][2]._waits_for(wakeups[0][0]):
            heapq.heappop(wakeups)
        while alarms and not alarms[0][2]._waits_for(alarms[0][0]):
            heapq.heappop(alarms)
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
            _, _, waiter = heapq.heappop(wakeups)
            if waiter._due_by(target):
                waiter._wake()
                woke = True
        if not woke:
            while alarms and alarms[0][0] <= target:
                _, _, alarm = heapq.heappop(alarms)
                if alarm._due_by(target):
                    alarm._wake()


class _Wakeable(Protocol):
    """What ``MemoryNetwork.advance`` wakes: a parked receiver, or a sleeping task."""

    def _waits_for(self, due: float) -> bool: ...
    def _due_by(self, when: float) -> bool: ...
    def _wake(self) -> None: ...


class _Sleeper:
    """A task in ``MemoryNetwork.sleep_until``."""

    __slots__ = ("task", "due")

    def __init__(self, task: trio.lowlevel.Task, due: float) -> None:
        self.task: trio.lowlevel.Task | None = task
        self.due = due

    def abort(self, _: object) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _waits_for(self, due: float) -> bool:
        return self.task is not None

    def _due_by(self, when: float) -> bool:
        return self.task is not None and self.due <= when

    def _wake(self) -> None:
        task = self.task
        if task is not None:
            self.task = None
            trio.lowlevel.reschedule(task)


class _NetworkAlarm:
    """A ``transport.Alarm`` woken by the network's clock driver (``MemoryNetwork.advance``), no cancel scope.

    It is woken after the receivers due at the same instant (see ``advance``), as a Trio deadline was.

    What a ``MemoryTransport`` gives the messenger's timer task while the network drives the clock:
    a timer's wake-up then costs what a delivery costs, and moving it (a new earlier timer, the
    first one cancelled) pushes an entry on the network's wake-up heap instead of changing a cancel
    scope's deadline in Trio's. An entry left behind by a move no longer matches ``due`` and is
    passed over.
    """

    __slots__ = ("network", "task", "due")

    def __init__(self, network: MemoryNetwork) -> None:
        self.network = network
        self.task: trio.lowlevel.Task | None = None
        self.due = math.inf

    async def wait_until(self, when: float) -> None:
        if when <= self.network._now():
            await trio.lowlevel.checkpoint()
            return
        self.task = trio.lowlevel.current_task()
        self.due = when
        if when < math.inf:
            self.network._alarm_at(when, self)
        await trio.lowlevel.wait_task_rescheduled(self._abort)

    def reset(self, when: float) -> None:
        if self.task is None or when == self.due:
            return
        self.due = when
        if when <= self.network._now():
            self._wake()
        elif when < math.inf:
            self.network._alarm_at(when, self)

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _waits_for(self, due: float) -> bool:
        return self.task is not None and self.due == due

    def _due_by(self, when: float) -> bool:
        return self.task is not None and self.due <= when

    def _wake(self) -> None:
        task = self.task
        if task is not None:
            self.task = None
            trio.lowlevel.reschedule(task)


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
        self._parked: trio.lowlevel.Task | None = None
        self._burst = 0
        self.closed = False

    @property
    def address(self) -> Address:
        return self._address

    def alarm(self) -> Alarm:
        """The messenger's timer alarm: woken by the clock driver while the network drives, else Trio's."""
        return _NetworkAlarm(self._network) if self._network.driving else ScopeAlarm()

    async def send(self, data: bytes, dest: Address) -> None:
        self.send_nowait(data, dest)
        self._burst += 1  # _maybe_yield, inline (a coroutine less per datagram)
        if self._burst >= self.BURST:
            self._burst = 0
            await trio.lowlevel.checkpoint()

    def send_nowait(self, data: bytes, dest: Address) -> None:
        if self.closed:
            raise trio.ClosedResourceError("transport closed")
        latency = self._network.latency
        self._network.schedule(latency() if callable(latency) else latency, data, self._address, dest)

    def recv_nowait(self) -> tuple[bytes, Address]:
        if self.closed:
            raise trio.ClosedResourceError("transport closed")
        queue = self._queue
        if queue and queue[0][0] <= self._network._now():
            _, _, data, src = heapq.heappop(queue)
            return data, src
        raise trio.WouldBlock

    async def recv(self) -> tuple[bytes, Address]:
        while True:
            if self.closed:
                raise trio.ClosedResourceError("transport closed")
            queue = self._queue  # recv_nowait, without raising WouldBlock on every wait
            if queue and queue[0][0] <= self._network._now():
                _, _, data, src = heapq.heappop(queue)
                self._burst += 1  # _maybe_yield, inline (a coroutine less per datagram)
                if self._burst >= self.BURST:
                    self._burst = 0
                    await trio.lowlevel.checkpoint()
                return data, src
            self._burst = 0
            if self._network.driving:
                # Park until the clock driver (or a sender, or close) wakes us; look again then.
                self._parked = trio.lowlevel.current_task()
                if self._queue:
                    self._network._wake_at(self._queue[0][0], self)
                await trio.lowlevel.wait_task_rescheduled(self._abort_park)
                continue
            # Sleep until the first datagram is due; a sender moves the deadline earlier (see
            # _due_earlier) and close() cancels. Either way, look at the queue again.
            deadline = self._queue[0][0] if self._queue else math.inf
            with trio.CancelScope(deadline=deadline) as scope:
                self._waiting.add(scope)
                try:
                    await trio.sleep_forever()
                finally:
                    self._waiting.discard(scope)

    def _abort_park(self, _: object) -> trio.lowlevel.Abort:
        self._parked = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _waits_for(self, due: float) -> bool:
        """Whether this endpoint is parked and ``due`` is still its first arrival's time."""
        return self._parked is not None and bool(self._queue) and self._queue[0][0] == due

    def _due_by(self, when: float) -> bool:
        """Whether this endpoint is parked with a datagram due by ``when``."""
        return self._parked is not None and bool(self._queue) and self._queue[0][0] <= when

    def _wake(self) -> None:
        task = self._parked
        if task is not None:
            self._parked = None
            trio.lowlevel.reschedule(task)

    def _due_earlier(self, due: float, now: float) -> None:
        if self._parked is not None:
            if due <= now:
                self._wake()
            else:
                self._network._wake_at(due, self)
        for scope in self._waiting:
            if due < scope.deadline:
                scope.deadline = due

    async def _maybe_yield(self) -> None:
        """A scheduling point every ``BURST`` calls that did not wait, as ``UdpTransport`` has."""
        self._burst += 1
        if self._burst >= self.BURST:
            self._burst = 0
            await trio.lowlevel.checkpoint()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wake()
            for scope in list(self._waiting):
                scope.cancel()
