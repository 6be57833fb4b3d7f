"""A MinikeyDB node: its lifecycle, its receive loop, and where each message goes.

A node is a replica (``replica.Replica``: keeps records, acknowledges them once durable, answers
reads of its copy) and a coordinator (``coordinator.Coordinator``: client requests, write and read
coordination, the reply cache); replication batching, retries and hinted handoff live in
``replication``, digest comparison in ``anti_entropy``. This module starts them, runs the receive
loop and its settle point, and holds the one table (``Node._handlers``) saying which function
handles each message type.

The node never knows it is being tested: faults are in the transport it is given and in the
process that runs it. The one exception is its ``Defect`` (``defects``), a named seeded defect
switched on only by ``--bug`` to prove the checker catches it (see ``BUGS``).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from .anti_entropy import AntiEntropy
from .config import ClusterConfig
from .conflict import Conflict
from .coordinator import Coordinator
from .defects import BUGS as BUGS  # re-exported: the harness's options and CLI read the names here
from .defects import NO_DEFECT, Defect
from .hlc import HybridClock
from .messaging import Backoff, Messenger
from .observe import ApplyObserver
from .replica import Replica
from .replication import Replicator
from .ring import shared_ring
from .storage import Storage, StorageClosedError
from .transport import Address, Transport, UdpTransport
from .wire import (
    Ack,
    Codec,
    Delete,
    Digests,
    Get,
    KeyStamps,
    Message,
    Pull,
    Put,
    Read,
    ReadReply,
    Replicate,
    StatsReply,
    StatsRequest,
    Update,
    WireError,
)

log = logging.getLogger("minikeydb.node")

BURST = UdpTransport.BURST
"""Datagrams handled back to back before the receive loop settles what it owes and yields."""

Handler = Callable[[Any, Address], Awaitable[None] | None]
"""A message handler: called in the receive loop; a returned awaitable is awaited there."""

M = TypeVar("M", bound=Message)


def route(kind: type[M], handler: Callable[[M, Address], Awaitable[None] | None]) -> tuple[type[Message], Handler]:
    """One entry of a dispatch table, type-checked: ``handler`` takes messages of type ``kind``."""
    return kind, handler


class Node:
    """One replica and coordinator. Run it with ``await node.run()`` inside a nursery."""

    def __init__(
        self,
        node_id: str,
        config: ClusterConfig,
        transport: Transport,
        storage: Storage,
        *,
        codec: Codec,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
        defect: Defect = NO_DEFECT,
        observer: ApplyObserver | None = None,
    ) -> None:
        config.node(node_id)  # raises ConfigError for an unknown id
        self.id = node_id
        self.config = config
        self.transport = transport
        self.storage = storage
        self.defect = defect
        self.features = defect.features
        self.rng = rng or random.Random()
        self.counters: Counter[str] = Counter()
        self.clock = HybridClock(node_id, wall)
        self.wall = wall
        self.ring = shared_ring(config.node_ids, config.replicas, config.vnodes)
        self.peers: dict[str, Address] = {n.id: n.peer_address for n in config.nodes if n.id != node_id}
        t = config.timeouts
        self.messenger = Messenger(transport, codec, self.rng, self.counters)
        self.backoff = Backoff(t.retry_initial, t.retry_max, t.retry_attempts)
        self.replicator = Replicator(
            node_id, self.messenger, self.peers, self.backoff, t.hint_interval, self.counters, self.rng,
            hinted_handoff=self.features.hinted_handoff, observer=observer,
        )
        self.anti_entropy = AntiEntropy(
            node_id, self.ring, storage, self.messenger, self.replicator, self.peers, self.rng, self.counters,
            interval=t.anti_entropy_interval, tombstone_grace=t.tombstone_grace, wall=wall,
        )
        self.conflict: Conflict | None = None
        if config.conflict != "lww":
            self.conflict = Conflict(
                config.conflict,
                siblings_by_timestamp=defect.siblings_by_timestamp,
                counter_merge_adds=defect.counter_merge_adds,
            )
            storage.use_join(self.conflict.join)
            self.replicator.join = self.conflict.join
            self.anti_entropy.joins = True
        self._nursery: trio.Nursery | None = None
        self.replica = Replica(
            node_id, storage, self.clock, self.messenger, self.peers, self.counters, defect, self.spawn, observer
        )
        self.observer = observer
        self.coordinator = Coordinator(self)
        self.started = trio.Event()
        replica, coordinator, anti_entropy = self.replica, self.coordinator, self.anti_entropy
        # Where each message is handled: one lookup on its type per datagram. Anything else
        # (a Reply or StatsReply sent to a node) is counted in ``dropped_unexpected``.
        self._handlers: dict[type[Message], Handler] = dict([
            route(Put, coordinator.on_write),
            route(Delete, coordinator.on_write),
            route(Get, coordinator.on_get),
            route(Update, coordinator.on_update),
            route(StatsRequest, self.on_stats_request),
            route(Replicate, replica.on_replicate),
            route(Read, replica.on_read),
            route(Ack, self.on_reply),
            route(ReadReply, self.on_reply),
            route(Digests, lambda message, _src: anti_entropy.on_digests(message)),
            route(KeyStamps, lambda message, _src: anti_entropy.on_key_stamps(message)),
            route(Pull, lambda message, _src: anti_entropy.on_pull(message)),
        ])

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled. Storage's background flusher and every helper task live in here."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.storage.run)
            if self.observer is not None:  # what this start recovered, before anything is served
                self.observer.recovered(self.id, list(self.storage.records()))
            await nursery.start(self.messenger.run_timers)
            await nursery.start(self.replicator.run)
            if self.features.anti_entropy:
                nursery.start_soon(self.anti_entropy.run)
            nursery.start_soon(self.replica.acknowledge_when_durable)
            nursery.start_soon(self._receive_loop)
            log.info("node %s serving at %s", self.id, self.transport.address)
            self.started.set()
            task_status.started()

    def stats(self) -> dict[str, int]:
        """Counters plus current sizes: what ``python -m minikeydb stats`` prints."""
        out = dict(self.counters)
        out.update(
            keys=self.storage.live_keys,
            tombstones=self.storage.tombstones,
            hints_pending=self.replicator.hints_pending,
            outbox=self.replicator.outbox_size,
            backlog_bytes=sum(self.replicator.backlog_bytes(peer) for peer in self.peers),
            requests_waiting=self.messenger.waiting,
            client_requests_inflight=self.coordinator.requests_inflight,
            reply_cache=self.coordinator.replies_cached,
            seen_replication_ids=self.replica.seen_replication_ids,
        )
        out.update({f"storage_{name}": value for name, value in self.storage.stats.items()})
        return out

    # -- receiving -------------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        """Handle datagrams as they come; when none is waiting, settle owed answers, then wait.

        That moment (everything that arrived is handled, nothing else to do) is when one group
        commit covers the most writes, as Redis fsyncs before it returns to its event loop.
        Every ``BURST`` datagrams it settles and yields anyway, so a flood cannot starve the
        node's other tasks or hold its answers back.
        """
        transport = self.transport
        handlers = self._handlers
        messenger = self.messenger
        replica, replicator, storage = self.replica, self.replicator, self.storage
        burst = 0
        while True:
            try:
                data, src = transport.recv_nowait()
                burst += 1
                if burst >= BURST:
                    burst = 0
                    await self._settle()
                    await trio.lowlevel.checkpoint()
            except trio.WouldBlock:
                burst = 0
                if replica.owed and storage.flushes_inline:  # _settle and replica.settle, inline (two coroutines less per wait)
                    await replica.send_owed()
                if replicator.ready:  # pump only when a link has records to send (a call less per wait)
                    replicator.pump()
                replicator.deferring = False
                data, src = await transport.recv()
            self.counters["datagrams_received"] += 1
            replicator.deferring = True  # records this burst queues go out when it settles
            try:  # Messenger.decode, inline: a malformed datagram is counted and dropped there
                message = messenger.codec.decode(data)
            except WireError as exc:
                messenger.dropped(exc, src)
                continue
            try:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s <- %s %r", self.id, src, message)
                handler = handlers.get(type(message))
                if handler is None:
                    self.counters["dropped_unexpected"] += 1
                    continue
                pending = handler(message, src)
                if pending is not None:
                    await pending
            except trio.ClosedResourceError:
                raise
            except Exception:  # a bug in one handler must not take the node down
                self.counters["handler_errors"] += 1
                log.exception("node %s: error handling %r from %s", self.id, message, src)

    async def _settle(self) -> None:
        """The receive loop's settle point: the replica's group commit and owed answers (when
        storage flushes inline), then the replication batches this burst queued."""
        if self.replica.owed:  # Replica.settle does nothing else (a coroutine less per settle)
            await self.replica.settle()
        self.replicator.pump()
        self.replicator.deferring = False

    def on_reply(self, message: Ack | ReadReply, _src: Address) -> None:
        """A replica's answer to this node's request: handed to whoever waits for it."""
        self.messenger.resolve(message)

    async def on_stats_request(self, message: StatsRequest, src: Address) -> None:
        await self.messenger.send(StatsReply(message.id, self.id, self.stats()), src)

    def spawn(self, handler: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run a handler as its own task; its exception is counted and logged, never fatal."""
        assert self._nursery is not None
        self._nursery.start_soon(self._guarded, handler, args)

    async def _guarded(self, handler: Callable[..., Awaitable[object]], args: tuple[object, ...]) -> None:
        try:
            await handler(*args)
        except StorageClosedError:
            self.counters["handler_errors_storage_closed"] += 1  # a crash in progress
        except Exception:
            self.counters["handler_errors"] += 1
            log.exception("node %s: error in %s", self.id, getattr(handler, "__name__", handler))
