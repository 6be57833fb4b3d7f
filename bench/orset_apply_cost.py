"""A replica applying adds to one stored OR-set, as replication delivers them: CPU ms per add at 100/300/600 elements.

Usage: ``PYTHONPATH=$PWD python bench/orset_apply_cost.py`` (run it in two checkouts, interleaved, to compare).
"""

from __future__ import annotations

import time

from minikeydb import crdt
from minikeydb.conflict import Conflict, state_record
from minikeydb.testing.disk import MemoryDisk, MemoryStorage


def per_add_ms(size: int, adds: int = 40) -> float:
    """CPU milliseconds per add joined into a stored set of ``size`` elements (10 clients' dots, with gaps)."""
    state = crdt.ORSet()
    for i in range(size):
        actor = f"c{i % 10:016x}"
        state = state.join(crdt.add(f"p{i}-{i}", (actor, i + 1), (i, 0, actor)))
    storage = MemoryStorage(MemoryDisk(), bucket_of=lambda key: 0)
    storage.use_join(Conflict("crdt").join)
    storage.apply_nowait([state_record("k", "o", state)])
    deltas = [state_record("k", "o", crdt.add(f"n{j}", ("cffff", j + 1), (10**6 + j, 0, "cffff"))) for j in range(adds)]
    start = time.process_time()
    for delta in deltas:
        storage.apply_nowait([delta])
    return (time.process_time() - start) / adds * 1e3


if __name__ == "__main__":
    for size in (100, 300, 600):
        print(f"{size} elements: {per_add_ms(size):.2f} ms CPU per add")
