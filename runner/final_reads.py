"""The final phase: read every key from each of its replicas until they agree, or time runs out.

Each replica is read with ``local=True``: the node's own stored copy, no quorum and no read repair,
because the question is whether the replicas themselves converged, not whether a coordinator can
paper over a difference. Keys whose replicas disagree are read again every ``ROUND_INTERVAL`` until
the converge timeout; the last final read of each key on each node is the one the checker judges,
and the rounds before it measure how long convergence took.

A key is judged disagreeing only after a read of all its replicas that came after the read that saw
them disagree: the timeout is checked between rounds, and a first round can outlast it (a saturated
cluster, 100,000 keys), so keys a repair was still reaching while round 1 read them get a second,
confirming round even past the timeout. That round reads only the keys that disagreed, so it is cheap;
a key some replica did not answer in that round 1 is not read again (the replica would wait out the
client timeout again, confirming nothing) and is reported disagreeing, unconfirmed (``unanswered``).

Only keys some operation was invoked on are read (a key never touched has nothing to converge),
so 100,000 configured keys cost only what the run used. A node with more than ``KEYS_PER_READER``
keys to read gets up to ``READERS_PER_NODE`` concurrent readers (each its own process in the
history); a round remembers a 16-byte digest of each value read, not the value.
"""

from __future__ import annotations

import hashlib
import math

import attrs
import trio

from minikeydb.client import Client
from minikeydb.ring import Ring

from .conflict_workload import final_value, read_f
from .recorder import HistoryRecorder
from .workload import Workload

ROUND_INTERVAL = 0.5
DRAIN_POLL = 0.1
DRAIN_LIMIT = 5.0
"""Before the first round, wait (at most this long) until no node has a record queued, in flight or
hinted: replicas that agree while a hint for their key still waits on another node have not converged
(a counter read then misses acknowledged increments). A node that never drains (a seeded bug, a node
that does not answer) costs at most this, and the rounds then judge what the replicas hold."""
KEYS_PER_READER = 256
READERS_PER_NODE = 8


def _digest(value: object) -> bytes | None:
    return None if value is None else hashlib.blake2b(str(value).encode(), digest_size=16).digest()


async def wait_drained(client: Client, nodes: list[str], start: float) -> float | None:
    """Poll every node's counters until none holds a record bound for a peer (queued, in flight, hinted):
    seconds from ``start`` until then, or None after ``DRAIN_LIMIT`` (or when a node does not answer)."""
    while True:
        drained = True
        for node in nodes:
            stats = await client.stats(node)
            if stats is None:
                return None
            if stats.get("hints_pending", 0) or stats.get("backlog_bytes", 0) or stats.get("outbox", 0):
                drained = False
                break
        now = trio.current_time()
        if drained:
            return now - start
        if now - start >= DRAIN_LIMIT:
            return None
        await trio.sleep(DRAIN_POLL)


def readers_for(count: int) -> int:
    """How many concurrent readers a node gets for ``count`` keys: one up to ``KEYS_PER_READER``."""
    return max(1, min(READERS_PER_NODE, math.ceil(count / KEYS_PER_READER)))


@attrs.define
class FinalReadReport:
    rounds: int = 0
    converged: bool = False
    seconds: float = 0.0
    drain_seconds: float | None = None
    """How long the cluster took to have nothing queued, in flight or hinted (None: not within DRAIN_LIMIT)."""
    disagreeing: list[str] = attrs.Factory(list)
    keys: int = 0
    """Keys read: those some operation was invoked on."""
    timeout: float = 0.0
    """The ``--converge-timeout`` the rounds ran against (checked between rounds, from the drain's start)."""
    round_seconds: list[float] = attrs.Factory(list)
    """How long each round took; a key still disagreeing was read in every one of them."""
    differing: list[int] = attrs.Factory(list)
    """How many keys still disagreed after each round (the next round reads only those)."""
    unanswered: list[str] = attrs.Factory(list)
    """Keys that differed in a round 1 past the timeout only because some replica did not answer them: not read
    again (a replica that waited out the client timeout once would only do it again, confirming nothing; with a
    node stopped, the confirming round took as long as round 1), so they count as disagreeing unconfirmed."""
    first_round_past_timeout: bool = False
    """Round 1 (with the drain before it) ended after the timeout: any round after it was the confirming read
    of the keys that disagreed in it, read past the timeout."""


