"""True convergence and fault effects from hand-made journals with known answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checker.api import check
from checker.convergence import check_events
from checker.findings import SOURCE_FINAL_READS, SOURCE_JOURNAL, convergence_headline
from tests.checker.builder import History
from tests.checker.journal_builder import JournalBuilder, stamp

A, B, C = stamp(1000), stamp(2000), stamp(3000)


def _acked(h: History, proc: int, key: str, value: Any, st: list[Any], at_ms: float, f: str = "put") -> None:
    """An acknowledged write whose ok lands at ``at_ms`` and records the store's stamp in meta."""
    h.at((at_ms - 1) / 1000)
    if f == "put":
        _, ok = h.put(proc, key, value)
    else:
        _, ok = h.delete(proc, key)
    h.events[ok]["time"] = int(at_ms * 1_000_000)
    h.t = h.events[ok]["time"]
    h.events[ok]["meta"] = {"stamp": st}


def _nemesis(h: History, seconds: float, f: str, value: Any = None) -> None:
    """A nemesis event at exactly ``seconds``."""
    h.t = max(h.t, int(seconds * 1e9) - 1_000_000)
    h.nemesis(f, value)


def _run_dir(tmp_path: Path, h: History, j: JournalBuilder | None) -> Path:
    h.write(tmp_path / "history.jsonl")
    if j is not None:
        j.write(tmp_path / "journal.jsonl.gz")
    return tmp_path


def _partition_then_heal(tmp_path: Path) -> dict[str, Any]:
    h = History()
    _nemesis(h, 0.1, "partition-start", {"kind": "one", "groups": [["n1", "n2"], ["n3"]]})
    _acked(h, 0, "k1", "a", A, 110)
    _acked(h, 1, "k1", "b", B, 150)
    _nemesis(h, 0.2, "heal")
    _acked(h, 2, "k2", "c", C, 210)
    j = JournalBuilder()
    j.apply(105, "n1", "k1", A).apply(106, "n2", "k1", A, via="n1")
    j.send(106, "n1", "n3", "replicate", [["k1", A]], fault="partition")
    j.apply(145, "n1", "k1", B).apply(146, "n2", "k1", B, via="n1")
    j.apply(205, "n1", "k2", C).apply(206, "n2", "k2", C, via="n1")
    j.apply(230, "n3", "k1", B, via="n1")  # the heal lets the newer version through: A is superseded
    j.apply(260, "n3", "k2", C, via="n1")  # a write acknowledged after the heal converges at 260 ms
    j.end(400)
    return check(_run_dir(tmp_path, h, j)).results


def test_replication_lag_per_write_healthy_and_under_the_partition(tmp_path: Path) -> None:
    """Each write's lag runs from its ack to the last replica holding it or newer, split by the fault at its ack."""
    c = _partition_then_heal(tmp_path)["convergence"]
    assert c["source"] == SOURCE_JOURNAL and c["complete"] is True
    rl = c["replication_lag_ms"]
    # k1/A acked at 110 ms, on n3 only as B at 230 ms: 120 ms; k1/B 150 -> 230: 80 ms; k2/C 210 -> 260: 50 ms.
    assert (rl["n"], rl["p50"], rl["max"]) == (3, 80.0, 120.0) and rl["p99"] == 120.0
    assert rl["by_fault"]["partition"]["n"] == 2 and rl["by_fault"]["partition"]["max"] == 120.0
    assert rl["healthy"]["n"] == 1 and rl["healthy"]["max"] == 50.0
    assert c["writes"]["measured"] == 3 and c["writes"]["never_on_all_replicas"] == 0


def test_heal_convergence_with_writes_after_the_heal(tmp_path: Path) -> None:
    """After the heal, the writes acknowledged before it converge at 230 ms; every key agrees at 260 ms."""
    c = _partition_then_heal(tmp_path)["convergence"]
    (heal,) = c["after_heal"]
    assert heal["heal_s"] == 0.2 and heal["writes_before"] == 2 and heal["last"] is True
    assert heal["converged_after_s"] == 0.03
    assert c["after_last_heal_s"] == 0.06 and c["last_heal_s"] == 0.2 and c["keys_not_agreed"] == 0
    assert "converged 0.060 s after the last heal" in (convergence_headline(c) or "")


