"""A linearizability check always ends with a verdict or `unknown` and its reason: dead workers,
signals, absurd limits, odd callers and failing process creation included."""

from __future__ import annotations

import os
import signal

import pytest

import checker.linearizable.check as lin_check
from checker.linearizable import check_events
from tests.linearizable.test_parts import _bad, _good, _hard_part, _offset


def _die_on(n_ops: int, parent: int):  # noqa: ANN202 - a stand-in for check._search_one
    """A `_search_one` that SIGKILLs the worker searching a part of `n_ops` operations (as the OOM killer would)."""
    real = lin_check._search_one

    def search_one(job):  # noqa: ANN001, ANN202
        if len(job[0]) == n_ops and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(job)

    return search_one


@pytest.mark.parametrize("time_limit", [20.0, None])
def test_a_killed_worker_makes_its_part_unknown_and_the_others_are_decided(monkeypatch, time_limit):
    """A worker SIGKILLed mid-search: its part is unknown naming the death, the other parts still get verdicts."""
    history = _offset(_hard_part(5, "doomed"), 500) + _bad("bad") + _good("good") + _good("g2", 400)
    monkeypatch.setattr(lin_check, "_search_one", _die_on(6, os.getpid()))
    result = check_events(history, "kv", all_parts=True, workers=2, parallel_min_ops=0, time_limit=time_limit)
    verdicts = {p["key"]: p["valid"] for p in result["stats"]["per_part"]}
    assert verdicts == {"doomed": "unknown", "bad": False, "good": True, "g2": True}
    (unknown,) = result["unknown"]
    assert unknown["reason"] == "the worker searching it died (signal 9, SIGKILL)"
    assert result["valid"] is False
