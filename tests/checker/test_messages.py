"""The messages behind each anomaly: decisive message, diagram and size bound, from hand-made journals."""

from __future__ import annotations

import re
from pathlib import Path

from checker.api import CheckOptions, check
from checker.messages import MAX_DRAWN, Apply, JournalExtract, KeyLog, read_journal, story
from checker.report import write_report
from checker.spacetime import render

from .builder import History
from .journal_builder import JournalBuilder
from .journal_builder import stamp as _us_stamp


def stamp(seconds: float) -> list:
    """The stamp of a client write at ``seconds`` (physical µs, logical 0, writer c1)."""
    return _us_stamp(int(seconds * 1e6))


class Journal(JournalBuilder):
    """j2's builder with times in seconds, each sent datagram delivered 1 ms later unless dropped."""

    def __init__(self, nodes: list[str]) -> None:
        super().__init__(tuple(nodes))

    def key(self, key: str, replicas: list[str]) -> None:
        self.replicas(key, tuple(replicas))

    def send(self, t, src, dst, kind, items, fault=None, copies=None):  # type: ignore[override]
        d = super().send(t * 1000, src, dst, kind, items, fault=fault, copies=copies)
        if fault not in ("partition", "drop"):
            self.deliver(t * 1000 + 1, d, dst)
        return d

    def apply(self, t, node, key, st, via="client", won=True, deleted=False):  # type: ignore[override]
        return super().apply(t * 1000, node, key, st, via=via, won=won, deleted=deleted)

    def queue(self, t, node, peer, key, st, reason="replication"):  # type: ignore[override]
        return super().queue(t * 1000, node, peer, key, st, reason)

    def write(self, path: Path) -> Path:
        self.end(max((r[1] for r in self.rows if r[0] != "K"), default=0) / 1e6)
        return super().write(path)

NODES = ["n1", "n2", "n3"]
PARTITION = {"kind": "halves", "groups": [["n1"], ["n2", "n3"]]}


def _ok_stamp(h: History, idx: int, st: list) -> None:
    h.events[idx]["meta"] = {"stamp": st}


def dropped_replicate_run(run: Path) -> Path:
    """n1 takes p0-1 during a partition; both Replicates are dropped; n2 and n3 end without it."""
    h, j = History(), Journal(NODES)
    j.key("k1", NODES)
    h.at(1.0)
    h.nemesis("partition-start", PARTITION)
    h.at(2.0)
    s1 = stamp(2.0)
    _, done = h.put(0, "k1", "p0-1", node="n1")
    _ok_stamp(h, done, s1)
    j.send(2.0, "c1", "n1", "put", [["k1", s1]])
    j.apply(2.001, "n1", "k1", s1, "client")
    for peer in ("n2", "n3"):
        j.queue(2.001, "n1", peer, "k1", s1, "replication")
        j.send(2.002, "n1", peer, "replicate", [["k1", s1]], fault="partition")
    j.send(2.002, "n1", "c1", "reply", [])
    h.at(3.0)
    h.nemesis("partition-stop")
    h.nemesis("heal")
    h.at(6.0)
    h.final("k1", {"n1": "p0-1", "n2": None, "n3": None})
    run.mkdir()
    h.write(run / "history.jsonl")
    j.write(run / "journal.jsonl.gz")
    return run