def test_apply_that_lost_the_merge_counts_as_holding_a_newer_version(tmp_path: Path) -> None:
    """A replica that already held a newer version (the apply lost the merge) has converged for the older write."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    j = JournalBuilder()
    j.apply(5, "n3", "k1", B, via="n2")  # an unacknowledged newer write reached n3 first
    j.apply(9, "n1", "k1", A).apply(11, "n2", "k1", A, via="n1")
    j.apply(12, "n2", "k1", B, via="n3").apply(13, "n1", "k1", B, via="n3")
    j.apply(14, "n3", "k1", A, via="n1", won=False)
    j.end(50)
    c = check(_run_dir(tmp_path, h, j)).results["convergence"]
    assert c["replication_lag_ms"]["max"] == 1.0  # n3 held B >= A from 5 ms; n2 had A at 11 ms
    assert c["keys_not_agreed"] == 0 and c["after_last_heal_s"] is None and c["last_heal_s"] is None


def test_a_replica_that_never_gets_the_write_is_not_converged(tmp_path: Path) -> None:
    """A version two replicas of three applied is reported as never on all replicas, and the key as not agreed."""
    h = History()
    _nemesis(h, 0.01, "partition-start", {"kind": "one", "groups": [["n1", "n2"], ["n3"]]})
    _acked(h, 0, "k1", "a", A, 20)
    _nemesis(h, 0.05, "heal")
    j = JournalBuilder()
    j.apply(15, "n1", "k1", A).apply(16, "n2", "k1", A, via="n1").end(500)
    c = check(_run_dir(tmp_path, h, j)).results["convergence"]
    assert c["writes"]["never_on_all_replicas"] == 1 and c["replication_lag_ms"]["n"] == 0
    ex = c["writes"]["examples_never_on_all_replicas"][0]
    assert ex["key"] == "k1" and ex["replicas_with_it"] == ["n1", "n2"]
    assert c["after_heal"][0]["converged_after_s"] is None and c["after_heal"][0]["writes_never_converged"] == 1
    assert c["after_last_heal_s"] is None and c["keys_not_agreed"] == 1
    assert c["examples_not_agreed"][0]["versions"]["n3"] is None
    assert (convergence_headline(c) or "").startswith("NOT converged: 1 of 1 key")


def test_journal_cut_at_the_size_limit_says_the_figure_is_incomplete(tmp_path: Path) -> None:
    """A journal that ended at its size limit marks the convergence block incomplete, and the headline says so."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 0.05, "heal")
    j = JournalBuilder()
    j.applied_everywhere(5, "k1", A).end(20, "size-limit")
    c = check(_run_dir(tmp_path, h, j)).results["convergence"]
    assert c["complete"] is False and "size limit" in c["incomplete"]
    assert c["after_last_heal_s"] is None  # the journal stopped before the heal: nothing after it is known
    assert (convergence_headline(c) or "").startswith("UNKNOWN: the journal is incomplete")


def test_faults_bite_counts_datagrams_nodes_and_failed_ops(tmp_path: Path) -> None:
    """A drop window's dropped datagrams, a crash window's crashed node and the ops that failed in them are counted."""
    h = History()
    _nemesis(h, 0.1, "drop-start", {"probability": 0.5})
    h.at(0.11)
    h.put(0, "k1", "x", typ="fail")
    _nemesis(h, 0.2, "drop-stop")
    _nemesis(h, 0.3, "crash-start", {"nodes": ["n2"]})
    _nemesis(h, 0.4, "crash-stop")
    j = JournalBuilder()
    j.send(50, "n1", "n2", "replicate", [["k1", A]])
    j.send(120, "n1", "n2", "replicate", [["k1", A]], fault="drop")
    j.send(130, "n1", "n3", "replicate", [["k1", A]], fault="delay")
    j.send(140, "n1", "n3", "replicate", [["k1", A]])
    j.lifecycle(300, "n2", "crash").lifecycle(400, "n2", "restart").end(500)
    f = check(_run_dir(tmp_path, h, j)).results["faults"]
    drop, crash = f["bite"]
    assert drop["kind"] == "drop" and drop["datagrams"]["sent"] == 3
    assert (drop["datagrams"]["dropped"], drop["datagrams"]["delayed"]) == (1, 1)
    assert drop["ops"] == {"invoked": 1, "failed": 1, "timed_out": 0} and drop["bit"] is True
    assert crash["nodes_crashed"] == ["n2"] and crash["bit"] is True
    assert f["changed_nothing"] is False and f["summary"].startswith("the faults bit: 1 datagram dropped")


