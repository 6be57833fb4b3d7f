"""Property tests: sequential histories, swapped results, and agreement with a brute-force oracle."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.linearizable import check_events
from tests.linearizable.oracle import brute_force_linearizable


def _sequential_register_history(rng: random.Random, n: int, info_rate: float = 0.15) -> list[dict]:
    """Run a real cas register one operation at a time; an info write is applied or not at random."""
    state = 0
    history: list[dict] = []
    process = 0
    for _ in range(n):
        f = rng.choice(["read", "read", "write", "cas"])
        if f == "read":
            history.append({"process": process, "type": "invoke", "f": "read", "value": None})
            history.append({"process": process, "type": "ok", "f": "read", "value": state})
        elif f == "write":
            v = rng.randrange(5)
            history.append({"process": process, "type": "invoke", "f": "write", "value": v})
            if rng.random() < info_rate:
                if rng.random() < 0.5:
                    state = v
                history.append({"process": process, "type": "info", "f": "write", "value": v})
                process += 1  # a process that got info never invokes again
            else:
                state = v
                history.append({"process": process, "type": "ok", "f": "write", "value": v})
        else:
            expected, new = rng.randrange(5), rng.randrange(5)
            history.append({"process": process, "type": "invoke", "f": "cas", "value": [expected, new]})
            if state == expected:
                state = new
                history.append({"process": process, "type": "ok", "f": "cas", "value": [expected, new]})
            else:
                history.append({"process": process, "type": "fail", "f": "cas", "value": [expected, new]})
        if rng.random() < 0.3:
            process += 1
    return history


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 40))
def test_sequential_histories_are_linearizable(seed, n):
    """A history produced by running a register one operation at a time is always linearizable."""
    h = _sequential_register_history(random.Random(seed), n)
    assert check_events(h, "cas-register", init=0)["valid"] is True
    assert check_events(h, "cas-register", init=0, fail_cas="observed")["valid"] is True


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 40), st.data())
def test_swapping_two_different_read_results_breaks_linearizability(seed, n, data):
    """Swapping the results of two non-overlapping reads that saw different values makes a sequential history non-linearizable."""
    # No info writes here: an info write may take effect at any later time, so it could explain a swapped read.
    h = _sequential_register_history(random.Random(seed), n, info_rate=0.0)
    reads = [i for i, e in enumerate(h) if e["type"] == "ok" and e["f"] == "read"]
    pairs = [(a, b) for a in reads for b in reads if a < b and h[a]["value"] != h[b]["value"]]
    if not pairs:
        return
    a, b = data.draw(st.sampled_from(pairs))
    h[a]["value"], h[b]["value"] = h[b]["value"], h[a]["value"]
    assert check_events(h, "cas-register", init=0)["valid"] is False


def _random_concurrent_history(rng: random.Random, n_ops: int, n_procs: int) -> list[dict]:
    """Random overlapping invocations and completions with random (often wrong) results."""
    history: list[dict] = []
    pending: dict[int, tuple[str, object]] = {}
    next_process = list(range(n_procs))
    started = 0
    while started < n_ops or pending:
        idle = [p for p in next_process if p not in pending]
        if started < n_ops and idle and (not pending or rng.random() < 0.5):
            p = rng.choice(idle)
            f = rng.choice(["read", "write", "cas"])
            value: object = None if f == "read" else rng.randrange(3)
            if f == "cas":
                value = [rng.randrange(3), rng.randrange(3)]
            pending[p] = (f, value)
            history.append({"process": p, "type": "invoke", "f": f, "value": value})
            started += 1
            continue
        p = rng.choice(list(pending))
        f, value = pending.pop(p)
        kind = rng.choices(["ok", "fail", "info", "never"], [6, 1, 1, 1])[0]
        if kind == "never":
            next_process[next_process.index(p)] = max(next_process) + 1
            continue
        if f == "read" and kind == "ok":
            value = rng.choice([0, 1, 2, None])
        history.append({"process": p, "type": kind, "f": f, "value": value})
        if kind == "info":
            next_process[next_process.index(p)] = max(next_process) + 1
    return history


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32))
def test_search_agrees_with_brute_force_on_small_concurrent_histories(seed):
    """On random small concurrent cas-register histories the search gives the brute-force verdict."""
    rng = random.Random(seed)
    h = _random_concurrent_history(rng, rng.randrange(1, 8), rng.randrange(1, 4))
    assert check_events(h, "cas-register", init=0)["valid"] is brute_force_linearizable(h, init=0)


def _random_kv_history(rng: random.Random, n_ops: int, n_procs: int) -> list[dict]:
    """Random overlapping puts of unique values, deletes and gets of one key, with random results and timeouts."""
    history: list[dict] = []
    pending: dict[int, tuple[str, object]] = {}
    procs = list(range(n_procs))
    written: list[object] = [None]
    started = 0
    while started < n_ops or pending:
        idle = [p for p in procs if p not in pending]
        if started < n_ops and idle and (not pending or rng.random() < 0.5):
            p = rng.choice(idle)
            f = rng.choice(["get", "get", "put", "put", "delete"])
            value: object = None
            if f == "put":
                value = f"v{started}"
                written.append(value)
            pending[p] = (f, value)
            history.append({"process": p, "type": "invoke", "f": f, "key": "k", "value": value})
            started += 1
            continue
        p = rng.choice(list(pending))
        f, value = pending.pop(p)
        kind = rng.choices(["ok", "fail", "info"], [6, 1, 2])[0]
        if f == "get" and kind == "ok":
            value = rng.choice(written)
        history.append({"process": p, "type": kind, "f": f, "key": "k", "value": value})
        if kind == "info":
            procs[procs.index(p)] = max(procs) + 1
    return history


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32))
def test_search_agrees_with_brute_force_on_small_kv_histories_with_unique_values(seed):
    """On random small kv histories with unique put values and deletes the search gives the brute-force verdict."""
    rng = random.Random(seed)
    h = _random_kv_history(rng, rng.randrange(1, 9), rng.randrange(1, 5))
    expected = brute_force_linearizable(h, init=None, null_absent=True)
    assert check_events(h, "kv", null_read="absent")["valid"] is expected


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32))
def test_compiled_arrays_search_like_the_compiled_operations(seed):
    """A register part compiled straight into arrays is searched exactly as its CompiledOps are."""
    from checker.linearizable.models import CompiledPart, Flags, make_model
    from checker.linearizable.pairing import pair_records
    from checker.linearizable.search import search

    rng = random.Random(seed)
    h = _random_concurrent_history(rng, rng.randrange(1, 12), rng.randrange(1, 5))
    model = make_model("cas-register")
    for part, items in model.split_records(pair_records(h)).items():
        arrays = model.compile_part(items, part, Flags())
        assert type(arrays) is CompiledPart
        by_arrays, by_ops = search(arrays, 0), search(list(arrays), 0)
        assert (by_arrays.valid, by_arrays.configurations, by_arrays.prefix) == (
            by_ops.valid, by_ops.configurations, by_ops.prefix)
        assert by_arrays.seen == by_ops.seen
