"""What a node does as a coordinator: client requests, write and read coordination, the reply cache.

Any node coordinates any request. For a write it takes the version stamp the client put in the
request (the client's hybrid logical clock, under the tag; refused with ``fail``/``"clock"`` when
it is further from this node's wall clock than the replay window), so a replayed request is the
same version again and can create nothing new; its own HLC observes the stamp. It sends the
record to the key's N replicas (itself included when it is one), answering the client once W of
them have it durably. For a read it asks the N replicas, answers with the newest of the
first R answers, and, once all have answered, sends the newest version to any that were behind
(read repair). Replication batching, retries and hinted handoff live in ``replication``; this
node's own copy is kept by its ``Replica``.

Nothing here has a task of its own per request: a write answers from its quorum's ``on_done``
(or the coordinator's timer), a read is a ``_ReadRound`` driven by replies and timers.
Requests are identified by (client id, request id), never by source address: a copy of a request
from another port is the same request, answered from the reply cache once answered.
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import trio

from .conflict import CRDT, ConflictError
from .dvv import StateError, StateTooLarge
from .messaging import Timer, forget_old
from .record import Record
from .replication import Quorum
from .storage import StorageClosedError
from .transport import Address
from .wire import (
    FAIL,
    OK,
    REPLAY_WINDOW,
    UNKNOWN,
    Delete,
    Get,
    Message,
    Put,
    Read,
    ReadReply,
    Reply,
    TooLarge,
    Update,
)

if TYPE_CHECKING:
    from .node import Node

REPLY_CACHE_SIZE = 20_000
"""Answered client requests remembered (also bounded by age, ``messaging.CACHE_AGE``)."""
READ_REPAIR_WAIT = 1.0
"""Seconds a read waits, after answering, for the rest of the replicas it asked before repairing."""

_Token = tuple[str, int]
"""A client request's identity: (client id, request id)."""


Write = Put | Delete | Update
"""A client write: lww's put and delete, or an update under conflict mode siblings or crdt."""


def _token(message: Put | Delete | Get | Update) -> _Token:
    """Writes name their client in their stamp, reads in their ``client`` field."""
    return (message.client if type(message) is Get else message.stamp[2], message.id)  # type: ignore[union-attr]  # type() does not narrow the else