def test_inert_faults_are_said_to_have_changed_nothing(tmp_path: Path) -> None:
    """A partition under which no datagram was dropped and no op failed: the run says the faults changed nothing."""
    h = History()
    _nemesis(h, 0.1, "partition-start", {"kind": "one", "groups": [["n1"], ["n2", "n3"]]})
    _acked(h, 0, "k1", "a", A, 150)
    _nemesis(h, 0.2, "partition-stop")
    j = JournalBuilder()
    j.send(120, "n2", "n3", "replicate", [["k1", A]])
    j.applied_everywhere(140, "k1", A).end(300)
    f = check(_run_dir(tmp_path, h, j)).results["faults"]
    assert f["changed_nothing"] is True and f["bite"][0]["bit"] is False
    assert f["summary"].startswith("the faults changed nothing: 1 window (partition)")


def test_no_journal_checks_as_before(tmp_path: Path) -> None:
    """Without a journal the results are the convergence checker's, plus the final reads' upper bound labelled as such."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 0.05, "heal")
    h.at(3.1)
    h.final("k1", {"n1": "a", "n2": "a"})
    run = _run_dir(tmp_path, h, None)
    r = check(run).results
    before = check_events(h.events)
    assert {k: v for k, v in r.items() if k not in ("convergence", "faults", "check_settings")} == before
    c = r["convergence"]
    assert c["source"] == SOURCE_FINAL_READS and c["upper_bound"] is True
    assert c["after_last_heal_s"] == before["stats"]["convergence"][-1]["all_agreed_after_s"]
    assert "upper bound" in (convergence_headline(c) or "") and "quiescence" in c["how"]
    assert "faults" not in r  # no fault windows in this history: nothing to say


def test_check_report_and_bad_journal_on_the_command_line(tmp_path: Path, capsys: Any) -> None:
    """`check` prints the journal's figure and the faults sentence; the report shows both; a bad journal line is named, the verdict kept."""
    from checker.cli import main
    from checker.report import write_report

    _partition_then_heal(tmp_path)
    assert main(["check", str(tmp_path)]) in (0, 2)
    out = capsys.readouterr().out
    assert "convergence time: converged 0.060 s after the last heal at 0.200 s (measured from the journal)" in out
    assert "the faults bit: 1 datagram dropped" in out
    page = write_report(tmp_path).read_text()
    assert "converged after last heal (journal)<b>0.060 s" in page and "<b>Faults:</b> The faults bit" in page
    assert "Did the faults bite?" in page and "1 dropped, 0 delayed, 0 duplicated, 0 reordered of 1 sent" in page
    j = JournalBuilder().replicas("k1").raw(b'["A", 1, "n1", "k1", "nostamp", "client", true, false]')
    j.write(tmp_path / "journal.jsonl.gz")
    assert main(["check", str(tmp_path)]) in (0, 2)  # the history's verdict: a bad journal loses only its figures
    out = capsys.readouterr().out
    assert "the journal could not be read" in out and "journal.jsonl.gz: line 3: field 'stamp'" in out


