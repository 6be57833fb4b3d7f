"""The set rule (set-full with removes, docs/HISTORY.md): histories that must pass and must fail."""

from __future__ import annotations

from types import FrameType
from typing import Any

from checker.api import check
from tests.checker.workload_builder import WorkloadHistory


def _set() -> WorkloadHistory:
    return WorkloadHistory("set")


def _types(h: WorkloadHistory) -> list[str]:
    return [a["type"] for a in check(h.all_events()).anomalies]


def _outcomes(h: WorkloadHistory) -> dict[str, int]:
    oc: dict[str, int] = check(h.all_events()).stats["set"]["outcomes"]
    return {k: n for k, n in oc.items() if n}


def test_every_acknowledged_add_in_the_final_reads_is_valid() -> None:
    """Adds acknowledged and present in every final read: valid, each element ok."""
    h = _set()
    h.add(0, "s", 1)
    h.add(1, "s", 2)
    h.read(2, "s", [1, 2])
    h.final_reads("s", {"n1": [1, 2], "n2": [2, 1]})
    result = check(h.all_events())
    assert result.valid is True
    assert _outcomes(h) == {"ok": 2}


def test_an_acknowledged_add_missing_from_the_final_reads_is_lost() -> None:
    """An ok add no remove touched, absent from every final read, is lost-element naming key and element."""
    h = _set()
    h.add(0, "s", 1)
    h.add(1, "s", 2)
    h.read(2, "s", [1, 2])
    h.final_reads("s", {"n1": [1], "n2": [1]})
    result = check(h.all_events())
    assert result.valid is False
    [a] = result.anomalies
    assert a["type"] == "lost-element" and a["element"] == 2 and a["key"] == "s"
    assert "lost element 2 of set \"s\"" in a["explanation"] and "last read" in a["explanation"]
    assert _outcomes(h) == {"ok": 1, "lost": 1}


def test_a_remove_that_observed_the_add_excuses_its_absence() -> None:
    """An ok remove invoked after the add completed takes the element out legitimately: removed, valid."""
    h = _set()
    h.add(0, "s", "x")
    h.remove(1, "s", "x")
    h.final_reads("s", {"n1": [], "n2": []})
    assert check(h.all_events()).valid is True
    assert _outcomes(h) == {"removed": 1}


def test_a_remove_that_completed_before_the_add_began_does_not_excuse_it() -> None:
    """A remove finished before the add was invoked cannot have observed it: the element is lost."""
    h = _set()
    h.remove(1, "s", "x")
    h.add(0, "s", "x")
    h.final_reads("s", {"n1": [], "n2": []})
    assert _types(h) == ["lost-element"]


def test_concurrent_add_and_remove_may_end_either_way() -> None:
    """An add and a remove of one element that overlap: present or absent at the end, both valid."""
    for final in ([], ["x"]):
        h = _set()
        h.begin(0, "add", "s", "x")
        h.begin(1, "remove", "s", "x")
        h.end(0, "add", "s", "x")
        h.end(1, "remove", "s", "x")
        h.final_reads("s", {"n1": final, "n2": final})
        assert check(h.all_events()).valid is True, final


def test_an_info_remove_may_have_observed_any_add() -> None:
    """A remove that timed out may take effect later, so it excuses the absence of an earlier-invoked add too."""
    h = _set()
    h.remove(1, "s", "x", typ="info")
    h.add(0, "s", "x")
    h.final_reads("s", {"n1": [], "n2": []})
    assert check(h.all_events()).valid is True


def test_a_failed_remove_excuses_nothing() -> None:
    """A remove that failed did not happen: the add it would have observed is lost when absent."""
    h = _set()
    h.add(0, "s", "x")
    h.remove(1, "s", "x", typ="fail")
    h.final_reads("s", {"n1": [], "n2": []})
    assert _types(h) == ["lost-element"]


def test_an_element_added_twice_is_judged_by_the_add_no_remove_observed() -> None:
    """Add, remove, add again: the second add must survive, so its absence is lost; its presence is valid."""
    for final, valid in (([], False), (["x"], True)):
        h = _set()
        h.add(0, "s", "x")
        h.remove(1, "s", "x")
        h.add(0, "s", "x")
        h.final_reads("s", {"n1": final, "n2": final})
        assert check(h.all_events()).valid is valid, final