def resurrected_delete_run(run: Path) -> Path:
    """The delete's Replicate to n3 is dropped; anti-entropy then copies p0-1 from n3 back to n1 and n2."""
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
    h.at(2.0)
    h.nemesis("partition-start", {"kind": "one", "groups": [["n3"], ["n1", "n2"]]})
    s2 = stamp(2.0)
    _, done = h.delete(1, "k1", node="n1")
    _ok_stamp(h, done, s2)
    j.apply(2.001, "n1", "k1", s2, "client", deleted=True)
    j.send(2.002, "n1", "n2", "replicate", [["k1", s2]])
    j.apply(2.003, "n2", "k1", s2, "n1", deleted=True)
    j.send(2.002, "n1", "n3", "replicate", [["k1", s2]], fault="partition")
    h.at(3.0)
    h.nemesis("partition-stop")
    h.nemesis("heal")
    for peer, t in (("n1", 4.0), ("n2", 4.5)):
        j.queue(t, "n3", peer, "k1", s1, "anti-entropy")
        j.send(t + 0.001, "n3", peer, "replicate", [["k1", s1]])
        j.apply(t + 0.002, peer, "k1", s1, "n3")  # no tombstone left to outrank it
    h.at(8.0)
    h.final("k1", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    run.mkdir()
    h.write(run / "history.jsonl")
    j.write(run / "journal.jsonl.gz")
    return run


def _story(run: Path, typ: str):
    result = check(run, CheckOptions())
    a = next(x for x in result.anomalies if x["type"] == typ)
    events = [e for e in __import__("checker.history", fromlist=["iter_events"]).iter_events(run / "history.jsonl")
              if e.get("key") == "k1"]
    extract = read_journal(run / "journal.jsonl.gz", {"k1"})
    return story(a, extract.keys["k1"], events, extract)


def test_dropped_replicate_is_the_decisive_message(tmp_path):
    """A divergent key: the explanation names the Replicate to n2 dropped by the partition, and its time."""
    st = _story(dropped_replicate_run(tmp_path / "run"), "divergent")
    assert "n2 never received p0-1: the Replicate of 2.00 s from n1 to n2 was dropped by the partition" in st.sentence
    assert "n3 never received p0-1" in st.sentence
    assert [f.node for f in st.findings] == ["n2", "n3"] and all(f.sends for f in st.findings)


def test_resurrected_delete_names_the_repair_and_its_reason(tmp_path):
    """No tombstones: the story says n3 missed the delete and anti-entropy from n3 copied p0-1 back to n1."""
    st = _story(resurrected_delete_run(tmp_path / "run"), "resurrected-delete")
    text = st.sentence
    assert "n3 never received the delete: the Replicate of 2.00 s from n1 to n3 was dropped by the partition" in text
    assert "Anti-entropy from n3 at 4.00 s copied p0-1 to n1, over the delete that n1 had applied at 2.00 s" in text
    assert "n2" in text and any(f.applies and f.applies[0].via == "n3" for f in st.findings)


def test_diagram_svg_has_nodes_drop_mark_and_winning_version(tmp_path):
    """The SVG draws every node's line, a red cross for the dropped datagram, and labels the version that won."""
    st = _story(dropped_replicate_run(tmp_path / "run"), "divergent")
    svg = render(st, [{"kind": "partition", "start_s": 1.0, "stop_s": 3.0, "value": PARTITION}], uid="t")
    for node in NODES:
        assert f">{node}</text>" in svg
    assert "dropped</title></path>" in svg and "#d62728" in svg
    assert ">p0-1</text>" in svg and "the version that should have won" in svg
    assert "partition: n1 | n2 n3" in svg


def test_report_shows_diagram_and_explanation(tmp_path):
    """report.html of a run with a journal has the diagram and names the dropped datagram under the anomaly."""
    page = write_report(dropped_replicate_run(tmp_path / "run")).read_text()
    assert 'class="spacetime"' in page
    assert "the Replicate of 2.00 s from n1 to n2 was dropped by the partition" in page
    assert "has no journal" not in page


def test_without_journal_the_report_renders_and_says_so(tmp_path):
    """No journal: the report is written as before, with one line saying a journal would show the messages."""
    run = dropped_replicate_run(tmp_path / "run")
    (run / "journal.jsonl.gz").unlink()
    (run / "run.json").write_text("{}")  # a MinikeyDB run's directory (whose journal is what is missing)
    page = write_report(run).read_text()
    assert "divergent" in page and 'class="spacetime"' not in page
    assert "This run has no journal" in page


def test_size_bound_on_a_key_with_100k_events():
    """A key with 100,000 journal events draws at most MAX_DRAWN of them and counts every one left out."""
    s1, s2 = tuple(stamp(1.0)), tuple(stamp(50.0))
    log = KeyLog("k1", replicas=NODES)
    for i in range(100_000):  # a hot key: applies all through a 100 s run
        log.applies.append(Apply(i * 1_000_000, NODES[i % 3], s1 if i < 50_000 else s2, "n1", True, False))
    extract = JournalExtract(Path("j"), "full", NODES, {"k1": log}, [], "done")
    a = {"type": "divergent", "key": "k1", "indexes": [], "values": {"n1": "x", "n2": "y", "n3": "y"}}
    st = story(a, log, [], extract)
    drawn = len(st.sends) + len(st.applies)
    assert 0 < drawn <= MAX_DRAWN
    assert st.total == 100_000 and st.left_out == 100_000 - drawn and st.outside > 0
    svg = render(st, [], uid="big")
    assert svg.count("<circle") <= MAX_DRAWN + 20  # the legend's few dots besides
    from checker.report import _messages_html

    page = _messages_html(a, [], extract, [], 0)
    assert f"Drawn: {drawn:,} of the 100,000 datagrams and applies" in page and f"{100_000 - drawn:,} left out" in page


def test_real_no_repair_partition_run_names_a_dropped_datagram(tmp_path):
    """End to end: a simulated --bug no-repair --nemesis partition run's report.html shows a diagram naming a dropped datagram."""
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, str(root / "harness.py"), "run", "--mode", "sim", "--bug", "no-repair", "--nemesis",
         "partition", "--seed", "1", "--time-limit", "6", "--fault-interval", "2", "--keys", "5", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]  # INVALID: divergent keys
    run = next(p for p in out.iterdir() if p.is_dir() and not p.is_symlink())
    assert (run / "journal.jsonl.gz").is_file()
    page = (run / "report.html").read_text()
    assert "divergent" in page and 'class="spacetime"' in page
    assert re.search(r"never received p\d+-\d+: the Replicate of [\d.]+ s from n\d to n\d was dropped by the partition",
                     page)
    assert "datagram dropped" in page  # the diagram's legend for its red crosses


