"""Conflict modes against captured and replayed requests: a replay within the window changes nothing new."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from minikeydb.wire import peek

from .cluster_fixture import make_config, running_cluster, wait_until

pytestmark = pytest.mark.usefixtures("cluster_secret")


async def test_a_replayed_remove_at_another_node_does_not_remove_a_later_add(tmp_path: Path) -> None:
    """A captured remove replayed (another port, another node) after an acknowledged re-add removes
    only the adds it observed: the re-add survives (before: the replica computed what to remove
    when the replay arrived, and deleted the re-add)."""
    config = make_config(tmp_path, conflict="crdt")
    async with running_cluster(config) as cluster, cluster.client() as a, cluster.client() as b:
        assert (await a.add("s", "e", node="n1", w=3)).ok
        captured: list[bytes] = []
        transport = b.messenger.transport
        send = transport.send

        async def spy(data: bytes, dest: tuple[str, int]) -> None:
            captured.append(data)
            await send(data, dest)

        transport.send = spy  # type: ignore[method-assign]
        assert (await b.remove("s", "e", node="n1", w=3)).ok
        transport.send = send  # type: ignore[method-assign]
        assert (await a.get("s", node="n2", r=3)).elements == ()
        assert (await a.add("s", "e", node="n1", w=3)).ok
        update = next(data for data in captured if peek(data)[0] == "update")
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            await sock.bind(("127.0.0.1", 0))
            await sock.sendto(update, config.node("n2").address)
            with trio.move_on_after(5):
                await sock.recv(65536)  # answered ok: the same remove again

        async def views() -> list[tuple[str, ...] | None]:
            return [(await a.get("s", node=node, local=True)).elements for node in sorted(cluster.nodes)]

        async def still_there() -> bool:
            return await views() == [("e",)] * 3

        await trio.sleep(0.5)
        assert await wait_until(still_there, timeout=5), await views()