def test_a_read_missing_an_acknowledged_element_is_stale_with_its_latency() -> None:
    """A read begun after the add's ack that misses it makes the element stale; latency runs to that read (Jepsen's)."""
    h = _set()
    h.at(1.0)
    h.add(0, "s", 1)
    h.at(2.0)
    h.read(1, "s", [])
    h.at(3.0)
    h.read(1, "s", [1])
    h.final_reads("s", {"n1": [1], "n2": [1]})
    result = check(h.all_events())
    assert result.valid is True
    st = result.stats["set"]
    assert st["outcomes"]["stale"] == 1
    lat = st["stable_latency_ms"]
    assert lat["n"] == 1 and 900 < lat["max"] < 1100  # ack just after 1 s, the last read that missed it began at 2 s


def test_a_phantom_element_is_invalid() -> None:
    """A read returning an element no add (that did not fail) was invoked for is phantom-read."""
    h = _set()
    h.add(0, "s", 1, typ="fail")
    h.read(1, "s", [1, 9])
    h.final_reads("s", {"n1": [], "n2": []})
    result = check(h.all_events())
    assert sorted(a["type"] for a in result.anomalies) == ["phantom-read", "phantom-read"]
    assert "phantom element 9 in set" in " ".join(a["explanation"] for a in result.anomalies)


def test_final_reads_that_disagree_are_divergent() -> None:
    """Two nodes' final sets differ: divergent, and the acknowledged element is lost on the node without it."""
    h = _set()
    h.add(0, "s", 1)
    h.final_reads("s", {"n1": [1], "n2": []})
    assert sorted(_types(h)) == ["divergent", "lost-element"]
    lost = [a for a in check(h.all_events()).anomalies if a["type"] == "lost-element"][0]
    assert lost["lost_on"] == ["n2"] and "on n2" in lost["explanation"]


def test_a_divergence_of_long_sets_names_what_each_node_lacks() -> None:
    """Divergent final sets that share a long beginning: the sentence names the values each node lacks, in
    numeric order, not the sets' first values (which are the same on both)."""
    h = _set()
    for i in range(40):
        h.add(0, "s", i)
    h.final_reads("s", {"n1": list(range(40)), "n2": list(range(37))})
    (divergent,) = [a for a in check(h.all_events()).anomalies if a["type"] == "divergent"]
    assert "n2 read 37 values, lacking these 3, which another node holds: 37, 38, 39" in divergent["explanation"]
    assert "n1 read 40 values, every value any node holds" in divergent["explanation"]


def test_without_final_reads_the_verdict_is_unknown() -> None:
    """No final reads: nothing is invalid, but the set's end state is undecided (unknown)."""
    h = _set()
    h.add(0, "s", 1)
    h.read(1, "s", [1])
    result = check(h.all_events())
    assert result.valid == "unknown"
    assert result.unknown[0]["kind"] == "no-final-reads"


def test_an_info_add_seen_by_a_read_must_survive() -> None:
    """An add that timed out but was then read happened (Jepsen's 'known'): absent at the end, it is lost."""
    h = _set()
    h.add(0, "s", 1, typ="info")
    h.read(1, "s", [1])
    h.final_reads("s", {"n1": [], "n2": []})
    assert _types(h) == ["lost-element"]
    h2 = _set()
    h2.add(0, "s", 1, typ="info")  # never seen: it may not have happened
    h2.final_reads("s", {"n1": [], "n2": []})
    assert check(h2.all_events()).valid is True
    assert _outcomes(h2) == {"indeterminate": 1}


def test_a_finding_names_the_faults_active_around_its_operations() -> None:
    """A lost add made during a partition says which side its node was on, and lists the window under faults."""
    h = _set()
    h.nemesis("partition-start", {"kind": "halves", "groups": [["n1"], ["n2", "n3"]]})
    h.add(0, "s", 1, node="n1")
    h.nemesis("partition-stop")
    h.final_reads("s", {"n2": [], "n3": []})
    [a] = check(h.all_events()).anomalies
    assert "n1 was isolated by a partition" in a["explanation"]
    assert [w["kind"] for w in a["faults"]] == ["partition"]


