"""Anti-entropy does not compete with replication, and full hints refuse writes instead of dropping them."""

from __future__ import annotations

import time

import pytest
import trio

from minikeydb.anti_entropy import _Exchange
from minikeydb.defects import Features
from minikeydb.record import Record
from minikeydb.wire import KeyStamps

from .cluster_fixture import make_config, running_cluster, wait_until


async def test_anti_entropy_does_not_queue_again_what_is_already_queued_to_the_peer(tmp_path):
    """Records queued to a peer and found missing there by an exchange are not queued a second time."""
    config = make_config(tmp_path, 2, replicas=2)
    features = Features(read_repair=False, hinted_handoff=False, anti_entropy=False)
    async with running_cluster(config, features=features) as cluster:
        n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]
        old = int((time.time() - 60) * 1_000_000)  # settled: no longer normal replication's business
        records = [Record(f"queued{i}", f"v{i}", (old + i, 0, "n1")) for i in range(50)]
        await n1.replica.store(records)
        replicator = n1.replicator
        replicator.deferring = True  # hold them in n1's outbox to n2, as under load
        for record in records:
            replicator.enqueue("n2", record)
        assert replicator.outbox_size == len(records)
        # n2's answer to an exchange: it holds nothing in any shared range.
        exchange_id = n1.messenger.new_id()
        n1.anti_entropy._exchanges[exchange_id] = _Exchange("n2", trio.current_time())
        ranges = tuple(n1.ring.shared_ranges("n1", "n2"))
        await n1.anti_entropy.on_key_stamps(KeyStamps(exchange_id, "n2", ranges, (), True))
        assert replicator.outbox_size == len(records), "anti-entropy queued records already in the outbox again"
        assert n1.counters["ae_pushed"] == 0
        replicator.deferring = False
        replicator.pump()
        assert await wait_until(lambda: all(n2.storage.get(r.key) == r for r in records), 5.0)


async def test_full_hints_refuse_new_writes_and_never_drop_an_acknowledged_one(tmp_path):
    """With a replica not (yet) known down and a tiny hint cap, writes past the high-water mark fail "overloaded" and every ok write is hinted."""
    config = make_config(tmp_path, 3, timeouts={"hint_interval": 30})  # no hint round: n3 not known down
    async with running_cluster(config, features=Features(read_repair=False, anti_entropy=False)) as cluster:
        await cluster.stop("n3")
        n1 = cluster.nodes["n1"]
        n1.replicator.max_hints = 20
        outcomes: dict[str, tuple[str, str | None]] = {}
        async with cluster.client() as client:
            for i in range(80):
                key = f"bp{i}"
                result = await client.put(key, f"v{i}", node="n1", w=1)
                outcomes[key] = (result.outcome, result.error)
                if i % 10 == 9:  # let failed batches turn into hints between bursts
                    await wait_until(lambda: n1.replicator.outbox_size == 0 and n1.messenger.waiting == 0, 3.0)
        assert await wait_until(lambda: n1.replicator.outbox_size == 0 and n1.messenger.waiting == 0, 5.0)
        acked = [k for k, (outcome, _) in outcomes.items() if outcome == "ok"]
        refused = [k for k, (outcome, error) in outcomes.items() if (outcome, error) == ("fail", "overloaded")]
        assert len(acked) + len(refused) == len(outcomes), outcomes
        assert n1.counters["hints_dropped"] == 0, "hints were dropped at the cap"
        assert n1.replicator.hints_pending <= 20
        assert refused and n1.counters["writes_overloaded"] == len(refused)
        assert all(n1.storage.get(k) is None for k in refused), "a refused write was staged"
        hinted = n1.replicator._hints["n3"]
        assert all(k in hinted for k in acked), "an acknowledged write is neither on n3 nor hinted for it"
        n3 = await cluster.start("n3")
        await n1.replicator._deliver_hints("n3")  # the hint round, now
        assert await wait_until(lambda: all(n3.storage.get(k) is not None for k in acked), 5.0)


