"""A MinikeyDB node: receives datagrams, stores records, coordinates client requests.

Any node coordinates any request. For a write it takes the version stamp the client put in the
request (the client's hybrid logical clock, under the tag; refused with ``fail``/``"clock"`` when
it is further from this node's wall clock than the replay window), so a replayed request is the
same version again and can create nothing new; its own HLC observes the stamp. It sends the
record to the key's N replicas (itself included when it is one), answering the client once W of
them have it durably. For a read it asks the N replicas, answers with the newest of the
first R answers, and, once all have answered, sends the newest version to any that were behind
(read repair). Replication batching, retries and hinted handoff live in ``replication``; digest
comparison in ``anti_entropy``; this module holds the request handling that ties them together.

The node never knows it is being tested: faults are in the transport it is given and in the
process that runs it. The one exception is ``bug``, a named defect switched on only by the
harness's ``--bug`` to prove the checker catches it (see ``BUGS``).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any

import attrs
import trio

from .anti_entropy import AntiEntropy
from .config import ClusterConfig
from .hlc import HybridClock
from .messaging import Backoff, Messenger, Timer
from .record import Record
from .replication import Quorum, Replicator
from .ring import Ring
from .storage import Storage, StorageClosedError
from .transport import Address, Transport, UdpTransport
from .wire import (
    FAIL,
    OK,
    REPLAY_WINDOW,
    UNKNOWN,
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
    Reply,
    StatsReply,
    StatsRequest,
)

log = logging.getLogger("minikeydb.node")

BUGS: dict[str, str] = {
    "no-tombstones": "deletes remove the key instead of writing a tombstone, so an old copy elsewhere comes back",
    "no-repair": "read repair, hinted handoff and anti-entropy are off: a replica that missed a write stays behind",
    "ack-before-durable": "writes are acknowledged before they are durable or replicated; a crash loses them",
    "first-writer-wins": "every merge keeps the older version, so later acknowledged writes are lost",
}
"""Seeded defects for validating the checker. Each is a documented switch, off unless asked for."""

LAZY_FLUSH_INTERVAL = 2.3
"""Seconds between storage flushes under ack-before-durable: long, so the window the bug opens is
wide. Not 2: a fault window starts ``interval`` after the (re)start that also starts the flush
timer, so with a fault interval that is a multiple of the flush interval (explore's 2 s) every
crash in virtual time lands on the instant of a flush and loses nothing."""


def flush_interval_for(bug: str | None) -> float:
    """The storage flush interval a node runs with (lazier under ack-before-durable)."""
    return LAZY_FLUSH_INTERVAL if bug == "ack-before-durable" else 1.0

REPLY_CACHE_SIZE = 20_000
SEEN_IDS_SIZE = 50_000
CACHE_AGE = REPLAY_WINDOW + 5.0
"""Request-id cache entries older than this protect nothing: their datagrams are dropped as stale."""
READ_REPAIR_WAIT = 1.0
BURST = UdpTransport.BURST
"""Datagrams handled back to back before the receive loop settles what it owes and yields."""


@attrs.frozen
class Features:
    """The three repair mechanisms, each switchable so a test can show what one alone achieves."""

    read_repair: bool = True
    hinted_handoff: bool = True
    anti_entropy: bool = True


def features_for(bug: str | None) -> Features:
    return Features(False, False, False) if bug == "no-repair" else Features()


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
        features: Features | None = None,
        bug: str | None = None,
    ) -> None:
        if bug is not None and bug not in BUGS:
            raise ValueError(f"unknown bug {bug!r}; known: {', '.join(BUGS)}")
        config.node(node_id)  # raises ConfigError for an unknown id
        self.id = node_id
        self.config = config
        self.transport = transport
        self.storage = storage
        self.bug = bug
        self.features = features if features is not None else features_for(bug)
        self.rng = rng or random.Random()
        self.counters: Counter[str] = Counter()
        self.clock = HybridClock(node_id, wall)
        self._wall = wall
        self.ring = Ring(config.node_ids, config.replicas, config.vnodes)
        self.peers: dict[str, Address] = {n.id: n.peer_address for n in config.nodes if n.id != node_id}
        t = config.timeouts
        self.messenger = Messenger(transport, codec, self.rng, self.counters)
        self.backoff = Backoff(t.retry_initial, t.retry_max, t.retry_attempts)
        self.replicator = Replicator(
            node_id, self.messenger, self.peers, self.backoff, t.hint_interval, self.counters, self.rng,
            hinted_handoff=self.features.hinted_handoff,
        )
        self.anti_entropy = AntiEntropy(
            node_id, self.ring, storage, self.messenger, self.replicator, self.peers, self.rng, self.counters,
            interval=t.anti_entropy_interval, tombstone_grace=t.tombstone_grace, wall=wall,
        )
        self._nursery: trio.Nursery | None = None
        # Client requests by (client id, request id), never by source address: a copy of a
        # request from another port is the same request.
        self._client_inflight: set[_Token] = set()
        # Request ids seen recently, with when: bounded by count and by age (see _forget_old).
        self._reply_cache: OrderedDict[_Token, tuple[float, bytes]] = OrderedDict()
        self._replicated: OrderedDict[tuple[str, int], float] = OrderedDict()
        # Answers owed once storage is durable up to a position: acks to replicating peers and
        # replies to local writes. One task sends them as group commits make them true.
        self._owed: deque[_Owed] = deque()
        self._owed_wakeup = trio.Event()
        self.started = trio.Event()

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled. Storage's background flusher and every helper task live in here."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.storage.run)
            await nursery.start(self.messenger.run_timers)
            await nursery.start(self.replicator.run)
            if self.features.anti_entropy:
                nursery.start_soon(self.anti_entropy.run)
            nursery.start_soon(self._acknowledge_when_durable)
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
            client_requests_inflight=len(self._client_inflight),
            reply_cache=len(self._reply_cache),
            seen_replication_ids=len(self._replicated),
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
        burst = 0
        while True:
            try:
                data, src = transport.recv_nowait()
                burst += 1
                if burst >= BURST:
                    burst = 0
                    await self._settle_owed()
                    await trio.lowlevel.checkpoint()
            except trio.WouldBlock:
                burst = 0
                await self._settle_owed()
                data, src = await transport.recv()
            self.counters["datagrams_received"] += 1
            self.replicator.deferring = True  # records this burst queues go out when it settles
            message = self.messenger.decode(data, src)
            if message is None:
                continue
            try:
                await self._dispatch(message, src)
            except trio.ClosedResourceError:
                raise
            except Exception:  # a bug in one handler must not take the node down
                self.counters["handler_errors"] += 1
                log.exception("node %s: error handling %r from %s", self.id, message, src)

    def _spawn(self, handler: Callable[..., Awaitable[object]], *args: object) -> None:
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

    async def _dispatch(self, message: Any, src: Address) -> None:
        # ``message`` is a Message; Any because dispatch is on ``type(message) is C`` through a
        # local, which mypy cannot narrow (isinstance would be slower on the hottest path).
        assert self._nursery is not None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %s %r", self.id, src, message)
        kind = type(message)
        if kind is Ack or kind is ReadReply:
            self.messenger.resolve(message)
        elif kind is Replicate:
            self._on_replicate(message, src)
        elif kind is Read:
            await self.messenger.send(ReadReply(message.id, self.id, self.storage.get(message.key)), src)
        elif kind is Put or kind is Delete or kind is Get:
            await self._on_client_request(message, src)
        elif kind is Digests:
            await self.anti_entropy.on_digests(message)
        elif kind is KeyStamps:
            await self.anti_entropy.on_key_stamps(message)
        elif kind is Pull:
            self.anti_entropy.on_pull(message)
        elif kind is StatsRequest:
            await self.messenger.send(StatsReply(message.id, self.id, self.stats()), src)
        else:
            self.counters["dropped_unexpected"] += 1

    # -- storing ---------------------------------------------------------------------------------

    async def store(self, records: Sequence[Record]) -> None:
        """Merge records into local storage; returns once they are durable (the ack promise)."""
        self.clock.observe(max(r.stamp for r in records))
        if self.bug == "ack-before-durable":
            self.storage.apply_nowait(records)
            await trio.lowlevel.checkpoint()
        else:
            await self.storage.apply(records)
        if self.bug == "no-tombstones":
            for record in records:
                if record.value is None:
                    await self.storage.purge_tombstone(record.key, record.stamp)

    def _stage(self, records: Sequence[Record]) -> None:
        """Merge records into storage now; durable at the next group commit (see ``_owe``)."""
        self.storage.apply_nowait(records)
        if self.bug == "no-tombstones":
            for record in records:
                if record.value is None:
                    self.storage.purge_nowait(record.key, record.stamp)

    def _on_replicate(self, message: Replicate, src: Address) -> None:
        """Stage the records now, in the receive loop; the ack goes out once they are durable.

        No task per message: the records join storage's next group commit, and the one
        answering task sends every ack that commit made true. Under load one fsync and one
        scheduler pass serve many replication batches.
        """
        if message.src not in self.peers:  # only the cluster's nodes replicate (as Pull and Digests)
            self.counters["dropped_unknown_peer"] += 1
            return
        token = (message.src, message.id)
        ack = self.messenger.codec.encode(Ack(message.id, self.id))
        try:
            if token in self._replicated:
                # A resend whose ack was lost, a duplicated datagram, or a replay: acknowledge
                # (once what it brought is durable, which may still be under way), do not re-apply.
                self.counters["replicate_duplicates"] += 1
                self._owe(self.storage.staged, ack, src)
                return
            self.counters["records_received"] += len(message.records)
            self.clock.observe(max(r.stamp for r in message.records))
            self._stage(message.records)
        except StorageClosedError:
            self.counters["handler_errors_storage_closed"] += 1  # a crash in progress
            return
        now = trio.current_time()
        self._replicated[token] = now
        _forget_old(self._replicated, now, SEEN_IDS_SIZE, lambda seen: seen)
        if self.bug == "ack-before-durable":  # the seeded defect: acknowledge what only memory holds
            self._spawn(self.messenger.send_bytes, ack, src)
            return
        self._owe(self.storage.staged, ack, src)

    def _owe(
        self, durable_at: int, data: bytes | None, dest: Address, on_durable: Callable[[], None] | None = None
    ) -> None:
        """Send ``data`` (if any) once storage is durable up to ``durable_at`` (calling ``on_durable`` first).

        Positions only grow (``staged`` does), so the queue stays in order.
        """
        self._owed.append((durable_at, data, dest, on_durable))
        if not self.storage.flushes_inline:
            self._owed_wakeup.set()  # else the receive loop settles them before it waits

    async def _settle_owed(self) -> None:
        """Group commit and send what is owed, here and now, when storage flushes inline; then
        send the replication batches this burst queued."""
        if self._owed and self.storage.flushes_inline:
            await self._send_owed()
        self.replicator.pump()
        self.replicator.deferring = False

    async def _acknowledge_when_durable(self) -> None:
        """Send owed answers while storage flushes in a thread (or waits): the receive loop must not."""
        while True:
            if not self._owed:
                self._owed_wakeup = trio.Event()
                await self._owed_wakeup.wait()
                continue
            await self._send_owed()

    async def _send_owed(self) -> None:
        """Send owed answers in order, each once storage is durable up to the position it names."""
        owed = self._owed
        upto = owed[-1][0]
        try:
            await self.storage.wait_durable(upto)
        except StorageClosedError:
            # Crashed before they were durable: those answers must never be sent.
            self.counters["handler_errors_storage_closed"] += len(owed)
            owed.clear()
            return
        while owed and owed[0][0] <= upto:
            _, data, dest, on_durable = owed.popleft()
            if on_durable is not None:
                on_durable()
            if data is not None:
                await self.messenger.send_bytes(data, dest)

    # -- coordinating ----------------------------------------------------------------------------

    async def _on_client_request(self, message: Put | Delete | Get, src: Address) -> None:
        """Answer at once what this node can answer alone; coordinate the rest (no task either).

        A read with R=1 at one of the key's replicas, not picked for read repair, is this
        node's own copy: answered here in the receive loop. A write with W=1 at one of the key's
        replicas is done when this node's copy is durable: it is staged here and answered when
        a group commit makes it durable. Both are the default (eventual) mode with the client's
        token-aware routing; other requests are coordinated by callbacks (``_coordinate_write``,
        ``_ReadRound``).
        """
        token = _token(message)
        cached = self._reply_cache.get(token)
        if cached is not None:  # a resend of a request already answered: answer the same again
            self.counters["client_duplicates"] += 1
            await self.messenger.send_bytes(cached[1], src)
            return
        if token in self._client_inflight:  # a resend of one still in progress: its answer will come
            self.counters["client_duplicates"] += 1
            return
        self.counters["client_requests"] += 1
        self._client_inflight.add(token)
        if isinstance(message, Get):
            if message.local:
                await self._answer_local_read(message, src)
            elif self._reads_alone(message):
                self.counters["reads_local"] += 1
                await self._answer_local_read(message, src)
            else:
                self._coordinate_read(message, src)
        else:
            if not self._admits(message, src):
                return
            value = message.value if isinstance(message, Put) else None
            if not self._stamp_in_window(message):
                self.counters["writes_refused_clock"] += 1
                await self._answer(message, src, Reply(message.id, FAIL, None, None, "clock", self.id))
                return
            self.clock.observe(message.stamp)
            if self._writes_alone(message):
                self._write_then_answer(message, src, value)
            else:
                self._coordinate_write(message, src, value)

    def _admits(self, message: Put | Delete, src: Address) -> bool:
        """Admission control: refuse a write, before anything is staged, while the backlog toward
        one of the key's other replicas is past the replicator's high-water mark.

        The refusal is a definite ``fail`` ("overloaded", counted in ``writes_overloaded``):
        nothing was stamped, stored or queued. Taking the write instead would grow outboxes and
        hints without bound, and a bounded store would then have to drop a write that is not
        yet on N replicas (see ``replication``).
        """
        others = [r for r in self.ring.replicas_for(message.key) if r != self.id]
        if self.replicator.admits(others):
            return True
        self.counters["writes_overloaded"] += 1
        # Answered like any request (a resend gets the same answer from the reply cache).
        self._answer_nowait(message, src, Reply(message.id, FAIL, None, None, "overloaded", self.id))
        return False

    def _stamp_in_window(self, message: Put | Delete) -> bool:
        """Whether the client's stamp is within the replay window of this node's wall clock.

        Outside it, the client's clock (or this node's) is badly wrong, and accepting the stamp
        would let that write win (or lose) every conflict for as long as the error.
        """
        return abs(message.stamp[0] - int(self._wall() * 1_000_000)) <= REPLAY_WINDOW * 1_000_000

    def _reads_alone(self, message: Get) -> bool:
        replicas = self.ring.replicas_for(message.key)
        return (
            self.id in replicas
            and self._quorum(message.r, len(replicas), self.config.read_quorum) == 1
            and not (self.features.read_repair and self.rng.random() < self.config.read_repair_chance)
        )

    def _writes_alone(self, message: Put | Delete) -> bool:
        replicas = self.ring.replicas_for(message.key)
        return (
            self.bug != "ack-before-durable"
            and self.id in replicas
            and self._quorum(message.w, len(replicas), self.config.write_quorum) == 1
        )

    def _write_then_answer(self, message: Put | Delete, src: Address, value: str | None) -> None:
        """A write whose quorum is this node's own durable copy: stage it, answer when durable."""
        record = Record(message.key, value, message.stamp)
        replicas = self.ring.replicas_for(message.key)
        quorum = Quorum(1, len(replicas))
        try:
            self._stage([record])
        except StorageClosedError:
            self.counters["handler_errors_storage_closed"] += 1  # a crash in progress: no answer
            return
        self._replicate_to_others(record, replicas, quorum)
        token = _token(message)
        data = self.messenger.codec.encode(Reply(message.id, OK, None, record.stamp, None, self.id))

        def durable() -> None:
            quorum.ack(True)
            self._remember_answer(token, data)

        self._owe(self.storage.staged, data, src, durable)

    def _remember_answer(self, token: _Token, data: bytes) -> None:
        """Cache an answer for resends of its request, which is no longer in progress."""
        now = trio.current_time()
        self._reply_cache[token] = (now, data)
        _forget_old(self._reply_cache, now, REPLY_CACHE_SIZE, lambda entry: entry[0])
        self._client_inflight.discard(token)

    async def _answer(self, message: Put | Delete | Get, src: Address, reply: Reply) -> None:
        data = self.messenger.codec.encode(reply)
        self._remember_answer(_token(message), data)
        await self.messenger.send_bytes(data, src)

    def _answer_nowait(self, message: Put | Delete | Get, src: Address, reply: Reply) -> None:
        """``_answer`` from a callback: a full send buffer loses it, and the client's resend is
        answered from the reply cache."""
        data = self.messenger.codec.encode(reply)
        self._remember_answer(_token(message), data)
        self.messenger.send_bytes_nowait(data, src)

    def _quorum(self, asked: int, available: int, default: int) -> int:
        return max(1, min(asked or default, available))

    def _coordinate_write(self, message: Put | Delete, src: Address, value: str | None) -> None:
        """Send the record to every replica; answer once W of them hold it, or at the timeout.

        No task of its own: the other replicas' acks arrive in the receive loop, this node's
        own copy joins the next group commit, and whichever settles the quorum answers (or the
        coordinator's timer does, with "unknown").
        """
        record = Record(message.key, value, message.stamp)
        replicas = self.ring.replicas_for(message.key)
        quorum = Quorum(self._quorum(message.w, len(replicas), self.config.write_quorum), len(replicas))
        if self.bug == "ack-before-durable":
            self._replicate_to_others(record, replicas, quorum)
            if self.id in replicas:
                self._spawn(self._local_write, record, quorum)
            self._answer_nowait(message, src, Reply(message.id, OK, None, record.stamp, None, self.id))
            return
        if self.id in replicas:  # this node's copy joins the next group commit
            try:
                self._stage([record])
            except StorageClosedError:
                self.counters["handler_errors_storage_closed"] += 1  # a crash in progress: no answer
                return
            self._owe(self.storage.staged, None, src, partial(quorum.ack, True))
        answered = False

        def answer() -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            self.messenger.cancel_timer(timer)
            if quorum.reached:
                reply = Reply(message.id, OK, None, record.stamp, None, self.id)
            else:
                # Some replica may still apply it later (a lost ack, a hint): the outcome is unknown.
                self.counters["writes_unknown"] += 1
                reply = Reply(message.id, UNKNOWN, None, record.stamp, "timeout", self.id)
            self._answer_nowait(message, src, reply)

        timer = self.messenger.call_later(self.config.timeouts.coordinator, answer)
        quorum.on_done = answer  # set before anything can settle the quorum
        self._replicate_to_others(record, replicas, quorum)

    def _replicate_to_others(self, record: Record, replicas: Sequence[str], quorum: Quorum) -> None:
        """Queue ``record`` to every replica but this node, each ack counting towards ``quorum``."""
        for replica in replicas:
            if replica != self.id:
                self.replicator.enqueue(replica, record, quorum)

    async def _local_write(self, record: Record, quorum: Quorum) -> None:
        await self.store([record])
        quorum.ack(True)

    async def _answer_local_read(self, message: Get, src: Address) -> None:
        """This node's own copy, no quorum and no repair: what the final convergence check reads."""
        await self._answer(message, src, self._read_reply(message, self.storage.get(message.key)))

    def _read_reply(self, message: Get, record: Record | None) -> Reply:
        """The ok answer to a read that found ``record`` (None: the key is absent)."""
        value = None if record is None else record.value
        stamp = None if record is None else record.stamp
        return Reply(message.id, OK, value, stamp, None, self.id)

    def _coordinate_read(self, message: Get, src: Address) -> None:
        """Ask R replicas (this node's own copy first), all N on the reads chosen for repair.

        Replicas not asked at first are asked when the first ones are slow to answer, so one
        unreachable replica costs a short delay, not a failed read. No task of its own: see
        ``_ReadRound``.
        """
        replicas = self.ring.replicas_for(message.key)
        needed = self._quorum(message.r, len(replicas), self.config.read_quorum)
        repairing = self.features.read_repair and (
            needed == len(replicas) or self.rng.random() < self.config.read_repair_chance
        )
        _ReadRound(self, message, src, sorted(replicas, key=lambda r: r != self.id), needed, repairing).start()

    def _repair(self, newest: Record, answers: dict[str, Record | None]) -> None:
        assert self._nursery is not None
        for replica, record in answers.items():
            if record is None or record.stamp < newest.stamp:
                self.counters["read_repairs"] += 1
                if replica == self.id:
                    self._spawn(self.store, [newest])
                else:
                    self.replicator.enqueue(replica, newest)