def test_two_info_adds_a_read_saw_must_survive() -> None:
    """Two timed-out adds of x, a read returns [x], nothing removes it, final []: some add happened, so x is lost."""
    h = _set()
    h.add(0, "s", "x", typ="info")
    h.add(1, "s", "x", typ="info")
    h.read(2, "s", ["x"])
    h.final_reads("s", {"n1": []})
    assert _types(h) == ["lost-element"]
    assert _outcomes(h) == {"lost": 1}


def test_an_info_add_after_a_remove_an_unremoved_read_saw_is_required() -> None:
    """ok add, ok remove that observed it, a later info re-add, a read of [x] from a replica the remove had
    not reached (it may have seen the first add), final []: a correct OR-set can do that, so valid."""
    h = _set()
    h.add(0, "s", "x")
    h.remove(1, "s", "x")
    h.add(2, "s", "x", typ="info")
    h.read(3, "s", ["x"], node="n2")
    h.final_reads("s", {"n1": [], "n2": []})
    result = check(h.all_events())
    assert result.valid is True
    assert _outcomes(h) == {"removed": 1}


def test_an_info_add_seen_with_an_ok_add_no_remove_observed_is_lost_when_gone() -> None:
    """An ok add and an info add of x, no removes, a read of [x], final []: lost, naming the ok add."""
    h = _set()
    h.add(0, "s", "x", typ="info")
    h.add(1, "s", "x")
    h.read(2, "s", ["x"])
    h.final_reads("s", {"n1": []})
    result = check(h.all_events())
    [a] = result.anomalies
    assert a["type"] == "lost-element"


def _bigset(n: int) -> list[dict[str, object]]:
    """n acknowledged adds, then n reads of [] (stale), then 3 final reads of everything (the adversary's shape)."""
    h = WorkloadHistory("set")
    for i in range(n):
        h.add(1, "s", i)
    for _ in range(n):
        h.read(2, "s", [])
    h.final_reads("s", {"n1": list(range(n)), "n2": list(range(n)), "n3": list(range(n))})
    return h.all_events()


def _lines_run(events: list[dict[str, object]]) -> int:
    """How many lines of checker/set_full.py the check executes (a count of steps, not a time)."""
    import sys

    import checker.set_full as mod

    steps = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal steps
        if frame.f_code.co_filename != mod.__file__:
            return None
        if event == "line":
            steps += 1
        return tracer

    sys.settrace(tracer)
    try:
        result = check(events)
    finally:
        sys.settrace(None)
    assert result.valid is True
    return steps


def test_the_set_check_grows_linearly_with_elements_times_reads() -> None:
    """Four times the adds and the reads is about four times the steps, not sixteen (per element, only
    the reads that contained it are visited)."""
    small, big = _lines_run(_bigset(150)), _lines_run(_bigset(600))
    assert big < 6 * small, (small, big)  # elements x reads made it 11.5 times


def test_a_history_without_nodes_is_explained_without_none(tmp_path):
    """A set history that records no node names: the lost element's sentence says so instead of 'on None'."""
    import json

    from checker.api import check

    lines = [{"history": 1, "workload": "set"}]
    for i, (p, t, f, v) in enumerate([(0, "invoke", "add", "x"), (0, "ok", "add", "x"), (1, "invoke", "read", None),
                                      (1, "ok", "read", ["x"]), (2, "invoke", "read", None), (2, "ok", "read", [])]):
        e = {"index": i, "time": i * 1_000_000, "process": p, "type": t, "f": f, "key": "s", "value": v}
        if p == 2:
            e["final"] = True
        lines.append(e)
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = check(path)
    text = json.dumps(result.results, default=str)
    assert result.valid is False and "lost-element" in text, text[:2000]
    assert "on None" not in text and "node not recorded" in text, text[:2000]


def test_stable_latency_is_jepsens_last_absent_read_not_the_next_present_one() -> None:
    """Jepsen's stable latency runs to the last read that missed the element: 0 when none began after the ack."""
    h = _set()
    h.at(0.9)
    h.begin(1, "read", "s")  # concurrent with the add: it may linearize before it
    h.at(1.0)
    h.add(0, "s", 1)
    h.at(1.1)
    h.end(1, "read", "s", [])
    h.at(10.0)  # the quiescence wait: the next read of it is a final read
    h.final_reads("s", {"n1": [1], "n2": [1]})
    st = check(h.all_events()).stats["set"]
    assert st["outcomes"]["ok"] == 1
    assert st["stable_latency_ms"]["max"] == 0  # the old rule (to the first read of it for good) said 9000
    assert st["stable_latencies"] == {"0": 0, "0.5": 0, "0.95": 0, "0.99": 0, "1": 0}


