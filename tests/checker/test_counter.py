"""The counter rule (docs/HISTORY.md): final and per-read bounds, histories that must pass and must fail."""

from __future__ import annotations

from pathlib import Path

from checker.api import CheckOptions, check
from tests.checker.workload_builder import WorkloadHistory


def _counter() -> WorkloadHistory:
    return WorkloadHistory("counter")


def _check(h: WorkloadHistory, reads: str = "eventual") -> tuple[object, list[str]]:
    result = check(h.all_events(), CheckOptions(counter_reads=reads))
    return result.valid, [a["type"] for a in result.anomalies]


def test_final_value_equal_to_the_acknowledged_sum_is_valid() -> None:
    """ok increments net of ok decrements, read on every node at the end: valid."""
    h = _counter()
    h.incr(0, "c", 5)
    h.decr(1, "c", 2)
    h.incr(0, "c", 1)
    h.read(2, "c", 4)
    h.final_reads("c", {"n1": 4, "n2": 4})
    assert _check(h, "strict") == (True, [])


def test_a_final_value_below_the_acknowledged_sum_is_out_of_bounds() -> None:
    """A final value missing an acknowledged increment is counter-out-of-bounds, explained with its bounds."""
    h = _counter()
    h.incr(0, "c", 5)
    h.incr(1, "c", 3)
    h.final_reads("c", {"n1": 5, "n2": 5})
    result = check(h.all_events())
    assert result.valid is False
    [a, b] = result.anomalies
    assert a["type"] == "counter-out-of-bounds" and a["bounds"] == [8, 8] and a["final"] is True
    assert "below the lowest value 8" in a["explanation"] and "final read" in a["explanation"]


def test_a_final_value_above_every_increment_is_out_of_bounds() -> None:
    """An increment counted twice (a merge that adds instead of joining) is above the upper bound."""
    h = _counter()
    h.incr(0, "c", 5)
    h.final_reads("c", {"n1": 10, "n2": 10})
    valid, types = _check(h)
    assert valid is False and set(types) == {"counter-out-of-bounds"}


def test_an_info_increment_may_or_may_not_have_happened() -> None:
    """With an info increment of 3 after an ok one of 5, both 5 and 8 are valid final values, 6 is not."""
    for final, valid in ((5, True), (8, True), (6, True), (9, False), (4, False)):
        h = _counter()
        h.incr(0, "c", 5)
        h.incr(1, "c", 3, typ="info")
        h.final_reads("c", {"n1": final, "n2": final})
        assert _check(h)[0] is valid, final


def test_an_info_decrement_widens_the_bound_downwards() -> None:
    """An info decrement of 2 lets the final value be 2 lower than the ok sum, no lower."""
    for final, valid in ((10, True), (8, True), (7, False), (11, False)):
        h = _counter()
        h.incr(0, "c", 10)
        h.decr(1, "c", 2, typ="info")
        h.final_reads("c", {"n1": final, "n2": final})
        assert _check(h)[0] is valid, final


def test_failed_operations_never_count() -> None:
    """A failed increment did not happen: a final value counting it is out of bounds."""
    h = _counter()
    h.incr(0, "c", 1)
    h.incr(1, "c", 100, typ="fail")
    h.final_reads("c", {"n1": 101, "n2": 101})
    assert _check(h)[0] is False


def test_a_read_concurrent_with_an_increment_may_see_it_or_not() -> None:
    """A read overlapping an increment may count it or not (strict): both values are valid."""
    for seen in (1, 3):
        h = _counter()
        h.incr(0, "c", 1)
        h.begin(1, "incr", "c", 2)
        h.begin(2, "read", "c")
        h.end(2, "read", "c", seen)
        h.end(1, "incr", "c", 2)
        h.final_reads("c", {"n1": 3, "n2": 3})
        assert _check(h, "strict") == (True, []), seen


def test_a_read_that_misses_a_completed_increment_is_stale_or_invalid_by_setting() -> None:
    """A read begun after an ok increment that does not count it: stale under eventual, invalid under strict."""
    h = _counter()
    h.incr(0, "c", 4)
    h.read(1, "c", 0)
    h.final_reads("c", {"n1": 4, "n2": 4})
    result = check(h.all_events())
    assert result.valid is True and result.stats["counter"]["stale_reads"] == 1
    valid, types = _check(h, "strict")
    assert valid is False and types == ["counter-out-of-bounds"]


def test_a_read_counting_an_increment_not_yet_invoked_is_invalid_in_either_setting() -> None:
    """A read seeing more than every increment invoked by its end is impossible, eventual or strict."""
    h = _counter()
    h.read(1, "c", 2)
    h.incr(0, "c", 2)
    h.final_reads("c", {"n1": 2, "n2": 2})
    for reads in ("eventual", "strict"):
        valid, types = _check(h, reads)
        assert valid is False and types == ["counter-out-of-bounds"], reads


def test_divergent_final_counters() -> None:
    """Two nodes' final reads differ: divergent."""
    h = _counter()
    h.incr(0, "c", 1)
    h.incr(1, "c", 1, typ="info")
    h.final_reads("c", {"n1": 1, "n2": 2})
    assert _check(h) == (False, ["divergent"])


def test_the_printed_final_bounds_are_those_the_final_reads_were_held_to() -> None:
    """An increment still running when the final read began may be missed: the final read of 0 is valid,
    and the printed bounds ([0, 4], not [4, 4]) contain it, as the verdict says."""
    h = _counter()
    h.begin(0, "incr", "c", 4)
    h.final_reads("c", {"n1": 0})
    h.end(0, "incr", "c", 4)
    result = check(h.all_events())
    assert result.valid is True
    final = result.stats["counter"]["final"]["c"]
    assert final["values"] == [0] and final["bounds"] == [0, 4]


def test_an_increment_invoked_after_a_final_read_is_bad_input(tmp_path: Path) -> None:
    """A final read begins after everything: an incr of its key invoked after it began is refused (exit 254)."""
    from checker.cli import main

    h = _counter()
    h.final_reads("c", {"n1": 0})
    h.incr(0, "c", 4)
    path = h.write(tmp_path / "h.jsonl")
    assert main(["check", str(path)]) == 254


def test_only_each_nodes_last_final_read_is_held_to_the_final_bounds() -> None:
    """Final reads polled until they agree: an early round that had not converged yet (60, 65 before 69)
    is an ordinary read (allowed under eventual, though not counted stale: those rounds time the convergence;
    invalid under strict); only each node's last is final, and an impossible early round is still invalid."""
    h = _counter()
    h.incr(0, "c", 60)
    h.incr(1, "c", 9)
    h.final_reads("c", {"n1": 69, "n2": 69, "n3": 60})
    h.final_reads("c", {"n3": 65})
    h.final_reads("c", {"n1": 69, "n2": 69, "n3": 69})
    result = check(h.all_events())
    assert (result.valid, result.anomalies) == (True, [])
    assert result.stats["counter"]["stale_reads"] == 0
    assert result.stats["counter"]["final"]["c"] == {"values": [69], "bounds": [69, 69]}
    strict = check(h.all_events(), CheckOptions(counter_reads="strict"))
    assert [(a["value"], a["final"]) for a in strict.anomalies] == [(60, False), (65, False)]
    assert all("final read" not in a["explanation"] for a in strict.anomalies)
    h.final_reads("c", {"n3": 200})  # more than every increment: impossible in any round
    h.final_reads("c", {"n1": 69, "n2": 69, "n3": 69})
    assert [(a["value"], a["final"]) for a in check(h.all_events()).anomalies] == [(200, False)]
