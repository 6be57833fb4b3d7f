"""The direct path (events straight to the search's arrays) against the general path, on random histories."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checker.linearizable.check as check_module
from checker.linearizable import check_events
from checker.linearizable.check import direct_parts  # the copy the checker runs (compiled when built)
from checker.linearizable.models import CompiledPart, Flags, make_model
from checker.linearizable.pairing import pair_records
from checker.linearizable.search import drop_unobserved

_FS = {
    "register": ["read", "read", "write"],
    "cas-register": ["read", "read", "write", "cas"],
    "kv": ["get", "get", "put", "delete", "read", "write", "cas"],
}
_VALUES: list[Any] = [0, 1, 2, "a", "b", True, 1.0, [1, 2], {"x": 1}, None]


def _value(rng: random.Random, f: str, odd: bool) -> Any:
    pool = _VALUES if odd else [0, 1, 2]
    if f == "cas":
        if odd and rng.random() < 0.05:
            return rng.choice([[1], 3, None, [1, 2, 3]])  # malformed: the general path names it
        return [rng.choice(pool), rng.choice(pool)]
    if f in ("read", "get", "delete"):
        return None
    return rng.choice(pool)


def random_history(rng: random.Random, model: str, odd: bool) -> list[dict[str, Any]]:
    """Overlapping operations of a few processes with random outcomes and results; with `odd`,
    mixed value types, keys, nemesis events and now and then a malformed event."""
    history: list[dict[str, Any]] = []
    pending: dict[int, tuple[str, Any, Any]] = {}
    procs = list(range(rng.randrange(1, 5)))
    keys = ["k", "j", 3] if (model == "kv" or (odd and rng.random() < 0.3)) else [None]
    n_ops = rng.randrange(0, 14)
    started = 0
    while started < n_ops or pending:
        if odd and rng.random() < 0.05:
            history.append({"process": "nemesis", "type": "info", "f": "start", "value": None})
        idle = [p for p in procs if p not in pending]
        if started < n_ops and idle and (not pending or rng.random() < 0.5):
            p = rng.choice(idle)
            f = rng.choice(_FS[model])
            value = _value(rng, f, odd)
            key = rng.choice(keys)
            pending[p] = (f, value, key)
            event = {"process": p, "type": "invoke", "f": f, "value": value}
            if key is not None:
                event["key"] = key
            history.append(event)
            started += 1
            continue
        p = rng.choice(list(pending))
        f, value, key = pending.pop(p)
        kind = rng.choices(["ok", "fail", "info", "never"], [6, 2, 1, 1])[0]
        if kind == "never":
            procs[procs.index(p)] = max(procs) + 1
            continue
        if kind == "ok" and f in ("read", "get"):
            value = rng.choice(_VALUES if odd else [0, 1, 2, None])
        event = {"process": p, "type": kind, "f": None if odd and rng.random() < 0.1 else f, "value": value}
        if key is not None:
            event["key"] = key
        history.append(event)
        if kind == "info":
            procs[procs.index(p)] = max(procs) + 1
    if odd and history and rng.random() < 0.1:
        bad = rng.choice(history)
        choice = rng.randrange(4)
        if choice == 0:
            bad["f"] = "append"
        elif choice == 1:
            bad["type"] = "done"
        elif choice == 2:
            del bad["value"]
        else:
            bad["process"] = 99  # a completion without its invocation, or an invocation left pending
    for i, event in enumerate(history):
        event["index"] = i
    return history


def _without_seconds(value: Any) -> Any:
    if isinstance(value, dict):
        # (timings, and so which part was slowest, differ from run to run)
        return {k: _without_seconds(v) for k, v in value.items() if k not in ("seconds", "slowest_part")}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def _result(history: list[dict[str, Any]], model: str, kwargs: dict[str, Any]) -> Any:
    try:
        return _without_seconds(check_events(history, model, **kwargs))
    except ValueError as exc:
        return (type(exc).__name__, str(exc))


def _general(history: list[dict[str, Any]], model: str, kwargs: dict[str, Any]) -> Any:
    real = check_module.direct_parts
    check_module.direct_parts = lambda *a: None  # type: ignore[assignment]
    try:
        return _result(history, model, kwargs)
    finally:
        check_module.direct_parts = real


def _kwargs(rng: random.Random, model: str) -> dict[str, Any]:
    init = rng.choice([0, None, "a"]) if model != "kv" else rng.choice([None, 0, {"k": 1}])
    return {"init": init, "null_read": rng.choice(["any", "absent"]), "fail_cas": rng.choice(["not-applied", "observed"])}


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(sorted(_FS)), st.booleans())
def test_direct_and_general_paths_give_the_same_results(seed, model, odd):
    """Same verdict, explanations, stats and errors from the direct path as from the general path."""
    rng = random.Random(seed)
    history = random_history(rng, model, odd)
    kwargs = _kwargs(rng, model)
    assert _result(history, model, kwargs) == _general(history, model, kwargs)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(sorted(_FS)))
def test_direct_arrays_are_the_general_paths_arrays(seed, model):
    """Where the direct path applies, each part's arrays are those the general path searches."""
    rng = random.Random(seed)
    history = random_history(rng, model, odd=False)
    flags = Flags(null_read=rng.choice(["any", "absent"]))
    mdl = make_model(model)
    direct = direct_parts(history, mdl, flags)
    assert direct is not None
    general = mdl.split_records(pair_records(history))
    assert list(direct.parts) == list(general)
    for part, items in general.items():
        cops = drop_unobserved(mdl.compile_part(items, part, flags))
        mine = drop_unobserved(direct.parts[part])
        assert type(cops) is CompiledPart and type(mine) is CompiledPart
        assert (mine.call, mine.ret, mine.kind, mine.va, mine.vb) == (cops.call, cops.ret, cops.kind, cops.va, cops.vb)
        assert direct.part_operations[part] == len(items)