def test_stable_latencies_are_maelstroms_quantiles() -> None:
    """stable_latencies has Jepsen's points 0, 0.5, 0.95, 0.99, 1 (index floor(n*q)) in whole ms."""
    h = _set()
    for i in range(4):
        h.at(1.0 + 10 * i)
        h.add(0, "s", i)
        h.at(1.0 + 10 * i + 0.1 * (i + 1))  # a read of another node that missed it
        h.read(1, "s", list(range(i)))
        h.at(1.0 + 10 * i + 5)
        h.read(1, "s", list(range(i + 1)))
    h.final_reads("s", {"n1": [0, 1, 2, 3], "n2": [0, 1, 2, 3]})
    st = check(h.all_events()).stats["set"]
    # element i: acknowledged 2 ms after its mark, missed by a read invoked (i+1)*100 + 1 ms after it
    assert st["stable_latencies"] == {"0": 99, "0.5": 299, "0.95": 399, "0.99": 399, "1": 399}
    assert "lost_latencies" not in st


def test_lost_latency_runs_to_the_last_read_that_saw_it() -> None:
    """A lost element's lost latency (Jepsen's) is from its ack to the last read that contained it."""
    h = _set()
    h.at(1.0)
    h.add(0, "s", 1)
    h.at(1.5)
    h.read(1, "s", [1])
    h.at(3.0)
    h.final_reads("s", {"n1": [], "n2": []})
    st = check(h.all_events()).stats["set"]
    assert st["outcomes"]["lost"] == 1
    assert st["lost_latencies"]["1"] == 499  # ack at 1.002 s, the read that saw it invoked at 1.501 s


def test_lost_latency_of_an_element_lost_on_some_nodes() -> None:
    """Lost on n2 only: the lost latency runs to the last read that had it before n2's final read missed it."""
    h = _set()
    h.at(1.0)
    h.add(0, "s", 1)
    h.at(3.0)
    h.final_reads("s", {"n1": [1], "n2": []})
    st = check(h.all_events()).stats["set"]
    assert st["outcomes"]["lost"] == 1
    assert 1990 <= st["lost_latencies"]["1"] <= 2000  # n1's final read, invoked at 3.001 s


def test_an_element_read_before_its_ack_is_known_from_that_read() -> None:
    """G4: Jepsen's known time is the earlier of the ack and the first read that saw the element: a read begun
    300 ms after such a read that misses it makes the element stale, stable latency 300 ms."""
    h = _set()
    h.at(1.0)
    h.begin(0, "add", "s", 1)
    h.at(1.1)
    h.begin(1, "read", "s")
    h.at(1.2)
    h.end(1, "read", "s", [1])
    h.at(1.5)
    h.begin(2, "read", "s")
    h.at(1.6)
    h.end(2, "read", "s", [])
    h.at(2.0)
    h.end(0, "add", "s", 1)
    h.at(2.5)
    h.begin(3, "read", "s")
    h.at(2.6)
    h.end(3, "read", "s", [1])
    h.final_reads("s", {"n1": [1], "n2": [1]})
    result = check(h.all_events())
    assert result.valid is True
    assert result.stats["set"]["outcomes"]["stale"] == 1
    assert [e["stable_latency_ms"] for e in result.stats["set"]["examples"]["stale"]] == [300.000001]


