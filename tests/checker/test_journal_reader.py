"""The journal reader: typed records, per-key look-ups, END, and one-line errors for bad lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from checker.history import HistoryError
from checker.journal import Apply, Deliver, End, JournalError, Send, find_journal, load_journal
from tests.checker.journal_builder import JournalBuilder, stamp


def _sample(tmp_path: Path) -> Path:
    j = JournalBuilder()
    j.apply(1, "n1", "k1", stamp(1000), via="client")
    d = j.send(1, "n1", "n2", "replicate", [["k1", stamp(1000)], ["k2", stamp(900)]])
    j.deliver(2, d, "n2")
    j.send(1, "n1", "n3", "replicate", [["k1", stamp(1000)]], fault="partition")
    j.apply(2, "n2", "k1", stamp(1000), via="n1")
    j.apply(3, "n2", "k2", stamp(900), via="n1", won=False)
    j.queue(4, "n1", "n3", "k1", stamp(1000), "hint")
    j.lifecycle(5, "n3", "crash")
    j.end(10)
    return j.write(tmp_path / "journal.jsonl.gz")


def test_header_records_and_per_key_lookups(tmp_path: Path) -> None:
    """The header, every typed record in order, and each key's sends, deliveries, applies and replicas."""
    j = load_journal(_sample(tmp_path))
    assert j.header.nodes == ("n1", "n2", "n3") and j.header.level == "full" and j.header.replication == 3
    recs = list(j.records())
    assert [type(r).__name__ for r in recs][:3] == ["Replicas", "Apply", "Replicas"]
    assert isinstance(recs[-1], End) and j.end == End(10_000_000, "done", 1234) and j.complete
    assert j.replicas("k1") == ("n1", "n2", "n3") and j.replicas("nope") is None
    k1 = j.for_keys(["k1"])["k1"]
    assert [s.dst for s in k1.sends] == ["n2", "n3"] and k1.sends[1].fault == "partition"
    assert k1.sends[1].copies == 0
    assert k1.deliveries == [Deliver(2_000_000, 1, "n2")]
    assert [a.node for a in k1.applies] == ["n1", "n2"]
    assert k1.applies[0] == Apply(1_000_000, "n1", "k1", (1000, 0, "c1"), "client", True, False)
    assert [q.reason for q in k1.queued] == ["hint"]
    assert [a.won for a in j.applies_for("k2")] == [False]
    assert isinstance(j.sends_for("k2")[0], Send) and j.sends_for("k2")[0].items[1] == ("k2", (900, 0, "c1"))


def test_truncated_item_list_and_missing_end(tmp_path: Path) -> None:
    """An item list cut at 64 keeps the count of the rest; a journal without END is not complete."""
    j = JournalBuilder()
    j.send(1, "n1", "n2", "key_stamps", [["k1", stamp(5)], ["...", 70]])
    j.send(2, "client", "n2", "get", ["k1"])
    path = j.write(tmp_path / "j.jsonl.gz")
    jr = load_journal(path)
    s = jr.sends_for("k1")[0]
    assert s.more == 70 and s.items == (("k1", (5, 0, "c1")),)
    assert jr.sends_for("k1")[1].items == (("k1", None),)  # a get's items are keys alone
    assert jr.end is None and not jr.complete


