"""A real-UDP MinikeyDB cluster inside the test process, whose nodes can be stopped and restarted.

Each node runs ``minikeydb.server.serve_node`` (its real UDP socket and on-disk log) inside its
own cancel scope, so a test can stop one node (cancel: the socket closes and the log is flushed
and closed, as on a clean shutdown), crash it (the storage loses what is not yet durable first,
as under SIGKILL), and start it again from its data directory.

Nodes need fixed addresses in the config, so ports are picked by binding throwaway sockets to
port 0 first (``free_udp_ports``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from minikeydb.client import Client
from minikeydb.config import ClusterConfig, parse_config
from minikeydb.defects import Defect, Features
from minikeydb.node import Node
from minikeydb.server import serve_node
from minikeydb.transport import free_udp_ports

FAST_TIMEOUTS: dict[str, float | int] = {
    "client": 1.5,
    "client_resend": 0.25,
    "coordinator": 0.6,
    "retry_initial": 0.02,
    "retry_max": 0.08,
    "retry_attempts": 4,
    "hint_interval": 0.1,
    "anti_entropy_interval": 0.2,
}
"""Short timeouts so that failures and repairs show within a fraction of a second."""




def make_config(
    data_dir: Path,
    nodes: int = 3,
    *,
    replicas: int = 3,
    timeouts: Mapping[str, float | int] | None = None,
    **cluster: Any,
) -> ClusterConfig:
    """A cluster config with ``nodes`` loopback nodes on free ports and its data under ``data_dir``."""
    ports = free_udp_ports(nodes)
    data = {
        "cluster": {"replicas": replicas, "data_dir": str(data_dir), **cluster},
        "timeouts": {**FAST_TIMEOUTS, **(timeouts or {})},
        "nodes": [{"id": f"n{i + 1}", "host": "127.0.0.1", "port": port} for i, port in enumerate(ports)],
    }
    return parse_config(data, "<test config>")


class TestCluster:
    """Handles on the running nodes of one config; see ``running_cluster``."""

    __test__ = False  # not a pytest test class

    def __init__(self, config: ClusterConfig, nursery: trio.Nursery, features: Features | None) -> None:
        self.config = config
        self.defect = Defect(features=features) if features is not None else Defect()
        self.nodes: dict[str, Node] = {}
        self._nursery = nursery
        self._scopes: dict[str, trio.CancelScope] = {}
        self._stopped: dict[str, trio.Event] = {}

    async def start(self, node_id: str) -> Node:
        """Start (or restart, from its data directory) one node; returns once it serves."""
        if node_id in self._scopes:
            raise RuntimeError(f"{node_id} is already running")
        node: Node = await self._nursery.start(self._run, node_id)
        self.nodes[node_id] = node
        return node

    async def _run(self, node_id: str, *, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
        done = trio.Event()
        self._stopped[node_id] = done
        try:
            with trio.CancelScope() as scope:
                self._scopes[node_id] = scope
                await serve_node(self.config, node_id, defect=self.defect, task_status=task_status)
        finally:
            self._scopes.pop(node_id, None)
            done.set()

    async def stop(self, node_id: str, *, crash: bool = False) -> None:
        """Stop one node and wait until its socket and log are closed.

        ``crash`` first makes its storage lose everything not yet durable (what SIGKILL does).
        """
        if crash:
            self.nodes[node_id].storage.crash()
        self._scopes[node_id].cancel()
        await self._stopped[node_id].wait()
        del self.nodes[node_id]

    def running(self, node_id: str) -> bool:
        return node_id in self._scopes

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Client]:
        async with Client.connect(self.config) as client:
            yield client

    def replicas_for(self, key: str) -> tuple[str, ...]:
        return next(iter(self.nodes.values())).ring.replicas_for(key)

    def quiet(self) -> bool:
        """Nothing queued for replication and no hints left on any running node."""
        return all(
            node.replicator.outbox_size == 0 and node.replicator.hints_pending == 0 and node.messenger.waiting == 0
            for node in self.nodes.values()
        )


@asynccontextmanager
async def running_cluster(
    config: ClusterConfig, *, features: Features | None = None, start: bool = True
) -> AsyncIterator[TestCluster]:
    """Start every node of ``config`` (unless ``start`` is false); stop them all when the block ends."""
    async with trio.open_nursery() as nursery:
        cluster = TestCluster(config, nursery, features)
        if start:
            for node_id in config.node_ids:
                await cluster.start(node_id)
        try:
            yield cluster
        finally:
            nursery.cancel_scope.cancel()


async def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll an (async or plain) predicate until it holds; False when ``timeout`` passes first."""
    with trio.move_on_after(timeout):
        while True:
            result = predicate()
            if hasattr(result, "__await__"):
                result = await result
            if result:
                return True
            await trio.sleep(interval)
    return False