def _jepsen_stable_latencies(events: list[dict[str, Any]]) -> list[int]:
    """A transcription of Jepsen's set-full (checker.clj: SetFullElement, set-full-element-results): per element
    known = the first ok add or ok read containing it; stable latencies in whole ms."""
    invoked: dict[Any, dict[str, Any]] = {}
    elems: dict[Any, dict[str, Any]] = {}
    for e in events:
        if "process" not in e or e["process"] == "nemesis":
            continue
        p = e["process"]
        if e["type"] == "invoke":
            invoked[p] = e
            if e["f"] == "add":
                elems[e["value"]] = {"known": None, "lp": None, "la": None}
            continue
        inv = invoked.pop(p)
        if e["f"] == "add" and e["type"] == "ok" and elems[e["value"]]["known"] is None:
            elems[e["value"]]["known"] = e
        elif e["f"] == "read" and e["type"] == "ok":
            seen = set(e["value"])
            for x, st in elems.items():
                slot = "lp" if x in seen else "la"
                if x in seen and st["known"] is None:
                    st["known"] = e
                if st[slot] is None or st[slot]["index"] < inv["index"]:
                    st[slot] = inv
    out = []
    for st in elems.values():
        lp, la, known = st["lp"], st["la"], st["known"]
        if lp is not None and (la["index"] if la else -1) < lp["index"]:
            out.append(int(max(0, ((la["time"] + 1) if la else 0) - known["time"]) / 1e6))
    return out


def _random_history(seed: int) -> WorkloadHistory:
    import random

    rng = random.Random(seed)
    h = _set()
    pending: dict[int, tuple[str, int | None]] = {}
    added: list[int] = []
    nxt = 0
    for _ in range(rng.randint(10, 40)):
        p = rng.randrange(4)
        if p in pending:
            f, val = pending.pop(p)
            if f == "add":
                h.end(p, "add", "s", val)
                added.append(val)  # type: ignore[arg-type]
            else:
                invoked = sorted({v for g, v in pending.values() if g == "add"} | set(added))  # type: ignore[arg-type]
                h.end(p, "read", "s", [x for x in invoked if rng.random() < 0.7])
        elif rng.random() < 0.5:
            nxt += 1
            h.begin(p, "add", "s", nxt)
            pending[p] = ("add", nxt)
        else:
            h.begin(p, "read", "s")
            pending[p] = ("read", None)
    for p, (f, val) in list(pending.items()):
        if f == "add":
            h.end(p, "add", "s", val)
            added.append(val)  # type: ignore[arg-type]
        else:
            h.end(p, "read", "s", sorted(added))
    h.final_reads("s", {"n1": sorted(added), "n2": sorted(added)})
    return h


def test_stable_latencies_match_a_transcription_of_jepsens_set_full() -> None:
    """G4: on 300 random add/read histories (reads may see adds not yet acknowledged), the stable latencies'
    quantiles and the count of stably visible elements equal those of Jepsen's set-full."""
    import math

    differ = []
    for seed in range(300):
        events = _random_history(seed).all_events()
        result = check(events)
        jepsen = sorted(_jepsen_stable_latencies(events))
        n = len(jepsen)
        expected = sorted(jepsen[min(n - 1, math.floor(n * q))] for q in (0, 0.5, 0.95, 0.99, 1)) if n else None
        mine = result.stats["set"].get("stable_latencies")
        stable = sum(result.stats["set"]["outcomes"][o] for o in ("ok", "stale"))
        if (sorted(mine.values()) if mine else None) != expected or stable != n:
            differ.append(seed)
    assert differ == [], f"{len(differ)} of 300 differ, first seeds {differ[:5]}"


def test_a_miss_shorter_than_a_whole_millisecond_is_not_stale_as_in_jepsen() -> None:
    """Jepsen's set-full counts an element stale when its stable latency in whole ms (``long``) is positive: a
    read that missed it 0.5 ms after the ack leaves it ok (stale-count 0 in results.edn), one 1 ms after, stale."""
    from runner.maelstrom.results_edn import maelstrom_shape

    for gap_ns, outcome, stale_count in ((500_000, "ok", 0), (999_999, "ok", 0), (1_000_000, "stale", 1)):
        h = _set()
        h.add(0, "s", 1)  # invoked at 1 ms, acknowledged at 2 ms: known then
        h.read(1, "s", [])
        h.read(1, "s", [1])
        h.final_reads("s", {"n1": [1], "n2": [1]})
        acked, missing_read = h.events[1], h.events[2]
        missing_read["time"] = acked["time"] + gap_ns - 1  # Jepsen's stable time is that read's start + 1 ns
        result = check(h.all_events())
        assert result.valid is True
        assert _outcomes(h) == {outcome: 1}, gap_ns
        shape = maelstrom_shape({"valid": True, "stats": {"set": result.stats["set"]}})
        workload = {str(k): v for k, v in shape["workload"].items()}
        assert workload["stale-count"] == stale_count and workload["stable-count"] == 1, (gap_ns, workload)
