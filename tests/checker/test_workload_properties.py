"""Property-style: random set and counter histories from a simulated CRDT model are valid; a planted loss is caught."""

from __future__ import annotations

import pytest

from checker.api import CheckOptions, check
from tests.checker.crdt_model import PLANTED_ELEMENT, simulate, simulate_siblings

SEEDS = range(30)


@pytest.mark.parametrize("workload", ["set", "counter"])
def test_simulated_crdt_histories_are_valid(workload: str) -> None:
    """Thirty seeds of an OR-set / PN-counter with concurrency, failures, timeouts and anti-entropy: all valid."""
    saw_stale = 0
    for seed in SEEDS:
        result = check(simulate(seed, workload))
        assert result.valid is True, (seed, [a["explanation"] for a in result.anomalies])
        st = result.stats
        saw_stale += (st["set"]["outcomes"]["stale"] if workload == "set" else st["counter"]["stale_reads"])
    assert saw_stale > 0  # the model is eventually consistent: the checker did meet stale reads and let them be


def test_a_single_replica_counter_is_valid_under_strict_reads() -> None:
    """With one replica every read sees all that took effect before it: strict per-read bounds hold too."""
    for seed in SEEDS:
        result = check(simulate(seed, "counter", replicas=1), CheckOptions(counter_reads="strict"))
        assert result.valid is True, (seed, [a["explanation"] for a in result.anomalies])


def test_a_planted_lost_add_is_caught_on_every_seed() -> None:
    """A merge that drops one acknowledged add everywhere is reported as that element's lost-element."""
    for seed in SEEDS:
        result = check(simulate(seed, "set", loss=True))
        assert result.valid is False, seed
        lost = [a for a in result.anomalies if a["type"] == "lost-element"]
        assert [a["element"] for a in lost] == [PLANTED_ELEMENT], (seed, result.anomalies)


def test_a_planted_lost_increment_is_caught_on_every_seed() -> None:
    """A merge that drops one acknowledged increment everywhere puts the final counter out of bounds."""
    for seed in SEEDS:
        result = check(simulate(seed, "counter", loss=True))
        assert result.valid is False, seed
        assert {a["type"] for a in result.anomalies} == {"counter-out-of-bounds"}, (seed, result.anomalies)
        assert all(a["final"] for a in result.anomalies)


def test_simulated_sibling_histories_are_valid() -> None:
    """Thirty seeds of a dotted-causal-container register (contexts, deletes, timeouts, merges): all valid."""
    most = 0
    for seed in SEEDS:
        result = check(simulate_siblings(seed))
        assert result.valid is True, (seed, [a["explanation"] for a in result.anomalies])
        most = max(most, result.stats["siblings"]["max_siblings"])
    assert most > 1  # concurrent writes did make siblings


def test_simulated_sibling_histories_with_repeated_values_are_never_invalid() -> None:
    """Three hundred short runs (5 ops a process) of the same store writing values from a pool of three (retries repeat a
    value): the checker may be undecided about which put a get saw, but never calls one invalid."""
    undecided = 0
    for seed in range(300):
        result = check(simulate_siblings(seed, ops_per_process=5, repeat=True))
        assert result.valid is True, (seed, [a["explanation"] for a in result.anomalies])
        undecided += result.stats["siblings"]["undecided_values"]
    assert undecided > 0  # the pool did make repeats the checker could not resolve


def test_a_planted_lost_put_among_repeated_values_is_caught_on_every_seed() -> None:
    """With values repeating, a dropped acknowledged put of a value no context could cover is still lost-write."""
    for seed in SEEDS:
        result = check(simulate_siblings(seed, loss=True, repeat=True))
        assert [a["type"] for a in result.anomalies] == ["lost-write"], (seed, result.anomalies)


def test_a_planted_lost_put_is_caught_on_every_seed() -> None:
    """A merge that drops one acknowledged put no context covered is reported as lost-write on every seed."""
    for seed in SEEDS:
        result = check(simulate_siblings(seed, loss=True))
        assert [a["type"] for a in result.anomalies] == ["lost-write"], (seed, result.anomalies)


def test_a_store_ignoring_contexts_is_caught_on_every_seed() -> None:
    """A siblings store that supersedes nothing keeps covered values: resurrected-sibling on every seed."""
    for seed in SEEDS:
        result = check(simulate_siblings(seed, ignore_contexts=True))
        assert "resurrected-sibling" in {a["type"] for a in result.anomalies}, seed
        assert "lost-write" not in {a["type"] for a in result.anomalies}, seed
