"""The named random streams derive exactly the seed strings recorded histories were made with."""

import random

import pytest

from minikeydb.testing.seeds import STREAMS, Seeds

# The strings the harness built by hand before ``Seeds`` existed: changing any of them changes
# every recorded history, so they are spelled out here rather than derived.
LEGACY = {
    ("schedule",): "42/schedule",
    ("network",): "42/network",
    ("latency",): "42/latency",
    ("workload",): "42/workload",
    ("key-size",): "42/key-size",
    ("value-size",): "42/value-size",
    ("client",): "42/client",
    ("node", "n3", 2): "42/n3/2",
    ("explore-workload",): "42/explore-workload",
    ("flood-worker", 7): "42/7",
}


@pytest.mark.parametrize(("call", "legacy"), sorted(LEGACY.items()))
def test_stream_seed_strings_are_the_recorded_ones(call: tuple, legacy: str) -> None:
    """Each stream is seeded with the very string (and so gives the very draws) the harness always used."""
    seeds = Seeds(42)
    assert seeds.seed_string(*call) == legacy
    assert seeds.rng(*call).random() == random.Random(legacy).random()


def test_every_stream_is_pinned() -> None:
    """A stream added to STREAMS without a pinned seed string here fails, so none drifts unnoticed."""
    assert {call[0] for call in LEGACY} == set(STREAMS)


def test_unknown_stream_and_wrong_parts_are_refused() -> None:
    """A misspelt stream or a missing part is a clear error, not a silently different seed."""
    with pytest.raises(ValueError, match="unknown random stream 'schedul'"):
        Seeds(1).rng("schedul")
    with pytest.raises(ValueError, match="'node' takes 2 part"):
        Seeds(1).rng("node", "n1")
