"""The run's journal (issue #15): what the producer writes, and that it perturbs nothing."""

from __future__ import annotations

import gzip
import itertools
import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from minikeydb.record import Record
from minikeydb.ring import Ring
from minikeydb.testing.network import MemoryNetwork
from minikeydb.wire import KIND_NAMES, Ack, Codec, Get, Pull, Put, ReadReply, Replicate, peek
from nemesis.faulty_network import FaultyNetwork
from runner.journal import Journal
from runner.options import OptionError, RunOptions
from runner.run import run as execute
from tests.sim.runs import history_digest, run_short


def read_journal(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    lines = gzip.decompress(path.read_bytes()).splitlines()
    return json.loads(lines[0]), [orjson.loads(line) for line in lines[1:]]


def check_journal_shape(records: list[list[Any]]) -> None:
    """Every record well-formed, K before its key's first use, D after its S, END last."""
    known: set[str] = set()
    sends: dict[int, list[Any]] = {}
    deliveries: Counter[int] = Counter()
    assert records[-1][0] == "END"
    for rec in records[:-1]:
        kind = rec[0]
        assert kind in ("K", "S", "D", "A", "Q", "C", "R"), rec
        if kind == "K":
            assert rec[1] not in known
            known.add(rec[1])
        elif kind == "S":
            _, _, d, src, dst, name, fault, copies, items = rec
            assert d not in sends and name in (*KIND_NAMES.values(), "?")
            assert fault in (None, "partition", "drop", "delay", "duplicate", "reorder")
            assert copies == 0 if fault in ("partition", "drop") else copies >= 1
            assert copies == 2 if fault == "duplicate" else copies <= 2
            for item in items:
                assert (item[0] if isinstance(item, list) else item) in known
            sends[d] = rec
        elif kind == "D":
            assert rec[2] in sends and sends[rec[2]][4] == rec[3]
            deliveries[rec[2]] += 1
            assert deliveries[rec[2]] <= sends[rec[2]][7]
            assert rec[1] >= sends[rec[2]][1]
        elif kind in ("A", "Q"):
            assert rec[3 if kind == "A" else 4] in known
        elif kind == "R":
            assert all(key in known for key, _, _ in rec[3])


def test_sim_journal_is_well_formed_and_shows_every_acknowledged_write_applied(tmp_path: Path) -> None:
    """A faulty sim run's journal: well-formed, and every acknowledged put applied at its replicas (or superseded)."""
    result = run_short(tmp_path, seed=41, nemesis=("partition", "drop", "duplicate", "crash", "pause"), time_limit=6.0)
    header, records = read_journal(result.run_dir / "journal.jsonl.gz")
    assert header == {"journal": 1, "level": "full", "mode": "sim", "nodes": ["n1", "n2", "n3", "n4", "n5"],
                      "replication": 3, "max_bytes": 512 * 1024 * 1024, "run": result.run_dir.name, "seed": 41}
    assert json.loads((result.run_dir / "run.json").read_text())["run_id"] == result.run_dir.name
    check_journal_shape(records)
    assert records[-1][2] == "done"
    assert result.results["journal"]["records"] == len(records) + 1
    assert result.results["journal"]["complete"] is True
    faults = Counter(r[6] for r in records if r[0] == "S")
    assert faults["partition"] and faults["drop"] and faults["duplicate"], faults
    assert {r[3] for r in records if r[0] == "C"} >= {"crash", "restart", "pause", "resume"}
    assert {r[6] for r in records if r[0] == "Q"} >= {"replication", "hint"}
    replicas = {r[1]: r[2] for r in records if r[0] == "K"}
    applies: dict[tuple[str, str], list[list[Any]]] = defaultdict(list)
    for r in records:
        if r[0] == "A":
            applies[(r[2], r[3])].append(r)
    events = [json.loads(line) for line in (result.run_dir / "history.jsonl").read_text().splitlines()[1:]]  # header
    acked = [e for e in events if e["type"] == "ok" and e["f"] == "put" and not e.get("final")]
    assert len(acked) > 50
    for e in acked:
        stamp, key, node = e["meta"]["stamp"], e["key"], e["node"]
        exact = [a for r in replicas[key] for a in applies[(r, key)] if a[4] == stamp]
        assert min(a[1] for a in exact) <= e["time"], e  # applied somewhere before it was acknowledged
        if node in replicas[key]:
            assert any(a[2] == node and a[5] == "client" for a in exact), e
        for replica in replicas[key]:
            here = applies[(replica, key)]
            assert any(a[4] == stamp for a in here) or any(a[4] > stamp for a in here), (e, replica)


def test_healthy_sim_run_applies_every_acknowledged_put_on_every_replica(tmp_path: Path) -> None:
    """Without faults every acknowledged put has an A record on each of its N replicas, from client or coordinator."""
    result = run_short(tmp_path, seed=42, nemesis=())
    _, records = read_journal(result.run_dir / "journal.jsonl.gz")
    replicas = {r[1]: r[2] for r in records if r[0] == "K"}
    applied = {(r[2], r[3], tuple(r[4])): r[5] for r in records if r[0] == "A"}
    events = [json.loads(line) for line in (result.run_dir / "history.jsonl").read_text().splitlines()[1:]]  # header
    acked = [e for e in events if e["type"] == "ok" and e["f"] == "put" and not e.get("final")]
    assert acked
    for e in acked:
        stamp = tuple(e["meta"]["stamp"])
        for replica in replicas[e["key"]]:
            via = applied[(replica, e["key"], stamp)]
            assert via == ("client" if replica == e["node"] else e["node"]), (e, replica, via)
    assert not [r for r in records if r[0] == "S" and r[6] is not None]


def test_journal_off_writes_none_and_does_not_change_the_history(tmp_path: Path) -> None:
    """--journal off writes no journal, and the history is byte-identical to a journaled run of the same seed."""
    nemesis = ("partition", "drop", "delay", "duplicate", "reorder", "crash", "pause")
    journaled = run_short(tmp_path / "on", seed=43, nemesis=nemesis)
    plain = run_short(tmp_path / "off", seed=43, nemesis=nemesis, journal="off")
    assert (journaled.run_dir / "journal.jsonl.gz").is_file()
    assert not (plain.run_dir / "journal.jsonl.gz").exists()
    assert "journal" not in plain.results
    assert history_digest(journaled) == history_digest(plain)
    applies = run_short(tmp_path / "applies", seed=43, nemesis=nemesis, journal="applies")
    assert history_digest(applies) == history_digest(plain)
    header, records = read_journal(applies.run_dir / "journal.jsonl.gz")
    assert header["level"] == "applies"
    assert {r[0] for r in records} == {"K", "A", "Q", "C", "R", "END"}


def test_journal_of_a_replayed_sim_run_is_byte_identical(tmp_path: Path) -> None:
    """The same seed gives the same journal bytes but for the header's run id (no wall time, no file name in gzip)."""
    first = run_short(tmp_path / "a", seed=44, name="same")
    second = run_short(tmp_path / "b", seed=44, name="same")
    a, b = (r.run_dir / "journal.jsonl.gz" for r in (first, second))
    if first.run_dir.name == second.run_dir.name:  # the same second: the same run id, so the very same bytes
        assert a.read_bytes() == b.read_bytes()
    ha, ra = read_journal(a)
    hb, rb = read_journal(b)
    # END's last field is the compressed size so far, which another run id in the header changes.
    assert ra[-1][0] == rb[-1][0] == "END" and ra[-1][:3] == rb[-1][:3]
    assert ra[:-1] == rb[:-1] and {**ha, "run": None} == {**hb, "run": None}


def test_journal_stops_at_the_size_limit_with_one_end_record(tmp_path: Path) -> None:
    """A tiny --journal-max-mb ends the journal with END size-limit, and results.json says it is incomplete."""
    result = run_short(tmp_path, seed=45, journal_max_mb=0.01, time_limit=6.0, rate=200.0)
    _, records = read_journal(result.run_dir / "journal.jsonl.gz")
    assert records[-1][0] == "END" and records[-1][2] == "size-limit"
    assert [r[0] for r in records].count("END") == 1
    assert result.results["journal"]["complete"] is False
    # ... and the run itself went on to the end: the journal stopped, not the history.
    events = (result.run_dir / "history.jsonl").read_text().splitlines()
    assert json.loads(events[-1])["time"] > records[-1][1]


def test_journal_options_are_checked_and_restored_from_old_run_json() -> None:
    """--journal takes off|applies|full (a typo is named), the default is per mode, and run.json without it still loads."""
    with pytest.raises(OptionError, match="--journal: unknown 'ful'"):
        RunOptions(journal="ful").validate()
    with pytest.raises(OptionError, match="--journal-max-mb"):
        RunOptions(journal_max_mb=0).validate()
    assert RunOptions(mode="sim").journal_level == "full"
    assert RunOptions(mode="udp").journal_level == "full"
    assert RunOptions(mode="processes").journal_level == "off"
    assert RunOptions(mode="processes", journal="full").journal_level == "full"
    old = RunOptions(mode="sim").to_json()
    del old["journal"], old["journal_max_mb"]
    assert RunOptions.from_json(old).journal_level == "full"
    options = RunOptions(mode="sim", journal="applies", journal_max_mb=3.5)
    assert RunOptions.from_json(options.to_json()) == options


def test_peek_names_every_kind_and_never_raises_on_garbage() -> None:
    """peek reads kind and items of real datagrams without the tag, and calls anything malformed "?"."""
    codec = Codec(b"secret")
    stamp = (1_800_000_000_000_000, 0, "c0123456789abcdef")
    record = Record("k1", "v", stamp)
    assert peek(codec.encode(Put(1, "k1", "v", stamp))) == ("put", [["k1", list(stamp)]])
    assert peek(codec.encode(Get(2, "c0123456789abcdef", "k2"))) == ("get", ["k2"])
    assert peek(codec.encode(Replicate(3, "n1", (record,)))) == ("replicate", [["k1", list(stamp)]])
    assert peek(codec.encode(ReadReply(4, "n1", None))) == ("read_reply", [])
    assert peek(codec.encode(Ack(5, "n1"))) == ("ack", [])
    kind, items = peek(codec.encode(Pull(6, "n1", tuple(f"k{i}" for i in range(100)))))
    assert kind == "pull" and len(items) == 64 and items[-1] == ["...", 37]
    # Another cluster's tag is not checked: the journal sees what travelled.
    assert peek(Codec(b"other").encode(Ack(7, "n2")))[0] == "ack"
    rng = random.Random(1)
    header = codec.encode(Ack(8, "n1"))[:43]
    garbage = [b"", b"MK", b"\x00" * 10, header + b"[", header + b"[99,1]", header + b"[10,1,\"n1\",3]",
               header + b"[1]", header + b"{}", header + b"[\"x\"]", header + b"[13,1,\"n1\",[1]]"]
    garbage += [header + bytes(rng.randrange(256) for _ in range(rng.randrange(40))) for _ in range(300)]
    for data in garbage:
        assert peek(data) == ("?", []), data


def test_peek_fast_paths_give_the_general_paths_items() -> None:
    """peek's inline shapes (one-record replicate, put, get, read) answer as _peek_items and the cut do, malformed ones too."""
    from minikeydb.wire import PEEK_ITEMS, _peek_items

    def general(data: bytes) -> tuple[str, list[Any]]:
        try:
            items = orjson.loads(data[43:])
            kind = items[0]
            out = _peek_items(kind, items)
            if len(out) > PEEK_ITEMS:
                out = [*out[: PEEK_ITEMS - 1], ["...", len(out) - PEEK_ITEMS + 1]]
            return KIND_NAMES[kind], out
        except Exception:  # noqa: BLE001 - the reference answers garbage as peek must
            return "?", []

    header = Codec(b"secret").encode(Ack(1, "n1"))[:43]
    payloads = [
        b'[10,1,"n1",[["k1","v",[1,0,"c"]]]]', b'[10,1,"n1",["abc"]]', b'[10,1,"n1",["ab"]]', b'[10,1,"n1",[[]]]',
        b'[10,1,"n1",[{"k":1}]]', b'[10,1,"n1",[]]', b'[10,1,"n1","abc"]', b'[10,1,"n1",{"a":1}]', b'[10,1,"n1",5]',
        b'[10,1,"n1",[["k1","v",[1,0,"c"]],["k2",null,[2,0,"c"]]]]', b'[10,1]',
        b'[1,2,"k1","v",[1,0,"c"],2]', b'[1,2,"k1"]', b'[3,2,"c","k2",1,false]', b'[3,2,"c"]',
        b'[12,2,"n1","k3"]', b'[12,2]', b'[2,2,"k1",[1,0,"c"],2]', b'[13,2,"n1",null]', b'[13,2,"n1","ab"]',
        b'[5,1,"ok",null,null,null,"n1"]', b'[11,1,"n1"]',
    ]
    payloads.append(orjson.dumps([10, 1, "n1", [[f"k{i}", "v", [i, 0, "c"]] for i in range(70)]]))
    for payload in payloads:
        assert peek(header + payload) == general(header + payload), payload


def test_datagram_records_match_the_fault_layer_counters(tmp_path: Path) -> None:
    """Through a FaultyNetwork: S records per fault equal its counters, and sent copies = D records + network drops."""

    async def main() -> Journal:
        network = MemoryNetwork(latency=0.001)
        clock_start = trio.current_time()
        nodes = {f"n{i}": ("mem", i) for i in range(1, 4)}
        faulty = FaultyNetwork(random.Random(5), nodes)
        journal = Journal(path, level="full", mode="sim", ring=Ring(list(nodes), 3, 8), nodes=list(nodes),
                          replication=3, max_bytes=10**9, clock=trio.current_time, start=clock_start)
        faulty.observer = journal
        codec = Codec(b"s")
        ends = {n: faulty.wrap(network.endpoint(a), n) for n, a in nodes.items()}
        faulty.set_drop(0.2)
        faulty.set_duplicate(0.2)
        async with trio.open_nursery() as nursery:
            faulty.attach(nursery)
            received = Counter[str]()

            async def drain(node: str) -> None:
                while True:
                    try:
                        await ends[node].recv()
                    except trio.ClosedResourceError:
                        return
                    received[node] += 1

            for node in ("n2", "n3"):
                nursery.start_soon(drain, node)
            for i in range(300):
                dest = "n2" if i % 2 else "n3"
                await ends["n1"].send(codec.encode(Ack(i, "n1")), nodes[dest])
            await trio.sleep(0.1)
            ends["n3"].close()  # what is sent to n3 now is lost in the network, never delivered
            for i in range(50):
                await ends["n1"].send(codec.encode(Ack(1000 + i, "n1")), nodes["n3"])
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
        journal.close()
        counters = faulty.counters
        _, records = read_journal(path)
        sends = [r for r in records if r[0] == "S"]
        by_fault = Counter(r[6] for r in sends)
        assert by_fault["drop"] == counters.dropped > 0
        assert by_fault["duplicate"] == counters.duplicated > 0
        assert len(sends) == counters.passed + counters.dropped == 350
        copies = sum(r[7] for r in sends)
        deliveries = [r for r in records if r[0] == "D"]
        assert copies == len(deliveries) + network.dropped
        assert len(deliveries) == received["n2"] + received["n3"]
        return journal

    path = tmp_path / "journal.jsonl.gz"
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_udp_run_writes_a_journal(tmp_path: Path) -> None:
    """A short real-UDP run (in-process cluster) writes a full journal whose records line up with its history."""
    options = RunOptions(time_limit=2.0, fault_interval=1.0, quiesce=0.5, rate=80.0, concurrency=4, keys=6,
                         converge_timeout=8.0, out=str(tmp_path), seed=9, nemesis=("drop",)).validate()
    result = execute(options, ["test"])
    header, records = read_journal(result.run_dir / "journal.jsonl.gz")
    assert header["mode"] == "udp" and header["level"] == "full"
    check_journal_shape(records)
    kinds = Counter(r[0] for r in records)
    assert kinds["S"] and kinds["D"] and kinds["A"] and kinds["Q"], kinds
    assert Counter(r[6] for r in records if r[0] == "S")["drop"] > 0
    assert result.results["journal"]["complete"] is True
    last = json.loads((result.run_dir / "history.jsonl").read_text().splitlines()[-1])
    assert 0 < records[-1][1] and abs(records[-1][1] - last["time"]) < 5e9  # one clock for both files


def test_undelivered_datagrams_are_forgotten_past_the_pending_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past PENDING_LIMIT sends without delivery the older half is forgotten: their late copies get no D record."""
    import runner.journal

    monkeypatch.setattr(runner.journal, "PENDING_LIMIT", 10)
    journal = Journal(tmp_path / "j.gz", level="full", mode="sim", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=10**9, clock=lambda: 1.0, start=0.0)
    codec = Codec(b"s")
    datagrams = [codec.encode(Ack(i, "n1")) for i in range(11)]
    for data in datagrams:
        journal.sent("n1", "n2", data, None, 1)
    for data in datagrams:
        journal.delivered("n2", data)
    journal.close()
    _, records = read_journal(tmp_path / "j.gz")
    assert [r[2] for r in records if r[0] == "D"] == list(range(5, 11))


@pytest.mark.parametrize("max_bytes", [2_000, 30_000, 100_000])
def test_the_size_limit_holds_with_the_end_record_and_trailer(tmp_path: Path, max_bytes: int) -> None:
    """The journal file never exceeds max_bytes (END and the gzip trailer included), yet stops close to it."""
    journal = Journal(tmp_path / "j.gz", level="full", mode="sim", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=max_bytes, clock=lambda: 1.0, start=0.0)
    codec = Codec(b"s")
    rng = random.Random(1)
    for _ in range(60_000):  # poorly compressible datagrams: far more than any limit here holds
        journal.sent("n1", "n2", codec.encode(Ack(rng.getrandbits(60), f"n{rng.getrandbits(40)}")), None, 0)
        if not journal.open:
            break
    journal.close()
    size = (tmp_path / "j.gz").stat().st_size
    _, records = read_journal(tmp_path / "j.gz")
    assert records[-1][0] == "END" and records[-1][2] == "size-limit"
    assert size <= max_bytes, f"{size} bytes written, limit {max_bytes}"
    assert size >= max_bytes * 0.8  # it stops near the limit, not a chunk early


def test_an_interrupted_journal_is_not_called_complete(tmp_path: Path) -> None:
    """results.json's journal block: complete only with END done; the summary line says MiB, the limit's unit."""
    from runner.summary import _journal_line

    journal = Journal(tmp_path / "j.gz", level="full", mode="sim", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=10**9, clock=lambda: 1.0, start=0.0)
    journal.close("interrupted")
    block = journal.summary()
    assert block["complete"] is False and block["end"] == "interrupted"
    (line,) = _journal_line(block)
    assert "MiB" in line and "cut short by the interruption" in line


def test_the_summary_calls_the_final_reads_figure_an_upper_bound_and_labels_the_time_apart(tmp_path: Path) -> None:
    """The run summary's final-reads line says it is an upper bound, and the journal's figure is labelled 'convergence time:'."""
    from runner.summary import format_summary

    options = RunOptions(mode="sim", seed=7, time_limit=2.0, out=str(tmp_path), quiesce=0.5, converge_timeout=3.0)
    text = format_summary(execute(options, ["test"], quiet=True, report=False))
    agree = next(line for line in text.splitlines() if "replicas agree on all" in line)
    assert "upper bound" in agree, agree
    assert "  convergence time: converged" in text and "  convergence: converged" not in text, text


def feed_journal(journal: Journal, rounds: int) -> None:
    """The same mix of every hook, in the same order, whatever the journal does with it."""
    codec = Codec(b"s")
    for i in range(rounds):
        stamp = (1_800_000_000_000_000 + i, 0, "c0123456789abcdef")
        record = Record(f"k{i % 7}", None if i % 5 == 0 else f"v{i}", stamp)
        put = codec.encode(Put(i, record.key, "v", stamp))
        journal.sent("client", "n1", put, None, 1)
        journal.delivered("n1", put)
        journal.applied("n1", [record], [i % 3 != 0], "client")
        journal.queued("n1", "n2", record, "replication")
        replicate = codec.encode(Replicate(i, "n1", (record,)))
        journal.sent("n1", "n2", replicate, "duplicate" if i % 4 == 0 else None, 2 if i % 4 == 0 else 1)
        journal.delivered("n2", replicate)
        journal.applied("n2", [record], [True], "n1")
        journal.sent("n2", "n1", codec.encode(Ack(i, "n2")), "drop", 0)
        if i % 50 == 0:
            journal.lifecycle("n3", "pause" if i % 100 == 0 else "resume")
        if i % 60 == 0:
            journal.recovered("n3", [record, Record(f"r{i}", "v", stamp)])
            journal.applied("n3", [Record(f"m{i}", "v", stamp), record, Record(f"m{i + 1}", None, stamp)],
                            [True, False, True], "n1")


def ticking() -> Any:
    """A clock that moves a millisecond at each reading."""
    ticks = itertools.count()
    return lambda: next(ticks) * 0.001


@pytest.mark.parametrize("max_bytes", [10**9, 3000])
def test_the_writer_thread_and_process_write_the_bytes_the_inline_journal_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_bytes: int
) -> None:
    """Threaded, writer-process (real-time modes) and inline (sim) journals of the same hooks are byte-identical, size limit included."""
    import runner.journal

    monkeypatch.setattr(runner.journal, "CHUNK", 37)  # many chunks through the queue, some slices
    monkeypatch.setattr(runner.journal, "SLICE", 5)
    summaries = []
    writers = ("inline", "thread", "process")
    for writer in writers:
        (tmp_path / writer).mkdir()
        journal = Journal(tmp_path / writer / "j.gz", level="full", mode="udp",
                          ring=Ring(["n1", "n2", "n3"], 2, 4), nodes=["n1", "n2", "n3"], replication=2,
                          max_bytes=max_bytes, clock=ticking(), start=0.0, writer=writer)
        feed_journal(journal, 400)
        journal.close()
        summaries.append(journal.summary())
    inline = (tmp_path / "inline" / "j.gz").read_bytes()
    assert (tmp_path / "thread" / "j.gz").read_bytes() == inline
    assert (tmp_path / "process" / "j.gz").read_bytes() == inline
    assert summaries[0] == summaries[1] == summaries[2]
    _, records = read_journal(tmp_path / "thread" / "j.gz")
    assert summaries[1]["records"] == len(records) + 1
    assert records[-1][2] == ("done" if max_bytes > 3000 else "size-limit")
    check_journal_shape(records)


def test_a_failure_in_the_writer_thread_stops_the_journal_and_is_raised_by_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error while the writer thread encodes ends the journal (hooks note nothing more) and close() raises it."""
    import runner.journal

    def broken_peek(data: bytes) -> tuple[str, list[Any]]:
        raise OSError("disk went away")

    monkeypatch.setattr(runner.journal, "CHUNK", 10)
    monkeypatch.setattr(runner.journal, "peek", broken_peek)
    journal = Journal(tmp_path / "j.gz", level="full", mode="udp", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=10**9, clock=lambda: 1.0, start=0.0, writer="thread")
    feed_journal(journal, 20)
    assert journal._writer is not None
    for _ in range(500):  # the writer meets the error soon after the first chunk
        if not journal.open:
            break
        journal._writer.join(0.01)
    assert not journal.open
    with pytest.raises(OSError, match="disk went away"):
        journal.close()
    assert not journal._writer.is_alive()


def test_a_chunk_ending_inside_an_apply_of_several_records_loses_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a chunk is written at a new key's K record amid an apply of several records, the A records after it are kept."""
    import runner.journal

    monkeypatch.setattr(runner.journal, "CHUNK", 3)
    journal = Journal(tmp_path / "j.gz", level="full", mode="sim", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=10**9, clock=lambda: 1.0, start=0.0)
    stamp = (1_800_000_000_000_000, 0, "c0123456789abcdef")
    records = [Record(f"k{i}", "v", stamp) for i in range(5)]
    journal.applied("n1", records, [True] * 5, "n2")
    journal.close()
    _, written = read_journal(tmp_path / "j.gz")
    assert [r[3] for r in written if r[0] == "A"] == [f"k{i}" for i in range(5)]
    assert journal.summary()["records"] == len(written) + 1


def test_a_writer_process_that_dies_ends_the_journal_and_close_says_so(tmp_path: Path) -> None:
    """A killed writer process: the hooks stop noting once they see it gone; close() does not raise, the summary says when."""
    journal = Journal(tmp_path / "j.gz", level="full", mode="udp", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=10**9, clock=lambda: 1.0, start=0.0, writer="process")
    assert journal._process is not None
    journal._process.kill()
    journal._process.wait()
    for _ in range(20):  # hand-offs until one meets the closed pipe
        feed_journal(journal, 2000)
        if not journal.open:
            break
    assert not journal.open
    journal.close()  # no error: the run keeps its verdict, the journal is only cut short
    summary = journal.summary()
    assert not summary["complete"] and summary["end"] is None
    assert summary["writer"].startswith("the journal writer process died at t=1.00 s"), summary


def test_a_stalled_writer_process_is_given_up_and_the_run_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped writer process (SIGSTOP: its pipe fills) is given up after STALL_SECONDS; hooks and close() never hang."""
    import signal

    import runner.journal
    from runner.summary import _journal_line

    monkeypatch.setattr(runner.journal, "STALL_SECONDS", 0.5)
    journal = Journal(tmp_path / "j.gz", level="full", mode="udp", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=10**9, clock=lambda: 2.0, start=0.0, writer="process")
    assert journal._process is not None
    journal._process.send_signal(signal.SIGSTOP)
    for _ in range(200):  # hand-offs until the pipe is full and the bound is reached
        feed_journal(journal, 2000)
        if not journal.open:
            break
    assert not journal.open
    journal.close()
    assert journal._process.poll() is not None  # the stopped writer was ended, not left behind
    assert journal.summary()["writer"].startswith("the journal writer process stalled at t=2.00 s")
    assert "journal writer process stalled" in _journal_line(journal.summary())[0]


def test_a_writer_process_error_is_raised_by_close(tmp_path: Path) -> None:
    """An error in the writer process (here: its file cannot be opened) reaches the run as close()'s one-line error."""
    journal = Journal(tmp_path / "missing" / "j.gz", level="full", mode="udp", ring=Ring(["n1", "n2"], 2, 4),
                      nodes=["n1", "n2"], replication=2, max_bytes=10**9, clock=lambda: 1.0, start=0.0,
                      writer="process")
    feed_journal(journal, 10)
    with pytest.raises(RuntimeError, match="journal writer process: FileNotFoundError"):
        journal.close()


def test_a_journal_stopped_by_its_size_limit_says_not_measured_never_never(tmp_path: Path) -> None:
    """Writes after a size-limited journal's last record are 'not seen before the journal stopped', never 'never on
    all replicas'; heals past it are not measured; the report dates the stop at the last record, not END's time."""
    result = run_short(tmp_path, seed=3, nemesis=("crash",), bug="ack-before-durable", time_limit=6.0,
                       fault_interval=2.0, journal_max_mb=0.01, rate=200.0, report=True)
    _, records = read_journal(result.run_dir / "journal.jsonl.gz")
    assert records[-1][0] == "END" and records[-1][2] == "size-limit"
    last_t = max(r[1] for r in records[:-1] if isinstance(r[1], int))
    conv = result.results["convergence"]
    writes = conv["writes"]
    assert writes["never_on_all_replicas"] == 0 and writes["not_seen_before_journal_end"] > 0, writes
    past = [h for h in conv["after_heal"] if h["heal_s"] * 1e9 > last_t]
    assert past and all(h.get("not_covered") and h["writes_never_converged"] is None for h in past), conv["after_heal"]
    page = (result.run_dir / "report.html").read_text()
    assert "never on all replicas" not in page
    assert f"the journal ended at {records[-1][1] / 1e9:.2f} s" not in page or records[-1][1] == last_t


def test_a_writer_process_stalled_at_the_close_is_given_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer process stopped after the last chunk was sent: close() gives it up after STALL_SECONDS, never hangs."""
    import signal

    import runner.journal

    monkeypatch.setattr(runner.journal, "STALL_SECONDS", 0.5)
    journal = Journal(tmp_path / "j.gz", level="full", mode="udp", ring=Ring(["n1", "n2"], 2, 4), nodes=["n1", "n2"],
                      replication=2, max_bytes=10**9, clock=lambda: 3.0, start=0.0, writer="process")
    assert journal._process is not None
    feed_journal(journal, 10)
    journal._process.send_signal(signal.SIGSTOP)
    journal.close()
    assert journal._process.poll() is not None
    assert journal.summary()["writer"].startswith("the journal writer process stalled at t=3.00 s"), journal.summary()
