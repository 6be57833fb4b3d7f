"""The transport interface every node and client talks through, and its two plain implementations.

Node logic never touches a socket directly: it sends a datagram to an address and receives
datagrams. That one seam is what lets the same node code run over real UDP sockets, over an
in-memory network in unit tests and in virtual time, and behind the nemesis's faulty wrapper,
which implements this same interface around any other transport.

Loss is normal for a datagram transport, so ``send`` never raises for a packet that does not
arrive: an unreachable peer, a full buffer, or a kernel firewall rule (nftables surfaces a dropped
output packet as ``EPERM`` on ``sendto``) all count as loss, and the retry logic above copes.
"""

from __future__ import annotations

import errno
import heapq
import math
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs
import trio

if TYPE_CHECKING:
    import trio.testing

Address = tuple[str, int]
"""A datagram endpoint: (host, port). The simulated network uses the same shape."""

MAX_UDP_PAYLOAD = 65_507
"""The largest UDP payload over IPv4: the receive buffer, so an oversized datagram arrives whole and
the wire rejects it by size. Not ``wire.MAX_DATAGRAM``, the smaller limit MinikeyDB itself keeps to."""


def free_udp_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct UDP ports the kernel just handed out on ``host`` (bound together, then released).

    For building a config before the nodes bind: another program could take a port in between,
    which on loopback in a test run does not happen in practice.
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@runtime_checkable
class Transport(Protocol):
    """Send and receive whole datagrams. Implementations must be safe to use from many tasks."""

    @property
    def address(self) -> Address:
        """The address peers reach this endpoint at."""
        ...

    async def send(self, data: bytes, dest: Address) -> None:
        """Send one datagram; returns without error when the datagram is lost."""
        ...

    def send_nowait(self, data: bytes, dest: Address) -> None:
        """Send one datagram without waiting; a full send buffer counts as loss, as UDP allows.

        For event-driven senders (replication answers acks from the receive loop), which must
        not wait and whose retries cover a lost datagram.
        """
        ...

    async def recv(self) -> tuple[bytes, Address]:
        """Wait for the next datagram and return it with its source address."""
        ...

    def recv_nowait(self) -> tuple[bytes, Address]:
        """The next datagram if one is waiting, else raise ``trio.WouldBlock``.

        It lets a receiver know the moment it has drained what arrived: a node does its group
        commit then, before it waits (see ``Node._receive_loop``).
        """
        ...

    def close(self) -> None:
        """Release the endpoint; pending and later ``recv`` calls raise ``trio.ClosedResourceError``."""
        ...


# Errors from sendto that mean "this datagram was lost", never "the program is broken".
_LOSS_ERRNOS = frozenset(
    {
        errno.EPERM,  # nftables drop on output
        errno.ECONNREFUSED,  # ICMP port unreachable from an earlier send
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENOBUFS,
        errno.EAGAIN,
        errno.EMSGSIZE,
    }
)