_Token = tuple[str, int]
"""A client request's identity: (client id, request id)."""


def _token(message: Put | Delete | Get) -> _Token:
    """Writes name their client in their stamp, reads in their ``client`` field."""
    return (message.client if isinstance(message, Get) else message.stamp[2], message.id)


_Owed = tuple[int, bytes | None, Address, Callable[[], None] | None]
"""An answer waiting for durability: storage position, datagram, destination, what to do first."""


def _forget_old(cache: OrderedDict[Any, Any], now: float, limit: int, when: Callable[[Any], float]) -> None:
    """Drop the oldest entries while there are too many or they are older than ``CACHE_AGE``.

    Entries are added in time order, so the oldest is always at the front.
    """
    while cache:
        oldest = next(iter(cache.values()))
        if len(cache) <= limit and now - when(oldest) <= CACHE_AGE:
            return
        cache.popitem(last=False)


class _ReadRound:
    """One coordinated read, event-driven: the replicas' answers arrive in the receive loop and
    the coordinator's timers fire from the messenger's, so no task waits for them.

    It answers the client once R replicas answered (``fail`` if the coordinator's timeout comes
    first), asks the replicas it did not ask at first when the first ones are slow, and after
    answering waits for every replica asked (at most ``READ_REPAIR_WAIT``) to repair stale ones.
    """

    __slots__ = (
        "node", "message", "src", "ordered", "needed", "repairing", "first_wave", "asked", "answers",
        "failed", "state", "newest", "timers",
    )

    WAITING, REPAIRING, DONE = range(3)

    def __init__(
        self, node: Node, message: Get, src: Address, ordered: list[str], needed: int, repairing: bool
    ) -> None:
        self.node = node
        self.message = message
        self.src = src
        self.ordered = ordered
        self.needed = needed
        self.repairing = repairing
        self.first_wave = len(ordered) if repairing else needed
        self.asked = 0
        self.answers: dict[str, Record | None] = {}
        self.failed = 0
        self.state = self.WAITING
        self.newest: Record | None = None
        self.timers: list[Timer] = []

    def start(self) -> None:
        node = self.node
        messenger = node.messenger
        self.asked = self.first_wave
        self.timers.append(messenger.call_later(node.config.timeouts.coordinator, self._give_up))
        if self.first_wave < len(self.ordered):
            fallback = messenger.retransmit_timeout(node.peers[self.ordered[-1]]) or node.backoff.initial
            self.timers.append(messenger.call_later(max(node.backoff.initial, 2 * fallback), self._fall_back))
        for replica in self.ordered[: self.first_wave]:
            self._ask(replica)

    def _ask(self, replica: str) -> None:
        node = self.node
        if replica == node.id:
            self.answers[replica] = node.storage.get(self.message.key)
            self._settle()
            return
        request = Read(node.messenger.new_id(), node.id, self.message.key)
        node.messenger.call(request, node.peers[replica], node.backoff, partial(self._reply, replica), self._open)

    def _open(self) -> bool:
        """Whether answers are still wanted (for the client, or for repair): else stop resending."""
        return self.state != self.DONE

    def _reply(self, replica: str, reply: Message | None) -> None:
        if isinstance(reply, ReadReply):
            self.answers[replica] = reply.record
        else:
            self.failed += 1
        self._settle()

    def _settle(self) -> None:
        if self.state == self.WAITING and len(self.answers) >= self.needed:
            self._answer()
        if self.state == self.REPAIRING and len(self.answers) + self.failed >= self.asked:
            self._repair()

    def _answer(self) -> None:
        self._cancel_timers()
        message = self.message
        node = self.node
        newest = self.newest = _newest(self.answers.values())
        node._answer_nowait(message, self.src, node._read_reply(message, newest))
        if newest is not None and (self.repairing or len(self.answers) > 1):
            self.state = self.REPAIRING
            self.timers.append(node.messenger.call_later(READ_REPAIR_WAIT, self._repair))
        else:
            self.state = self.DONE

    def _repair(self) -> None:
        if self.state != self.REPAIRING:
            return
        self.state = self.DONE
        self._cancel_timers()
        if self.node.features.read_repair and self.newest is not None:
            self.node._repair(self.newest, self.answers)

    def _give_up(self) -> None:
        if self.state != self.WAITING:
            return
        self.state = self.DONE
        self._cancel_timers()
        # A read changes nothing, so not getting an answer is a definite failure.
        node = self.node
        node.counters["reads_failed"] += 1
        message = self.message
        node._answer_nowait(message, self.src, Reply(message.id, FAIL, None, None, "unavailable", node.id))

    def _fall_back(self) -> None:
        if self.state != self.WAITING:
            return
        self.node.counters["read_fallbacks"] += 1
        for replica in self.ordered[self.first_wave :]:
            self.asked += 1
            self._ask(replica)

    def _cancel_timers(self) -> None:
        for timer in self.timers:
            self.node.messenger.cancel_timer(timer)
        self.timers.clear()


def _newest(records: Iterable[Record | None]) -> Record | None:
    best: Record | None = None
    for record in records:
        if record is not None and (best is None or record.stamp > best.stamp):
            best = record
    return best
