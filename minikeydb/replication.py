"""Getting records to the replicas that should hold them: batching, retries, hinted handoff.

Every record bound for a peer goes through that peer's outbox. ``MAX_BATCHES_IN_FLIGHT`` senders
per peer drain it, each packing whatever has queued up (within one datagram's budget) into a single
``Replicate`` and waiting for its acknowledgement: while all of them wait, records pile up in the
outbox and the next batch carries all of them. A new record wakes one idle sender, and only one,
at the next scheduling point, so records queued in the same moment share a batch. Under load many writes share one
datagram and one acknowledgement, which is where throughput comes from. Each batch is resent
with backoff until the peer acknowledges it (meaning: durable there).

A batch is resent only while some write in it still waits for its quorum: once every client has
its answer, retrying is the hints' job, not the sender's. (Retries that outlive the request would
quietly deliver writes across a healed partition and hide whether repair works at all.)

When a peer does not answer, its records become *hints*: kept here (newest version per key) and
offered again every ``hint_interval`` until the peer takes them. That is hinted handoff; it bounds
how long a replica that was down or cut off stays behind, without waiting for anti-entropy.
Hints live in memory and are bounded: a crash or an overflow loses them (counted), and
anti-entropy repairs what they would have.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from collections.abc import Iterable

import trio

from .messaging import Backoff, Messenger
from .record import Record
from .transport import Address
from .wire import BATCH_BUDGET, Ack, Replicate, TooLarge, batch_records, record_cost

log = logging.getLogger("minikeydb.replication")

MAX_BATCHES_IN_FLIGHT = 1
OUTBOX_LIMIT = 50_000


class Quorum:
    """Counts replica acknowledgements of one write; ``done`` fires when W acked or W became impossible."""

    __slots__ = ("needed", "total", "acks", "failures", "done")

    def __init__(self, needed: int, total: int) -> None:
        self.needed = needed
        self.total = total
        self.acks = 0
        self.failures = 0
        self.done = trio.Event()

    def ack(self, ok: bool) -> None:
        if ok:
            self.acks += 1
        else:
            self.failures += 1
        if self.acks >= self.needed or self.failures > self.total - self.needed:
            self.done.set()

    @property
    def reached(self) -> bool:
        return self.acks >= self.needed


Item = tuple[Record, Quorum | None]


class _Outbox:
    """Records waiting for one peer, and the senders idle for lack of them."""

    __slots__ = ("items", "idle", "waking")

    def __init__(self) -> None:
        self.items: deque[Item] = deque()
        self.idle = trio.lowlevel.ParkingLot()
        self.waking = False  # an idle sender was woken and has not taken the items yet

    def wake_one(self) -> None:
        if not self.waking and self.idle.statistics().tasks_waiting:
            self.idle.unpark()
            self.waking = True


class Replicator:
    """Outboxes and hints for every peer of one node."""

    def __init__(
        self,
        node_id: str,
        messenger: Messenger,
        peers: dict[str, Address],
        backoff: Backoff,
        hint_interval: float,
        counters: Counter[str],
        rng: random.Random,
        *,
        hinted_handoff: bool = True,
        max_hints: int = 100_000,
    ) -> None:
        self.node_id = node_id
        self.messenger = messenger
        self.peers = peers
        self.backoff = backoff
        self.hint_backoff = Backoff(backoff.initial, backoff.cap, attempts=2)
        self.hint_interval = hint_interval
        self.counters = counters
        self.rng = rng
        self.hinted_handoff = hinted_handoff
        self.max_hints = max_hints
        self._hints: dict[str, dict[str, Record]] = {peer: {} for peer in peers}
        self._outboxes: dict[str, _Outbox] = {peer: _Outbox() for peer in peers}

    @property
    def hints_pending(self) -> int:
        return sum(len(h) for h in self._hints.values())

    @property
    def outbox_size(self) -> int:
        return sum(len(outbox.items) for outbox in self._outboxes.values())

    def enqueue(self, peer: str, record: Record, quorum: Quorum | None = None) -> None:
        """Queue a record for ``peer``; a full outbox turns it straight into a hint."""
        outbox = self._outboxes[peer]
        if len(outbox.items) >= OUTBOX_LIMIT:
            self.counters["outbox_overflow"] += 1
            self._add_hints(peer, [record])
            if quorum is not None:
                quorum.ack(False)
            return
        outbox.items.append((record, quorum))
        outbox.wake_one()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for peer in self.peers:
                for _ in range(MAX_BATCHES_IN_FLIGHT):
                    nursery.start_soon(self._sender, peer)
            if self.hinted_handoff:
                nursery.start_soon(self._hint_loop)
            task_status.started()

    async def send_batch(self, peer: str, records: list[Record], quorums: list[Quorum] | None = None) -> bool:
        """Deliver one batch; True once the peer acknowledged it (durable there).

        It is resent with backoff while any of ``quorums`` is still open, and sent once otherwise.
        """
        message = Replicate(self.messenger.new_id(), self.node_id, tuple(records))
        open_quorums = [q for q in quorums or () if not q.done.is_set()]

        def keep_trying() -> bool:
            return any(not q.done.is_set() for q in open_quorums)

        reply = await self.messenger.request(message, self.peers[peer], self.backoff, keep_trying)
        return isinstance(reply, Ack)

    async def _sender(self, peer: str) -> None:
        """One of the peer's senders: take what has queued up, deliver it as one batch, repeat."""
        outbox = self._outboxes[peer]
        queued = outbox.items
        while True:
            if not queued:
                await outbox.idle.park()
            outbox.waking = False
            if not queued:
                continue  # a sender that was not parked took them first
            first = queued.popleft()
            items = [first]
            budget = BATCH_BUDGET - record_cost(first[0])
            while queued and len(items) < 512 and budget > 0:
                item = queued.popleft()
                items.append(item)
                budget -= record_cost(item[0])
            if queued:
                outbox.wake_one()  # more than one datagram's worth: another sender takes the rest
            await self._deliver(peer, items)

    async def _deliver(self, peer: str, items: list[Item]) -> None:
        records = [record for record, _ in items]
        self.counters["replicate_batches"] += 1
        self.counters["replicate_records"] += len(records)
        try:
            ok = await self.send_batch(peer, records, [q for _, q in items if q is not None])
        except TooLarge:  # cannot happen for records the decoder accepted; never fatal if it does
            self.counters["replicate_too_large"] += 1
            log.error("a replication batch to %s does not fit a datagram; dropped", peer)
            ok = False
        if not ok:
            self.counters["replicate_failed"] += 1
            self._add_hints(peer, records)
        for _, quorum in items:
            if quorum is not None:
                quorum.ack(ok)

    def _add_hints(self, peer: str, records: Iterable[Record]) -> None:
        if not self.hinted_handoff:
            return
        hints = self._hints[peer]
        for record in records:
            current = hints.get(record.key)
            if current is None or record.stamp > current.stamp:
                if current is None and self.hints_pending >= self.max_hints:
                    self.counters["hints_dropped"] += 1
                    continue
                hints[record.key] = record
                self.counters["hints_stored"] += 1

    async def _hint_loop(self) -> None:
        while True:
            await trio.sleep(self.hint_interval * self.rng.uniform(0.75, 1.25))
            async with trio.open_nursery() as nursery:
                for peer, hints in self._hints.items():
                    if hints:
                        nursery.start_soon(self._deliver_hints, peer)

    async def _deliver_hints(self, peer: str) -> None:
        hints = self._hints[peer]
        for group in batch_records(list(hints.values())):
            message = Replicate(self.messenger.new_id(), self.node_id, tuple(group))
            reply = await self.messenger.request(message, self.peers[peer], self.hint_backoff)
            if not isinstance(reply, Ack):
                return  # still unreachable: try again next round
            for record in group:
                if hints.get(record.key) == record:
                    del hints[record.key]
                    self.counters["hints_delivered"] += 1

