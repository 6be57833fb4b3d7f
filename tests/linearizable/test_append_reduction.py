"""The search's reduction for appends nobody reads: strings no get can see again are one cached state."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.linearizable import check_events
from tests.linearizable.oracle import brute_force_linearizable


def _op(p: int, f: str, value: object, kind: str = "ok") -> list[dict]:
    return [
        {"process": p, "type": "invoke", "f": f, "key": "k", "value": None if f == "get" else value},
        {"process": p, "type": kind, "f": f, "key": "k", "value": value},
    ]


def _concurrent_appends(n: int) -> list[dict]:
    """n appends invoked together, all acknowledged after every invocation."""
    calls = [{"process": p, "type": "invoke", "f": "append", "key": "k", "value": f"<{p}>"} for p in range(n)]
    oks = [{"process": p, "type": "ok", "f": "append", "key": "k", "value": f"<{p}>"} for p in range(n)]
    return calls + oks


def test_unread_appends_before_a_put_cost_one_configuration_per_subset():
    """12 concurrent appends no get reads, then a put and an impossible get: refuted over subsets, not orders."""
    h = _concurrent_appends(12) + _op(20, "put", "p") + _op(21, "get", "q")
    result = check_events(h, "kv", init="", null_read="absent", time_budget=30)
    assert result["valid"] is False
    # 2^12 subsets of placed appends (each order of them is one cached state); 12! orders would not end.
    assert result["stats"]["configurations"] < 3 * 2**12


def test_an_append_a_later_get_reads_still_orders_the_appends():
    """When a get reads the appends in one order, that order is required: the other order is refuted."""
    h = _concurrent_appends(3) + _op(20, "get", "<2><0><1>") + _op(21, "put", "p") + _op(22, "get", "p")
    assert check_events(h, "kv", init="", null_read="absent")["valid"] is True
    # The same get reading a string no order of the three appends makes: not linearizable.
    bad = _concurrent_appends(3) + _op(20, "get", "<2><0><2>") + _op(21, "put", "p") + _op(22, "get", "p")
    assert check_events(bad, "kv", init="", null_read="absent")["valid"] is False


def test_an_append_read_after_a_put_is_not_treated_as_unread():
    """An append whose suffix a get reads later (after a put and another append) still constrains the order."""
    # The get reads p<a>: <a> must take effect after the put, which it overlaps.
    h = [
        {"process": 0, "type": "invoke", "f": "append", "key": "k", "value": "<a>"},
        {"process": 1, "type": "invoke", "f": "put", "key": "k", "value": "p"},
        {"process": 1, "type": "ok", "f": "put", "key": "k", "value": "p"},
        {"process": 0, "type": "ok", "f": "append", "key": "k", "value": "<a>"},
        *_op(2, "get", "p<a>"),
    ]
    assert check_events(h, "kv", init="", null_read="absent")["valid"] is True
    # The append completed before the put began: the get cannot see it after the put.
    h2 = _op(0, "append", "<a>") + _op(1, "put", "p") + _op(2, "get", "p<a>")
    assert check_events(h2, "kv", init="", null_read="absent")["valid"] is False


def test_a_get_of_an_unread_prefix_is_refuted():
    """A get that reads the string before an acknowledged append that no one else reads is refuted."""
    h = _op(0, "append", "<a>") + _op(1, "append", "<b>") + _op(2, "get", "<a>") + _op(3, "put", "p")
    assert check_events(h, "kv", init="", null_read="absent")["valid"] is False


def _random_append_history(rng: random.Random, n_ops: int, n_procs: int) -> list[dict]:
    """A random run of one key (get/put/append, effects at random points of each interval, some
    timeouts), then a few get results replaced by another state the key held or a near miss."""
    events: list[tuple[float, int, dict]] = []
    effects = []
    clock = [rng.random() for _ in range(n_procs)]
    procs = list(range(n_procs))
    next_p = n_procs
    for i in range(n_ops):
        c = rng.randrange(n_procs)
        start = clock[c] + rng.random()
        end = start + rng.random() * 3
        clock[c] = end
        f = rng.choice(["get", "get", "append", "append", "append", "put"])
        crashed = f != "get" and rng.random() < 0.15
        effects.append((start + (end - start) * rng.random(), i, f, start, end, procs[c], crashed))
        if crashed:
            procs[c] = next_p
            next_p += 1
    state = ""
    held = [""]
    for _effect, i, f, start, end, p, crashed in sorted(effects):
        value: object
        if f == "get":
            value = state
        else:
            value = f"<{i}>" if f == "append" else f"p{i}"
            if not crashed or rng.random() < 0.5:
                state = state + value if f == "append" else value
                held.append(state)
        events.append((start, 2 * i, {"process": p, "type": "invoke", "f": f, "key": "k",
                                      "value": None if f == "get" else value}))
        events.append((end, 2 * i + 1, {"process": p, "type": "info" if crashed else "ok", "f": f, "key": "k",
                                        "value": value}))
    out = [e for _t, _i, e in sorted(events, key=lambda t: (t[0], t[1]))]
    gets = [e for e in out if e["f"] == "get" and e["type"] == "ok"]
    for e in rng.sample(gets, k=min(len(gets), rng.randrange(0, 3))):
        e["value"] = rng.choice(held) if rng.random() < 0.7 else e["value"][:-3]
    return out


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32))
def test_search_agrees_with_brute_force_on_small_append_histories(seed):
    """On random small kv histories with appends, puts and timeouts the search gives the brute-force verdict."""
    rng = random.Random(seed)
    h = _random_append_history(rng, rng.randrange(1, 8), rng.randrange(1, 4))
    expected = brute_force_linearizable(h, init="", null_absent=True)
    assert check_events(h, "kv", init="", null_read="absent")["valid"] is expected
