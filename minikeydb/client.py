"""The client library: put, get and delete against any node, with three honest outcomes.

A request over UDP can end three ways, and histories need to tell them apart:

- ``ok``: it happened (a write is durable on W replicas; a read returns what R replicas hold);
- ``fail``: it definitely did not happen (a read that no replica answered, a refused request);
- ``unknown``: it may or may not have happened (no reply in time, or the coordinator itself could
  not learn whether W replicas took it). A write with an unknown outcome may still appear later.

The client resends a request with the *same* request id until the client timeout, so a
coordinator that already handled it answers from its reply cache instead of writing again.

Versions are made here, not at the coordinator. The client runs a hybrid logical clock of its own
(``HybridClock`` with a random id, ``c`` and 16 hex digits, drawn from the client's rng so a
simulated run stays deterministic), observes the stamp of every reply it gets, and puts the
stamp of each write into its ``Put``/``Delete``, under the tag. The coordinator stores exactly
that version, so a captured request replayed from anywhere, to any node, is the same version
again: a no-op for last-writer-wins, and older than any later write. A coordinator whose own
clock differs from the stamp's by more than the replay window answers ``fail`` with error
``"clock"`` (definitely not written).

``walls`` gives the client one clock per node it talks to: a write sent to node X is stamped by
a clock of its own (its own id) reading X's wall clock, and observes only X's replies. The
harness uses it so that its clients "run beside the node they talk to": the clock-skew nemesis
skews node X's wall clock, and what X's clients write is stamped with the skewed time, as a
client process on a skewed machine would.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import attrs
import trio

from .config import ClusterConfig
from .conflict import LWW, SIBLINGS, StateError, decode, view
from .crdt import ORSet, observed_dots
from .dvv import EMPTY_CONTEXT, Context
from .hlc import HybridClock
from .messaging import Backoff, Messenger
from .record import Stamp
from .ring import shared_ring
from .transport import Address, Transport, UdpTransport
from .wire import (
    FAIL,
    MAX_COUNT,
    OK,
    UNKNOWN,
    Codec,
    Delete,
    Get,
    Put,
    Reply,
    StatsReply,
    StatsRequest,
    Update,
    WireError,
    check_sizes,
)


@attrs.frozen
class Result:
    """The outcome of one client operation."""

    outcome: str  # "ok" | "fail" | "unknown"
    value: str | None = None
    stamp: Stamp | None = None
    error: str | None = None
    node: str = ""
    values: tuple[str, ...] | None = None
    """Under conflict mode siblings, a get's live sibling values (empty: absent or deleted)."""
    context: str | None = None
    """Under conflict mode siblings, a get's opaque causal context: give it to ``put``/``delete``
    to supersede exactly the siblings it saw."""
    count: int | None = None
    """A counter key's value (conflict mode crdt)."""
    elements: tuple[str, ...] | None = None
    """A set key's elements, sorted (conflict mode crdt)."""

    @property
    def ok(self) -> bool:
        return self.outcome == OK


def new_client_id(rng: random.Random) -> str:
    """A client id: "c" and 16 hex digits from ``rng`` (64 random bits: two clients never share one)."""
    return f"c{rng.getrandbits(64):016x}"


