"""Getting records to the replicas that should hold them: batching, retries, hinted handoff.

Every record bound for a peer goes through that peer's link: a queue, and at most one
``Replicate`` batch in flight. While a batch waits for its acknowledgement (meaning: durable
there), records pile up in the queue and the next batch carries all of them, within one
datagram's budget: Nagle's algorithm, per peer. Under load many writes share one datagram and
one acknowledgement, which is where throughput comes from (``bench/throughput.py`` measured one
batch in flight against four: twice the records per batch, and more operations per second).

The links are event-driven, not tasks: a batch is sent from whichever step queued its records
(the receive loop sends what its burst queued when it settles, see ``pump``) as a
``Messenger.call``: its acknowledgement is handled in the receive loop as it arrives, and its
resends are messenger timers. No task wakes per batch, which in a simulated run is most of what
a batch costs.

A batch is resent with backoff only while some write in it still waits for its quorum: once
every client has its answer, retrying is the hints' job, not the sender's. (Retries that outlive
the request would quietly deliver writes across a healed partition and hide whether repair works
at all.)

When a peer does not answer, its records become *hints*: kept here (newest version per key) and
offered again every ``hint_interval`` until the peer takes them. That is hinted handoff; it bounds
how long a replica that was down or cut off stays behind, without waiting for anti-entropy.
Hints live in memory: a crash loses them, and anti-entropy repairs what they would have.

Backpressure: admission control, not spill-to-disk. Every record bound for a peer and not yet
acknowledged there (queued, in the batch in flight, or hinted) counts in that peer's
``backlog``. The node refuses a new client write, before stamping or staging anything, with a
definite ``fail`` ("overloaded", counted in ``writes_overloaded``) while the backlog toward any
other replica of its key is at ``high_water`` (``max_hints`` shared out over the peers, at most
``OUTBOX_LIMIT``) or at ``high_water_bytes`` (``MAX_BACKLOG_BYTES``, 128 MiB, shared out the same
way: 32 KiB values reach it long before the record count does). So the backlogs together never
exceed ``max_hints``, every record a failed batch turns into a hint has room, and a write not
yet on N replicas is never dropped (the hint cap has no drop path for client writes: were it ever
reached, the write is kept and counted in ``hints_over_cap``).

Except toward a replica the node believes *down*: one whose latest hint delivery went unanswered
(every attempt), and that has acknowledged nothing since. Refusing writes for it would make one
dead replica take the whole cluster's writes with it (every key has it as a replica somewhere),
although each of those writes is already durable on the W replicas that acknowledged it. So past
the mark, that peer's backlog is *shed* instead (``_shed``): its hints, and the queued records no
client still waits for, are dropped, counted in ``backlog_shed_peer_down``, with one WARNING per
down spell. What they held is left to anti-entropy once the peer is back (hints live in memory,
so a crash loses them the same way). A peer that answers, however slowly, is not down: the mark
refuses writes toward it as above, which is the backpressure a slow replica needs.

Repair traffic (anti-entropy pushes, answers to pulls, read repair) is a copy of a version some
replica already holds. It is taken only while the peer's backlog is under ``repair_high_water``
(half the client mark, so repairs never crowd out writes) and otherwise shed, counted in
``repair_shed``, as is a repair record that fails when the hints are full: the next
anti-entropy round finds the difference again.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from functools import partial

import trio

from .messaging import Backoff, Messenger
from .observe import ApplyObserver
from .record import Record, Stamp
from .storage import JoinRule
from .transport import Address
from .wire import BATCH_BUDGET, Ack, Message, Replicate, TooLarge, batch_records, record_cost

log = logging.getLogger("minikeydb.replication")

OUTBOX_LIMIT = 50_000
MAX_BATCH_RECORDS = 512
MAX_BACKLOG_BYTES = 128 * 1024 * 1024
"""Bytes of records (queued, in flight, hinted) a node holds for all its peers at most: shared out
per peer like ``max_hints``. Counting records alone let 32 KiB values pile up to 1.6 GB per peer
before a write was refused (adversarial testing saw a node at 714 MB)."""


def memory_cost(record: Record) -> int:
    """About what holding ``record`` in a backlog costs (characters of key and value, plus the
    objects around them): the yardstick of ``MAX_BACKLOG_BYTES``, cheap enough for every enqueue."""
    return len(record.key) + (len(record.value) if record.value is not None else 0) + 120


class Quorum:
    """Counts replica acknowledgements of one write; ``done`` fires when W acked or W became impossible."""

    __slots__ = ("needed", "total", "acks", "failures", "done", "finished", "on_done")

    def __init__(self, needed: int, total: int) -> None:
        self.needed = needed
        self.total = total
        self.acks = 0
        self.failures = 0
        self.done = trio.Event()
        self.finished = False
        """Whether ``done`` is set (a plain attribute: asked for every record of every batch)."""
        self.on_done: Callable[[], None] | None = None
        """Called once, when ``done`` fires (an event-driven coordinator answers from it)."""

    def ack(self, ok: bool) -> None:
        if ok:
            self.acks += 1
        else:
            self.failures += 1
        if not self.finished and (self.acks >= self.needed or self.failures > self.total - self.needed):
            self.finished = True
            self.done.set()
            if self.on_done is not None:
                self.on_done()

    @property
    def reached(self) -> bool:
        return self.acks >= self.needed


Item = tuple[Record, Quorum | None]


class _Batch:
    """One ``Replicate`` in flight to a peer (a ``Messenger.call``): its records and their quorums."""

    __slots__ = ("items", "open_quorums", "bytes")

    def __init__(self, items: list[Item], size: int) -> None:
        self.items = items
        self.bytes = size
        self.open_quorums = [q for _, q in items if q is not None and not q.finished]

    def wanted(self) -> bool:
        """Whether some write in the batch still waits for its quorum (else stop resending)."""
        return any(not q.finished for q in self.open_quorums)


class _Link:
    """Records waiting for one peer, and the batch in flight to it (if any).

    ``pending`` is the newest stamp per key queued or in flight here: what anti-entropy asks
    before it adds traffic.
    """

    __slots__ = ("peer", "dest", "queued", "queued_bytes", "batch", "pending")

    def __init__(self, peer: str, dest: Address) -> None:
        self.peer = peer
        self.dest = dest
        self.queued: deque[Item] = deque()
        self.queued_bytes = 0
        self.batch: _Batch | None = None
        self.pending: dict[str, Stamp] = {}

    @property
    def in_flight(self) -> int:
        return 0 if self.batch is None else len(self.batch.items)


class Replicator:
    """Links and hints for every peer of one node."""

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
        max_backlog_bytes: int = MAX_BACKLOG_BYTES,
        observer: ApplyObserver | None = None,
    ) -> None:
        self.node_id = node_id
        self.observer = observer
        self.messenger = messenger
        self.peers = peers
        self.backoff = backoff
        self.hint_backoff = Backoff(backoff.initial, backoff.cap, attempts=2)
        self.hint_interval = hint_interval
        self.counters = counters
        self.rng = rng
        self.hinted_handoff = hinted_handoff
        self.max_hints = max_hints
        self.max_backlog_bytes = max_backlog_bytes
        self._hints: dict[str, dict[str, Record]] = {peer: {} for peer in peers}
        self._hint_bytes: dict[str, int] = dict.fromkeys(peers, 0)
        self._links: dict[str, _Link] = {peer: _Link(peer, dest) for peer, dest in peers.items()}
        self._ready: dict[str, None] = {}  # idle links with records queued (insertion-ordered)
        self.ready = self._ready
        """The idle links with records queued (read-only outside: the receive loop pumps only when some are)."""
        self._pumping = False
        self._down: set[str] = set()
        self._shed_logged: set[str] = set()  # peers whose shedding was logged this down spell
        """Peers whose latest hint delivery went unanswered and that acknowledged nothing since."""
        self.deferring = False
        self.join: JoinRule | None = None
        """A conflict mode's join (siblings, crdt): hints for one key are joined, not replaced."""
        """Set by the node while its receive loop handles a burst: it pumps when it settles."""

    @property
    def hints_pending(self) -> int:
        return sum(len(h) for h in self._hints.values())

    @property
    def outbox_size(self) -> int:
        return sum(len(link.queued) for link in self._links.values())

    @property
    def high_water(self) -> int:
        """Backlog per peer (queued + in flight + hinted records) past which new client writes are
        refused: the peers' backlogs together never exceed ``max_hints``, so every record a
        failed batch turns into a hint has room, and none is dropped."""
        return max(1, min(OUTBOX_LIMIT, self.max_hints // max(1, len(self.peers))))

    @property
    def repair_high_water(self) -> int:
        """Backlog per peer past which repair traffic (anti-entropy, read repair) is shed."""
        return max(1, self.high_water // 2)

    @property
    def high_water_bytes(self) -> int:
        """The same mark in bytes (``memory_cost``): ``max_backlog_bytes`` shared out over the peers."""
        return max(1, self.max_backlog_bytes // max(1, len(self.peers)))

    def backlog(self, peer: str) -> int:
        """Records bound for ``peer`` not yet acknowledged: queued, in flight, or hinted."""
        link = self._links[peer]
        return len(link.queued) + link.in_flight + len(self._hints[peer])

    def backlog_bytes(self, peer: str) -> int:
        """The memory those records take (``memory_cost``)."""
        link = self._links[peer]
        return link.queued_bytes + (link.batch.bytes if link.batch is not None else 0) + self._hint_bytes[peer]

    def admits(self, peers: Iterable[str]) -> bool:
        """Whether a new client write to these peers may be taken (every backlog under ``high_water``
        records and ``high_water_bytes`` bytes)."""
        high, high_bytes = self.high_water, self.high_water_bytes
        links, hints, hint_bytes = self._links, self._hints, self._hint_bytes
        for peer in peers:  # backlog and backlog_bytes, inline: asked for every client write
            link = links[peer]
            batch = link.batch
            if (
                len(link.queued) + (len(batch.items) if batch is not None else 0) + len(hints[peer]) >= high
                or link.queued_bytes + (batch.bytes if batch is not None else 0) + hint_bytes[peer] >= high_bytes
            ):
                if peer not in self._down:
                    return False
                self._shed(peer)  # a down peer's backlog goes, not the write (see the module docstring)
                if self.backlog(peer) >= high or self.backlog_bytes(peer) >= high_bytes:
                    return False  # records a client still waits for: kept, and the write refused
        return True

    def _mark_down(self, peer: str) -> None:
        """``peer``'s hints went unanswered: down until it acknowledges something."""
        if peer not in self._down:
            self._down.add(peer)
            self.counters["peers_marked_down"] += 1

    def _mark_up(self, peer: str) -> None:
        """``peer`` acknowledged something: not down (a new down spell logs its shedding again)."""
        self._down.discard(peer)
        self._shed_logged.discard(peer)

    def _shed(self, peer: str) -> None:
        """Drop ``peer``'s hints and the queued records no client waits for (``peer`` is down and its
        backlog past the mark): counted in ``backlog_shed_peer_down``, left to anti-entropy."""
        link = self._links[peer]
        shed = list(self._hints[peer].values())
        self._hints[peer].clear()
        self._hint_bytes[peer] = 0
        kept: deque[Item] = deque()
        for item in link.queued:
            record, quorum = item
            if quorum is not None and not quorum.finished:
                kept.append(item)
            else:
                shed.append(record)
                link.queued_bytes -= memory_cost(record)
                if link.pending.get(record.key) == record.stamp:
                    del link.pending[record.key]
        link.queued = kept
        if not shed:
            return
        if peer not in self._shed_logged:
            self._shed_logged.add(peer)
            log.warning(
                "%s: peer %s is down and its backlog passed the high-water mark: %d records bound for it dropped "
                "(anti-entropy repairs it once it is back; further drops counted in backlog_shed_peer_down)",
                self.node_id, peer, len(shed),
            )
        self.counters["backlog_shed_peer_down"] += len(shed)

    def _over_repair_mark(self, peer: str) -> bool:
        return self.backlog(peer) >= self.repair_high_water or self.backlog_bytes(peer) >= self.high_water_bytes // 2

    def busy(self, peer: str) -> bool:
        """Whether records are queued or in flight to ``peer``: normal replication is at work there."""
        link = self._links[peer]
        return bool(link.queued) or link.batch is not None

    def has_pending(self, peer: str, record: Record) -> bool:
        """Whether ``record``'s key is queued, in flight or hinted to ``peer`` at its stamp or newer."""
        queued = self._links[peer].pending.get(record.key)
        if queued is not None and queued >= record.stamp:
            return True
        hinted = self._hints[peer].get(record.key)
        return hinted is not None and hinted.stamp >= record.stamp

    def enqueue(self, peer: str, record: Record, quorum: Quorum | None = None, reason: str = "replication") -> bool:
        """Queue a record for ``peer``; True when queued. ``reason`` (``observe.REASONS``) is for the observer.

        A record with a ``quorum`` is a client write: the node admitted it (``admits``), so it
        is always taken (a full queue turns it straight into a hint). One without is repair
        traffic (anti-entropy, a pull, read repair), already held by some replica: it is shed
        (``repair_shed``) when ``peer``'s backlog is past ``repair_high_water``, and the next
        anti-entropy round finds it again. (Anti-entropy also asks ``has_pending`` first, so
        it never queues what is already on its way; read repair, one-shot, does not.)

        An idle link sends at once, or, while the receive loop is handling a burst
        (``deferring``), when it settles: records queued in one burst share a batch, as do
        records queued while a link's batch is in flight.
        """
        link = self._links[peer]
        if quorum is None and self._over_repair_mark(peer):
            self.counters["repair_shed"] += 1
            return False
        if len(link.queued) >= OUTBOX_LIMIT:  # unreachable past admission; a hint, never a loss
            self.counters["outbox_overflow"] += 1
            self._add_hints(peer, [(record, quorum)])
            if quorum is not None:
                quorum.ack(False)
            return False
        link.queued.append((record, quorum))
        if self.observer is not None:
            self.observer.queued(self.node_id, peer, record, reason)
        value = record.value  # memory_cost, inline
        link.queued_bytes += len(record.key) + (len(value) if value is not None else 0) + 120
        current = link.pending.get(record.key)
        if current is None or record.stamp > current:
            link.pending[record.key] = record.stamp
        if link.batch is None:
            self._mark_ready(link)
        return True

    def _untrack(self, link: _Link, items: list[Item]) -> None:
        """These items left the link (acknowledged, or handed to hints)."""
        pending = link.pending
        for record, _ in items:
            if pending.get(record.key) == record.stamp:
                del pending[record.key]

    def _mark_ready(self, link: _Link) -> None:
        self._ready[link.peer] = None
        if not self.deferring:
            self.pump()

    def pump(self) -> None:
        """Send a batch on every idle link that has records queued."""
        if self._pumping:  # a link readied while pumping (a batch failed at once) is sent below
            return
        self._pumping = True
        try:
            while self._ready:
                ready = list(self._ready)  # links readied while these are sent go round again
                self._ready.clear()
                for peer in ready:
                    link = self._links[peer]
                    if link.batch is None and link.queued:
                        self._send_next(link)
        finally:
            self._pumping = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hinted handoff's loop (the links need no task; the messenger's timers serve them)."""
        task_status.started()
        if self.hinted_handoff:
            await self._hint_loop()

    def _send_next(self, link: _Link) -> None:
        queued = link.queued
        first = queued.popleft()
        items = [first]
        budget = BATCH_BUDGET - record_cost(first[0])
        while queued and len(items) < MAX_BATCH_RECORDS and budget > 0:
            item = queued.popleft()
            items.append(item)
            budget -= record_cost(item[0])
        records = tuple([record for record, _ in items])  # a list, not a generator: one call, not one per record
        size = 0
        for record in records:  # memory_cost, inline
            size += len(record.key) + (len(record.value) if record.value is not None else 0) + 120
        link.queued_bytes -= size
        self.counters["replicate_batches"] += 1
        self.counters["replicate_records"] += len(records)
        message = Replicate(self.messenger.new_id(), self.node_id, records)
        batch = link.batch = _Batch(items, size)
        try:
            # Resent with backoff while some write in it still waits for its quorum (``wanted``).
            self.messenger.call(message, link.dest, self.backoff, partial(self._on_done, link, batch), batch.wanted)
        except TooLarge:  # cannot happen for records the decoder accepted; never fatal if it does
            link.batch = None
            self.counters["replicate_too_large"] += 1
            log.error("a replication batch to %s does not fit a datagram; dropped", link.peer)
            self._settle(link, items, ok=False)

    def _on_done(self, link: _Link, batch: _Batch, reply: Message | None) -> None:
        """The batch's call ended: acknowledged, or given up (every client has its answer, or
        every attempt went unanswered: hints take over)."""
        link.batch = None
        if isinstance(reply, Ack) and link.peer in self._down:
            self._mark_up(link.peer)
        self._settle(link, batch.items, ok=isinstance(reply, Ack))
        if link.queued:  # what queued while this batch was in flight goes at the next pump, together
            self._mark_ready(link)

    def _settle(self, link: _Link, items: list[Item], *, ok: bool) -> None:
        self._untrack(link, items)
        if not ok:
            self.counters["replicate_failed"] += 1
            self._add_hints(link.peer, items)
        for _, quorum in items:
            if quorum is not None:
                quorum.ack(ok)

    def _add_hints(self, peer: str, items: Iterable[Item]) -> None:
        """Keep records ``peer`` did not take, newest version per key, to offer again later.

        The cap cannot be reached by client writes (admission keeps every backlog, hints
        included, under ``high_water``); if it ever is, a client write is still kept (counted
        in ``hints_over_cap``) rather than lost, and repair traffic is shed (``repair_shed``).
        """
        if not self.hinted_handoff:
            return
        hints = self._hints[peer]
        join = self.join
        for record, quorum in items:
            current = hints.get(record.key)
            if join is not None and current is not None:
                # Two states for one key: the hint is their join (a delta must not be dropped).
                try:
                    merged = join(current, record)
                except ValueError as e:  # dvv.StateTooLarge: a join that would not fit a datagram
                    self.counters["hints_too_large"] += 1
                    log.error("hint for %s not kept: %s", peer, e)
                    continue
                if merged is None:
                    continue
                record = merged
            if current is None or join is not None or record.stamp > current.stamp:
                if current is None and self.hints_pending >= self.max_hints:
                    if quorum is None:
                        self.counters["repair_shed"] += 1
                        continue
                    self.counters["hints_over_cap"] += 1
                hints[record.key] = record
                self._hint_bytes[peer] += memory_cost(record) - (memory_cost(current) if current is not None else 0)
                self.counters["hints_stored"] += 1

    async def _hint_loop(self) -> None:
        while True:
            await self.messenger.sleep(self.hint_interval * self.rng.uniform(0.75, 1.25))
            async with trio.open_nursery() as nursery:
                for peer, hints in self._hints.items():
                    if hints:
                        nursery.start_soon(self._deliver_hints, peer)

    async def _deliver_hints(self, peer: str) -> None:
        hints = self._hints[peer]
        for group in batch_records(list(hints.values())):
            message = Replicate(self.messenger.new_id(), self.node_id, tuple(group))
            if self.observer is not None:
                for record in group:
                    self.observer.queued(self.node_id, peer, record, "hint")
            try:
                reply = await self.messenger.request(message, self.peers[peer], self.hint_backoff)
            except TooLarge as e:  # a record that cannot travel (states are bounded, so not expected): dropped
                for record in group:
                    if hints.get(record.key) == record:
                        del hints[record.key]
                        self._hint_bytes[peer] -= memory_cost(record)
                self.counters["hints_too_large"] += len(group)
                log.error("hints for %s dropped, too large to send: %s", peer, e)
                continue
            if not isinstance(reply, Ack):
                self._mark_down(peer)
                return  # still unreachable: try again next round
            if peer in self._down:
                self._mark_up(peer)
            for record in group:
                if hints.get(record.key) == record:
                    del hints[record.key]
                    self._hint_bytes[peer] -= memory_cost(record)
                    self.counters["hints_delivered"] += 1

