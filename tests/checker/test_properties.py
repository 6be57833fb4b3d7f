"""Property tests: generated valid key-value histories pass; one planted anomaly is always caught."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from checker.convergence import INF, check_events

NODES = ("n1", "n2", "n3")


def build_history(data: st.DataObject) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A concurrent key-value history whose writes take effect at their completion line.

    Reads may return any value the key held since their invocation (linearizable) or, now and
    then, an older value (stale, still valid under eventual consistency). Returns the events and
    a list of operation records used to plant anomalies.
    """
    n_keys = data.draw(st.integers(1, 3))
    keys = [f"k{i}" for i in range(n_keys)]
    n_procs = data.draw(st.integers(1, 4))
    steps = data.draw(st.integers(4, 40))
    state: dict[str, Any] = {}
    history_of: dict[str, list[Any]] = {k: [None] for k in keys}  # values a key has held, in order
    events: list[dict[str, Any]] = []
    ops: list[dict[str, Any]] = []
    pending: dict[int, dict[str, Any]] = {}
    procs = list(range(n_procs))
    next_pid = n_procs
    counter = 0
    t = 0

    def emit(**ev: Any) -> int:
        nonlocal t
        t += 1_000_000
        events.append({"index": len(events), "time": t, **ev})
        return len(events) - 1

    for _ in range(steps):
        slot = data.draw(st.integers(0, len(procs) - 1))
        proc = procs[slot]
        if proc not in pending:
            f = data.draw(st.sampled_from(["put", "put", "get", "get", "delete"]))
            key = data.draw(st.sampled_from(keys))
            counter += 1
            value = f"p{proc}-{counter}" if f == "put" else None
            op = {"f": f, "key": key, "value": value, "proc": proc, "seen_len": len(history_of[key])}
            op["inv"] = emit(process=proc, type="invoke", f=f, key=key, value=value, node="n1")
            pending[proc] = op
            continue
        op = pending.pop(proc)
        outcome = data.draw(st.sampled_from(["ok", "ok", "ok", "ok", "fail", "info"]))
        key = op["key"]
        if op["f"] == "get":
            if outcome != "ok":
                op["comp"] = emit(process=proc, type=outcome, f="get", key=key, value=None, node="n1")
            else:
                hist = history_of[key]
                fresh = hist[op["seen_len"] - 1 :]
                choices = hist if data.draw(st.booleans()) else fresh  # stale or linearizable
                value = data.draw(st.sampled_from(choices))
                op["read"] = value
                op["comp"] = emit(process=proc, type="ok", f="get", key=key, value=value, node="n1")
        else:
            applied = outcome == "ok" or (outcome == "info" and data.draw(st.booleans()))
            if applied:
                state[key] = op["value"]
                history_of[key].append(op["value"])
            op["comp"] = (
                emit(process=proc, type=outcome, f=op["f"], key=key, value=op["value"], node="n1")
                if outcome != "info"
                else emit(process=proc, type="info", f=op["f"], key=key, value=op["value"], node="n1")
            )
            if outcome == "info":
                op["comp"] = INF
        op["outcome"] = outcome
        ops.append(op)
        if outcome == "info":
            procs[slot] = next_pid
            next_pid += 1
    for op in pending.values():  # unfinished: may have taken effect; apply or not
        op["outcome"] = "info"
        op["comp"] = INF
        if op["f"] != "get" and data.draw(st.booleans()):
            state[op["key"]] = op["value"]
        ops.append(op)
    emit(process="nemesis", type="info", f="heal", value=None)
    for key in keys:
        for node in NODES:
            emit(process=1000, type="invoke", f="get", key=key, value=None, node=node, final=True)
            emit(process=1000, type="ok", f="get", key=key, value=state.get(key), node=node, final=True)
    return events, ops


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_generated_histories_are_valid(data):
    """Histories of an atomic store with stale reads mixed in are always valid."""
    events, _ = build_history(data)
    r = check_events(events)
    assert r["valid"] is True, r["anomalies"]


def _finals(events: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("final") and e["type"] == "ok" and e["key"] == key]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_planted_lost_write_is_caught(data):
    """Final reads returning a superseded put yield lost-write (or resurrected-delete) on that key."""
    events, ops = build_history(data)
    puts = [o for o in ops if o["f"] == "put" and o["outcome"] == "ok"]
    candidates = [
        (
            p,
            [
                o
                for o in ops
                if o["f"] != "get" and o["outcome"] == "ok" and o["inv"] > p["comp"] and o["key"] == p["key"]
            ],
        )
        for p in puts
    ]
    candidates = [(p, later) for p, later in candidates if later]
    assume(candidates)
    p, later = data.draw(st.sampled_from(candidates))
    for e in _finals(events, p["key"]):
        e["value"] = p["value"]
    expected = "resurrected-delete" if any(o["f"] == "delete" for o in later) else "lost-write"
    r = check_events(events)
    assert r["valid"] is False
    assert [(a["type"], a["key"]) for a in r["anomalies"]] == [(expected, p["key"])]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_planted_phantom_read_is_caught(data):
    """A read changed to a value nobody wrote yields phantom-read on that key."""
    events, ops = build_history(data)
    reads = [o for o in ops if o["f"] == "get" and o["outcome"] == "ok"]
    assume(reads)
    o = data.draw(st.sampled_from(reads))
    events[o["comp"]]["value"] = "never-written"
    r = check_events(events)
    assert [(a["type"], a["key"]) for a in r["anomalies"]] == [("phantom-read", o["key"])]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_planted_future_read_is_caught(data):
    """A read changed to the value of a put invoked after it completed yields future-read."""
    events, ops = build_history(data)
    pairs = [
        (r, p)
        for r in ops
        if r["f"] == "get" and r["outcome"] == "ok"
        for p in ops
        if p["f"] == "put" and p["key"] == r["key"] and p["inv"] > r["comp"] and p["outcome"] != "fail"
    ]
    assume(pairs)
    r_op, p = data.draw(st.sampled_from(pairs))
    events[r_op["comp"]]["value"] = p["value"]
    r = check_events(events)
    assert [(a["type"], a["key"]) for a in r["anomalies"]] == [("future-read", r_op["key"])]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_planted_divergence_is_caught(data):
    """One node's final read changed to another value yields divergent on that key."""
    events, ops = build_history(data)
    key = data.draw(st.sampled_from(sorted({e["key"] for e in events if "key" in e})))
    finals = _finals(events, key)
    current = finals[0]["value"]
    others = [o["value"] for o in ops if o["f"] == "put" and o["key"] == key and o["outcome"] != "fail"]
    others = [v for v in others + [None] if v != current]
    assume(others)
    finals[data.draw(st.integers(0, len(finals) - 1))]["value"] = data.draw(st.sampled_from(others))
    r = check_events(events)
    assert [(a["type"], a["key"]) for a in r["anomalies"]] == [("divergent", key)]
