"""Anti-entropy: replicas compare digests so that keys nobody reads converge too.

Read repair only fixes keys someone reads, and hints only cover writes a coordinator saw fail.
Every ``anti_entropy_interval`` a node picks a random peer and runs one exchange with it:

1. ``Digests``: for every ring range both replicate, the XOR of the hashes of (key, stamp) of the
   records it holds there (kept up to date by storage as records change).
2. The peer answers, for the ranges whose digests differ, with ``KeyStamps``: its (key, stamp)
   list for those ranges, in as many datagrams as it takes.
3. The initiator compares each entry with its own copy: what the peer has newer it asks for
   (``Pull``, answered through the normal replication path), what it has newer, or the peer lacks,
   it pushes (``Replicate``). Only differing records travel.

Every list (digests, key stamps, pulled keys) is split by encoded size (``wire.split_by_size``),
never by count, so 1 KiB keys travel like short ones; a message that still cannot be encoded is
counted (``ae_too_large``) and logged, never raised in a handler. Each ``KeyStamps`` names the
ranges whose list it completes, so the initiator pushes what the peer lacks there as soon as
that datagram arrives.

Because merging is last-writer-wins on stamps, an exchange is safe whatever order its datagrams
arrive in, and a lost datagram only delays convergence to the next round.

Anti-entropy never competes with normal replication: no exchange starts, and none is answered,
while records are queued or in flight to that peer (``ae_rounds_busy``, ``ae_declined_busy``);
a version already queued, in flight or hinted to the peer at that stamp or newer is not queued
again, nor one whose stamp is within ``SETTLE`` seconds of now (``ae_skipped_queued``); and one
exchange lists at most ``EXCHANGE_BYTES`` of key stamps and moves at most ``RECORDS_PER_ROUND``
records. What it leaves out still differs next round. Under sustained saturation it therefore
steps aside, but not for ever: after ``BUSY_ROUNDS_MAX`` skipped rounds with a peer an exchange
goes ahead anyway (``ae_rounds_forced``; a busy responder answers a peer at most once per that
many intervals), so a replica that lost a hint is repaired within seconds even under load.

The same loop purges tombstones older than ``tombstone_grace``: far longer than any partition, so
no replica can still hold the value the tombstone deleted when its tombstone disappears.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable

import trio

from .messaging import Messenger
from .record import Record, Stamp
from .replication import Replicator
from .ring import Ring
from .storage import Storage, StorageClosedError
from .transport import Address
from .wire import (
    PAYLOAD_BUDGET,
    Digests,
    KeyStamps,
    Message,
    Pull,
    TooLarge,
    int_cost,
    int_pair_cost,
    key_cost,
    key_stamp_cost,
    split_by_size,
)

log = logging.getLogger("minikeydb.anti_entropy")

MAX_RANGES_PER_DATAGRAM = 400
RANGES_RESERVE = MAX_RANGES_PER_DATAGRAM * 21
"""Room kept in every ``KeyStamps`` for its list of completed ranges (at most this many, 20 digits each)."""
EXCHANGE_TTL = 10.0
PURGE_BATCH = 500
"""Tombstone purges per group commit: a few milliseconds of staging, then one fsync, then a yield."""
PURGE_SCAN_STEP = 20_000
"""Records examined for expiry between two scheduling points, even when none is expired."""
EXCHANGE_BYTES = 4 * PAYLOAD_BUDGET
"""Pacing, responder side: the (key, stamp) lists one exchange sends stop growing past this many
bytes (whole ranges, at least one); the ranges left out differ next round too and come then."""
RECORDS_PER_ROUND = 2_000
"""Pacing, initiator side: records pushed plus keys pulled per exchange, at most."""
BUSY_ROUNDS_MAX = 8
"""Starvation bound: after this many rounds skipped because replication was streaming to a peer,
the next exchange with it goes ahead anyway (paced as always). Without it a replica that lost a
hint would wait for the load to stop; with it, it waits about this many intervals."""
SETTLE = 3.0
"""Seconds during which a record's normal replication (batch, resends, then a hint) still owns it:
anti-entropy neither pushes nor pulls a version whose stamp is this close to now."""


UNMOVED_MEMORY = 10_000
"""(peer, key) pairs whose repairs anti-entropy remembers at most (past it, forgotten at once)."""


class _Exchange:
    __slots__ = ("peer", "seen", "started", "moved")

    def __init__(self, peer: str, started: float) -> None:
        self.peer = peer
        self.seen: set[str] = set()
        self.started = started
        self.moved = 0


class AntiEntropy:
    """The digest exchanges of one node, as initiator and as responder."""

    def __init__(
        self,
        node_id: str,
        ring: Ring,
        storage: Storage,
        messenger: Messenger,
        replicator: Replicator,
        peers: dict[str, Address],
        rng: random.Random,
        counters: Counter[str],
        *,
        interval: float,
        tombstone_grace: float,
        wall: Callable[[], float],
    ) -> None:
        self.node_id = node_id
        self.ring = ring
        self.storage = storage
        self.messenger = messenger
        self.replicator = replicator
        self.peers = peers
        self.rng = rng
        self.counters = counters
        self.interval = interval
        self.tombstone_grace = tombstone_grace
        self.wall = wall
        self.joins = False
        """Records meet by a join (conflict modes siblings, crdt): a differing key is pushed AND pulled."""
        self._exchanges: dict[int, _Exchange] = {}
        self._shared = {p: frozenset(ring.shared_ranges(node_id, p)) for p in peers}
        self._partners = sorted(p for p in peers if self._shared[p])
        self._busy_skips: dict[str, int] = {}
        """Per peer: exchanges this node skipped in a row as initiator because the link was busy."""
        self._unmoved: dict[tuple[str, str], tuple[Stamp, Stamp, int, int]] = {}
        """Per (peer, key): two versions that differ (ours, theirs), how many times a push or pull of
        them was made, and in how many exchanges since the second the peer still showed the same
        pair (``_backs_off``)."""
        self._last_answered: dict[str, float] = {}
        """Per peer: when this node last answered its digests while the link to it was busy."""

    async def run(self) -> None:
        while True:
            await self.messenger.sleep(self.interval * self.rng.uniform(0.5, 1.5))
            self._expire_exchanges()
            if self._partners:
                await self.start_exchange(self.rng.choice(self._partners))
            await self.purge_old_tombstones()

    async def _send(self, message: Message, dest: Address) -> bool:
        """Send one anti-entropy message; one that cannot be encoded is counted and logged, never raised."""
        try:
            await self.messenger.send(message, dest)
        except TooLarge as exc:  # the splitting below makes this unreachable; never a handler error
            self.counters["ae_too_large"] += 1
            log.error("node %s: an anti-entropy %s does not fit a datagram: %s", self.node_id,
                      type(message).__name__, exc)
            return False
        return True

    async def start_exchange(self, peer: str) -> None:
        """Send our digests of the ranges shared with ``peer`` (step 1).

        Not while records are queued or in flight to ``peer``: its ranges differ because
        replication is under way, and replication, not anti-entropy, delivers them.
        """
        if self.replicator.busy(peer):
            skipped = self._busy_skips.get(peer, 0)
            if skipped < BUSY_ROUNDS_MAX:
                self._busy_skips[peer] = skipped + 1
                self.counters["ae_rounds_busy"] += 1  # replication is streaming to it: not now
                return
            self.counters["ae_rounds_forced"] += 1  # busy for too long: go ahead, paced
        self._busy_skips[peer] = 0
        self.counters["ae_rounds"] += 1
        digests = self.storage.bucket_digests()
        shared = [(r, digests.get(r, 0)) for r in self.ring.shared_ranges(self.node_id, peer)]
        for group in split_by_size(shared, int_pair_cost):  # each datagram an exchange of its own
            message_id = self.messenger.new_id()
            self._exchanges[message_id] = _Exchange(peer, trio.current_time())
            await self._send(Digests(message_id, self.node_id, tuple(group)), self.peers[peer])

    async def on_digests(self, message: Digests) -> None:
        """Step 2, as the responder: list our (key, stamp) for every range whose digest differs.

        The list is split by encoded size; each datagram names the ranges whose list it
        completes (``ranges``), so the initiator can push what it holds there that the list
        lacked. Nothing is listed while records are queued or in flight to the initiator, and
        one exchange lists at most ``EXCHANGE_BYTES`` (whole ranges, in random order).
        """
        peer = self.peers.get(message.src)
        if peer is None:
            self.counters["dropped_unknown_peer"] += 1
            return
        if self.replicator.busy(message.src):
            # Replication is streaming to it: not now, unless this peer has not had an answer for
            # as long as its own starvation bound lets it wait (then it is asking anyway).
            now = trio.current_time()
            last = self._last_answered.get(message.src)
            if last is not None and now - last < BUSY_ROUNDS_MAX * self.interval:
                self.counters["ae_declined_busy"] += 1
                return
            self._last_answered[message.src] = now
        mine = self.storage.bucket_digests()
        differing = [r for r, digest in message.digests if mine.get(r, 0) != digest]
        if not differing:
            return
        self.rng.shuffle(differing)
        self.counters["ae_ranges_differing"] += len(differing)
        # Pack whole ranges into datagrams; a range ends in the datagram holding its last entry.
        messages: list[tuple[list[int], list[tuple[str, Stamp]]]] = []
        ranges: list[int] = []
        entries: list[tuple[str, Stamp]] = []
        size = total = 0
        for r in differing:
            if total >= EXCHANGE_BYTES:
                self.counters["ae_ranges_deferred"] += 1
                continue
            for rec in self.storage.bucket_records(r):
                cost = key_stamp_cost(rec.key, rec.stamp)
                if entries and size + cost > PAYLOAD_BUDGET - RANGES_RESERVE:
                    messages.append((ranges, entries))
                    ranges, entries, size = [], [], 0
                entries.append((rec.key, rec.stamp))
                size += cost
                total += cost
            ranges.append(r)
            size += int_cost(r) + 1
            if len(ranges) >= MAX_RANGES_PER_DATAGRAM:
                messages.append((ranges, entries))
                ranges, entries, size = [], [], 0
        if ranges or entries:
            messages.append((ranges, entries))
        for i, (done, chunk) in enumerate(messages):
            last = i == len(messages) - 1
            await self._send(KeyStamps(message.id, self.node_id, tuple(done), tuple(chunk), last), peer)

    async def on_key_stamps(self, message: KeyStamps) -> None:
        """Step 3, as the initiator: pull what the peer has newer, push what we have newer.

        Nothing already queued, in flight or hinted to the peer at that version or newer is
        pushed again, nor a version so recent that its normal replication still owns it
        (``SETTLE``); an exchange moves at most ``RECORDS_PER_ROUND`` records.
        """
        exchange = self._exchanges.get(message.id)
        if exchange is None or exchange.peer != message.src:
            self.counters["replies_unmatched"] += 1
            return
        peer = exchange.peer
        now_us = int(self.wall() * 1_000_000)
        settle_us = int(SETTLE * 1_000_000)
        replicator = self.replicator
        pull: list[str] = []
        push: list[Record] = []
        pairs: dict[str, tuple[Stamp, Stamp]] = {}
        for key, stamp in message.entries:
            exchange.seen.add(key)
            mine = self.storage.get(key)
            if mine is not None and mine.stamp != stamp:
                if self._backs_off(peer, key, mine.stamp, stamp):
                    self.counters["ae_backoff"] += 1
                    continue
                pairs[key] = (mine.stamp, stamp)
            if mine is None or mine.stamp < stamp:
                if abs(now_us - stamp[0]) >= settle_us:
                    pull.append(key)
                    if self.joins and mine is not None:
                        push.append(mine)  # states that differ are joined on both sides
            elif mine.stamp > stamp:
                push.append(mine)
                if self.joins and abs(now_us - stamp[0]) >= settle_us:
                    pull.append(key)
        for r in message.ranges:
            if r not in self._shared[peer]:  # not a range both replicate: nothing of it is theirs
                self.counters["ae_ranges_unshared"] += 1
                continue
            push.extend(rec for rec in self.storage.bucket_records(r) if rec.key not in exchange.seen)
        if message.last:
            del self._exchanges[message.id]
        room = RECORDS_PER_ROUND - exchange.moved
        pushed = skipped = 0
        for record in push:
            if pushed >= room:
                self.counters["ae_deferred"] += 1
                continue
            if abs(now_us - record.stamp[0]) < settle_us or replicator.has_pending(peer, record):
                skipped += 1
                continue
            if replicator.enqueue(peer, record, reason="anti-entropy"):
                pushed += 1
                self._made(peer, record.key, pairs)
        pull = pull[: max(0, room - pushed)]
        for key in pull:
            self._made(peer, key, pairs)
        exchange.moved += pushed + len(pull)
        self.counters["ae_skipped_queued"] += skipped
        self.counters["ae_pushed"] += pushed
        self.counters["ae_pulled"] += len(pull)
        for group in split_by_size(pull, key_cost):
            await self._send(Pull(self.messenger.new_id(), self.node_id, tuple(group)), self.peers[peer])

    def _backs_off(self, peer: str, key: str, mine: Stamp, their: Stamp) -> bool:
        """Whether to leave ``key`` alone in this exchange with ``peer``: our version ``mine`` and
        its ``their`` differ as they did after two pushes or pulls of exactly these were made, so
        the peer (or this node) refuses what it is sent (a join over the state limit, counted in
        ``records_too_large``). Such a key is tried again in exchanges 1, 2, 4, 8, ... after,
        then every 64th; a change on either side starts afresh. Counted in ``ae_backoff``."""
        last = self._unmoved.get((peer, key))
        if last is None or last[0] != mine or last[1] != their or last[2] < 2:
            return False
        seen = last[3] + 1
        self._unmoved[(peer, key)] = (mine, their, last[2], seen)
        return not (seen & (seen - 1) == 0 or seen % 64 == 0)

    def _made(self, peer: str, key: str, pairs: dict[str, tuple[Stamp, Stamp]]) -> None:
        """A push or pull of ``key``'s differing versions (``pairs``) was queued or sent (counted
        once per exchange: a join mode's push and pull of one key are one repair)."""
        pair = pairs.pop(key, None)
        if pair is None:
            return
        last = self._unmoved.get((peer, key))
        if last is not None and last[:2] == pair:
            self._unmoved[(peer, key)] = (pair[0], pair[1], last[2] + 1, last[3])
            return
        if len(self._unmoved) >= UNMOVED_MEMORY:
            self._unmoved.clear()
        self._unmoved[(peer, key)] = (pair[0], pair[1], 1, 0)

    def on_pull(self, message: Pull) -> None:
        """Send the versions asked for, through the peer's outbox (acknowledged, retried)."""
        if message.src not in self.peers:
            self.counters["dropped_unknown_peer"] += 1
            return
        for key in message.keys:
            record = self.storage.get(key)
            if record is None:
                continue
            if self.replicator.has_pending(message.src, record):
                self.counters["ae_skipped_queued"] += 1
            else:
                self.replicator.enqueue(message.src, record, reason="pull")

    async def purge_old_tombstones(self) -> int:
        """Durably drop every tombstone older than the grace period, a batch per group commit.

        One fsync per tombstone with no scheduling point in between froze a node for 14 s on
        40,000 of them (issue #12, defect 4). Now at most ``PURGE_BATCH`` purges share one group
        commit, and the purge yields to the node's other tasks after every batch and after every
        ``PURGE_SCAN_STEP`` records examined, so the receive loop answers in between. A tombstone
        overwritten between the scan and its batch is left alone (storage checks the stamp).
        Returns how many were purged.
        """
        if not self.storage.tombstones:
            return 0
        cutoff_us = int((self.wall() - self.tombstone_grace) * 1_000_000)
        purged = 0
        batch: list[tuple[str, Stamp]] = []
        scanned = 0
        try:
            for record in self.storage.records():  # a snapshot: safe across the awaits below
                scanned += 1
                if record.value is None and record.stamp[0] < cutoff_us:
                    batch.append((record.key, record.stamp))
                if len(batch) >= PURGE_BATCH or scanned >= PURGE_SCAN_STEP:
                    if batch:
                        purged += await self._purge_batch(batch)
                        batch = []
                    scanned = 0
                    # An inline group commit has no scheduling point of its own: this is the yield.
                    await trio.lowlevel.checkpoint()
            if batch:
                purged += await self._purge_batch(batch)
        except StorageClosedError:
            pass  # a crash in progress: the batches already committed stay purged, the rest wait
        return purged

    async def _purge_batch(self, batch: list[tuple[str, Stamp]]) -> int:
        purged = await self.storage.purge_tombstones(batch)
        self.counters["tombstones_purged"] += purged
        return purged

    def _expire_exchanges(self) -> None:
        now = trio.current_time()
        for exchange_id in [i for i, e in self._exchanges.items() if now - e.started > EXCHANGE_TTL]:
            del self._exchanges[exchange_id]
