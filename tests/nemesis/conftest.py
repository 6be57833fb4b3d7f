"""Fixtures for the nemesis tests: five nodes and a client over either backend, all wrapped."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import pytest
import trio

from minikeydb.testing.network import MemoryNetwork
from minikeydb.transport import Address, Transport, UdpTransport
from nemesis.faulty_network import FaultyNetwork, FaultyTransport

NODES = ["n1", "n2", "n3", "n4", "n5"]


@attrs.define
class Cluster:
    """A wrapped five-node cluster plus one client endpoint."""

    backend: str
    network: FaultyNetwork
    nodes: dict[str, FaultyTransport]
    client: FaultyTransport

    def addr(self, node: str) -> Address:
        return self.nodes[node].address


async def open_raw(backend: str, count: int) -> list[Transport]:
    if backend == "memory":
        memory = MemoryNetwork()
        return [memory.endpoint() for _ in range(count)]
    return [await UdpTransport.bind() for _ in range(count)]


@pytest.fixture(params=["memory", "udp"])
async def cluster(request: pytest.FixtureRequest, nursery: trio.Nursery) -> AsyncIterator[Cluster]:
    raw = await open_raw(request.param, len(NODES) + 1)
    node_raw = dict(zip(NODES, raw, strict=False))
    network = FaultyNetwork(random.Random(1234), {n: t.address for n, t in node_raw.items()})
    network.attach(nursery)
    wrapped = {n: network.wrap(t, n) for n, t in node_raw.items()}
    client = network.wrap(raw[-1], None)
    yield Cluster(request.param, network, wrapped, client)
    for t in [*wrapped.values(), client]:
        t.close()


async def exchange(
    receivers: dict[str, Transport], send: Callable[[], Awaitable[None]], settle: float = 0.3
) -> dict[str, list[tuple[bytes, Address, float]]]:
    """Run ``send`` while draining every receiver; wait ``settle`` s after it for late datagrams.

    Each arrival is recorded with trio's time of arrival.
    """
    got: dict[str, list[tuple[bytes, Address, float]]] = {name: [] for name in receivers}

    async def drain(name: str, transport: Transport) -> None:
        while True:
            data, src = await transport.recv()
            got[name].append((data, src, trio.current_time()))

    async with trio.open_nursery() as nursery:
        for name, transport in receivers.items():
            nursery.start_soon(drain, name, transport)
        await trio.lowlevel.checkpoint()
        await send()
        await trio.sleep(settle)
        nursery.cancel_scope.cancel()
    return got