async def test_anti_entropy_still_repairs_a_replica_while_replication_never_stops(tmp_path):
    """With links to a peer busy in every round (sustained load), anti-entropy still runs now and then and repairs what the peer lacks."""
    config = make_config(tmp_path, 2, replicas=2, timeouts={"anti_entropy_interval": 0.05})
    features = Features(read_repair=False, hinted_handoff=False)
    async with running_cluster(config, features=features) as cluster:
        n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]
        for node in (n1, n2):  # as under saturation: replication is streaming whenever anti-entropy looks
            node.replicator.busy = lambda peer: True  # type: ignore[method-assign]
        old = int((time.time() - 60) * 1_000_000)  # settled: no longer normal replication's business
        records = [Record(f"lost-hint{i}", f"v{i}", (old + i, 0, "n1")) for i in range(30)]
        await n1.replica.store(records)  # on n1 only, as if n2's hints had been lost with a crash
        assert await wait_until(lambda: all(n2.storage.get(r.key) == r for r in records), 10.0), (
            "anti-entropy never ran while the links stayed busy"
        )
        assert n1.counters["ae_rounds_busy"] + n2.counters["ae_rounds_busy"] > 0
        assert n1.counters["ae_rounds_forced"] + n2.counters["ae_rounds_forced"] > 0


async def test_big_values_are_refused_by_the_byte_mark_long_before_the_record_count_one(tmp_path):
    """With a replica not (yet) known down and 32 KiB values, writes turn "overloaded" once the backlog's bytes pass the mark, and every ok write is hinted."""
    config = make_config(tmp_path, 3, timeouts={"hint_interval": 30})  # no hint round: n3 not known down
    async with running_cluster(config, features=Features(read_repair=False, anti_entropy=False)) as cluster:
        await cluster.stop("n3")
        n1 = cluster.nodes["n1"]
        n1.replicator.max_backlog_bytes = 2 * 400_000  # 400 KB per peer: about a dozen 32 KiB values
        big = "x" * 32_000
        outcomes: dict[str, tuple[str, str | None]] = {}
        async with cluster.client() as client:
            for i in range(40):
                result = await client.put(f"big{i}", big, node="n1", w=1)
                outcomes[f"big{i}"] = (result.outcome, result.error)
        assert await wait_until(lambda: n1.replicator.outbox_size == 0 and n1.messenger.waiting == 0, 5.0)
        refused = [k for k, o in outcomes.items() if o == ("fail", "overloaded")]
        acked = [k for k, (outcome, _) in outcomes.items() if outcome == "ok"]
        assert refused, "no write was refused although the backlog held far more bytes than its mark"
        assert n1.replicator.high_water > 40, "the record-count mark alone would not have refused any"
        assert n1.replicator.backlog_bytes("n3") < 400_000 + 40_000
        hinted = n1.replicator._hints["n3"]
        assert all(k in hinted for k in acked), "an acknowledged write is neither on n3 nor hinted for it"


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
async def test_a_replica_known_down_has_its_backlog_shed_past_the_mark_and_writes_go_on(tmp_path):
    """With a replica down (its hints unanswered), writes past the byte mark still succeed, its backlog is shed and counted, and anti-entropy repairs it after restart."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config, features=Features(read_repair=False)) as cluster:
        await cluster.stop("n3")
        n1 = cluster.nodes["n1"]
        n1.replicator.max_backlog_bytes = 2 * 400_000  # 400 KB per peer: about a dozen 32 KiB values
        big = "x" * 32_000
        outcomes: dict[str, tuple[str, str | None]] = {}
        async with cluster.client() as client:
            outcomes["first"] = ((r := await client.put("first", big, node="n1", w=1)).outcome, r.error)
            await trio.sleep(1.0)  # hint rounds offer it to n3 and go unanswered: n3 is believed down
            for i in range(40):
                result = await client.put(f"big{i}", big, node="n1", w=1)
                outcomes[f"big{i}"] = (result.outcome, result.error)
        refused = [k for k, o in outcomes.items() if o != ("ok", None)]
        assert not refused, f"writes refused with only a down replica behind: {[outcomes[k] for k in refused][:3]}"
        assert n1.counters["backlog_shed_peer_down"] > 0
        assert n1.replicator.backlog_bytes("n3") < 400_000 + 40_000
        n3 = await cluster.start("n3")
        assert await wait_until(lambda: all(n3.storage.get(k) is not None for k in outcomes), 20.0), (
            f"n3 holds {sum(n3.storage.get(k) is not None for k in outcomes)} of {len(outcomes)} keys after restart"
        )