def test_truncated_journal_still_draws_and_says_it_stopped(tmp_path):
    """A journal whose gzip stream is cut short (a killed run): the story uses what was read and says it stopped early."""
    from checker.history import iter_events

    run = dropped_replicate_run(tmp_path / "run")
    a = next(x for x in check(run, CheckOptions()).anomalies if x["type"] == "divergent")
    path = run / "journal.jsonl.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 12])  # the gzip trailer and the last bytes gone
    extract = read_journal(path, {"k1"})
    assert extract.end is not None and "cut short" in extract.end
    st = story(a, extract.keys["k1"], list(iter_events(run / "history.jsonl")), extract)
    assert "The journal stopped early" in st.sentence and st.findings  # what was read still explains it
    assert "<svg" in render(st, [], uid="cut")


def _run_dir(run: Path, h: History, j: Journal) -> Path:
    run.mkdir()
    h.write(run / "history.jsonl")
    j.write(run / "journal.jsonl.gz")
    return run


def test_lost_merge_is_named(tmp_path):
    """First-writer-wins: the newer put reached every replica and lost the merge there; the story says so per node."""
    h, j = History(), Journal(NODES)
    j.key("k1", NODES)
    old, new = stamp(1.0), stamp(2.0)
    h.at(1.0)
    _, done = h.put(0, "k1", "p0-1", node="n1")
    _ok_stamp(h, done, old)
    for n in NODES:
        j.apply(1.001, n, "k1", old, "client" if n == "n1" else "n1")
    h.at(2.0)
    _, done = h.put(1, "k1", "p1-1", node="n2")
    _ok_stamp(h, done, new)
    for n in NODES:
        j.apply(2.001, n, "k1", new, "client" if n == "n2" else "n2", won=False)
    h.at(5.0)
    h.final("k1", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    st = _story(_run_dir(tmp_path / "run", h, j), "lost-write")
    assert "n1 received p1-1 at 2.00 s (a Replicate from n2), but it lost the merge to p0-1" in st.sentence
    assert "n2 received p1-1 at 2.00 s (from the client), but it lost the merge" in st.sentence


def test_version_lost_in_a_crash_is_named_with_the_crash(tmp_path):
    """The journal saw the newer put applied, the final reads do not show it, the node crashed: the crash is named and drawn."""
    h, j = History(), Journal(NODES)
    j.key("k1", NODES)
    old, new = stamp(1.0), stamp(2.0)
    h.at(1.0)
    _, done = h.put(0, "k1", "p0-1", node="n1")
    _ok_stamp(h, done, old)
    for n in NODES:
        j.apply(1.001, n, "k1", old, "client" if n == "n1" else "n1")
    h.at(2.0)
    _, done = h.put(1, "k1", "p1-1", node="n1")
    _ok_stamp(h, done, new)
    for n in NODES:
        j.apply(2.001, n, "k1", new, "client" if n == "n1" else "n1")
    for n in NODES:
        j.lifecycle(2500, n, "crash").lifecycle(3000, n, "restart")
    h.at(6.0)
    h.final("k1", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    st = _story(_run_dir(tmp_path / "run", h, j), "lost-write")
    assert "n1 applied p1-1 at 2.00 s and crashed at 2.50 s" in st.sentence
    assert any(t == 2_500_000_000 and what == "crash" for t, _, what in st.lifecycle)  # inside a drawn window


def test_phantom_read_names_where_the_version_came_from(tmp_path):
    """A read of a failed put: the story names the node that answered and the apply the version came from."""
    h, j = History(), Journal(NODES)
    j.key("k1", NODES)
    s1 = stamp(1.0)
    h.at(1.0)
    h.put(0, "k1", "p0-1", node="n1", typ="fail")
    j.send(1.002, "c1", "n1", "put", [["k1", s1]])  # sent after the history's invoke (1.001 s)
    j.apply(1.003, "n1", "k1", s1, "client")
    j.queue(1.003, "n1", "n2", "k1", s1, "replication")
    j.send(1.004, "n1", "n2", "replicate", [["k1", s1]])
    j.apply(1.005, "n2", "k1", s1, "n1")
    h.at(2.0)
    _, done = h.get(1, "k1", "p0-1", node="n2")
    h.events[done]["meta"] = {"stamp": s1}
    st = _story(_run_dir(tmp_path / "run", h, j), "phantom-read")
    assert st.head == "The messages: the read returned p0-1 (failed)."
    assert ("The read went to n2, which got it at 1.00 s (replication from n1); n1 applied it first, at 1.00 s "
            "(from the client)") in st.sentence


def test_report_without_anomalies_loads_no_journal_module(tmp_path):
    """A valid run's report never imports checker.messages or checker.spacetime (no cost added)."""
    import subprocess
    import sys

    h = History()
    h.at(1.0)
    h.put(0, "k1", "p0-1", node="n1")
    h.at(3.0)
    h.final("k1", {"n1": "p0-1", "n2": "p0-1"})
    run = tmp_path / "run"
    run.mkdir()
    h.write(run / "history.jsonl")
    code = (
        "import sys; from checker.report import write_report; write_report(sys.argv[1]); "
        "print(sorted(m for m in ('checker.messages', 'checker.spacetime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_write_after_a_size_limited_journals_end_is_not_said_never_received(tmp_path):
    """The journal stopped (size limit) before p0-1 was written: no 'never received' claim, it cannot tell."""
    h, j = History(), JournalBuilder(tuple(NODES))
    j.replicas("k1", tuple(NODES))
    h.at(1.0)
    h.nemesis("partition-start", PARTITION)
    j.lifecycle(1200, "n3", "pause").lifecycle(1200, "n3", "resume")  # the last record the journal kept
    j.end(1500, "size-limit")  # END's time: when the writer stopped, after events it could not keep
    h.at(2.0)
    _, done = h.put(0, "k1", "p0-1", node="n1")
    _ok_stamp(h, done, stamp(2.0))
    h.at(3.0)
    h.nemesis("partition-stop")
    h.nemesis("heal")
    h.at(6.0)
    h.final("k1", {"n1": "p0-1", "n2": None, "n3": None})
    run = tmp_path / "run"
    run.mkdir()
    h.write(run / "history.jsonl")
    JournalBuilder.write(j, run / "journal.jsonl.gz")
    st = _story(run, "divergent")
    assert "never" not in st.sentence, st.sentence
    assert "n2: the journal ended at 1.20 s (size-limit), before p0-1 was acknowledged at 2.00 s: it cannot tell" in st.sentence, st.sentence


def skewed_lost_write_run(run: Path) -> Path:
    """n1's clock runs 5 s ahead: its older put p0-1 (real 1.0 s) is stamped 6.0 s and beats p1-1 (real 2.0 s)."""
    h, j = History(), Journal(NODES)
    j.key("k1", NODES)
    h.at(0.5)
    h.nemesis("clock-skew-start", {"offsets": {"n1": 5.0}})
    skewed, new = stamp(6.0), stamp(2.0)
    h.at(1.0)
    _, done = h.put(0, "k1", "p0-1", node="n1")
    _ok_stamp(h, done, skewed)
    for n in NODES:
        j.apply(1.001, n, "k1", skewed, "client" if n == "n1" else "n1")
    h.at(2.0)
    _, done = h.put(1, "k1", "p1-1", node="n2")
    _ok_stamp(h, done, new)
    for n in NODES:
        j.apply(2.001, n, "k1", new, "client" if n == "n2" else "n2", won=False)
    h.at(3.0)
    h.nemesis("clock-skew-stop")
    h.nemesis("heal")
    h.at(5.0)
    h.final("k1", {"n1": "p0-1", "n2": "p0-1", "n3": "p0-1"})
    return _run_dir(run, h, j)


def test_under_clock_skew_the_lost_write_is_the_version_that_should_have_won(tmp_path):
    """The stale put won by a skewed stamp; the legend's "should have won" marks the lost newer put, not it."""
    st = _story(skewed_lost_write_run(tmp_path / "run"), "lost-write")
    assert "the version that should have won is p1-1" in st.sentence
    svg = render(st, [], uid="t")
    items = re.findall(r'<g transform="translate\(0 [0-9.]+\)">.*?<text[^>]*>([^<]*)</text></g>', svg)
    assert items[items.index("↑ the version that should have won") - 1] == "p1-1", items
