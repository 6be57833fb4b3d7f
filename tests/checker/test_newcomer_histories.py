"""Hand-written histories of a newcomer's own system: no confident wrong answer, no MinikeyDB talk."""

from __future__ import annotations

import json
from pathlib import Path

from checker.cli import main

SET_BODY = """\
{"process": 0, "type": "invoke", "f": "add", "key": "s", "value": "a", "node": "n1", "time": 1000000}
{"process": 0, "type": "ok", "f": "add", "key": "s", "value": "a", "node": "n1", "time": 2000000}
{"process": 1, "type": "invoke", "f": "add", "key": "s", "value": "b", "node": "n2", "time": 3000000}
{"process": 1, "type": "ok", "f": "add", "key": "s", "value": "b", "node": "n2", "time": 4000000}
{"process": 2, "type": "invoke", "f": "read", "key": "s", "value": null, "node": "n1", "time": 5000000}
{"process": 2, "type": "ok", "f": "read", "key": "s", "value": ["a"], "node": "n1", "time": 6000000}
{"process": 0, "type": "invoke", "f": "remove", "key": "s", "value": "a", "node": "n1", "time": 7000000}
{"process": 0, "type": "ok", "f": "remove", "key": "s", "value": "a", "node": "n1", "time": 8000000}
{"process": 1, "type": "invoke", "f": "add", "key": "s", "value": "c", "node": "n2", "time": 9000000}
{"process": 1, "type": "ok", "f": "add", "key": "s", "value": "c", "node": "n2", "time": 10000000}
{"process": "nemesis", "type": "info", "f": "heal", "value": null, "time": 11000000}
{"process": 3, "type": "invoke", "f": "read", "key": "s", "value": null, "node": "n1", "final": true, "time": 20000000}
{"process": 3, "type": "ok", "f": "read", "key": "s", "value": ["b"], "node": "n1", "final": true, "time": 21000000}
{"process": 3, "type": "invoke", "f": "read", "key": "s", "value": null, "node": "n2", "final": true, "time": 22000000}
{"process": 3, "type": "ok", "f": "read", "key": "s", "value": ["b"], "node": "n2", "final": true, "time": 23000000}
"""
SET_HEADER = '{"history": 1, "conflict": "crdt", "workload": "set"}\n'

COUNTER = """\
{"history": 1, "conflict": "crdt", "workload": "counter"}
{"process": 0, "type": "invoke", "f": "incr", "key": "c", "value": 5, "node": "n1", "time": 1000000}
{"process": 0, "type": "ok", "f": "incr", "key": "c", "value": 5, "node": "n1", "time": 2000000}
{"process": 1, "type": "invoke", "f": "decr", "key": "c", "value": 2, "node": "n2", "time": 3000000}
{"process": 1, "type": "info", "f": "decr", "key": "c", "value": 2, "node": "n2", "time": 4000000, "error": "timeout"}
{"process": 2, "type": "invoke", "f": "read", "key": "c", "value": null, "node": "n2", "time": 5000000}
{"process": 2, "type": "ok", "f": "read", "key": "c", "value": 0, "node": "n2", "time": 6000000}
{"process": 3, "type": "invoke", "f": "incr", "key": "c", "value": 1, "node": "n1", "time": 7000000}
{"process": 3, "type": "ok", "f": "incr", "key": "c", "value": 1, "node": "n1", "time": 8000000}
{"process": 4, "type": "invoke", "f": "read", "key": "c", "value": null, "node": "n1", "final": true, "time": 20000000}
{"process": 4, "type": "ok", "f": "read", "key": "c", "value": 4, "node": "n1", "final": true, "time": 21000000}
{"process": 4, "type": "invoke", "f": "read", "key": "c", "value": null, "node": "n2", "final": true, "time": 22000000}
{"process": 4, "type": "ok", "f": "read", "key": "c", "value": 7, "node": "n2", "final": true, "time": 23000000}
"""

REGISTER = """\
{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1, "time": 0}
{"process": 0, "type": "ok", "f": "write", "key": "x", "value": 1, "time": 10}
{"process": 1, "type": "invoke", "f": "write", "key": "x", "value": 2, "time": 20}
{"process": 1, "type": "ok", "f": "write", "key": "x", "value": 2, "time": 30}
{"process": 2, "type": "invoke", "f": "read", "key": "x", "value": null, "time": 40}
{"process": 2, "type": "ok", "f": "read", "key": "x", "value": 1, "time": 50}
"""


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _ev(**fields: object) -> str:
    return json.dumps(fields) + "\n"


# --- 1. a set or counter history without its header is bad input, not a register verdict ---------


