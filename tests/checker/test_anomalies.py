"""Hand-written histories: every anomaly type is caught, explained, and tied to its events."""

from __future__ import annotations

from checker.convergence import check_events
from tests.checker.builder import History

HALVES = {"kind": "halves", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]}


def kinds(result: dict) -> list[tuple[str, str]]:
    return sorted((a["type"], a["key"]) for a in result["anomalies"])


def test_lost_write_is_explained_with_fault_window():
    """A superseded put that survives the final reads is a lost write, explained with the partition."""
    h = History()
    h.at(1.0)
    old = h.put(0, "k7", "p0-1", node="n3")
    h.at(10.0)
    h.nemesis("partition-start", HALVES)
    h.at(11.9)
    new = h.put(1, "k7", "p1-1", node="n2")
    h.at(15.0)
    h.nemesis("partition-stop")
    h.nemesis("heal")
    h.at(20.0)
    fin = h.final("k7", {"n1": "p0-1", "n3": "p0-1", "n4": "p0-1"})
    r = check_events(h.events)
    assert r["valid"] is False
    assert kinds(r) == [("lost-write", "k7")]
    a = r["anomalies"][0]
    assert set(old + new) <= set(a["indexes"]) and set(fin[1::2]) <= set(a["indexes"])
    text = a["explanation"]
    assert "p1-1" in text and "p0-1" in text and "acknowledged by n2" in text
    assert "n2 was on the minority side of the partition from 10.001 s to 15.001 s" in text


def test_lost_write_under_clock_skew_names_the_skewed_clock():
    """A lost write during a clock-skew window says whose clock ran how far ahead (from the nemesis event)."""
    h = History()
    h.at(1.0)
    h.nemesis("clock-skew-start", {"offsets": {"n3": 3.9, "n2": -1.25}})
    h.at(2.0)
    h.put(0, "k7", "p0-1", node="n3")
    h.at(3.0)
    h.put(1, "k7", "p1-1", node="n2")
    h.at(6.0)
    h.nemesis("clock-skew-stop")
    h.nemesis("heal")
    h.at(8.0)
    h.final("k7", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    r = check_events(h.events)
    [a] = r["anomalies"]
    assert a["type"] == "lost-write" and a["clock_skew"] == {"n3": 3.9, "n2": -1.25}
    assert ("p0-1 was written via n3, whose clock ran 3.9 s ahead, and p1-1 via n2, whose clock ran 1.25 s "
            "behind: p0-1's stamp beat p1-1's although p1-1 was written later") in a["explanation"]


def test_resurrected_delete():
    """A put that comes back after an acknowledged later delete is a resurrected delete."""
    h = History()
    h.put(0, "k1", "p0-1")
    h.delete(1, "k1", node="n2")
    h.nemesis("heal")
    h.final("k1", {"n1": "p0-1", "n2": "p0-1"})
    r = check_events(h.events)
    assert kinds(r) == [("resurrected-delete", "k1")]
    assert "delete" in r["anomalies"][0]["explanation"]


def test_null_after_acknowledged_put_is_lost_write():
    """Final null while every delete is superseded by an acknowledged put is a lost write."""
    h = History()
    h.delete(0, "k2")
    h.put(1, "k2", "p1-1")
    h.final("k2", {"n1": None, "n2": None})
    r = check_events(h.events)
    assert kinds(r) == [("lost-write", "k2")]
    assert r["anomalies"][0]["lost"] == "p1-1"


def test_divergent_final_reads():
    """Nodes whose last final reads differ make the key divergent."""
    h = History()
    h.put(0, "k3", "p0-1")
    h.put(0, "k3", "p0-2")
    idx = h.final("k3", {"n1": "p0-2", "n2": "p0-1", "n3": "p0-2"})
    r = check_events(h.events)
    assert kinds(r) == [("divergent", "k3")]
    a = r["anomalies"][0]
    assert set(idx[1::2]) == set(a["indexes"])
    assert "n2 returned p0-1" in a["explanation"]


def test_only_last_final_read_per_node_counts():
    """Earlier polling rounds may disagree; the last final read on each node decides."""
    h = History()
    h.put(0, "k3", "p0-1")
    h.put(0, "k3", "p0-2")
    h.final("k3", {"n1": "p0-2", "n2": "p0-1"})
    h.final("k3", {"n2": "p0-2"})
    r = check_events(h.events)
    assert r["valid"] is True
    conv = r["stats"]["convergence"]
    assert conv and conv[-1]["keys_not_agreed"] == 0


def test_phantom_read():
    """A read of a value no put ever wrote is a phantom read."""
    h = History()
    h.put(0, "k4", "p0-1")
    r_inv, r_ok = h.get(1, "k4", "ghost")
    h.final("k4", {"n1": "p0-1"})
    r = check_events(h.events)
    assert kinds(r) == [("phantom-read", "k4")]
    assert r["anomalies"][0]["indexes"] == [r_inv, r_ok]
    assert "ghost" in r["anomalies"][0]["explanation"]


def test_read_of_failed_put_is_phantom():
    """A failed put never happened, so reading its value is a phantom read."""
    h = History()
    h.put(0, "k4", "p0-1", typ="fail")
    h.get(1, "k4", "p0-1")
    r = check_events(h.events)
    assert kinds(r) == [("phantom-read", "k4")]
    assert "failed" in r["anomalies"][0]["explanation"]


def test_future_read():
    """A read returning a value whose put was invoked after the read completed is a future read."""
    h = History()
    read = h.get(1, "k5", "p0-1")
    put = h.put(0, "k5", "p0-1")
    h.final("k5", {"n1": "p0-1"})
    r = check_events(h.events)
    assert kinds(r) == [("future-read", "k5")]
    assert set(read) | {put[0]} == set(r["anomalies"][0]["indexes"])


def test_concurrent_read_is_not_future():
    """A read that overlaps the put it observes is fine, even if it completes first."""
    h = History()
    h.invoke(0, "put", "k5", "p0-1")
    h.get(1, "k5", "p0-1")
    h.complete(0, "put", "k5", "p0-1")
    h.final("k5", {"n1": "p0-1"})
    assert check_events(h.events)["valid"] is True


def test_lost_write_under_clock_skew_on_a_third_node_names_it_and_the_hybrid_clock():
    """Skew on a node that took neither write is named too: hybrid clocks carry its lead to the others."""
    h = History()
    h.at(1.0)
    h.nemesis("clock-skew-start", {"offsets": {"n1": 2.326}})
    h.at(2.0)
    h.put(0, "k7", "p0-1", node="n3")
    h.at(3.0)
    h.put(1, "k7", "p1-1", node="n2")
    h.at(6.0)
    h.nemesis("clock-skew-stop")
    h.nemesis("heal")
    h.at(8.0)
    h.final("k7", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    [a] = check_events(h.events)["anomalies"]
    assert a["clock_skew"] == {"n1": 2.326}
    assert "n1's clock ran 2.326 s ahead" in a["explanation"] and "hybrid clock" in a["explanation"]


def test_an_even_split_is_not_called_a_minority():
    """In a partition [n1, n2] | [n3, n4] neither side is a minority: the explanation says one half."""
    from checker.faults import FaultWindow

    w = FaultWindow("partition", 10_000_000_000, 3, {"groups": [["n1", "n2"], ["n3", "n4"]]})
    w.stop = 15_000_000_000
    text = w.describe("n1")
    assert "minority" not in text and "majority" not in text
    assert text.startswith("n1 was on one half of a partition split evenly")
