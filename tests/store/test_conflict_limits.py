"""Conflict modes siblings and crdt at their size limits: a state that cannot travel is refused, never acknowledged."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from minikeydb.config import write_config
from minikeydb.conflict import CRDT, SIBLINGS, Conflict, state_record, view
from minikeydb.crdt import ORSet, PNCounter
from minikeydb.crdt import add as set_add
from minikeydb.defects import Features
from minikeydb.dvv import Context, Siblings
from minikeydb.messaging import Backoff
from minikeydb.record import Record
from minikeydb.replication import Replicator
from minikeydb.testing.disk import MemoryDisk, MemoryStorage
from minikeydb.wire import MAX_STATE_BYTES, Ack, Codec, ReadReply, Replicate

from .cluster_fixture import make_config, running_cluster, wait_until
from .subprocesses import run_cli

pytestmark = pytest.mark.usefixtures("cluster_secret")


def sibling_state(key: str, actor: str, value: str) -> Siblings:
    return Siblings({(actor, 1): (value, (1, 0, actor))}, Context({actor: 1}), (1, 0, actor))


async def test_a_put_whose_joined_siblings_would_not_fit_a_datagram_is_a_definite_fail(tmp_path: Path) -> None:
    """Two 30,000-byte siblings (w=3): the second put is refused "too-large" (never acknowledged),
    and every replica still answers reads of the key."""
    config = make_config(tmp_path, conflict="siblings")
    async with running_cluster(config) as cluster, cluster.client() as client:
        first = await client.put("k", "a" * 30_000, node="n1", w=3)
        assert first.ok, first
        second = await client.put("k", "b" * 30_000, node="n1", w=3)
        assert second.outcome == "fail" and (second.error or "").startswith("too-large"), second
        assert str(MAX_STATE_BYTES) in (second.error or "")
        for node in sorted(cluster.nodes):
            read = await client.get("k", node=node, local=True)
            assert read.ok and read.values == ("a" * 30_000,), (node, read.outcome, read.error)
        read = await client.get("k", node="n2", r=3)
        assert read.ok, read


async def test_adds_stop_with_a_definite_fail_before_the_set_outgrows_a_datagram(tmp_path: Path) -> None:
    """Adds of 1,000-character elements: the add that would take the set past the limit is a
    definite fail "too-large" and reads keep answering (before: acknowledged, then reads timed out)."""
    config = make_config(tmp_path, conflict="crdt")
    async with running_cluster(config) as cluster, cluster.client() as client:
        refused = None
        added = 0
        for i in range(80):
            result = await client.add("s", f"{i:04d}" + "e" * 996, node="n1", w=3)
            if not result.ok:
                refused = result
                break
            added += 1
        assert refused is not None and refused.outcome == "fail", refused
        assert (refused.error or "").startswith("too-large"), refused
        for node in sorted(cluster.nodes):
            read = await client.get("s", node=node, r=3)
            assert read.ok and read.elements is not None and len(read.elements) == added, (node, read.error)


def test_a_state_record_over_the_decoders_limit_is_never_made() -> None:
    """``state_record`` refuses a state the decoder would refuse (between MAX_STATE_BYTES and a
    datagram): the sender checks the receiver's limit, so replicas cannot silently diverge; the
    coordinator's strict join raises, and a replica's join drops the oldest sibling, the same on
    both sides (it converges)."""
    big = sibling_state("k", "c" + "1" * 16, "x" * 25_000)
    other = sibling_state("k", "c" + "2" * 16, "y" * 25_000)
    record = state_record("k", "s", big)
    codec = Codec(b"secret")
    assert isinstance(codec.decode(codec.encode(ReadReply(1, "n1", record))), ReadReply)
    conflict = Conflict(SIBLINGS)
    with pytest.raises(ValueError, match="too-large"):
        state_record("k", "s", big.join(other))
    with pytest.raises(ValueError, match="too-large"):
        conflict.join(record, state_record("k", "s", other), trim=False)
    one = conflict.join(record, state_record("k", "s", other))
    two = conflict.join(state_record("k", "s", other), record)
    assert one is not None and one == two
    assert view(SIBLINGS, one.value, "k").values == ("y" * 25_000,)
    assert conflict.join(one, record) is None and conflict.join(one, state_record("k", "s", other)) is None


def test_storage_stores_the_trimmed_join_when_concurrent_siblings_would_be_too_large() -> None:
    """A replica receiving a sibling whose join with its own would not fit stores a state that
    fits (the oldest sibling dropped, its dot kept in the context), never one it could not send."""
    storage = MemoryStorage(MemoryDisk(), bucket_of=lambda key: 0)
    storage.use_join(Conflict(SIBLINGS).join)
    big = state_record("k", "s", sibling_state("k", "c" + "1" * 16, "x" * 25_000))
    other = state_record("k", "s", sibling_state("k", "c" + "2" * 16, "y" * 25_000))
    assert storage.apply_nowait([big]) == [True]
    assert storage.apply_nowait([other]) == [True]
    stored = storage.get("k")
    assert stored is not None and view(SIBLINGS, stored.value, "k").values == ("y" * 25_000,)
    assert storage.apply_nowait([big]) == [False]  # its dot was seen: it stays dropped


async def test_the_cli_says_a_put_was_too_large_not_that_a_secret_differs(tmp_path: Path) -> None:
    """The CLI's put whose joined siblings would not fit names the limit ("too large", nothing
    written), not a silent node with another secret."""
    config = make_config(tmp_path / "data", 3, conflict="siblings")
    path = tmp_path / "cluster.toml"
    write_config(config, path)
    async with running_cluster(config):
        assert (await run_cli("put", "k", "a" * 30_000, "--config", path, "--node", "n1")).returncode == 0
        put = await run_cli("put", "k", "b" * 30_000, "--config", path, "--node", "n1")
        assert put.returncode != 0 and "too large" in put.stderr and "secret" not in put.stderr, put.stderr
        get = await run_cli("get", "k", "--config", path, "--node", "n2")
        assert get.returncode == 0 and get.stdout.startswith("a" * 100), get.stderr


class _EncodingMessenger:
    """Just what hinted handoff uses of a messenger: ids, and a request that encodes for real
    (so a record that cannot travel raises ``TooLarge`` as it would) and is acknowledged."""

    def __init__(self) -> None:
        self.codec = Codec(b"secret")
        self.sent: list[Replicate] = []

    def new_id(self) -> int:
        return len(self.sent) + 1

    async def request(self, message: Replicate, dest: object, backoff: object) -> Ack:
        self.codec.encode(message)
        self.sent.append(message)
        return Ack(message.id, "n2")


async def test_hints_whose_join_is_too_large_never_crash_the_node() -> None:
    """Two hints for one key whose join would not fit: the hint is their join less the oldest
    sibling, and is delivered; a hint that cannot travel at all is counted and dropped, never raised
    (before: the join made a 60,000-byte hint and ``TooLarge`` escaped ``Node.run``)."""
    messenger = _EncodingMessenger()
    counters: Counter[str] = Counter()
    replicator = Replicator(
        "n1", messenger, {"n2": ("127.0.0.1", 1)}, Backoff(0.01, 0.1, 2), 1.0, counters, random.Random(0)  # type: ignore[arg-type]
    )
    replicator.join = Conflict(SIBLINGS).join
    big = state_record("k", "s", sibling_state("k", "c" + "1" * 16, "x" * 25_000))
    other = state_record("k", "s", sibling_state("k", "c" + "2" * 16, "y" * 25_000))
    replicator._add_hints("n2", [(big, None), (other, None)])
    await replicator._deliver_hints("n2")
    assert counters["hints_delivered"] == 1  # their join, the oldest sibling dropped so it fits
    huge = Record("h", "s" + "z" * 60_000, (1, 0, "~0"))  # as if stored before states were bounded
    replicator._hints["n2"]["h"] = huge
    await replicator._deliver_hints("n2")
    assert "h" not in replicator._hints["n2"] and counters["hints_too_large"] == 1


def _big_set(side: str, count: int) -> ORSet:
    """``count`` 700-character elements added by one client of ``side`` (a partition's side)."""
    state = ORSet()
    for i in range(count):
        state = state.join(set_add(f"{side}{i:03d}" + side.lower() * 700, ("c" + side * 16, i + 1), (i + 1, 0, "c" + side * 16)))
    return state


def test_sets_whose_join_is_too_large_converge_to_the_same_trimmed_set_everywhere() -> None:
    """Two replicas' sets (40 big elements each, added on both sides of a partition) whose join is over
    the limit: each replica stores the same trimmed join, whichever order they meet in, and it fits
    (before: every replica refused the other's state, ``records_too_large``, and they stayed apart)."""
    crdt_join = Conflict(CRDT).join
    a = state_record("big", "o", _big_set("A", 40))
    b = state_record("big", "o", _big_set("B", 40))
    replicas = []
    for first, second in ((a, b), (b, a)):
        storage = MemoryStorage(MemoryDisk(), bucket_of=lambda key: 0)
        storage.use_join(crdt_join)
        assert storage.apply_nowait([first]) == [True]
        assert storage.apply_nowait([second]) == [True], storage.stats
        replicas.append(storage.get("big"))
        assert storage.apply_nowait([first, second]) == [False, False]  # nothing more to join: it converged
    assert replicas[0] is not None and replicas[0] == replicas[1]
    members = view(CRDT, replicas[0].value, "big").elements
    assert members is not None and 40 < len(members) < 80


def test_a_record_refused_as_too_large_is_warned_about_once_per_key_not_per_delivery(caplog) -> None:
    """A counter whose join is over the limit, delivered 50 times: counted 50 times, one WARNING."""
    storage = MemoryStorage(MemoryDisk(), bucket_of=lambda key: 0)
    storage.use_join(Conflict(CRDT).join)
    mine = PNCounter(p={f"a{i:05d}-" + "x" * 20: 1 for i in range(800)}, latest=(1, 0, "a"))
    theirs = PNCounter(p={f"b{i:05d}-" + "y" * 20: 1 for i in range(800)}, latest=(2, 0, "b"))
    assert storage.apply_nowait([state_record("cnt", "p", mine)]) == [True]
    incoming = state_record("cnt", "p", theirs)
    with caplog.at_level("WARNING", logger="minikeydb.storage"):
        for _ in range(50):
            assert storage.apply_nowait([incoming]) == [False]
    assert storage.stats["records_too_large"] == 50
    warnings = [r for r in caplog.records if "not applied" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage()[:80] for r in warnings]


async def test_anti_entropy_backs_off_a_repair_the_peer_keeps_refusing_as_too_large(tmp_path: Path) -> None:
    """Two replicas whose counters join over the limit: anti-entropy stops offering the same versions
    every round (``ae_backoff``), so refusals grow far slower than exchanges (before: both sides
    pushed and refused the pair in every exchange, ~7 WARNINGs a second)."""
    config = make_config(tmp_path, 2, replicas=2, conflict="crdt", timeouts={"anti_entropy_interval": 0.05})
    features = Features(read_repair=False, hinted_handoff=False)
    old = int((time.time() - 60) * 1_000_000)  # settled: anti-entropy's business, not replication's
    mine = PNCounter(p={f"a{i:05d}-" + "x" * 20: 1 for i in range(800)}, latest=(old, 0, "a"))
    theirs = PNCounter(p={f"b{i:05d}-" + "y" * 20: 1 for i in range(800)}, latest=(old + 1, 0, "b"))
    async with running_cluster(config, features=features) as cluster:
        n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]
        await n1.replica.store([state_record("cnt", "p", mine)])
        await n2.replica.store([state_record("cnt", "p", theirs)])
        backoffs = lambda: n1.counters["ae_backoff"] + n2.counters["ae_backoff"]  # noqa: E731
        assert await wait_until(lambda: backoffs() >= 60, 30.0), "anti-entropy never backed off"
        refused = n1.storage.stats.get("records_too_large", 0) + n2.storage.stats.get("records_too_large", 0)
        assert refused < backoffs(), (refused, backoffs())