class Coordinator:
    """One node's coordinator role. It uses the node's replica for its own copies."""

    def __init__(self, node: Node) -> None:
        self.id = node.id
        self.config = node.config
        self.ring = node.ring
        self.rng: random.Random = node.rng
        self.counters: Counter[str] = node.counters
        self.clock = node.clock
        self.wall: Callable[[], float] = node.wall
        self.messenger = node.messenger
        self.backoff = node.backoff
        self.peers = node.peers
        self.replicator = node.replicator
        self.replica = node.replica
        self.defect = node.defect
        self.features = node.defect.features
        self.conflict = node.conflict
        self._spawn = node.spawn
        # Client requests by (client id, request id), never by source address: a copy of a
        # request from another port is the same request.
        self._client_inflight: set[_Token] = set()
        # Request ids seen recently, with when: bounded by count and by age (see forget_old).
        self._reply_cache: OrderedDict[_Token, tuple[float, bytes]] = OrderedDict()

    @property
    def requests_inflight(self) -> int:
        return len(self._client_inflight)

    @property
    def replies_cached(self) -> int:
        return len(self._reply_cache)

    # -- client requests -------------------------------------------------------------------------

    def _resend_of(self, message: Write | Get) -> bytes | None:
        """Whether ``message`` is a resend: None when it is not (it is counted, and now in progress);
        else the reply cache's answer to send again, or ``b""`` when its answer is still in progress
        (a plain function: the handlers await only for a resend, a coroutine less per request)."""
        # _token(message), inline (every client request)
        token = (message.client if type(message) is Get else message.stamp[2], message.id)  # type: ignore[union-attr]
        cached = self._reply_cache.get(token)
        if cached is not None:  # a resend of a request already answered: answer the same again
            self.counters["client_duplicates"] += 1
            return cached[1]
        if token in self._client_inflight:  # a resend of one still in progress: its answer will come
            self.counters["client_duplicates"] += 1
            return b""
        self.counters["client_requests"] += 1
        self._client_inflight.add(token)
        return None

    async def on_get(self, message: Get, src: Address) -> None:
        """A client read: answered at once from this node's copy when that is enough, else coordinated.

        A read with R=1 at one of the key's replicas, not picked for read repair, is this
        node's own copy: answered here in the receive loop. That is the default (eventual) mode
        with the client's token-aware routing; other reads are a ``_ReadRound``.
        """
        again = self._resend_of(message)
        if again is not None:  # a resend: answered again from the cache, or left to the answer in progress
            if again:
                await self.messenger.send_bytes(again, src)
            return
        if message.local:
            await self._answer_local_read(message, src)
        elif self._reads_alone(message):
            self.counters["reads_local"] += 1
            await self._answer_local_read(message, src)
        else:
            self._coordinate_read(message, src)

    async def on_write(self, message: Put | Delete, src: Address) -> None:
        """A client write (a delete writes a tombstone): admitted, checked, then written.

        A write with W=1 at one of the key's replicas is done when this node's copy is durable:
        it is staged here and answered when a group commit makes it durable. Other writes are
        coordinated by callbacks (``_coordinate_write``).
        """
        again = self._resend_of(message)
        if again is not None:  # a resend: answered again from the cache, or left to the answer in progress
            if again:
                await self.messenger.send_bytes(again, src)
            return
        if self.conflict is not None:
            self.counters["writes_refused_mode"] += 1
            error = f"conflict mode is {self.conflict.mode}: writes are updates (a client configured for lww?)"
            await self._answer(message, src, Reply(id=message.id, status=FAIL, error=error, node=self.id))
            return
        if not self._admits(message, src):
            return
        value = message.value if isinstance(message, Put) else None
        if not self._stamp_in_window(message):
            self.counters["writes_refused_clock"] += 1
            await self._answer(message, src, Reply(id=message.id, status=FAIL, error="clock", node=self.id))
            return
        self.clock.observe(message.stamp)
        record = Record(message.key, value, message.stamp)
        if self._writes_alone(message):
            self._write_then_answer(message, src, record)
        else:
            self._coordinate_write(message, src, record)

    async def on_update(self, message: Update, src: Address) -> None:
        """A client write under conflict mode siblings or crdt: its delta, joined wherever it lands.

        The coordinator makes the record from the request (``Conflict.delta``), checking the
        operation against the key's type as its own copy shows it (when it is a replica); a
        wrong operation is a definite ``fail`` with the reason. Then it is written like any write.
        """
        again = self._resend_of(message)
        if again is not None:  # a resend: answered again from the cache, or left to the answer in progress
            if again:
                await self.messenger.send_bytes(again, src)
            return
        conflict = self.conflict
        if conflict is None:
            self.counters["writes_refused_mode"] += 1
            error = f"conflict mode is lww: {message.op} is not an operation here"
            await self._answer(message, src, Reply(id=message.id, status=FAIL, error=error, node=self.id))
            return
        if not self._admits(message, src):
            return
        if not self._stamp_in_window(message):
            self.counters["writes_refused_clock"] += 1
            await self._answer(message, src, Reply(id=message.id, status=FAIL, error="clock", node=self.id))
            return
        replicas = self.ring.replicas_for(message.key)
        if self.id not in replicas:
            # No copy here: the replicas' join is what the update is checked against (its type,
            # and whether the state it makes still fits: ``StateTooLarge``).
            self._spawn(self._update_after_reading, message, src, replicas)
            return
        local = self.replica.get(message.key)
        if local is None and conflict.mode == CRDT and len(replicas) > 1:
            # A write that would give the key its type: the other replicas may already hold it as
            # another type (a write this copy missed), which a higher-ranked type would destroy.
            self._spawn(self._update_after_reading, message, src, [r for r in replicas if r != self.id])
        else:
            self._update_with(message, src, local)

    async def _update_after_reading(self, message: Update, src: Address, replicas: Sequence[str]) -> None:
        """An update at a node that holds no copy (or, under crdt, whose copy is absent): read the
        other replicas (for at most half the coordinator's timeout), then make the update against
        their join with this node's copy. Under crdt a key none of them holds gets its type only
        when a majority of its replicas answered: else a definite fail (an acknowledged write of
        another type may be on the replicas that did not answer)."""
        answers: list[Record | None] = []

        async def ask(replica: str) -> None:
            reply = await self.messenger.request(
                Read(self.messenger.new_id(), self.id, message.key), self.peers[replica], self.backoff
            )
            if isinstance(reply, ReadReply):
                answers.append(reply.record)

        with trio.move_on_after(self.config.timeouts.coordinator / 2):
            async with trio.open_nursery() as nursery:
                for replica in replicas:
                    nursery.start_soon(ask, replica)
        assert self.conflict is not None
        self.counters["updates_read_first"] += 1
        everyone = self.ring.replicas_for(message.key)
        if self.id in everyone:
            answers.append(self.replica.get(message.key))
        try:
            joined = self.conflict.combine(answers)
        except StateError as e:  # the replicas' states do not join within the limit
            self._refuse_update(message, src, e)
            return
        majority = len(everyone) // 2 + 1
        if joined is None and self.conflict.mode == CRDT and len(answers) < majority:
            self.counters["writes_refused_type_unknown"] += 1
            error = (f"unavailable: key {message.key!r}'s type could not be read from a majority of its replicas "
                     f"({len(answers)} of {len(everyone)} answered); nothing was written")
            self.answer_nowait(message, src, Reply(id=message.id, status=FAIL, error=error, node=self.id))
            return
        self._update_with(message, src, joined)

    def _update_with(self, message: Update, src: Address, local: Record | None) -> None:
        """Make the update's record against ``local`` (this node's copy, or the replicas' join)
        and write it."""
        assert self.conflict is not None
        try:
            record = self.conflict.delta(
                message.op, message.key, message.arg, message.context, message.n, message.lane, message.stamp, local
            )
            if local is not None:
                # The state this write makes where it lands: refused now, not acknowledged and
                # then unstorable (``StateTooLarge``: a state must fit one datagram).
                self.conflict.join(local, record, trim=False)
        except (ConflictError, StateError) as e:
            self._refuse_update(message, src, e)
            return
        self.clock.observe(message.stamp)
        if self._writes_alone(message):
            self._write_then_answer(message, src, record)
        else:
            self._coordinate_write(message, src, record)

    def _refuse_update(self, message: Update, src: Address, error: ValueError) -> None:
        """A definite ``fail`` naming why (a wrong type, a bad context, a state over the limit)."""
        self.counters["writes_refused_too_large" if isinstance(error, StateTooLarge) else "writes_refused_type"] += 1
        self.answer_nowait(message, src, Reply(id=message.id, status=FAIL, error=str(error), node=self.id))

    def _admits(self, message: Write, src: Address) -> bool:
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
        self.answer_nowait(message, src, Reply(id=message.id, status=FAIL, error="overloaded", node=self.id))
        return False

    def _stamp_in_window(self, message: Write) -> bool:
        """Whether the client's stamp is within the replay window of this node's wall clock.

        Outside it, the client's clock (or this node's) is badly wrong, and accepting the stamp
        would let that write win (or lose) every conflict for as long as the error.
        """
        return abs(message.stamp[0] - int(self.wall() * 1_000_000)) <= REPLAY_WINDOW * 1_000_000

    def _reads_alone(self, message: Get) -> bool:
        replicas = self.ring.replicas_for(message.key)
        return (
            self.id in replicas
            and self._quorum(message.r, len(replicas), self.config.read_quorum) == 1
            and not (self.features.read_repair and self.rng.random() < self.config.read_repair_chance)
        )

    def _writes_alone(self, message: Write) -> bool:
        replicas = self.ring.replicas_for(message.key)
        return (
            not self.defect.ack_before_durable
            and self.id in replicas
            and self._quorum(message.w, len(replicas), self.config.write_quorum) == 1
        )

    def _quorum(self, asked: int, available: int, default: int) -> int:
        return max(1, min(asked or default, available))

    # -- answering and the reply cache -------------------------------------------------------------

    def _remember_answer(self, token: _Token, data: bytes) -> None:
        """Cache an answer for resends of its request, which is no longer in progress."""
        now = self.messenger.now()
        self._reply_cache[token] = (now, data)
        forget_old(self._reply_cache, now, REPLY_CACHE_SIZE, 0)  # entries are (time, datagram)
        self._client_inflight.discard(token)

    def _encode_answer(self, reply: Reply) -> bytes:
        """The reply's datagram; a value that cannot travel (a state stored before states were
        bounded) is answered with a definite ``fail`` "too-large", never left to time out."""
        try:
            return self.messenger.codec.encode(reply)
        except TooLarge as e:
            self.counters["replies_too_large"] += 1
            error = f"too-large: the answer does not fit a datagram ({e})"
            return self.messenger.codec.encode(Reply(id=reply.id, status=FAIL, error=error, node=self.id))

    async def _answer(self, message: Write | Get, src: Address, reply: Reply) -> None:
        data = self._encode_answer(reply)
        self._remember_answer(_token(message), data)
        self.counters["datagrams_sent"] += 1  # messenger.send_bytes, inline (a coroutine less per answer)
        await self.messenger.transport.send(data, src)

    def answer_nowait(self, message: Write | Get, src: Address, reply: Reply) -> None:
        """``_answer`` from a callback: a full send buffer loses it, and the client's resend is
        answered from the reply cache."""
        data = self._encode_answer(reply)
        self._remember_answer(_token(message), data)
        self.messenger.send_bytes_nowait(data, src)

    # -- writes ----------------------------------------------------------------------------------

    def _write_then_answer(self, message: Write, src: Address, record: Record) -> None:
        """A write whose quorum is this node's own durable copy: stage it, answer when durable."""
        replicas = self.ring.replicas_for(message.key)
        quorum = Quorum(1, len(replicas))
        try:
            self.replica.stage([record])
        except StorageClosedError:
            self.counters["handler_errors_storage_closed"] += 1  # a crash in progress: no answer
            return
        self._replicate_to_others(record, replicas, quorum)
        token = _token(message)
        data = self.messenger.codec.encode(Reply(id=message.id, status=OK, stamp=record.stamp, node=self.id))

        def durable() -> None:
            quorum.ack(True)
            self._remember_answer(token, data)

        self.replica.owe(data, src, durable)

    def _coordinate_write(self, message: Write, src: Address, record: Record) -> None:
        """Send the record to every replica; answer once W of them hold it, or at the timeout.

        No task of its own: the other replicas' acks arrive in the receive loop, this node's
        own copy joins the next group commit, and whichever settles the quorum answers (or the
        coordinator's timer does, with "unknown").
        """
        replicas = self.ring.replicas_for(message.key)
        quorum = Quorum(self._quorum(message.w, len(replicas), self.config.write_quorum), len(replicas))
        if self.defect.ack_before_durable:
            self._replicate_to_others(record, replicas, quorum)
            if self.id in replicas:
                self._spawn(self._local_write, record, quorum)
            self.answer_nowait(message, src, Reply(id=message.id, status=OK, stamp=record.stamp, node=self.id))
            return
        if self.id in replicas:  # this node's copy joins the next group commit
            try:
                self.replica.stage([record])
            except StorageClosedError:
                self.counters["handler_errors_storage_closed"] += 1  # a crash in progress: no answer
                return
            self.replica.owe(None, src, partial(quorum.ack, True))
        answered = False

        def answer() -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            self.messenger.cancel_timer(timer)
            if quorum.reached:
                reply = Reply(id=message.id, status=OK, stamp=record.stamp, node=self.id)
            else:
                # Some replica may still apply it later (a lost ack, a hint): the outcome is unknown.
                self.counters["writes_unknown"] += 1
                reply = Reply(id=message.id, status=UNKNOWN, stamp=record.stamp, error="timeout", node=self.id)
            self.answer_nowait(message, src, reply)

        timer = self.messenger.call_later(self.config.timeouts.coordinator, answer)
        quorum.on_done = answer  # set before anything can settle the quorum
        self._replicate_to_others(record, replicas, quorum)

    def _replicate_to_others(self, record: Record, replicas: Sequence[str], quorum: Quorum) -> None:
        """Queue ``record`` to every replica but this node, each ack counting towards ``quorum``."""
        for replica in replicas:
            if replica != self.id:
                self.replicator.enqueue(replica, record, quorum)

    async def _local_write(self, record: Record, quorum: Quorum) -> None:
        await self.replica.store([record])
        quorum.ack(True)

    # -- reads -----------------------------------------------------------------------------------

    async def _answer_local_read(self, message: Get, src: Address) -> None:
        """This node's own copy, no quorum and no repair: what the final convergence check reads."""
        await self._answer(message, src, self.read_reply(message, self.replica.get(message.key)))

    def read_reply(self, message: Get, record: Record | None) -> Reply:
        """The ok answer to a read that found ``record`` (None: the key is absent)."""
        value = None if record is None else record.value
        stamp = None if record is None else record.stamp
        return Reply(id=message.id, status=OK, value=value, stamp=stamp, node=self.id)

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

    def repair(self, newest: Record, answers: dict[str, Record | None]) -> None:
        """Send ``newest`` to every replica whose answer was older or absent (read repair)."""
        joins = self.conflict is not None
        for replica, record in answers.items():
            if record is None or record.stamp < newest.stamp or (joins and record.stamp != newest.stamp):
                self.counters["read_repairs"] += 1
                if replica == self.id:  # its own copy: observed as a read repair from itself
                    if self.replica.observer is not None:
                        self.replica.observer.queued(self.id, self.id, newest, "read-repair")
                    self._spawn(self.replica.store, [newest], self.id)
                else:
                    self.replicator.enqueue(replica, newest, reason="read-repair")