def test_set_history_without_header_is_bad_input_with_the_header_hint(tmp_path, capsys):
    """add/remove/read ops with no header: exit 254 naming line and field and the set header, not a phantom read."""
    path = _file(tmp_path, "set-noheader.jsonl", SET_BODY)
    assert main(["check", str(path)]) == 254
    err = capsys.readouterr().err
    assert "line 1: field 'f'" in err
    assert ('add/remove/read are set operations: start the file with the header line '
            '{"history": 1, "workload": "set"} (docs/HISTORY.md)') in err
    assert "phantom" not in err


def test_counter_history_without_header_is_bad_input_with_the_counter_hint(tmp_path, capsys):
    """incr/decr ops with no header: exit 254 with the counter header hint."""
    path = _file(tmp_path, "counter.jsonl", COUNTER.split("\n", 1)[1])
    assert main(["check", str(path)]) == 254
    err = capsys.readouterr().err
    assert "line 1: field 'f'" in err and '{"history": 1, "workload": "counter"}' in err


def test_list_read_without_header_or_list_write_is_bad_input(tmp_path, capsys):
    """A read returning a list that no write or append could have produced: a set read, so the set hint."""
    text = (_ev(process=0, type="invoke", f="read", key="s", value=None)
            + _ev(process=0, type="ok", f="read", key="s", value=["a"]))
    assert main(["check", str(_file(tmp_path, "reads.jsonl", text))]) == 254
    err = capsys.readouterr().err
    assert "line 2: field 'value'" in err and '"workload": "set"' in err


def test_sibling_get_without_header_names_the_siblings_header(tmp_path, capsys):
    """A get returning a list of siblings with no header: the error names the siblings header line."""
    text = (_ev(process=0, type="invoke", f="get", key="k", value=None)
            + _ev(process=0, type="ok", f="get", key="k", value=["a", "b"]))
    assert main(["check", str(_file(tmp_path, "sib.jsonl", text))]) == 254
    err = capsys.readouterr().err
    assert "line 2: field 'value'" in err and '{"history": 1, "conflict": "siblings"}' in err


def test_edn_set_history_is_bad_input_saying_edn_has_no_header(tmp_path, capsys):
    """A Jepsen EDN set history cannot carry a header: the error says to write JSON lines with one."""
    text = "{:process 0, :type :invoke, :f :add, :value 1}\n{:process 0, :type :ok, :f :add, :value 1}\n"
    assert main(["check", str(_file(tmp_path, "set.edn", text))]) == 254
    err = capsys.readouterr().err
    assert "line 1: field 'f'" in err and "EDN" in err and '"workload": "set"' in err


def test_register_histories_that_use_lists_still_load(tmp_path):
    """A kv history with list appends read back as a list, and register writes of a list, are still valid input."""
    append = (_ev(process=0, type="invoke", f="append", key="k", value=[1])
              + _ev(process=0, type="ok", f="append", key="k", value=[1])
              + _ev(process=1, type="invoke", f="read", key="k", value=None)
              + _ev(process=1, type="ok", f="read", key="k", value=[1]))
    assert main(["check", "--checker", "linearizable", str(_file(tmp_path, "append.jsonl", append))]) == 0
    write = (_ev(process=0, type="invoke", f="write", key="k", value=[1, 2])
             + _ev(process=0, type="ok", f="write", key="k", value=[1, 2])
             + _ev(process=1, type="invoke", f="read", key="k", value=None)
             + _ev(process=1, type="ok", f="read", key="k", value=[1, 2]))
    assert main(["check", "--checker", "linearizable", str(_file(tmp_path, "write.jsonl", write))]) == 0
    assert main(["check", str(_file(tmp_path, "reg.jsonl", REGISTER))]) == 2  # no final reads: unknown, as before


# --- 3. no MinikeyDB advice on somebody else's history; the history's own operation names --------


def test_linearizability_failure_of_a_foreign_history_has_no_minikeydb_note_and_keeps_its_names(tmp_path, capsys):
    """A hand-written register history: no note about MinikeyDB's N/W/R, and its writes and reads keep their names."""
    path = _file(tmp_path, "reg-bad.jsonl", REGISTER)
    assert main(["check", str(path), "--checker", "linearizable"]) == 1
    out = capsys.readouterr().out
    assert "NOT linearizable" in out
    assert "MinikeyDB" not in out and "N=3" not in out
    assert "process 1's write 2" in out and "process 2's read -> 1" in out
    assert "'s put " not in out and "'s get " not in out


def test_linearizability_failure_of_a_minikeydb_run_keeps_the_store_note(tmp_path, capsys):
    """The same history in a run directory with run.json (a MinikeyDB run): the note names the run's N, W, R."""
    run = tmp_path / "run"
    run.mkdir()
    _file(run, "history.jsonl", REGISTER)
    (run / "run.json").write_text(json.dumps({"options": {"replicas": 3, "write_quorum": 1, "read_quorum": 1,
                                                          "checkers": ["linearizable"]}}))
    assert main(["check", str(run), "--checker", "linearizable"]) == 1
    assert "With N=3, W=1, R=1 (R+W <= N) MinikeyDB is not expected to be linearizable" in capsys.readouterr().out


