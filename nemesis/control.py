"""An in-process ``ClusterControl``: pause through the faulty network, skew through node clocks.

When every node runs in the harness's own process (UDP or simulated mode), a "paused" node is one
whose traffic the ``FaultyNetwork`` holds, and clock skew is an offset on that node's
``SkewableClock``. Only crash and restart depend on how the harness builds nodes, so it supplies
those two as callables and gets a complete ``ClusterControl`` back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from nemesis.clock import SkewableClock
from nemesis.faulty_network import FaultyNetwork

NodeAction = Callable[[str], Awaitable[None]]


class InProcessControl:
    """``ClusterControl`` for in-process clusters; ``crash``/``restart`` are the harness's own."""

    def __init__(
        self,
        network: FaultyNetwork,
        clocks: Mapping[str, SkewableClock],
        crash: NodeAction,
        restart: NodeAction,
    ) -> None:
        self.network = network
        self.clocks = dict(clocks)
        self._crash = crash
        self._restart = restart

    async def crash(self, node_id: str) -> None:
        await self._crash(node_id)

    async def restart(self, node_id: str) -> None:
        await self._restart(node_id)

    async def pause(self, node_id: str) -> None:
        self.network.pause(node_id)

    async def resume(self, node_id: str) -> None:
        self.network.resume(node_id)

    def set_clock_offset(self, node_id: str, seconds: float) -> None:
        clock = self.clocks.get(node_id)
        if clock is None:
            raise ValueError(f"no clock for node {node_id!r}; known: {', '.join(sorted(self.clocks))}")
        clock.set_offset(seconds)
