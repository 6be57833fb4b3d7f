"""The harness's network between Maelstrom nodes, clients and services.

Every line a node writes comes here (a batch per stdout read, from ``MaelstromNode``'s reader) and
is routed by its ``dest``:

- another node: the nemesis's ``FaultModel`` decides its fate on that directed link (partition,
  one-way ones included, drop, delay, duplicate, reorder: ``nemesis.link_faults``), after the
  run's ``--latency``; the line is forwarded as it was written (no re-encoding);
- a client (``c<k>``: ``c`` and digits): handed to the waiting call (``Clients``) if it comes from the node
  the call went to, after the run's ``--latency``;
- a service (``lin-kv``, ``seq-kv``, ``lww-kv``, ``lin-tso``): answered by ``services`` (latency
  both ways, as every message of Maelstrom's network has it);
- anything else: counted (``unknown_dest``, the first few names in ``unknown_dests``) and dropped.

Delayed copies wait in one heap served by one task (no task per message). Fault draws are keyed by
the message's identity (link, body bytes and how many identical bodies crossed that link before),
not by arrival order, so that two runs of a deterministic node draw the same faults for the same
messages even when the OS interleaves their stdout reads differently.

Every message is journalled (``MessageJournal``) with its body (bounded) and its fate.

``lost_in_flight`` (a ``FaultModel`` counter) stays 0 here, and the summary never prints it (the run's
``faults`` block keeps only counters that are not 0): not because it goes unmeasured, but because the loss
it counts cannot happen on this network. The store's networks (``FaultyNetwork``, ``UdpRouter``) count a
copy their SENDER could no longer send: a delayed copy leaves from the sender's socket when it comes due, and
a paused node's datagrams are held and leave from its socket when it resumes; a crash closes that socket
first. Here a line leaves its sender when the node writes it: the router has read it (lines written before a
crash are still read and routed), a delayed copy waits in the router's heap and is delivered when due however
its sender fares, as on Maelstrom's own network, and a paused node (SIGSTOP, a frozen cgroup) writes nothing,
so nothing is held for it. On the receiving side the router counts more than the store's networks do: a copy
due when its receiver is down is ``to_dead_node`` ("not delivered: to a crashed node" in the summary), where
the store's networks count it ``passed``, as a datagram sent to a dead port. What a killed node had queued in
its stdin pipe and not read yet, the router cannot tell from what it had read (the process's own buffer is
invisible), as the store's networks cannot for a killed node's socket buffer: neither counts it.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import math
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
import trio

from nemesis.link_faults import DelayDistribution, FaultModel

from .node_process import Lines, MaelstromNode
from .protocol import dumps, encode

MAX_BODY_LINE = 16_384
"""A message line longer than this (bytes) is journalled without its body: its size and its first ``BODY_HEAD`` characters."""
BODY_HEAD = 200
MAX_BODY_TOTAL = 256 << 20
"""Bytes of message lines whose bodies one journal records; past it, records carry no body (the event
``bodies-stopped`` says when), so that a flood cannot make the file explode."""
MAX_UNKNOWN_DESTS = 8
MAX_IDENTITIES = 1 << 20
"""Distinct lines whose repeat counts the router remembers (about 100 MB at most) before it starts over."""


class MessageDraws(random.Random):
    """A tiny random stream (SplitMix64) for one message's fault draws: seeding a ``random.Random``
    per message cost more than routing it. Only ``random()`` is drawn from; the rest of
    ``random.Random``'s methods (``uniform``, ``expovariate``, ``choice``) build on it."""

    def __init__(self, state: int) -> None:  # no super().__init__: nothing to seed from the OS
        self._state = state & 0xFFFFFFFFFFFFFFFF

    def seed(self, *args: Any, **kwargs: Any) -> None:
        pass

    def random(self) -> float:
        self._state = z = (self._state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return ((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0)


class MessageJournal:
    """``messages.jsonl.gz``: a header line, then one line per message (docs/HISTORY.md, Maelstrom runs)."""

    def __init__(self, path: Path, header: dict[str, Any], start: float | None = None) -> None:
        """``start``: trio's clock at ``t`` 0 (the history's, so that both files share one time axis)."""
        self.path = path
        self._file: IO[bytes] = gzip.GzipFile(path, "wb", compresslevel=1)  # type: ignore[assignment]
        self._clock = trio.lowlevel.current_clock().current_time
        self._start = self._clock() if start is None else start
        self._buf: list[bytes] = [orjson.dumps({"maelstrom_journal": 1, "bodies": True, **header},
                                               option=orjson.OPT_APPEND_NEWLINE)]
        self.records = 0
        self.body_bytes = 0

    def message(self, src: str, dest: str, body: dict[str, Any], fate: str, copies: int, line: bytes | None = None,
                delays: list[float] | None = None) -> int:
        """One message and its fate; returns its id (``not-delivered`` events name it). ``line``: the message as
        written (its size decides whether the body is recorded whole); ``delays``: seconds after ``t`` at which
        each copy is due, when some copy was delayed."""
        n = self.records
        rec = {"t": int((self._clock() - self._start) * 1e9), "id": n, "src": src, "dest": dest, "type": body.get("type"),
               "msg_id": body.get("msg_id"), "in_reply_to": body.get("in_reply_to"), "fate": fate}
        if copies != 1:
            rec["copies"] = copies
        if delays is not None:
            rec["delays_ms"] = [round(d * 1000, 3) for d in delays]
        size = len(line) if line is not None else 0
        if size > MAX_BODY_LINE:
            rec["body_bytes"] = size
            rec["body_head"] = line[:BODY_HEAD * 4].decode("utf-8", "replace")[:BODY_HEAD]  # type: ignore[index]
        elif self.body_bytes < MAX_BODY_TOTAL:
            rec["body"] = body
            self.body_bytes += size
            if self.body_bytes >= MAX_BODY_TOTAL:
                self.event("bodies-stopped", after_bytes=self.body_bytes)
        self._buf.append(dumps(rec, newline=True))
        self.records = n + 1
        if len(self._buf) >= 4096:
            self.flush()
        return n

    def event(self, kind: str, **fields: Any) -> None:
        """A node's life event (start, crash, restart, pause, resume) or a nemesis change."""
        rec = {"t": int((self._clock() - self._start) * 1e9), "event": kind, **fields}
        self._buf.append(dumps(rec, newline=True))

    def flush(self) -> None:
        self._file.write(b"".join(self._buf))
        self._buf.clear()

    def close(self) -> None:
        self.flush()
        self._file.close()


class Clients:
    """Calls in flight from the harness's clients, resolved by (client, ``in_reply_to``) (a dict lookup per reply).

    As Maelstrom's client (``client.clj`` ``recv!``), a reply answers the call whatever node sent it: a node may
    forward a request to another that answers the client itself. The call hears who sent it, so every reason
    names the node that actually replied, and such replies are counted (``from_other_node``, informational)."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, int], tuple[str, Callable[[dict[str, Any], str], None]]] = {}
        self._next_id = 0
        self.unexpected = 0
        self.from_other_node = 0
        """Replies that answered a call but came from another node than the one it was sent to."""
        self.last_unexpected: dict[str, dict[str, Any]] = {}
        """Per node, the last message it sent a client that answered nothing waiting (for error messages)."""

    def next_msg_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def expect(self, client: str, msg_id: int, on_reply: Callable[[dict[str, Any], str], None], node: str) -> None:
        """Await the reply to ``client``'s ``msg_id``, sent to ``node``; ``on_reply(body, sender)``."""
        self._waiting[(client, msg_id)] = (node, on_reply)

    def forget(self, client: str, msg_id: int) -> None:
        self._waiting.pop((client, msg_id), None)

    def deliver(self, src: str, dest: str, body: dict[str, Any]) -> str:
        """Hand ``body`` to the call it answers: ``answered`` (by the node asked), ``answered-by-other``
        (another node replied), or ``unexpected`` (late, duplicate, or no reply at all)."""
        reply_to = body.get("in_reply_to")
        if type(reply_to) is not int:
            reply_to = -1  # no call has it (msg_ids count from 1)
        key = (dest, reply_to)
        waiting = self._waiting.pop(key, None)
        if waiting is None:
            self.unexpected += 1  # a late reply (after the 5 s timeout), a duplicate, or no reply at all
            self.last_unexpected[src] = body
            return "unexpected"
        waiting[1](body, src)
        if waiting[0] != src:
            self.from_other_node += 1
            return "answered-by-other"
        return "answered"


Service = Callable[[str, dict[str, Any]], dict[str, Any] | None]
"""A service: (calling node, request body) -> reply body (None: no reply)."""



def is_client(dest: str) -> bool:
    """A client id: ``c`` and digits (``cat`` or ``c`` is no client)."""
    return dest[:1] == "c" and dest[1:].isdigit() and dest.isascii()

class Router:
    """Routes every message of the run; see the module docstring."""

    def __init__(self, nodes: dict[str, MaelstromNode], model: FaultModel, seed: object,
                 services: dict[str, Service], latency: DelayDistribution | None,
                 journal: MessageJournal | None) -> None:
        self.nodes = nodes
        self.model = model
        self.seed = seed
        self.services = services
        self.latency = latency
        self.journal = journal
        self.clients = Clients()
        self.counts: Counter[str] = Counter()
        """Messages sent: ``client`` (to or from a client), ``inter_node``, ``service``, ``unknown_dest``; not
        delivered: ``lost`` (to faults), ``to_dead_node``, ``input_full`` (more than 64 MiB already waited for the
        node to read them); ``reply_from_other_node`` (a reply that answered a client's call, from another node than
        the one the call went to: informational, Maelstrom accepts it too); received: ``recv_client`` (to or from a client), ``recv_server`` (the rest), each copy."""
        self._heap: list[tuple[float, int, str, str, bytes, int | None]] = []
        self._messages = 0
        self._flight: dict[int, list[int]] = {}
        """Per node-to-node message with delayed copies: [copies in flight, any copy delivered], so that one a
        partition cuts in flight moves once from ``passed`` to ``partitioned`` (it was counted passed when sent)."""
        self._copy_of: dict[int, int] = {}
        """A delayed copy's seq -> its message's key in ``_flight``."""
        self._seq = 0
        self._timer: trio.CancelScope | None = None
        self._identity: Counter[bytes] = Counter()
        self._key = hashlib.blake2b(f"{seed}/maelstrom/net".encode(), digest_size=32).digest()
        self._latency_rng = random.Random(f"{seed}/maelstrom/latency")
        self.unknown_dests: Counter[str] = Counter()
        """Messages per nonexistent destination, for the first ``MAX_UNKNOWN_DESTS`` such names."""

    # -- from nodes ------------------------------------------------------------------------------

    def on_lines(self, src: str, batch: Lines) -> None:
        """A batch of lines node ``src`` wrote (``MaelstromNode``'s reader calls this)."""
        nodes = self.nodes
        journal = self.journal
        counts = self.counts
        for line, msg in batch:
            dest = msg["dest"]
            body = msg["body"]
            if dest in nodes:
                counts["inter_node"] += 1
                if dest == src:  # a node's message to itself never crosses a link (as in UdpRouter)
                    jid = journal.message(src, dest, body, "delivered", 1, line) if journal is not None else None
                    self._deliver(src, dest, line, jid)
                else:
                    self._to_node(src, dest, line, body)
            elif (client := is_client(dest)) or dest in self.services:
                counts["client" if client else "service"] += 1
                # --latency holds for every message, as in Maelstrom: replies to clients, requests to services
                delay = self.latency.sample(self._latency_rng) if self.latency is not None else 0.0
                if journal is not None:
                    journal.message(src, dest, body, "delivered", 1, line, [delay] if delay > 0 else None)
                if delay > 0:
                    self._later(delay, src, dest, line, check_link=False)
                else:
                    self._arrive(src, dest, body)
            else:
                counts["unknown_dest"] += 1
                if dest in self.unknown_dests or len(self.unknown_dests) < MAX_UNKNOWN_DESTS:
                    self.unknown_dests[dest] += 1
                if journal is not None:
                    journal.message(src, dest, body, "unknown-dest", 0, line)

    def _arrive(self, src: str, dest: str, body: dict[str, Any]) -> None:
        """A node's message reaching a client (the waiting call) or a service (which answers)."""
        client = is_client(dest)
        self.counts["recv_client" if client else "recv_server"] += 1
        if client:
            if self.clients.deliver(src, dest, body) == "answered-by-other":
                self.counts["reply_from_other_node"] += 1
            return
        reply = self.services[dest](src, body)
        if reply is not None:
            self.send_from_outside(dest, src, reply)

    def _to_node(self, src: str, dest: str, line: bytes, body: dict[str, Any]) -> None:
        model = self.model
        latency = self.latency
        draws: random.Random | None = None
        if latency is not None or (not model.faults_for(src, dest).healthy and model.link_allowed(src, dest)):
            draws = model.rng = self._message_rng(src, dest, line)
        delays, fault = model.decide_why(src, dest)
        node = self.nodes[dest]
        if not node.alive:
            delays, fault = [], "node-down"
        elif node.full and all(d <= 0 for d in delays):
            delays, fault = [], "input-full"
            self.counts["input_full"] += 1
        if latency is not None and delays:
            assert draws is not None
            base = latency.sample(draws)
            delays = [d + base for d in delays]
        jid = None
        if self.journal is not None:
            timed = delays if (fault is not None or latency is not None) and delays and max(delays) > 0 else None
            jid = self.journal.message(src, dest, body, fault or "delivered", len(delays), line, timed)
        if fault == "node-down":
            self.counts["to_dead_node"] += 1  # not a fault of the network: the node was down
        elif not delays:
            self.counts["lost"] += 1
        later = sum(1 for d in delays if d > 0)
        key = None
        if later:
            self._messages += 1
            key = self._messages
            self._flight[key] = [later, int(later < len(delays))]
        for delay in delays:
            if delay <= 0:
                self._deliver(src, dest, line, jid)
            else:
                self._later(delay, src, dest, line, jid=jid, flight=key)

    def _message_rng(self, src: str, dest: str, line: bytes) -> random.Random:
        """The draws for one message: from its identity, not from how many messages came before it.

        The identity is the line's bytes (which name src and dest) keyed with the seed, and how many
        identical lines crossed before (so a resent identical message draws afresh: otherwise a
        dropped gossip would be dropped forever). One 8-byte digest per distinct line is remembered, up to ``MAX_IDENTITIES``.
        """
        digest = hashlib.blake2b(line, digest_size=8, key=self._key).digest()
        if len(self._identity) >= MAX_IDENTITIES:
            self._identity.clear()  # bounded memory: counts restart (a repeat then draws as its first copy did)
        n = self._identity[digest]
        self._identity[digest] = n + 1
        return MessageDraws(int.from_bytes(digest, "little") ^ (n * 0x9E3779B97F4A7C15))

    def _deliver(self, src: str, dest: str, line: bytes, jid: int | None = None) -> bool:
        node = self.nodes[dest]
        if node.send(line):
            self.counts["recv_client" if src[:1] == "c" and src not in self.nodes else "recv_server"] += 1
            return True
        full = node.alive  # alive but refusing: more than 64 MiB wait for it to read them
        self.counts["input_full" if full else "to_dead_node"] += 1
        if self.journal is not None:
            self.journal.event("not-delivered", src=src, dest=dest, id=jid,
                               why="node's input full (64 MiB unread)" if full else "node down")
        return False

    # -- from the harness (clients, services, init) ------------------------------------------------

    def send_from_outside(self, src: str, dest: str, body: dict[str, Any]) -> bool:
        """A client's or service's message to node ``dest`` (latency applies; link faults do not)."""
        node = self.nodes.get(dest)
        if node is None:
            return False
        self.counts["client" if src[:1] == "c" else "service"] += 1
        line = encode(src, dest, body)
        if not node.alive or node.full:
            self.counts["to_dead_node" if not node.alive else "input_full"] += 1
            if self.journal is not None:
                self.journal.message(src, dest, body, "node-down" if not node.alive else "input-full", 0, line)
            return False
        delay = self.latency.sample(self._latency_rng) if self.latency is not None else 0.0
        jid = None
        if self.journal is not None:
            jid = self.journal.message(src, dest, body, "delivered", 1, line, [delay] if delay > 0 else None)
        if delay > 0:
            self._later(delay, src, dest, line, check_link=False, jid=jid)
            return True
        return self._deliver(src, dest, line, jid)

    # -- delayed copies ----------------------------------------------------------------------------

    def _later(self, delay: float, src: str, dest: str, line: bytes, check_link: bool = True,
               jid: int | None = None, flight: int | None = None) -> None:
        due = trio.current_time() + delay
        self._seq += 1
        if flight is not None:
            self._copy_of[self._seq] = flight
        heapq.heappush(self._heap, (due, self._seq if check_link else -self._seq, src, dest, line, jid))
        timer = self._timer
        if timer is not None and due < timer.deadline:
            timer.deadline = due

    async def run_timers(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver delayed copies when due (a partition that started meanwhile cuts node-to-node ones)."""
        heap = self._heap
        task_status.started()
        while True:
            with trio.CancelScope() as scope:
                self._timer = scope
                scope.deadline = heap[0][0] if heap else math.inf
                await trio.sleep_forever()
            self._timer = None
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, seq, src, dest, line, jid = heapq.heappop(heap)
                if dest not in self.nodes:  # a delayed reply to a client or request to a service
                    self._arrive(src, dest, orjson.loads(line)["body"])
                    continue
                key = self._copy_of.pop(seq, None)
                allowed = seq < 0 or self.model.link_allowed(src, dest)
                if key is not None:  # count the message once: passed unless every copy was cut in flight
                    flight = self._flight[key]
                    flight[0] -= 1
                    flight[1] |= allowed
                    if flight[0] == 0:
                        del self._flight[key]
                        if not flight[1]:
                            self.model.counters.passed -= 1
                            self.model.counters.partitioned += 1
                elif not allowed:
                    self.model.counters.partitioned += 1
                if not allowed:
                    self.counts["lost"] += 1
                    if self.journal is not None:
                        self.journal.event("not-delivered", src=src, dest=dest, id=jid,
                                           why="a partition began while it was delayed")
                    continue
                self._deliver(src, dest, line, jid)