class Client:
    """Talks to the cluster through one transport. Use ``async with Client.connect(config) as c``.

    ``wall`` is the clock its writes are stamped with; ``walls`` (node id -> clock) stamps a write
    sent to that node with that clock instead, each under a client id of its own (see the module
    docstring).
    """

    def __init__(
        self,
        config: ClusterConfig,
        transport: Transport,
        codec: Codec,
        rng: random.Random | None = None,
        *,
        wall: Callable[[], float] = time.time,
        walls: Mapping[str, Callable[[], float]] | None = None,
    ) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.id = new_client_id(self.rng)
        self.clock = HybridClock(self.id, wall)
        self._clocks: dict[str, HybridClock] = {
            node: HybridClock(new_client_id(self.rng), wall_of) for node, wall_of in sorted((walls or {}).items())
        }
        self.counters: Counter[str] = Counter()
        self.messenger = Messenger(transport, codec, self.rng, self.counters)
        t = config.timeouts
        attempts = max(1, math.ceil(t.client / t.client_resend))
        self.backoff = Backoff(t.client_resend, t.client_resend, attempts, factor=1.0, jitter=0.1)
        self.ring = shared_ring(config.node_ids, config.replicas, config.vnodes)
        self.conflict = config.conflict
        # Siblings writes and set adds are events numbered per (writer, key): 1, 2, 3, ... (``dvv``).
        # A number is never used twice (a late copy of a refused request could still land, and one
        # dot must name one write); the numbers of writes that definitely failed travel in the
        # context of the key's next write, which closes the gap they left in the version vector.
        self._next_dot: dict[tuple[str, str], int] = {}
        self._failed_dots: dict[tuple[str, str], list[int]] = {}
        # Counter lanes per (writer, key): [increment total, decrement total, busy].
        self._lanes: dict[tuple[str, str], list[list[int]]] = {}
        self._addresses: dict[str, Address] = {}

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        config: ClusterConfig,
        *,
        transport: Transport | None = None,
        codec: Codec | None = None,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
        walls: Mapping[str, Callable[[], float]] | None = None,
    ) -> AsyncIterator[Client]:
        """A client with its receive loop running; the socket closes when the block ends."""
        own = transport is None
        if transport is None:
            transport = await UdpTransport.bind("127.0.0.1", 0)
        client = cls(config, transport, codec or Codec(config.load_secret(create=False), conflict=config.conflict), rng, wall=wall, walls=walls)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(client.messenger.run_timers)
                nursery.start_soon(client._receive_loop)
                try:
                    yield client
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            if own:
                transport.close()

    async def _receive_loop(self) -> None:
        messenger = self.messenger
        transport, codec = messenger.transport, messenger.codec
        while True:
            try:
                data, src = await transport.recv()
            except trio.ClosedResourceError:
                return
            try:  # Messenger.decode, inline: a malformed datagram is counted and dropped there
                message = codec.decode(data)
            except WireError as exc:
                messenger.dropped(exc, src)
                continue
            kind = type(message)  # Reply and StatsReply are final: isinstance without the call
            if kind is Reply or kind is StatsReply:
                messenger.resolve(message)
            else:
                self.counters["dropped_unexpected"] += 1

    def coordinator(self, node: str | None = None, key: str | None = None) -> str:
        """The node to send to: the one asked for, else the primary replica of ``key``, else any node.

        Sending to a replica (token-aware routing) saves the coordinator a hop. Always the same
        one, the key's primary, so that while it is up a client reads its own writes and never
        an older value than it read before: with W=1 and R=1 a write is answered once the
        coordinator holds it, and another replica may not have it yet. Load still spreads,
        because primaries spread evenly over keys. (The harness names a random node for every
        operation instead, to see what other replicas show.)
        """
        if node is not None:
            if node not in self._addresses:  # (known nodes: looked up already)
                self.config.node(node)  # ConfigError for an unknown id
            return node
        if key is not None:
            return self.ring.replicas_for(key)[0]
        return self.rng.choice(self.config.node_ids)

    def clock_for(self, node: str) -> HybridClock:
        """The clock that stamps writes sent to ``node`` (and observes its replies)."""
        return self._clocks.get(node, self.clock)

    async def _call(self, message: Put | Delete | Get | Update, node: str) -> Result:
        address = self._addresses.get(node)
        if address is None:  # the config's linear look-up, once per node
            address = self._addresses[node] = self.config.node(node).address
        reply = await self.messenger.request(message, address, self.backoff)
        if reply is None:
            return Result(UNKNOWN, error="timeout", node=node)
        assert isinstance(reply, Reply)
        if reply.status not in (OK, FAIL, UNKNOWN):
            return Result(UNKNOWN, error=f"malformed-reply: status {reply.status!r}", node=node)
        if reply.stamp is not None:  # what this client has seen: its later writes must follow it
            self._clocks.get(node, self.clock).observe(reply.stamp)  # clock_for, inline
        if self.conflict != LWW and isinstance(message, Get) and reply.status == OK:
            try:
                shown = view(self.conflict, reply.value, message.key)
            except StateError as e:
                return Result(FAIL, error=f"malformed-reply: {e}", node=reply.node or node)
            return Result(
                reply.status, shown.value, reply.stamp, reply.error, reply.node or node,
                values=shown.values, context=shown.context, count=shown.count, elements=shown.elements,
            )
        return Result(reply.status, reply.value, reply.stamp, reply.error, reply.node or node)

    async def _update(
        self, op: str, key: str, arg: str | None, *, context: str | None = None, amount: int = 0,
        node: str | None = None, w: int = 0,
    ) -> Result:
        """A write under conflict mode siblings or crdt: one ``Update`` with its dot or lane total."""
        check_sizes(key, arg)
        if context is not None:
            check_sizes(key, context)
        target = self.coordinator(node, key)
        clock = self.clock_for(target)
        stamp = clock.now()
        slot = (stamp[2], key)  # the actor: the writer id of this stamp
        lane_state: list[int] | None = None
        lane = n = 0
        if op in ("incr", "decr"):
            lanes = self._lanes.setdefault(slot, [])
            lane = next((i for i, entry in enumerate(lanes) if not entry[2]), len(lanes))
            if lane == len(lanes):
                lanes.append([0, 0, 0])
            lane_state = lanes[lane]
            n = lane_state[0 if op == "incr" else 1] + amount
            if n >= MAX_COUNT:  # the node would refuse it unread: refused here, the lane unchanged
                raise ValueError(
                    f"{op} {amount}: a counter lane's {op} total stays below 2^62; this lane's would reach {n}"
                )
            lane_state[2] = 1
            lane_state[0 if op == "incr" else 1] = n
        failed: list[int] = []
        if op == "add" or (op in ("put", "delete") and self.conflict == SIBLINGS):
            n = self._next_dot.get(slot, 0) + 1
            self._next_dot[slot] = n
            failed = self._failed_dots.pop(slot, [])
            if failed:
                seen = EMPTY_CONTEXT if context is None else Context.decode(context, key)
                context = seen.add((slot[0], d) for d in failed).encode(key)
        result = Result(UNKNOWN, error="cancelled")
        try:
            result = await self._call(Update(self.messenger.new_id(), key, op, arg, context, n, lane, stamp, w), target)
        finally:
            if result.outcome == FAIL:  # definitely not written: take the lane's amount back, retire the dot
                if lane_state is not None:
                    lane_state[0 if op == "incr" else 1] -= amount
                elif n:
                    failed.append(n)
            if failed and result.outcome != OK:  # their gap is not closed yet: the next write tries again
                self._failed_dots.setdefault(slot, []).extend(failed)
            if lane_state is not None:
                lane_state[2] = 0
        return result

    def _conflict_only(self, op: str, mode: str) -> None:
        if self.conflict != mode:
            raise ValueError(f"{op} needs conflict mode {mode}; {self.config.source} says {self.conflict!r}")

    async def put(
        self, key: str, value: str, *, context: str | None = None, node: str | None = None, w: int = 0
    ) -> Result:
        """Write ``value``; raises ``TooLarge`` before sending when the key or value cannot travel.

        Under conflict mode siblings, ``context`` (from a get) makes the write supersede exactly
        the siblings that get saw; without one it adds a sibling.
        """
        if context is not None:
            self._conflict_only("put with a context", SIBLINGS)
        if self.conflict != LWW:
            return await self._update("put", key, value, context=context, node=node, w=w)
        check_sizes(key, value)
        target = self.coordinator(node, key)
        stamp = self.clock_for(target).now()
        return await self._call(Put(self.messenger.new_id(), key, value, stamp, w), target)

    async def delete(self, key: str, *, context: str | None = None, node: str | None = None, w: int = 0) -> Result:
        """Delete ``key`` (a tombstone); under siblings, with a context it removes exactly what that get saw."""
        if context is not None:
            self._conflict_only("delete with a context", SIBLINGS)
        if self.conflict != LWW:
            return await self._update("delete", key, None, context=context, node=node, w=w)
        check_sizes(key, None)
        target = self.coordinator(node, key)
        stamp = self.clock_for(target).now()
        return await self._call(Delete(self.messenger.new_id(), key, stamp, w), target)

    async def get(self, key: str, *, node: str | None = None, r: int = 0, local: bool = False) -> Result:
        """Read ``key``; an ok result with value None means the key is absent (or deleted)."""
        check_sizes(key, None)
        return await self._call(Get(self.messenger.new_id(), self.id, key, r, local), self.coordinator(node, key))

    async def incr(self, key: str, amount: int, *, node: str | None = None, w: int = 0) -> Result:
        """Add ``amount`` (>= 0) to the counter ``key`` (conflict mode crdt)."""
        return await self._count("incr", key, amount, node, w)

    async def decr(self, key: str, amount: int, *, node: str | None = None, w: int = 0) -> Result:
        """Subtract ``amount`` (>= 0) from the counter ``key`` (conflict mode crdt)."""
        return await self._count("decr", key, amount, node, w)

    async def _count(self, op: str, key: str, amount: int, node: str | None, w: int) -> Result:
        self._conflict_only(op, "crdt")
        if type(amount) is not int or not 0 <= amount < MAX_COUNT:
            raise ValueError(f"{op}: the amount must be a whole number from 0 to 2^62 - 1, got {amount!r}")
        return await self._update(op, key, None, amount=amount, node=node, w=w)

    async def add(self, key: str, element: str, *, node: str | None = None, w: int = 0) -> Result:
        """Add ``element`` to the set ``key`` (conflict mode crdt)."""
        self._conflict_only("add", "crdt")
        return await self._update("add", key, element, node=node, w=w)

    async def remove(self, key: str, element: str, *, node: str | None = None, w: int = 0) -> Result:
        """Remove ``element`` from the set ``key`` (conflict mode crdt): the adds a read made first
        observed. Their dots travel in the request (as a context), so the remove is the same
        whenever and wherever it lands: a replay removes nothing added since. A read that fails
        is a definite ``fail`` (nothing was written)."""
        self._conflict_only("remove", "crdt")
        check_sizes(key, element)
        target = self.coordinator(node, key)
        get = Get(self.messenger.new_id(), self.id, key, 0, False)
        reply = await self.messenger.request(get, self.config.node(target).address, self.backoff)
        if not isinstance(reply, Reply) or reply.status != OK:
            why = "timeout" if not isinstance(reply, Reply) else reply.error or reply.status
            return Result(FAIL, error=f"remove reads the set first: {why} (nothing was written)", node=target)
        if reply.stamp is not None:
            self.clock_for(target).observe(reply.stamp)
        try:
            state = decode(reply.value)[1]
        except StateError as e:
            return Result(FAIL, error=f"malformed-reply: {e}", node=reply.node or target)
        dots = observed_dots(state if isinstance(state, ORSet) else None, element)
        context = EMPTY_CONTEXT.add(dots).encode(key)
        return await self._update("remove", key, element, context=context, node=target, w=w)

    async def stats(self, node: str) -> dict[str, int] | None:
        """A node's counters, or None when it does not answer."""
        reply = await self.messenger.request(
            StatsRequest(self.messenger.new_id()), self.config.node(node).address, self.backoff
        )
        return reply.counters if isinstance(reply, StatsReply) else None
