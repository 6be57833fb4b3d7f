"""The faulty network: a wrapper around any transport that applies the nemesis's faults.

Faults live in the network, never in node logic. Each node's transport (UDP socket or in-memory
endpoint) is wrapped once; the wrapper knows which node it belongs to, recognises peers by address
(``node_addresses``), and asks the shared ``FaultModel`` what happens to every node-to-node datagram
it sends. Client traffic is not faulted on the way, but a paused node neither receives nor sends,
whoever the other end is: its datagrams wait in bounded buffers, as SIGSTOP leaves them waiting in
the kernel's socket buffers, and flow again on resume.

Delayed and released datagrams need a task to wait in, so the network must be given a nursery
(``attach``) before a delay, reorder or resume has anything to deliver. All waiting uses trio's
clock, so under ``trio.testing.MockClock`` delays are virtual.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Mapping, Sequence

import trio

from minikeydb.transport import Address, Alarm, Transport, alarm_for
from nemesis.link_faults import DatagramObserver, FaultModel, InFlight

CLIENT = "client"
"""How an observer is told of a datagram's end that is no node."""
_NOW = (0.0,)
"""The delays of a datagram the faults do not touch: one copy, now."""
DEFAULT_PAUSE_BUFFER = 1024
"""Datagrams held per paused node and direction before further ones are lost (a full socket buffer)."""


