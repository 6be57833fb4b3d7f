"""An eavesdropper: a transport wrapper that keeps a copy of every datagram it sends.

What an attacker on the wire would capture, so that a test or a benchmark can replay it later
(from another socket, to another node) and show that a replay changes nothing.
"""

from __future__ import annotations

from minikeydb.transport import Address, Alarm, Transport, alarm_for


class TapTransport:
    """Sends and receives through ``inner``; every datagram sent is also appended to ``sent``."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sent: list[bytes] = []

    @property
    def address(self) -> Address:
        return self.inner.address

    def alarm(self) -> Alarm:
        """The inner transport's timer alarm (``minikeydb.transport.alarm_for``)."""
        return alarm_for(self.inner)

    async def send(self, data: bytes, dest: Address) -> None:
        self.sent.append(data)
        await self.inner.send(data, dest)

    def send_nowait(self, data: bytes, dest: Address) -> None:
        self.sent.append(data)
        self.inner.send_nowait(data, dest)

    async def recv(self) -> tuple[bytes, Address]:
        return await self.inner.recv()

    def recv_nowait(self) -> tuple[bytes, Address]:
        return self.inner.recv_nowait()

    def close(self) -> None:
        self.inner.close()