def test_pbs_curve_split_healthy_and_under_faults(tmp_path: Path) -> None:
    """A fresh read with no fault open counts as healthy, a stale one under a partition as under faults; a sentence says how to read it."""
    h = History()
    h.put(0, "k1", "a")
    h.at(0.010)
    h.get(1, "k1", "a")  # healthy, fresh
    _nemesis(h, 0.1, "partition-start", {"kind": "one", "groups": [["n1"], ["n2"]]})
    h.put(0, "k1", "b")
    h.at(0.150)
    h.get(1, "k1", "a")  # under the partition, stale
    r = check(h.events).results
    split = r["stats"]["pbs_by_fault"]
    assert [(q["reads"], q["probability"]) for q in split["healthy"]] == [(1, 1.0)]
    assert [(q["reads"], q["probability"]) for q in split["under_faults"]] == [(1, 0.0)]
    assert sum(q["reads"] for q in r["stats"]["pbs"]) == 2
    assert "1 - P is the probability that such a read is stale" in split["how_to_read"]


def test_pbs_healthy_means_no_fault_from_the_write_to_the_read(tmp_path: Path) -> None:
    """A read after the heal of a write acknowledged during the partition is under faults, not healthy: healthy
    reads are those with no fault window open at any moment from the write's invoke to the read's end."""
    h = History()
    _nemesis(h, 0.1, "partition-start", {"kind": "one", "groups": [["n1"], ["n2"]]})
    h.put(0, "k1", "a")  # acknowledged during the partition
    _nemesis(h, 0.2, "heal")
    h.at(1.2)
    h.get(1, "k1", None, node="n2")  # after the heal, stale: the write never reached n2 (t about 1 s)
    h.put(0, "k2", "x")  # written and read after the heal: healthy
    h.at(1.21)
    h.get(1, "k2", "x")
    h.put(0, "k3", "y")  # written before a window opening during its read: under faults
    h.invoke(1, "get", "k3")
    _nemesis(h, 1.3, "partition-start", {"kind": "one", "groups": [["n1"], ["n2"]]})
    h.complete(1, "get", "k3", None)
    split = check(h.events).results["stats"]["pbs_by_fault"]
    assert [(q["reads"], q["fresh"]) for q in split["healthy"]] == [(1, 1)]
    assert sum(q["reads"] for q in split["under_faults"]) == 2
    assert sum(q["fresh"] for q in split["under_faults"]) == 0
    assert "no fault window was open at any moment from the write's invoke to the read's end" in split["how_to_read"]


def test_two_tombstones_agree_like_the_reads_of_them(tmp_path: Path) -> None:
    """Replicas holding different tombstones (or a tombstone and nothing) agree: each reads as absent."""
    h = History()
    _acked(h, 0, "k1", None, A, 10, f="delete")
    _nemesis(h, 0.05, "heal")
    j = JournalBuilder()
    j.apply(5, "n1", "k1", A, deleted=True).apply(6, "n2", "k1", A, via="n1", deleted=True)
    j.apply(7, "n3", "k1", B, via="n2", deleted=True).apply(8, "n3", "k2", C, via="n2")
    j.apply(60, "n1", "k2", C, via="n3").apply(70, "n2", "k2", C, via="n3").end(100)
    c = check(_run_dir(tmp_path, h, j)).results["convergence"]
    assert c["keys_not_agreed"] == 0 and c["after_last_heal_s"] == 0.02
    assert c["writes"]["never_on_all_replicas"] == 0  # n3's newer tombstone holds "A or newer"


def test_applies_level_journal_sees_crashes_but_not_datagrams(tmp_path: Path) -> None:
    """A journal at level "applies" (no S records) counts crashed nodes; a partition's datagram effects stay unknown."""
    h = History()
    _nemesis(h, 0.1, "partition-start", {"kind": "one", "groups": [["n1"], ["n2", "n3"]]})
    _nemesis(h, 0.2, "partition-stop")
    _nemesis(h, 0.3, "crash-start", {"nodes": ["n3"]})
    _nemesis(h, 0.4, "crash-stop")
    j = JournalBuilder(level="applies")
    j.lifecycle(300, "n3", "crash").lifecycle(400, "n3", "restart").end(500)
    f = check(_run_dir(tmp_path, h, j)).results["faults"]
    part, crash = f["bite"]
    assert part["datagrams"] is None and part["bit"] is None
    assert crash["nodes_crashed"] == ["n3"] and crash["bit"] is True and f["changed_nothing"] is False