class FaultyNetwork(FaultModel):
    """Link faults, partitions and pauses for every transport it wraps.

    ``node_addresses`` maps node id to the address peers send to; that is how a datagram's
    destination or source is recognised as a node (anything else is a client).
    """

    def __init__(
        self,
        rng: random.Random,
        node_addresses: Mapping[str, Address],
        pause_buffer: int = DEFAULT_PAUSE_BUFFER,
    ) -> None:
        super().__init__(rng)
        if pause_buffer < 1:
            raise ValueError(f"pause_buffer must be at least 1, got {pause_buffer!r}")
        self.node_addresses = dict(node_addresses)
        self._address_to_node = {tuple(a): n for n, a in self.node_addresses.items()}
        if len(self._address_to_node) != len(self.node_addresses):
            raise ValueError(f"node_addresses must be distinct, got {self.node_addresses!r}")
        self.pause_buffer = pause_buffer
        self._nursery: trio.Nursery | None = None
        self._paused: set[str] = set()
        self._held_out: dict[str, collections.deque[tuple[FaultyTransport, bytes, Address]]] = {}
        self._transports: dict[str, list[FaultyTransport]] = collections.defaultdict(list)
        self.observer: DatagramObserver | None = None
        """Told of every datagram's fate and every delivery (the harness's journal); None: nobody."""

    def attach(self, nursery: trio.Nursery) -> None:
        """Give the network a nursery for delayed deliveries and releases after a pause."""
        self._nursery = nursery

    def node_at(self, address: Address) -> str | None:
        """The node id whose address this is, or None (a client)."""
        return self._address_to_node.get(tuple(address))

    def wrap(self, transport: Transport, node_id: str | None) -> FaultyTransport:
        """Wrap a node's transport (``node_id``) or a client's (``None``) so faults apply to it."""
        if node_id is not None and node_id not in self.node_addresses:
            raise ValueError(
                f"unknown node id {node_id!r}; known nodes: {', '.join(sorted(self.node_addresses))}"
            )
        wrapped = FaultyTransport(self, transport, node_id)
        if node_id is not None:
            live = [t for t in self._transports[node_id] if not t.closed]
            live.append(wrapped)
            self._transports[node_id] = live
        return wrapped

    # -- pause ---------------------------------------------------------------------------

    def is_paused(self, node_id: str | None) -> bool:
        return node_id is not None and node_id in self._paused

    @property
    def paused_nodes(self) -> frozenset[str]:
        return frozenset(self._paused)

    def pause(self, node_id: str) -> None:
        """Freeze a node's traffic in both directions until ``resume``."""
        if node_id not in self.node_addresses:
            raise ValueError(f"cannot pause unknown node {node_id!r}")
        self._paused.add(node_id)

    def resume(self, node_id: str) -> None:
        """Let a paused node's held datagrams go, in order, and its traffic flow again."""
        if node_id not in self._paused:
            return
        self._paused.discard(node_id)
        for transport in self._transports.get(node_id, []):
            transport._wake_receivers()
        held = self._held_out.pop(node_id, None)
        if held:
            self._require_nursery("resume() releasing held datagrams").start_soon(self._release, held)

    async def _release(self, held: collections.deque[tuple[FaultyTransport, bytes, Address]]) -> None:
        while held:
            transport, data, dest = held.popleft()
            if transport.closed:
                self.counters.lost_in_flight += 1
                continue
            await self._route(transport, data, dest)

    def heal(self) -> None:
        """Clear link faults and the partition, and resume every paused node."""
        super().heal()
        for node_id in sorted(self._paused):
            self.resume(node_id)

    # -- the send path -------------------------------------------------------------------

    def _require_nursery(self, what: str) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError(f"FaultyNetwork needs attach(nursery) before {what}")
        return self._nursery

    def _hold_if_paused(self, transport: FaultyTransport, data: bytes, dest: Address) -> bool:
        """Hold a paused node's outgoing datagram (bounded); True when it was held or lost so."""
        source = transport.node_id
        if source is None or source not in self._paused:
            return False
        held = self._held_out.setdefault(source, collections.deque())
        if len(held) >= self.pause_buffer:
            self.counters.pause_overflow += 1
        else:
            held.append((transport, data, dest))
            self.counters.held_by_pause += 1
        return True

    async def _route(self, transport: FaultyTransport, data: bytes, dest: Address) -> None:
        sent_now = False
        delays = self._delays(transport, data, dest)
        flight = None
        for delay in delays:
            if delay <= 0:
                await transport.inner.send(data, dest)
                sent_now = True
            else:
                flight = flight or self.in_flight(delays)
                self._send_delayed(delay, transport, data, dest, flight)
        if not sent_now:
            # A lost or delayed datagram still costs the sender a checkpoint, as a real send does.
            await trio.lowlevel.checkpoint()

    def _delays(self, transport: FaultyTransport, data: bytes, dest: Address) -> Sequence[float]:
        """The delay of each copy of the datagram (0: send it now; none: lost), as decided.

        Client traffic goes through untouched (one copy); node-to-node traffic gets whatever the
        fault model decides: none (lost), one, several (duplicated), now or later. The caller
        sends the copies due now and passes the later ones to ``_send_delayed``, in this order.
        """
        source = transport.node_id
        target = self._address_to_node.get(dest if type(dest) is tuple else tuple(dest))
        observer = self.observer
        if source is None or target is None or source == target:
            if observer is not None:
                observer.sent(source or CLIENT, target or CLIENT, data, None, 1)
            return _NOW
        if observer is None:
            return self.decide(source, target)
        delays, fault = self.decide_why(source, target)
        observer.sent(source, target, data, fault, len(delays))
        return delays

    def _send_delayed(self, delay: float, transport: FaultyTransport, data: bytes, dest: Address,
                      flight: InFlight) -> None:
        """Start the task that sends a delayed copy (the source and target are nodes: ``_delays`` says so)."""
        source = transport.node_id
        target = self._address_to_node[dest if type(dest) is tuple else tuple(dest)]
        assert source is not None
        self._require_nursery("a delayed delivery").start_soon(
            self._send_later, delay, transport, data, dest, source, target, flight
        )

    async def _send_later(
        self, delay: float, transport: FaultyTransport, data: bytes, dest: Address, source: str, target: str,
        flight: InFlight,
    ) -> None:
        await trio.sleep(delay)
        if not self.admit_due(source, target, flight):
            return
        try:
            await transport.inner.send(data, dest)
        except (trio.ClosedResourceError, OSError):
            # The sender crashed or closed meanwhile; the copy dies with its socket (counted once per datagram).
            self.lost_due(flight)