class _ReadRound:
    """One coordinated read, event-driven: the replicas' answers arrive in the receive loop and
    the coordinator's timers fire from the messenger's, so no task waits for them.

    It answers the client once R replicas answered (``fail`` if the coordinator's timeout comes
    first), asks the replicas it did not ask at first when the first ones are slow, and after
    answering waits for every replica asked (at most ``READ_REPAIR_WAIT``) to repair stale ones.
    It uses the coordinator's public surface only: ``read_reply``, ``answer_nowait``, ``repair``,
    its replica's ``get`` and its messenger.
    """

    __slots__ = (
        "coordinator", "message", "src", "ordered", "needed", "repairing", "first_wave", "asked", "answers",
        "failed", "state", "newest", "timers",
    )

    WAITING, REPAIRING, DONE = range(3)

    def __init__(
        self, coordinator: Coordinator, message: Get, src: Address, ordered: list[str], needed: int, repairing: bool
    ) -> None:
        self.coordinator = coordinator
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
        coordinator = self.coordinator
        messenger = coordinator.messenger
        self.asked = self.first_wave
        self.timers.append(messenger.call_later(coordinator.config.timeouts.coordinator, self._give_up))
        if self.first_wave < len(self.ordered):
            fallback = messenger.retransmit_timeout(coordinator.peers[self.ordered[-1]]) or coordinator.backoff.initial
            self.timers.append(messenger.call_later(max(coordinator.backoff.initial, 2 * fallback), self._fall_back))
        for replica in self.ordered[: self.first_wave]:
            self._ask(replica)

    def _ask(self, replica: str) -> None:
        coordinator = self.coordinator
        if replica == coordinator.id:
            self.answers[replica] = coordinator.replica.get(self.message.key)
            self._settle()
            return
        messenger = coordinator.messenger
        request = Read(messenger.new_id(), coordinator.id, self.message.key)
        messenger.call(request, coordinator.peers[replica], coordinator.backoff, partial(self._reply, replica), self._open)

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
        coordinator = self.coordinator
        conflict = coordinator.conflict
        if conflict is None:
            newest = self.newest = _newest(self.answers.values())
        else:  # the join of every answer: concurrent siblings, counter totals, set elements
            try:
                newest = self.newest = conflict.combine(self.answers.values())
            except StateError as e:  # replicas' states whose join is over the limit: a clear fail
                self.state = self.DONE
                coordinator.counters["reads_too_large"] += 1
                coordinator.answer_nowait(message, self.src, Reply(id=message.id, status=FAIL, error=str(e), node=coordinator.id))
                return
        coordinator.answer_nowait(message, self.src, coordinator.read_reply(message, newest))
        if newest is not None and (self.repairing or len(self.answers) > 1):
            self.state = self.REPAIRING
            self.timers.append(coordinator.messenger.call_later(READ_REPAIR_WAIT, self._repair))
        else:
            self.state = self.DONE

    def _repair(self) -> None:
        if self.state != self.REPAIRING:
            return
        self.state = self.DONE
        self._cancel_timers()
        conflict = self.coordinator.conflict
        if conflict is not None:  # every answer by now, not only the first R: repair with their join
            try:
                self.newest = conflict.combine(self.answers.values())
            except StateError:  # their join is over the limit: repair with what was answered
                self.coordinator.counters["repairs_too_large"] += 1
        if self.coordinator.features.read_repair and self.newest is not None:
            self.coordinator.repair(self.newest, self.answers)

    def _give_up(self) -> None:
        if self.state != self.WAITING:
            return
        self.state = self.DONE
        self._cancel_timers()
        # A read changes nothing, so not getting an answer is a definite failure.
        coordinator = self.coordinator
        coordinator.counters["reads_failed"] += 1
        message = self.message
        coordinator.answer_nowait(
            message, self.src, Reply(id=message.id, status=FAIL, error="unavailable", node=coordinator.id)
        )

    def _fall_back(self) -> None:
        if self.state != self.WAITING:
            return
        self.coordinator.counters["read_fallbacks"] += 1
        for replica in self.ordered[self.first_wave :]:
            self.asked += 1
            self._ask(replica)

    def _cancel_timers(self) -> None:
        for timer in self.timers:
            self.coordinator.messenger.cancel_timer(timer)
        self.timers.clear()


def _newest(records: Iterable[Record | None]) -> Record | None:
    best: Record | None = None
    for record in records:
        if record is not None and (best is None or record.stamp > best.stamp):
            best = record
    return best
