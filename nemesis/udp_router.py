"""A UDP router that applies the fault model between node processes.

When each node is its own OS process, faults cannot live in a wrapper inside it, so they live in a
router the harness runs. Every node binds its *real* address and is told to reach each peer at the
peer's *proxy* address, where the router listens with one socket per node. A datagram arriving at
proxy socket P_j from real address R_i is the message i -> j: the router asks the shared
``FaultModel`` about link (i, j) and forwards each surviving copy to R_j **from socket P_i**. Node j
therefore sees the datagram coming from i's proxy, and its reply to that source comes back through
the router as the message j -> i. The decision code is ``FaultModel.decide``, the same one the
in-process ``FaultyNetwork`` uses.

Only node-to-node traffic goes through the router: clients talk to nodes' real addresses directly
(client traffic is not link-faulted), and datagrams reaching a proxy from any address that is not
a node's real address are counted and dropped. Pause in processes mode is SIGSTOP, done by the
harness, not here.
"""

from __future__ import annotations

from collections.abc import Mapping

import trio

from minikeydb.transport import Address, UdpTransport
from nemesis.link_faults import DatagramObserver, FaultModel, InFlight


class UdpRouter:
    """One proxy socket per node, forwarding node-to-node datagrams through the fault model."""

    def __init__(
        self,
        model: FaultModel,
        real: Mapping[str, Address],
        proxies: Mapping[str, UdpTransport],
    ) -> None:
        self.model = model
        self.real = {n: (a[0], a[1]) for n, a in real.items()}
        self._proxies = dict(proxies)
        self._node_at_real = {a: n for n, a in self.real.items()}
        self.forwarded = 0
        self.unknown_source = 0
        self._nursery: trio.Nursery | None = None
        self.observer: DatagramObserver | None = None
        """Told of every datagram's fate and of every copy forwarded (its delivery, as far as the
        router can see); None: nobody."""

    @classmethod
    async def open(
        cls,
        network: FaultModel,
        real: Mapping[str, Address],
        proxy: Mapping[str, Address],
    ) -> UdpRouter:
        """Bind one socket per node at its proxy address (port 0 picks one; see ``proxy``)."""
        if not isinstance(network, FaultModel):
            raise TypeError(f"UdpRouter needs a FaultModel (or FaultyNetwork), got {type(network).__name__}")
        if set(real) != set(proxy):
            raise ValueError(
                f"real and proxy addresses must name the same nodes: real {sorted(real)}, proxy {sorted(proxy)}"
            )
        if len({tuple(a) for a in real.values()}) != len(real):
            raise ValueError(f"real node addresses must be distinct, got {dict(real)!r}")
        sockets: dict[str, UdpTransport] = {}
        try:
            for node, (host, port) in proxy.items():
                sockets[node] = await UdpTransport.bind(host, port)
        except BaseException:
            for sock in sockets.values():
                sock.close()
            raise
        return cls(network, real, sockets)

    @property
    def proxy(self) -> dict[str, Address]:
        """Each node's proxy address, as bound: configure peers to reach node n at ``proxy[n]``."""
        return {n: s.address for n, s in self._proxies.items()}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Forward until cancelled or closed; start it with ``await nursery.start(router.run)``."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for node in self._proxies:
                    nursery.start_soon(self._serve, node)
                task_status.started()
        finally:
            self._nursery = None
            self.close()

    def close(self) -> None:
        """Close every proxy socket (the forwarding loops end)."""
        for sock in self._proxies.values():
            sock.close()

    async def _serve(self, target: str) -> None:
        inbox = self._proxies[target]
        while True:
            try:
                data, src = await inbox.recv()
            except (trio.ClosedResourceError, OSError):
                return
            source = self._node_at_real.get(src)
            if source is None:
                self.unknown_source += 1
                continue
            observer = self.observer
            if source == target:
                if observer is not None:
                    observer.sent(source, target, data, None, 1)
                if not await self._forward(source, target, data):  # not decided: lost, never passed
                    self.model.counters.lost_in_flight += 1
                continue
            if observer is None:
                delays = self.model.decide(source, target)
            else:
                delays, fault = self.model.decide_why(source, target)
                observer.sent(source, target, data, fault, len(delays))
            flight = self.model.in_flight(delays) if delays else None
            for delay in delays:
                if delay <= 0:
                    if not await self._forward(source, target, data) and flight is not None:
                        self.model.lost_now(flight)
                else:
                    assert self._nursery is not None and flight is not None
                    self._nursery.start_soon(self._forward_later, delay, source, target, data, flight)

    async def _forward_later(self, delay: float, source: str, target: str, data: bytes, flight: InFlight) -> None:
        await trio.sleep(delay)
        if self.model.admit_due(source, target, flight) and not await self._forward(source, target, data):
            self.model.lost_due(flight)

    async def _forward(self, source: str, target: str, data: bytes) -> bool:
        """Send one copy through the source's proxy; False when the proxy had closed (the copy is lost)."""
        # Counted before the send yields, so a receiver woken by it already sees the count.
        self.forwarded += 1
        try:
            await self._proxies[source].send(data, self.real[target])
        except (trio.ClosedResourceError, OSError):
            self.forwarded -= 1
            return False
        if self.observer is not None:
            self.observer.delivered(target, data)
        return True