def test_header_meta_system_marks_a_minikeydb_history(tmp_path):
    """A history whose header says meta.system minikeydb is a MinikeyDB run's, without a run.json."""
    from checker.history import minikeydb_run

    marked = _file(tmp_path, "m.jsonl", '{"history": 1, "meta": {"system": "minikeydb"}}\n' + REGISTER)
    assert minikeydb_run(marked) and not minikeydb_run(_file(tmp_path, "r.jsonl", REGISTER))


# --- 2. report.html of a set, counter or siblings history shows its rule, not the register's -------


def _text(page: str) -> str:
    """The page's words: no styles, no SVG, tags as spaces (what a reader reads)."""
    import html
    import re

    page = re.sub(r"<style>.*?</style>|<svg.*?</svg>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _report(path: Path) -> str:
    from checker.report import write_report

    return write_report(path, out=path.with_suffix(".html")).read_text()


def test_set_report_shows_the_set_rule_and_no_register_figures(tmp_path):
    """A set history's report: its elements' outcomes, the non-ok ones explained, the stable latency; no PBS."""
    page = _report(_file(tmp_path, "set.jsonl", SET_HEADER + SET_BODY))
    text = _text(page)
    assert "stale reads 0 of 0" not in text and "no reads after an acknowledged write" not in text
    assert "PBS t-visibility" not in page and "Session guarantees" not in text
    assert "3 elements (1 stale, 1 lost, 1 removed)" in text
    assert "<td>lost</td>" in page and 'lost element "c" of set "s"' in text  # the table of non-ok elements
    assert "<td>&quot;b&quot;</td><td>stale</td>" in page
    assert "Stable latency" in text and "p50 1 ms" in text  # Jepsen's: b acked at 4 ms, missed by a read begun at 5 ms


def test_set_report_counts_each_operation_once_and_says_nothing_of_minikeydb(tmp_path):
    """Operations table: reads without the final reads, and the final reads once; no harness words, a real duration."""
    page = _report(_file(tmp_path, "set.jsonl", SET_HEADER + SET_BODY))
    text = _text(page)
    assert "<tr><td>read</td><td>1</td><td>0</td><td>0</td><td>1</td></tr>" in page
    assert "<tr><td>final reads</td><td>2</td><td>0</td><td>0</td><td>2</td></tr>" in page
    assert "client operations 5" in text and "final reads 2" in text
    assert "History report" in text and "MinikeyDB" not in text
    assert "quiescence" not in text and "--journal" not in text
    assert "duration 0.0 s" not in text and "duration (first to last event) 0.022 s" in text


def test_counter_report_shows_final_values_against_bounds(tmp_path):
    """A counter history's report: per key the final values and the bounds, and the reads out of bounds."""
    page = _report(_file(tmp_path, "counter.jsonl", COUNTER))
    text = _text(page)
    assert "stale reads 0 of 0" not in text and "PBS t-visibility" not in page
    assert "c 4, 7 [4, 6] no" in text  # key, final values, bounds, within?
    assert "reads out of bounds 1 of 3" in text


def test_siblings_report_shows_lost_writes_and_siblings(tmp_path):
    """A siblings history's report: its lost writes and how many reads returned siblings, resolved by contexts."""
    from tests.checker.workload_builder import WorkloadHistory

    h = WorkloadHistory("register", "siblings")
    h.sput(0, "k", "a")
    h.sput(1, "k", "b")
    g = h.sget(2, "k", ["a", "b"])
    h.sput(2, "k", "c", context_from=g)
    h.sput(3, "k", "d")
    h.final_reads("k", {"n1": ["c"], "n2": ["c"]}, f="get")
    page = _report(h.write(tmp_path / "sib.jsonl"))
    text = _text(page)
    assert "stale reads 0 of 0" not in text and "PBS t-visibility" not in page
    assert "lost writes 1" in text
    assert "reads with siblings 1 of 3" in text


def test_minikeydb_run_report_keeps_its_title(tmp_path):
    """A history with run.json beside it is a MinikeyDB run: the report keeps its title."""
    run = tmp_path / "run"
    run.mkdir()
    _file(run, "history.jsonl", SET_HEADER + SET_BODY)
    (run / "run.json").write_text(json.dumps({"options": {"replicas": 3, "write_quorum": 1, "read_quorum": 1}}))
    from checker.report import write_report

    assert "MinikeyDB run report" in _text(write_report(run).read_text())


def test_foreign_register_report_with_an_anomaly_has_no_harness_words(tmp_path):
    """A hand-written register history with a heal, final reads and a lost write: no quiescence, journal or MinikeyDB."""
    from tests.checker.builder import History

    h = History()
    h.put(0, "k1", "a", node="n1")
    h.put(1, "k1", "b", node="n2")
    h.nemesis("heal")
    h.at(3.0)
    h.final("k1", {"n1": "a", "n2": "a"})
    path = h.write(tmp_path / "mine.jsonl")
    text = _text(_report(path))
    assert "lost write" in text and "History report" in text
    assert "quiescence" not in text and "--journal" not in text and "MinikeyDB" not in text


# --- 4. the message diagram's legend and partition labels, the timeline's final reads -------------


def _two_deletes_run(run: Path) -> Path:
    """Process 1 deletes k1 twice while two partitions come and go; anti-entropy from n3 resurrects p0-1."""
    from tests.checker.builder import History
    from tests.checker.test_messages import NODES, Journal, _ok_stamp, stamp

    h, j = History(), Journal(NODES)
    j.key("k1", NODES)
    h.at(1.0)
    s1 = stamp(1.0)
    _, done = h.put(0, "k1", "p0-1", node="n1")
    _ok_stamp(h, done, s1)
    j.apply(1.001, "n1", "k1", s1, "client")
    for peer in ("n2", "n3"):
        j.send(1.002, "n1", peer, "replicate", [["k1", s1]])
        j.apply(1.003, peer, "k1", s1, "n1")
    h.at(1.9)
    h.nemesis("partition-start", {"kind": "one", "groups": [["n3"], ["n1", "n2"]]})
    for t in (2.0, 2.01):
        h.at(t)
        st = stamp(t)
        _, done = h.delete(1, "k1", node="n1")
        _ok_stamp(h, done, st)
        j.apply(t + 0.001, "n1", "k1", st, "client", deleted=True)
        j.send(t + 0.002, "n1", "n2", "replicate", [["k1", st]])
        j.apply(t + 0.003, "n2", "k1", st, "n1", deleted=True)
        j.send(t + 0.002, "n1", "n3", "replicate", [["k1", st]], fault="partition")
    h.at(2.02)
    h.nemesis("partition-stop")
    h.nemesis("partition-start", {"kind": "halves", "groups": [["n1"], ["n2", "n3"]]})
    h.at(2.05)
    h.nemesis("partition-stop")
    h.nemesis("heal")
    for peer, t in (("n1", 4.0), ("n2", 4.5)):
        j.queue(t, "n3", peer, "k1", s1, "anti-entropy")
        j.send(t + 0.001, "n3", peer, "replicate", [["k1", s1]])
        j.apply(t + 0.002, peer, "k1", s1, "n3")
    h.at(8.0)
    h.final("k1", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    run.mkdir()
    h.write(run / "history.jsonl")
    j.write(run / "journal.jsonl.gz")
    return run


def _diagram(run: Path) -> str:
    import re

    from checker.report import write_report

    page = write_report(run).read_text()
    return re.search(r'<svg[^>]*class="spacetime".*?</svg>', page, flags=re.S).group(0)


def test_diagram_legend_names_each_version_once(tmp_path):
    """Two deletes by the same process are two legend entries that a reader can tell apart."""
    import re

    svg = _diagram(_two_deletes_run(tmp_path / "run"))
    legend = re.findall(r'<g transform="translate\(0 [\d.]+\)">.*?<text x="[\d.]+" y="4">([^<]*)</text></g>', svg)
    deletes = [x for x in legend if "delete" in x and "apply" not in x]
    assert len(deletes) == 2, legend
    assert len(set(legend)) == len(legend), legend


def test_diagram_partition_labels_do_not_overlap(tmp_path):
    """Two partitions close together: their labels are offset so that neither is written over the other."""
    import re

    svg = _diagram(_two_deletes_run(tmp_path / "run"))
    labels = [(float(x), float(y), text) for x, y, text in
              re.findall(r'<text x="([\d.]+)" y="([\d.]+)"[^>]*fill="#8a2b2b">([^<]*)</text>', svg)]
    assert len(labels) >= 2, labels
    for i, (x1, y1, t1) in enumerate(labels):
        for x2, y2, _ in labels[i + 1:]:
            assert y1 != y2 or abs(x2 - x1) >= len(t1) * 5.5, labels


def test_timeline_draws_final_reads_in_their_own_colour(tmp_path):
    """The final reads at the end of the timeline are a colour of their own with a legend entry, not ok-green."""
    import re

    from checker.report import FINAL_COLOR

    page = _report(_file(tmp_path, "set.jsonl", SET_HEADER + SET_BODY))
    timeline = re.search(r"<h2>Timeline</h2>(<svg.*?</svg>)", page, flags=re.S).group(1)
    assert f'stroke="{FINAL_COLOR}"' in timeline and ">final read (ok)<" in timeline