@pytest.mark.parametrize(
    ("line", "lineno", "field"),
    [
        (b'["A", 5, "n1", "k1", [1, 0], "client", true, false]', 3, "stamp"),
        (b'["A", 5, "n1", "k1", [1, 0, "c"], "client", "yes", false]', 3, "won"),
        (b'["S", 5, 1, "n1", "n2", "put", "flood", 1, []]', 3, "fault"),
        (b'["Z", 5]', 3, "type"),
        (b'["D", 5, 1]', 3, "(record)"),
        (b'{"not": "json"', 3, "(json)"),
        (b'["Q", -1, "n1", "n2", "k", [1, 0, "c"], "hint"]', 3, "t"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path: Path, line: bytes, lineno: int, field: str) -> None:
    """A malformed record stops with a JournalError (a HistoryError) naming the file, the line and the field."""
    j = JournalBuilder().replicas("k1").raw(line)
    path = j.write(tmp_path / "journal.jsonl.gz")
    with pytest.raises(JournalError) as e:
        list(load_journal(path).records())
    assert isinstance(e.value, HistoryError)
    assert (e.value.line, e.value.field) == (lineno, field)
    assert str(e.value).startswith(f"{path}: line {lineno}: field {field!r}:")


def test_bad_header_and_damaged_gzip(tmp_path: Path) -> None:
    """A wrong header version is named at line 1; a torn gzip file keeps its whole lines and says it was cut short."""
    j = JournalBuilder()
    j.header["journal"] = 2
    with pytest.raises(JournalError, match=r"line 1: field 'journal'"):
        load_journal(j.write(tmp_path / "a.jsonl.gz"))
    good = _sample(tmp_path).read_bytes()
    torn = tmp_path / "torn.jsonl.gz"
    torn.write_bytes(good[: len(good) - 12])
    journal = load_journal(torn)
    kept = list(journal.records())
    assert kept and journal.end is None and not journal.complete  # no END: every figure says incomplete
    assert journal.damage is not None and "cut short" in journal.damage
    plain = tmp_path / "plain.jsonl.gz"
    plain.write_bytes(b'{"journal": 1}\n')
    with pytest.raises(JournalError):
        load_journal(plain)


def test_find_journal_missing_is_none(tmp_path: Path) -> None:
    """A run directory without a journal is not an error: find_journal says None."""
    assert find_journal(tmp_path) is None and find_journal(None) is None
    (tmp_path / "journal.jsonl.gz").write_bytes(gzip.compress(b'{"journal": 1}\n'))
    assert find_journal(tmp_path) == tmp_path / "journal.jsonl.gz"


def test_records_of_some_kinds_only(tmp_path: Path) -> None:
    """records(kinds) yields only those kinds (K and END always), and still counts and remembers the rest."""
    jr = load_journal(_sample(tmp_path))
    got = [type(r).__name__ for r in jr.records(("A",))]
    assert set(got) == {"Replicas", "Apply", "End"} and got.count("Apply") == 3
    assert jr.record_count == 11 and jr.complete


def test_records_naming_nodes_the_header_does_not_list_or_a_second_placement_are_refused(tmp_path: Path) -> None:
    """An apply on an unknown node (another run's or a renamed node) or a key placed twice differently: a JournalError naming the line."""
    j = JournalBuilder().replicas("k1").apply(1, "x9", "k1", stamp(1))
    with pytest.raises(JournalError, match=r"line 3: field 'node': 'x9' is not among the header's nodes"):
        list(load_journal(j.write(tmp_path / "a.jsonl.gz")).records())
    j = JournalBuilder().replicas("k1").raw(b'["K", "k1", ["n1", "n2"]]')
    with pytest.raises(JournalError, match=r"line 3: field 'nodes': key 'k1' already has replicas"):
        list(load_journal(j.write(tmp_path / "b.jsonl.gz")).records())


def test_a_huge_line_is_refused_by_its_length_without_being_read_whole(tmp_path: Path) -> None:
    """A 96 MB line (a key of 96 MB): refused as damage naming its line, with the reader never holding it whole."""
    import tracemalloc

    j = JournalBuilder()
    j.apply(1, "n1", "k1", stamp(1000))
    j.raw(b'["A",2000000,"n1","' + b"k" * (96 << 20) + b'",[1000,0,"c1"],"client",true,false]')
    j.end(10)
    path = j.write(tmp_path / "journal.jsonl.gz")
    tracemalloc.start()
    try:
        journal = load_journal(path)
        recs = list(journal.records())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [type(r).__name__ for r in recs] == ["Replicas", "Apply"] and journal.damage is not None
    assert "line 4" in journal.damage and "longer than" in journal.damage, journal.damage
    assert peak < 48 << 20, peak  # the 96 MB line was never held whole


def test_an_r_record_listing_many_keys_may_be_longer_than_the_base_limit(tmp_path: Path) -> None:
    """A node holding 60,000 keys of 200 bytes: its R record (about 15 MB) is read, its limit grows with the K records."""
    from checker.journal import MAX_LINE_BYTES, Recovered

    j = JournalBuilder()
    keys = [f"{i:0200d}" for i in range(60_000)]
    for k in keys:
        j.replicas(k)
    j.raw(b'["R",1000,"n1",[' + b",".join(b'["%s",[1000,0,"c1"],false]' % k.encode() for k in keys) + b"]]")
    j.end(10)
    path = j.write(tmp_path / "journal.jsonl.gz")
    journal = load_journal(path)
    (r,) = list(journal.records(("R",)))[-2:-1]
    assert isinstance(r, Recovered) and len(r.versions) == len(keys) and journal.damage is None
    assert len(gzip.decompress(path.read_bytes()).split(b"\n")[-3]) > MAX_LINE_BYTES