def test_a_processes_mode_journal_gives_no_measured_convergence(tmp_path: Path) -> None:
    """A processes-mode journal has no applies: convergence is the final reads' bound, said so, not 'measured'."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 0.05, "heal")
    j = JournalBuilder()
    j.header["mode"] = "processes"
    j.end(20, "done")
    c = check(_run_dir(tmp_path, h, j)).results["convergence"]
    assert c["source"] != SOURCE_JOURNAL and "processes-mode journal holds no applies" in c["how"]
    assert "measured from the journal" not in (convergence_headline(c) or "")


def test_a_crash_window_counts_the_crash_its_nemesis_made_just_before_recording_it(tmp_path: Path) -> None:
    """The nemesis crashes n1, then records crash-start: the C record a few microseconds earlier counts for the window."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 1.0, "crash-start", {"nodes": ["n1"]})
    _acked(h, 0, "k1", "b", stamp(1_200_000), 1200)
    _nemesis(h, 2.0, "crash-stop", {"nodes": ["n1"]})
    _nemesis(h, 2.1, "heal")
    j = JournalBuilder()
    j.applied_everywhere(5, "k1", A).lifecycle(999.99, "n1", "crash").lifecycle(2000, "n1", "restart")
    j.applied_everywhere(1205, "k1", stamp(1_200_000)).end(2200)
    (crash,) = [e for e in check(_run_dir(tmp_path, h, j)).results["faults"]["bite"] if e["kind"] == "crash"]
    assert crash["nodes_crashed"] == ["n1"] and crash["bit"] is True


def test_faults_whose_effect_cannot_be_seen_are_not_said_to_have_bitten() -> None:
    """A clock-skew window (bit None: nothing recorded could show it) reads 'not visible', not 'the faults bit'."""
    from checker.findings import faults_sentence

    entry = {"kind": "clock-skew", "datagrams": {"dropped": 0, "delayed": 0, "duplicated": 0, "reordered": 0},
             "nodes_crashed": [], "nodes_paused": [], "ops": {"invoked": 5, "failed": 0, "timed_out": 0}, "bit": None}
    line = faults_sentence({"bite": [entry], "changed_nothing": False}) or ""
    assert line.startswith("the faults' effect is not visible") and "the faults bit" not in line


def test_a_window_past_a_size_limited_journals_end_is_not_called_inert(tmp_path: Path) -> None:
    """A delay window after the journal stopped at its size limit: datagrams unknown (None), not 'changed nothing'."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 1.0, "delay-start", {"delay": {"kind": "constant", "low": 0.01}})
    _acked(h, 0, "k1", "b", stamp(1_200_000), 1200)
    _nemesis(h, 1.5, "delay-stop", {"delay": {"kind": "constant", "low": 0.01}})
    _nemesis(h, 1.6, "heal")
    j = JournalBuilder()
    j.applied_everywhere(5, "k1", A).end(20, "size-limit")
    faults = check(_run_dir(tmp_path, h, j)).results["faults"]
    (delay,) = [e for e in faults["bite"] if e["kind"] == "delay"]
    assert delay["datagrams"] is None and delay["bit"] is None and "not_covered" in delay
    assert not faults["changed_nothing"]


def test_a_journal_that_is_not_gzip_is_said_to_be_not_gzip(tmp_path: Path) -> None:
    """Uncompressed JSON lines, or random bytes, saved as journal.jsonl.gz: 'not gzip', not 'empty: no header'."""
    import gzip
    import os

    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    j = JournalBuilder()
    j.applied_everywhere(5, "k1", A).end(20)
    run = _run_dir(tmp_path, h, j)
    plain = gzip.decompress((run / "journal.jsonl.gz").read_bytes())
    for data in (plain, os.urandom(4096)):
        (run / "journal.jsonl.gz").write_bytes(data)
        err = check(run).results["convergence"]["journal_error"]
        assert "not gzip" in err and "empty" not in err, err


def test_a_size_limit_before_any_key_is_said_to_be_the_size_limit(tmp_path: Path) -> None:
    """A journal whose size limit stopped it before any K record: the reason is the size limit, not 'no K records'."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    j = JournalBuilder()
    j.end(0, "size-limit")
    c = check(_run_dir(tmp_path, h, j)).results["convergence"]
    assert "size limit" in c["journal_error"] and "before any key was placed" in c["journal_error"], c["journal_error"]
    assert "no K records" not in c["journal_error"]


