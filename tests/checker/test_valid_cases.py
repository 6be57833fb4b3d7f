"""Hand-written edge cases that are valid under eventual consistency (or honestly unknown)."""

from __future__ import annotations

from checker.convergence import check_events
from tests.checker.builder import History


def test_info_put_appearing_much_later_is_valid():
    """An info put may take effect at any later time, so its value winning is not a lost write."""
    h = History()
    h.put(0, "k1", "p0-1", typ="info")
    h.at(30.0)
    h.put(1, "k1", "p1-1")
    h.get(2, "k1", "p1-1")
    h.get(2, "k1", "p0-1")
    h.final("k1", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    r = check_events(h.events)
    assert r["valid"] is True, r["anomalies"]


def test_delete_then_put():
    """A delete followed by an acknowledged put converges to the put's value."""
    h = History()
    h.put(0, "k1", "p0-1")
    h.delete(0, "k1")
    h.put(0, "k1", "p0-2")
    h.final("k1", {"n1": "p0-2", "n2": "p0-2"})
    assert check_events(h.events)["valid"] is True


def test_absent_key_read_as_null():
    """Reading a key that was deleted, or never written, returns null without complaint."""
    h = History()
    h.get(0, "never", None)
    h.put(1, "k1", "p1-1")
    h.delete(1, "k1")
    h.get(0, "k1", None)
    h.final("k1", {"n1": None, "n2": None})
    h.final("never", {"n1": None})
    assert check_events(h.events)["valid"] is True


def test_key_never_written_needs_no_final_reads():
    """A key that was only read has nothing to converge, so it is not undecided."""
    h = History()
    h.get(0, "k9", None)
    assert check_events(h.events)["valid"] is True


def test_stale_reads_during_partition_are_measured_not_invalid():
    """A stale read is valid and counted, with its age."""
    h = History()
    h.nemesis("partition-start", {"groups": [["n1"], ["n2", "n3"]]})
    h.at(1.0)
    h.put(0, "k1", "p0-1", node="n2")
    h.at(2.0)
    h.put(0, "k1", "p0-2", node="n2")
    h.at(3.0)
    h.get(1, "k1", "p0-1", node="n1")
    h.get(1, "k1", None, node="n1")
    h.nemesis("partition-stop")
    h.nemesis("heal")
    h.final("k1", {"n1": "p0-2", "n2": "p0-2"})
    r = check_events(h.events)
    assert r["valid"] is True
    st = r["stats"]["staleness"]
    assert st["stale_reads"] == 2 and st["reads_checked"] == 2
    assert 990 <= st["age_ms"]["p50"] <= 1010
    # process 1 read p0-1 then the older null: a monotonic-read violation
    assert r["stats"]["sessions"]["monotonic_reads"]["violations"] == 1
    assert r["stats"]["availability"][0]["availability"] == 1.0


def test_read_your_writes_violation_counted():
    """A process that reads an older value than its own acknowledged write is counted."""
    h = History()
    h.put(0, "k1", "p0-1")
    h.put(1, "k1", "p1-1")
    h.get(1, "k1", "p0-1")
    h.final("k1", {"n1": "p1-1"})
    r = check_events(h.events)
    assert r["valid"] is True
    assert r["stats"]["sessions"]["read_your_writes"]["by_process"] == {"1": 1}


def test_missing_final_read_is_unknown_with_reason():
    """A key whose final read timed out on a node is unknown, and the run is unknown."""
    h = History()
    h.put(0, "k1", "p0-1")
    h.final("k1", {"n1": "p0-1", "n2": ...})
    r = check_events(h.events)
    assert r["valid"] == "unknown"
    assert r["unknown"][0]["key"] == "k1" and "n2" in r["unknown"][0]["reason"]


def test_repeated_value_with_a_later_unsuperseded_put_is_valid():
    """When two puts wrote the same value and the later one is not superseded, the final value is explained."""
    h = History()
    h.put(0, "k1", 5)
    h.put(0, "k1", 6)
    h.put(0, "k1", 5)
    h.final("k1", {"n1": 5})
    r = check_events(h.events)
    assert r["valid"] is True, (r["anomalies"], r["unknown"])


def test_unknown_does_not_hide_invalid():
    """The run is invalid when one key is invalid even though another is unknown."""
    h = History()
    h.put(0, "k1", "p0-1")
    h.get(0, "k2", "ghost")
    r = check_events(h.events)
    assert r["valid"] is False
    assert r["unknown"] and r["anomalies"][0]["type"] == "phantom-read"


def test_latency_split_by_fault_kind():
    """Latency percentiles are reported healthy and per fault kind."""
    h = History()
    h.put(0, "k1", "p0-1")
    h.nemesis("crash-start", {"nodes": ["n3"]})
    h.put(0, "k1", "p0-2")
    h.nemesis("heal")
    lat = check_events(h.events)["stats"]["latency_ms"]["put"]
    assert lat["all"]["n"] == 2 and lat["healthy"]["n"] == 1 and lat["crash"]["n"] == 1


def test_keyless_register_history_is_checked_as_one_register():
    """A Knossos-style register history (read/write, no key) is judged as one key."""
    events = [
        {"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 1, "type": "invoke", "f": "read", "value": None},
        {"process": 1, "type": "ok", "f": "read", "value": 7},
    ]
    r = check_events(events)
    assert r["valid"] is False and r["anomalies"][0]["type"] == "phantom-read"
    assert r["anomalies"][0]["indexes"] == [2, 3]


def test_history_without_key_value_ops_is_unknown():
    """Operations this checker cannot judge (locks, appends) give unknown, with a reason."""
    events = [
        {"process": 0, "type": "invoke", "f": "acquire", "value": None},
        {"process": 0, "type": "ok", "f": "acquire", "value": None},
    ]
    r = check_events(events)
    assert r["valid"] == "unknown" and r["unknown"][0]["kind"] == "no-key-value-ops"