async def final_reads(
    client: Client, recorder: HistoryRecorder, workload: Workload, ring: Ring, keys: list[str], timeout: float,
    *, conflict: str = "lww", kind: str = "register",
) -> FinalReadReport:
    """``kind`` is the ``--workload``: a final read records what its type holds (``final_value``: the
    siblings or elements as a sorted list, so replicas agree when their sets do; a count; a value)."""
    f = read_f(kind)
    report = FinalReadReport(timeout=timeout)
    start = trio.current_time()
    report.drain_seconds = await wait_drained(client, list(ring.nodes), start)
    pending = list(keys)
    report.keys = len(pending)
    readers = {(node, 0): workload.new_process() for node in ring.nodes}
    while pending:
        report.rounds += 1
        round_start = trio.current_time()
        seen: dict[str, dict[str, bytes | None]] = {key: {} for key in pending}
        per_node: dict[str, list[str]] = {node: [] for node in ring.nodes}
        for key in pending:
            for replica in ring.replicas_for(key):
                per_node[replica].append(key)

        async def read_node(
            reader: tuple[str, int], node_keys: list[str], round_no: int = report.rounds,
            seen: dict[str, dict[str, bytes | None]] = seen,
        ) -> None:
            node = reader[0]
            for key in node_keys:
                process = readers[reader]
                meta = {"round": round_no}
                recorder.record(process=process, type="invoke", f=f, key=key, value=None, node=node,
                                final=True, meta=meta)
                result = await client.get(key, node=node, local=True)
                outcome = {"ok": "ok", "fail": "fail"}.get(result.outcome, "info")
                value = final_value(conflict, kind, result) if outcome == "ok" else None
                recorder.record(process=process, type=outcome, f=f, key=key, value=value, node=node,
                                error=result.error if outcome != "ok" else None, final=True, meta=meta)
                if outcome == "ok":
                    seen[key][node] = _digest(value)
                elif outcome == "info":
                    readers[reader] = workload.new_process()

        async with trio.open_nursery() as nursery:
            for node, node_keys in per_node.items():
                count = readers_for(len(node_keys))
                for j in range(count):
                    if (node, j) not in readers:
                        readers[(node, j)] = workload.new_process()
                for j in range(count):
                    share = node_keys[j::count]
                    if share:
                        nursery.start_soon(read_node, (node, j), share)
        pending = [
            key for key in pending
            if len(seen[key]) < len(ring.replicas_for(key)) or len(set(seen[key].values())) > 1
        ]
        now = trio.current_time()
        report.seconds = now - start
        report.round_seconds.append(round(now - round_start, 3))
        report.differing.append(len(pending))
        if report.rounds == 1:
            report.first_round_past_timeout = report.seconds >= timeout
        if not pending:
            report.converged = not report.unanswered
            break
        if report.seconds >= timeout:
            if report.rounds >= 2:
                # Every key still pending was read in each round (pending only shrinks), so each disagreement was
                # seen twice, the second time after the first: confirmed. After round 1 alone it was not.
                break
            # Round 1 outlasted the timeout: confirm the keys every replica answered and found different; a key
            # some replica did not answer is not read again (that replica would wait out its timeout again).
            report.unanswered = [key for key in pending if len(seen[key]) < len(ring.replicas_for(key))]
            pending = [key for key in pending if len(seen[key]) == len(ring.replicas_for(key))]
            if not pending:
                break
        await trio.sleep(ROUND_INTERVAL)
    report.disagreeing = pending + report.unanswered
    return report