def test_a_window_past_the_journals_end_is_said_not_covered_in_the_summary(tmp_path: Path) -> None:
    """The journal stops before the only fault window: the faults sentence says not covered, not 'not visible'."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 1.0, "partition-start", {"kind": "one", "groups": [["n1"], ["n2", "n3"]]})
    _nemesis(h, 1.5, "partition-stop")
    _nemesis(h, 1.6, "heal")
    j = JournalBuilder()
    j.applied_everywhere(5, "k1", A).end(20, "size-limit")
    f = check(_run_dir(tmp_path, h, j)).results["faults"]
    assert f["bite"][0].get("not_covered")
    assert "not covered by the journal" in f["summary"] and "not visible" not in f["summary"], f["summary"]


def test_the_processes_mode_convergence_sentence_does_not_contradict_itself(tmp_path: Path) -> None:
    """A processes-mode journal: one sentence on why the final reads are used, with no 'no journal' in it."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 0.05, "heal")
    h.at(0.1)
    h.final("k1", {"n1": "a", "n2": "a", "n3": "a"})
    j = JournalBuilder()
    j.header["mode"] = "processes"
    j.end(20, "done")
    c = check(_run_dir(tmp_path, h, j)).results["convergence"]
    assert "processes-mode journal holds no applies" in c["how"] and "no journal" not in c["how"], c["how"]


def test_heals_a_fraction_of_a_millisecond_apart_are_one_heal(tmp_path: Path) -> None:
    """The last partition stop and the final heal 0.15 ms apart: one 'after heal' entry (the last), not two bars."""
    h = History()
    _acked(h, 0, "k1", "a", A, 10)
    _nemesis(h, 0.1, "partition-start", {"kind": "one", "groups": [["n1"], ["n2", "n3"]]})
    h.t = 200_000_000
    h.nemesis("partition-stop")
    h.t = 200_150_000
    h.nemesis("heal")
    j = JournalBuilder()
    j.applied_everywhere(5, "k1", A).end(400)
    after = check(_run_dir(tmp_path, h, j)).results["convergence"]["after_heal"]
    assert len(after) == 1 and after[0].get("last") and after[0]["healed"] == "all", after


def test_check_labels_the_verdict_and_the_convergence_time_apart(tmp_path: Path, capsys: Any) -> None:
    """`check` prints the checker's verdict as 'convergence:' and the journal's figure as 'convergence time:'."""
    from checker.cli import main

    _partition_then_heal(tmp_path)
    main(["check", str(tmp_path)])
    out = capsys.readouterr().out
    assert "  convergence time: converged 0.060 s after the last heal" in out, out
    assert not any(line.startswith("  convergence: converged") for line in out.splitlines())


def test_report_says_what_availability_and_bite_count_per_window(tmp_path: Path) -> None:
    """The page's two per-window operation counts say what they count: availability the operations invoked while
    the window was open, "Did the faults bite?" those plus the ones already in flight when it opened."""
    from checker.report import write_report

    h = History()
    h.invoke(0, "put", "k1", "a")  # in flight when the partition opens: bite counts it, availability does not
    _nemesis(h, 0.1, "partition-start", {"kind": "one", "groups": [["n1", "n2"], ["n3"]]})
    h.complete(0, "put", "k1", "a")
    h.put(1, "k1", "b")  # invoked inside the window: both count it
    _nemesis(h, 0.2, "heal")
    j = JournalBuilder().apply(150, "n1", "k1", A).end(300)
    r = check(_run_dir(tmp_path, h, j)).results
    assert r["stats"]["availability"][0]["ops"] == 1 and r["faults"]["bite"][0]["ops"]["invoked"] == 2
    page = write_report(tmp_path).read_text()
    assert "<th>ops invoked in it</th>" in page and "<th>operations in flight in it</th>" in page
    assert "invoked while the window was open" in page
    assert "already in flight when it opened" in page