@pytest.mark.parametrize(
    "history",
    [
        [{"process": 0, "type": "invoke", "f": "read", "value": None}],  # no index
        [{"process": 0, "type": "invoke", "f": "append", "value": "x", "index": 0}],
        [{"process": 0, "type": "ok", "f": "read", "value": 1, "index": 0}],
        [{"process": 0, "type": "invoke", "f": "cas", "value": 1, "index": 0}],
        ["not an event"],
    ],
)
def test_direct_path_leaves_the_unusual_to_the_general_path(history):
    """A history the direct path does not handle (or that is in error) is left to the general path."""
    assert direct_parts(history, make_model("kv" if "append" in str(history) else "cas-register"), Flags()) is None


def test_a_part_whose_direct_arrays_differ_is_searched_again_to_be_explained(monkeypatch):
    """Should the direct arrays ever differ from the general path's, a refuted part is searched again on the general ones."""
    history = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1, "index": 0},
        {"process": 0, "type": "ok", "f": "write", "value": 1, "index": 1},
        {"process": 1, "type": "invoke", "f": "read", "value": None, "index": 2},
        {"process": 1, "type": "ok", "f": "read", "value": 2, "index": 3},
        {"process": 2, "type": "invoke", "f": "read", "value": None, "index": 4},
        {"process": 2, "type": "ok", "f": "read", "value": 3, "index": 5},
    ]
    expected = _general(history, "cas-register", {"init": 0})
    real = check_module.direct_parts

    def skewed(*args: Any) -> Any:
        direct = real(*args)
        for arrays in direct.parts.values():
            arrays.va[1] = 1  # the first read now legal: still refuted, but at the second
        return direct

    monkeypatch.setattr(check_module, "direct_parts", skewed)
    assert expected["valid"] is False
    assert _result(history, "cas-register", {"init": 0}) == expected