class FaultyTransport:
    """One wrapped endpoint; implements the ``Transport`` protocol."""

    def __init__(self, network: FaultyNetwork, inner: Transport, node_id: str | None) -> None:
        self.network = network
        self.inner = inner
        self.node_id = node_id
        self.closed = False
        self._held_in: collections.deque[tuple[bytes, Address]] = collections.deque()
        self._receive_scopes: set[trio.CancelScope] = set()

    @property
    def address(self) -> Address:
        return self.inner.address

    def alarm(self) -> Alarm:
        """The inner transport's timer alarm (``minikeydb.transport.alarm_for``)."""
        return alarm_for(self.inner)

    async def send(self, data: bytes, dest: Address) -> None:
        """Send with the faults applied: held while paused, else each copy ``_delays`` decides (``_route``)."""
        if self.closed:
            raise trio.ClosedResourceError("transport closed")
        network = self.network
        if self.node_id in network._paused and network._hold_if_paused(self, data, dest):
            await trio.lowlevel.checkpoint()
            return
        await network._route(self, data, dest)

    def send_nowait(self, data: bytes, dest: Address) -> None:
        """``send`` for a sender that cannot wait: the same faults, decided the same way."""
        if self.closed:
            raise trio.ClosedResourceError("transport closed")
        network = self.network
        if self.node_id in network._paused and network._hold_if_paused(self, data, dest):
            return
        delays = network._delays(self, data, dest)
        flight = None
        for delay in delays:
            if delay <= 0:
                self.inner.send_nowait(data, dest)
            else:
                flight = flight or network.in_flight(delays)
                network._send_delayed(delay, self, data, dest, flight)

    async def recv(self) -> tuple[bytes, Address]:
        """Next datagram; while the node is paused, arrivals are held (bounded) instead of returned.

        While the node is paused or datagrams are held, the inner ``recv`` runs in a cancel
        scope that ``resume`` cancels, so a receiver blocked on an idle socket still gets the
        held datagrams as soon as the node resumes. Trio's socket and channel receives are
        cancel-safe, so nothing is lost by the cancellation.
        """
        network = self.network
        if self.node_id is None:
            # Clients are never paused: nothing to hold, no scope to wake.
            arrived = await self.inner.recv()
            if network.observer is not None:
                network.observer.delivered(CLIENT, arrived[0])
            return arrived
        paused = network._paused
        while True:
            if self._held_in and self.node_id not in paused:
                arrived = self._held_in.popleft()
                if network.observer is not None:
                    network.observer.delivered(self.node_id, arrived[0])
                return arrived
            received: tuple[bytes, Address] | None = None
            if not self._held_in and self.node_id not in paused:
                # Nothing held and not paused: nothing for a resume to release, so no scope for
                # it to cancel (a scope per datagram is most of what this wrapper would cost).
                received = await self.inner.recv()
            else:
                with trio.CancelScope() as scope:
                    self._receive_scopes.add(scope)
                    try:
                        received = await self.inner.recv()
                    finally:
                        self._receive_scopes.discard(scope)
            if received is None:
                continue
            if self._held_in or self.node_id in paused:
                if self.node_id not in paused:
                    # Resumed but older held datagrams go first.
                    self._held_in.append(received)
                elif len(self._held_in) >= network.pause_buffer:
                    network.counters.pause_overflow += 1
                else:
                    self._held_in.append(received)
                    network.counters.held_by_pause += 1
                continue
            if network.observer is not None:
                network.observer.delivered(self.node_id, received[0])
            return received

    def recv_nowait(self) -> tuple[bytes, Address]:
        """A waiting datagram, or ``trio.WouldBlock``; a paused node never has one to take."""
        network = self.network
        if self.node_id is not None:
            if self.node_id in network._paused:
                raise trio.WouldBlock
            received = self._held_in.popleft() if self._held_in else self.inner.recv_nowait()
        else:
            received = self.inner.recv_nowait()
        if network.observer is not None:
            network.observer.delivered(self.node_id or CLIENT, received[0])
        return received

    def _wake_receivers(self) -> None:
        for scope in list(self._receive_scopes):
            scope.cancel()

    def close(self) -> None:
        self.closed = True
        self._held_in.clear()
        self.inner.close()
