"""Running real nodes: a node on its configured UDP address with its log on disk.

``serve_node`` is what ``python -m minikeydb serve`` runs and what the harness runs per node in
``udp`` mode; ``NodeHandle`` lets the harness crash a node (its task is cancelled and its storage
loses whatever was not yet durable, as under SIGKILL) and start it again from disk.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import trio

from .config import ClusterConfig
from .defects import NO_DEFECT, Defect
from .log_storage import LogStorage
from .node import Node
from .observe import ApplyObserver
from .ring import shared_ring
from .storage import Storage
from .transport import Transport, UdpTransport
from .wire import Codec

LOG_NAME = "records.log"


def storage_path(config: ClusterConfig, node_id: str) -> Path:
    return config.node_data_dir(node_id) / LOG_NAME


def open_log_storage(config: ClusterConfig, node_id: str, defect: Defect = NO_DEFECT) -> LogStorage:
    """The node's on-disk log, with the merge rule and flush interval its defect asks for."""
    ring = shared_ring(config.node_ids, config.replicas, config.vnodes)
    return LogStorage.open(
        storage_path(config, node_id),
        merge=defect.merge,
        bucket_of=ring.range_of,
        flush_interval=defect.flush_interval,
        write_in_thread=config.fsync == "thread",
        conflict_mode=config.conflict,
    )


def build_node(
    config: ClusterConfig,
    node_id: str,
    transport: Transport,
    storage: Storage,
    *,
    codec: Codec | None = None,
    rng: random.Random | None = None,
    wall: Callable[[], float] = time.time,
    defect: Defect = NO_DEFECT,
    observer: ApplyObserver | None = None,
) -> Node:
    return Node(
        node_id, config, transport, storage,
        codec=codec or Codec(config.load_secret(), conflict=config.conflict), rng=rng, wall=wall, defect=defect, observer=observer,
    )


async def serve_node(
    config: ClusterConfig,
    node_id: str,
    *,
    defect: Defect = NO_DEFECT,
    wall: Callable[[], float] = time.time,
    task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Bind the node's UDP address, open its log, and serve until cancelled; closes both after."""
    node_config = config.node(node_id)
    transport = await UdpTransport.bind(node_config.host, node_config.port)
    try:
        storage = open_log_storage(config, node_id, defect)
        try:
            node = build_node(config, node_id, transport, storage, defect=defect, wall=wall)
            async with trio.open_nursery() as nursery:
                await nursery.start(node.run)
                task_status.started(node)
        finally:
            with trio.CancelScope(shield=True):
                await storage.aclose()
    finally:
        transport.close()


async def serve_cluster(
    config: ClusterConfig,
    *,
    defect: Defect = NO_DEFECT,
    task_status: trio.TaskStatus[list[Node]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every node of the config in this one process (``python -m minikeydb cluster``)."""
    async with trio.open_nursery() as nursery:
        nodes = [await nursery.start(partial(serve_node, config, node_id, defect=defect)) for node_id in config.node_ids]
        task_status.started(nodes)


class OffsetFileClock:
    """A wall clock shifted by the number of seconds written in a file (absent or empty: 0).

    A process-level hook for fault injection, like libfaketime: the harness skews the clock of a
    node running as its own process by rewriting this file. The node only sees a clock function.
    The file is re-read at most every ``refresh`` seconds, so reading the time stays cheap.
    """

    def __init__(self, path: Path, base: Callable[[], float] = time.time, refresh: float = 0.05) -> None:
        self.path = path
        self.base = base
        self.refresh = refresh
        self._offset = 0.0
        self._checked = -1.0

    def __call__(self) -> float:
        now = self.base()
        if now - self._checked >= self.refresh or now < self._checked:
            self._checked = now
            try:
                text = self.path.read_text().strip()
                self._offset = float(text) if text else 0.0
            except (OSError, ValueError):
                self._offset = 0.0
        return now + self._offset
