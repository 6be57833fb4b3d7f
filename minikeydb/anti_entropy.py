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

Because merging is last-writer-wins on stamps, an exchange is safe whatever order its datagrams
arrive in, and a lost datagram only delays convergence to the next round.

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
from .wire import Digests, KeyStamps, Pull

log = logging.getLogger("minikeydb.anti_entropy")

DIGESTS_PER_DATAGRAM = 600
ENTRIES_PER_DATAGRAM = 300
KEYS_PER_PULL = 400
EXCHANGE_TTL = 10.0
PURGE_BATCH = 500
"""Tombstone purges per group commit: a few milliseconds of staging, then one fsync, then a yield."""
PURGE_SCAN_STEP = 20_000
"""Records examined for expiry between two scheduling points, even when none is expired."""


class _Exchange:
    __slots__ = ("peer", "seen", "ranges", "started")

    def __init__(self, peer: str, started: float) -> None:
        self.peer = peer
        self.seen: set[str] = set()
        self.ranges: set[int] = set()
        self.started = started


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
        self._exchanges: dict[int, _Exchange] = {}
        self._partners = sorted(p for p in peers if ring.shared_ranges(node_id, p))

    async def run(self) -> None:
        while True:
            await trio.sleep(self.interval * self.rng.uniform(0.5, 1.5))
            self._expire_exchanges()
            if self._partners:
                await self.start_exchange(self.rng.choice(self._partners))
            await self.purge_old_tombstones()

    async def start_exchange(self, peer: str) -> None:
        """Send our digests of the ranges shared with ``peer`` (step 1)."""
        self.counters["ae_rounds"] += 1
        digests = self.storage.bucket_digests()
        shared = [(r, digests.get(r, 0)) for r in self.ring.shared_ranges(self.node_id, peer)]
        for start in range(0, len(shared), DIGESTS_PER_DATAGRAM):
            message = Digests(self.messenger.new_id(), self.node_id, tuple(shared[start : start + DIGESTS_PER_DATAGRAM]))
            self._exchanges[message.id] = _Exchange(peer, trio.current_time())
            await self.messenger.send(message, self.peers[peer])

    async def on_digests(self, message: Digests) -> None:
        """Step 2, as the responder: list our (key, stamp) for every range whose digest differs."""
        peer = self.peers.get(message.src)
        if peer is None:
            self.counters["dropped_unknown_peer"] += 1
            return
        mine = self.storage.bucket_digests()
        differing = tuple(r for r, digest in message.digests if mine.get(r, 0) != digest)
        if not differing:
            return
        self.counters["ae_ranges_differing"] += len(differing)
        entries = [(rec.key, rec.stamp) for r in differing for rec in self.storage.bucket_records(r)]
        chunks = [entries[i : i + ENTRIES_PER_DATAGRAM] for i in range(0, len(entries), ENTRIES_PER_DATAGRAM)] or [[]]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            await self.messenger.send(KeyStamps(message.id, self.node_id, differing, tuple(chunk), last), peer)

    async def on_key_stamps(self, message: KeyStamps) -> None:
        """Step 3, as the initiator: pull what the peer has newer, push what we have newer."""
        exchange = self._exchanges.get(message.id)
        if exchange is None or exchange.peer != message.src:
            self.counters["replies_unmatched"] += 1
            return
        exchange.ranges.update(message.ranges)
        pull: list[str] = []
        push: list[Record] = []
        for key, stamp in message.entries:
            exchange.seen.add(key)
            mine = self.storage.get(key)
            if mine is None or mine.stamp < stamp:
                pull.append(key)
            elif mine.stamp > stamp:
                push.append(mine)
        if message.last:
            del self._exchanges[message.id]
            for r in exchange.ranges:
                push.extend(rec for rec in self.storage.bucket_records(r) if rec.key not in exchange.seen)
        for record in push:
            self.replicator.enqueue(exchange.peer, record)
        self.counters["ae_pushed"] += len(push)
        self.counters["ae_pulled"] += len(pull)
        for start in range(0, len(pull), KEYS_PER_PULL):
            keys = tuple(pull[start : start + KEYS_PER_PULL])
            await self.messenger.send(Pull(self.messenger.new_id(), self.node_id, keys), self.peers[exchange.peer])

    def on_pull(self, message: Pull) -> None:
        """Send the versions asked for, through the peer's outbox (acknowledged, retried)."""
        if message.src not in self.peers:
            self.counters["dropped_unknown_peer"] += 1
            return
        for key in message.keys:
            record = self.storage.get(key)
            if record is not None:
                self.replicator.enqueue(message.src, record)

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