class UdpTransport:
    """A real UDP socket, bound to one address.

    It drives a non-blocking stdlib socket and asks Trio only to wait when the kernel says
    "would block", instead of going through ``trio.socket``'s wrappers: those resolve the
    destination address on every ``sendto``, which measured about half the cost of a send.
    A receive that finds a datagram waiting returns without a scheduling point, so every
    ``BURST`` datagrams it yields explicitly, lest a flood starve the node's other tasks.
    """

    BURST = 32

    def __init__(self, sock: socket.socket, address: Address) -> None:
        self._sock = sock
        self._address = address
        self._burst = 0
        self.send_errors = 0

    @classmethod
    async def bind(cls, host: str = "127.0.0.1", port: int = 0) -> UdpTransport:
        """Open a UDP socket on ``host:port`` (port 0 picks a free one)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            # Large buffers absorb bursts of replication traffic on a busy loopback.
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
            sock.bind((host, port))
        except BaseException:
            sock.close()
            raise
        await trio.lowlevel.checkpoint()
        bound = sock.getsockname()
        return cls(sock, (bound[0], bound[1]))

    @property
    def address(self) -> Address:
        return self._address

    def _try_send(self, data: bytes, dest: Address) -> bool:
        """One ``sendto``: True when the datagram is sent or lost for good, False when it would block."""
        try:
            self._sock.sendto(data, dest)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in _LOSS_ERRNOS:
                self.send_errors += 1
                return True
            if exc.errno == errno.EBADF:
                raise trio.ClosedResourceError("transport closed") from exc
            raise
        return True

    def send_nowait(self, data: bytes, dest: Address) -> None:
        if not self._try_send(data, dest):
            self.send_errors += 1  # the send buffer is full: lost, as the kernel may drop it too

    async def send(self, data: bytes, dest: Address) -> None:
        while not self._try_send(data, dest):
            await self._wait(trio.lowlevel.wait_writable)

    def _try_recv(self) -> tuple[bytes, Address] | None:
        """The next waiting datagram, or None when none is."""
        while True:
            try:
                data, src = self._sock.recvfrom(MAX_UDP_PAYLOAD)
            except BlockingIOError:
                return None
            except OSError as exc:
                # Linux reports an earlier ICMP "port unreachable" on the next recvfrom; it is not
                # about this datagram, so take the next one.
                if exc.errno in _LOSS_ERRNOS:
                    continue
                if exc.errno == errno.EBADF:
                    raise trio.ClosedResourceError("transport closed") from exc
                raise
            return data, (src[0], src[1])

    def recv_nowait(self) -> tuple[bytes, Address]:
        if self._sock.fileno() < 0:
            raise trio.ClosedResourceError("transport closed")
        received = self._try_recv()
        if received is None:
            raise trio.WouldBlock
        return received

    async def recv(self) -> tuple[bytes, Address]:
        self._burst += 1
        if self._burst >= self.BURST:
            self._burst = 0
            await trio.lowlevel.checkpoint()
        while True:
            received = self._try_recv()
            if received is not None:
                return received
            self._burst = 0
            await self._wait(trio.lowlevel.wait_readable)

    async def _wait(self, wait: Callable[[socket.socket], Awaitable[None]]) -> None:
        if self._sock.fileno() < 0:
            raise trio.ClosedResourceError("transport closed")
        await wait(self._sock)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()


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
    ``runner.determinism``), the network moves virtual time itself: when every task is blocked
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
        due = now + max(delay, 0.0)
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

    async def sleep_until(self, when: float) -> None:
        """``trio.sleep_until``, woken by ``advance`` (no cancel scope) while this network drives.

        For the simulation's own waits (the workload's think time), so that they cost what a
        delivery costs.
        """
        if not self._driving or when <= self._now():
            await trio.sleep_until(when)
            return
        sleeper = _Sleeper(trio.lowlevel.current_task(), when)
        self._wake_at(when, sleeper)
        await trio.lowlevel.wait_task_rescheduled(sleeper.abort)

    def advance(self, clock: trio.testing.MockClock, seconds_to_next_deadline: float) -> None:
        """Every task is blocked: jump ``clock`` to the next due datagram or Trio deadline, and
        wake the receivers whose datagrams are due (they run in the same scheduler pass).

        Called by the ``MockClock`` named in ``drive``, from its autojump (``runner.determinism``).
        """
        wakeups = self._wakeups
        while wakeups and not wakeups[0][2]._waits_for(wakeups[0][0]):
            heapq.heappop(wakeups)
        now = clock.current_time()
        target = now + seconds_to_next_deadline
        if wakeups and wakeups[0][0] < target:
            target = wakeups[0][0]
        if target == math.inf:
            return
        if target > now:
            clock.jump(target - now)
        while wakeups and wakeups[0][0] <= target:
            _, _, waiter = heapq.heappop(wakeups)
            if waiter._due_by(target):
                waiter._wake()


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

    async def send(self, data: bytes, dest: Address) -> None:
        self.send_nowait(data, dest)
        await self._maybe_yield()

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
            try:
                received = self.recv_nowait()
            except trio.WouldBlock:
                pass
            else:
                await self._maybe_yield()
                return received
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
