"""The transport interface every node and client talks through, and its real implementation over UDP.

Node logic never touches a socket directly: it sends a datagram to an address and receives
datagrams. That one seam is what lets the same node code run over real UDP sockets, over an
in-memory network in unit tests and in virtual time, and behind the nemesis's faulty wrapper,
which implements this same interface around any other transport. The in-memory network lives in
the simulation kit (``minikeydb.testing.network``).

Loss is normal for a datagram transport, so ``send`` never raises for a packet that does not
arrive: an unreachable peer, a full buffer, or a kernel firewall rule (nftables surfaces a dropped
output packet as ``EPERM`` on ``sendto``) all count as loss, and the retry logic above copes.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import trio

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


class Alarm(Protocol):
    """A wake-up time that one task waits for and other code may move: the messenger's timer task.

    ``ScopeAlarm`` (a Trio cancel scope's deadline) works under any clock. A transport may offer a
    cheaper one through an ``alarm()`` method (the simulated network's, woken by its clock driver
    with no cancel scope); ``alarm_for`` picks.
    """

    async def wait_until(self, when: float) -> None:
        """Return at trio time ``when``, or at the time a ``reset`` moved it to (cancellation ends it too)."""
        ...

    def reset(self, when: float) -> None:
        """Move the waiting task's wake-up to ``when`` (earlier or later); nothing when none waits."""
        ...


class ScopeAlarm:
    """``Alarm`` as a Trio cancel scope's deadline."""

    __slots__ = ("_scope",)

    def __init__(self) -> None:
        self._scope: trio.CancelScope | None = None

    async def wait_until(self, when: float) -> None:
        with trio.CancelScope(deadline=when) as scope:
            self._scope = scope
            try:
                await trio.sleep_forever()
            finally:
                self._scope = None

    def reset(self, when: float) -> None:
        if self._scope is not None:
            self._scope.deadline = when


def alarm_for(transport: object) -> Alarm:
    """The transport's own alarm when it has one (``alarm()``), else a cancel scope's (``ScopeAlarm``)."""
    make = getattr(transport, "alarm", None)
    return make() if make is not None else ScopeAlarm()


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

