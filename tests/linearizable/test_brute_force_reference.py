"""check_events agrees with a brute-force reference (every real-time order tried) on random small histories (from the adversary a1, s25)."""

from __future__ import annotations

import gc
import random

import pytest

from checker.linearizable import check_events
from tests.linearizable.brute_force import gen, ref


@pytest.mark.parametrize("block", range(4))
def test_check_events_matches_the_brute_force_reference(block: int) -> None:
    """300 random histories of <= 7 operations per block: same verdict as trying every real-time order, and the
    garbage collector enabled after each check."""
    for seed in range(block * 300, block * 300 + 300):
        rng = random.Random(seed)
        model = rng.choice(["register", "cas-register", "kv"])
        events, opts = gen(rng, model)
        got = check_events([dict(e) for e in events], model, workers=1, **opts)["valid"]
        assert gc.isenabled()
        assert got == ref(events, model, opts), (seed, model, opts, events)
