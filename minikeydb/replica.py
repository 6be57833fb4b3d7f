"""What a node does as a replica: keep records, acknowledge them once durable, answer reads of its copy.

A ``Replicate`` is staged in the receive loop (no task per message) and acknowledged when the
group commit that covers it is durable: answers owed for a storage position wait in ``owe``'s
queue, and either the receive loop's settle point (storage that flushes inline) or one answering
task (storage that flushes in a thread) sends every answer a commit made true. Replication ids
already applied are remembered for a while, so a resent or replayed ``Replicate`` is acknowledged
without being applied twice. A coordinator's ``Read`` is answered with this node's copy.

The coordinator (``coordinator``) uses the same staging and owed answers for its own copy of a
write; the seeded defect (``defects``) decides whether acknowledgements wait for durability and
whether deletes keep their tombstones.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence

import trio

from .defects import Defect
from .hlc import HybridClock
from .messaging import Messenger, forget_old
from .observe import CLIENT, ApplyObserver
from .record import Record
from .storage import Storage, StorageClosedError
from .transport import Address
from .wire import Ack, Read, ReadReply, Replicate, TooLarge

SEEN_IDS_SIZE = 50_000
"""Replication ids remembered (also bounded by age, ``messaging.CACHE_AGE``)."""

_Owed = tuple[int, bytes | None, Address, Callable[[], None] | None]
"""An answer waiting for durability: storage position, datagram, destination, what to do first."""


class Replica:
    """One node's replica role: its storage, the acks it owes, the replication ids it has seen."""

    def __init__(
        self,
        node_id: str,
        storage: Storage,
        clock: HybridClock,
        messenger: Messenger,
        peers: dict[str, Address],
        counters: Counter[str],
        defect: Defect,
        spawn: Callable[..., None],
        observer: ApplyObserver | None = None,
    ) -> None:
        self.id = node_id
        self.observer = observer
        self.storage = storage
        self.clock = clock
        self.messenger = messenger
        self.peers = peers
        self.counters = counters
        self.defect = defect
        self._spawn = spawn
        self._replicated: OrderedDict[tuple[str, int], float] = OrderedDict()
        # Answers owed once storage is durable up to a position: acks to replicating peers and
        # replies to local writes. One task sends them as group commits make them true.
        self._owed: deque[_Owed] = deque()
        self.owed = self._owed
        """The answers owed (read-only outside: the receive loop looks before it settles)."""
        self._owed_wakeup = trio.Event()

    @property
    def seen_replication_ids(self) -> int:
        return len(self._replicated)

    # -- storing ---------------------------------------------------------------------------------

    def get(self, key: str) -> Record | None:
        """This node's own copy of ``key`` (None: absent)."""
        return self.storage.get(key)

    async def store(self, records: Sequence[Record], via: str = CLIENT) -> None:
        """Merge records into local storage; returns once they are durable (the ack promise).

        ``via``: where they came from (``observe.CLIENT`` or a node id), for the observer only.
        """
        self.clock.observe(max(r.stamp for r in records))
        won = self.storage.apply_nowait(records)  # what ``Storage.apply`` does first
        if self.observer is not None:
            self.observer.applied(self.id, records, won, via)
        if self.defect.ack_before_durable:
            await trio.lowlevel.checkpoint()
        else:
            await self.storage.wait_durable(self.storage.staged)  # and then (``Storage.apply``)
        if not self.defect.tombstones:
            for record in records:
                if record.value is None:
                    await self.storage.purge_tombstone(record.key, record.stamp)

    def stage(self, records: Sequence[Record], via: str = CLIENT) -> None:
        """Merge records into storage now; durable at the next group commit (see ``owe``).

        ``via``: where they came from (``observe.CLIENT`` or a node id), for the observer only.
        """
        won = self.storage.apply_nowait(records)
        if self.observer is not None:
            self.observer.applied(self.id, records, won, via)
        if not self.defect.tombstones:
            for record in records:
                if record.value is None:
                    self.storage.purge_nowait(record.key, record.stamp)

    # -- handling messages -----------------------------------------------------------------------

    def on_replicate(self, message: Replicate, src: Address) -> None:
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
                self.owe(ack, src)
                return
            self.counters["records_received"] += len(message.records)
            records = message.records
            self.clock.observe(records[0].stamp if len(records) == 1 else max(r.stamp for r in records))
            self.stage(message.records, message.src)
        except StorageClosedError:
            self.counters["handler_errors_storage_closed"] += 1  # a crash in progress
            return
        now = self.messenger.now()
        self._replicated[token] = now
        forget_old(self._replicated, now, SEEN_IDS_SIZE)
        if self.defect.ack_before_durable:  # the seeded defect: acknowledge what only memory holds
            self._spawn(self.messenger.send_bytes, ack, src)
            return
        self.owe(ack, src)

    async def on_read(self, message: Read, src: Address) -> None:
        """A coordinator asks for this node's copy of a key."""
        try:
            await self.messenger.send(ReadReply(message.id, self.id, self.storage.get(message.key)), src)
        except TooLarge:  # a state stored before states were bounded: counted, never a handler error
            self.counters["read_replies_too_large"] += 1

    # -- answers owed until durable ----------------------------------------------------------------

    def owe(self, data: bytes | None, dest: Address, on_durable: Callable[[], None] | None = None) -> None:
        """Send ``data`` (if any) once what storage has staged so far is durable (calling ``on_durable`` first).

        Positions only grow (``staged`` does), so the queue stays in order.
        """
        self._owed.append((self.storage.staged, data, dest, on_durable))
        if not self.storage.flushes_inline:
            self._owed_wakeup.set()  # else the receive loop settles them before it waits

    async def settle(self) -> None:
        """Group commit and send what is owed, here and now, when storage flushes inline (the
        receive loop's settle point)."""
        if self._owed and self.storage.flushes_inline:
            await self.send_owed()

    async def acknowledge_when_durable(self) -> None:
        """Send owed answers while storage flushes in a thread (or waits): the receive loop must not."""
        while True:
            if not self._owed:
                self._owed_wakeup = trio.Event()
                await self._owed_wakeup.wait()
                continue
            await self.send_owed()

    async def send_owed(self) -> None:
        """Send owed answers in order, each once storage is durable up to the position it names
        (``settle`` and the answering task; the receive loop calls it itself when it settles)."""
        owed = self._owed
        messenger = self.messenger
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
            if data is not None:  # messenger.send_bytes, inline (a coroutine less per answer)
                messenger.counters["datagrams_sent"] += 1
                await messenger.transport.send(data, dest)
