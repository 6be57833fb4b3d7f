"""The echo and unique-ids rules (Maelstrom's workloads, docs/HISTORY.md), and the set and counter
rules' words on Maelstrom histories: hand-written histories that must pass and must fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from checker.api import CheckOptionError, CheckOptions, check
from checker.cli import summary
from checker.history import HistoryError, minikeydb_run
from tests.checker.workload_builder import WorkloadHistory

MS = 1_000_000


class Keyless:
    """A Maelstrom echo or unique-ids history: a header, then operations without keys."""

    def __init__(self, workload: str) -> None:
        self.lines: list[dict[str, Any]] = [
            {"history": 1, "workload": workload, "meta": {"system": "maelstrom", "node": "./node.py"}}]
        self.t = 0

    def ev(self, **fields: Any) -> None:
        self.t += MS
        self.lines.append({"time": self.t, **fields})

    def op(self, proc: int, f: str, sent: Any, got: Any, node: str = "n0", typ: str = "ok") -> None:
        self.ev(process=proc, type="invoke", f=f, value=sent, node=node)
        self.ev(process=proc, type=typ, f=f, value=got, node=node)

    def write(self, path: Path) -> Path:
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in self.lines))
        return path


def test_echoes_that_come_back_unchanged_are_valid() -> None:
    """Every ok echo returned exactly what it sent (failed and timed-out ones judged not at all): valid."""
    h = Keyless("echo")
    h.op(0, "echo", "hello", "hello")
    h.op(1, "echo", {"a": [1, 2]}, {"a": [1, 2]}, node="n1")
    h.op(2, "echo", "lost", None, typ="info")
    result = check(h.lines)
    assert result.valid is True
    assert result.results["rule"] == "echo"
    assert result.stats["echo"] == {"replies_checked": 2, "mismatched": 0}


def test_an_altered_echo_is_a_mismatch_naming_the_operation() -> None:
    """An ok echo whose value differs from what was sent is echo-mismatch, naming process, node, events, both values."""
    h = Keyless("echo")
    h.op(0, "echo", "hello", "hello")
    h.op(3, "echo", "world", "world!", node="n2")
    result = check(h.lines)
    assert result.valid is False
    (a,) = result.anomalies
    assert a["type"] == "echo-mismatch" and a["indexes"] == [2, 3] and a["node"] == "n2"
    assert a["sent"] == "world" and a["received"] == "world!"
    assert "process 3 on n2" in a["explanation"] and '"world!"' in a["explanation"]


def test_an_echo_of_1_answered_with_true_is_a_mismatch() -> None:
    """Values compare by JSON type and value: 1 sent, true received is a mismatch."""
    h = Keyless("echo")
    h.op(0, "echo", 1, True)
    assert [a["type"] for a in check(h.lines).anomalies] == ["echo-mismatch"]


def test_distinct_ids_are_valid_and_failed_generates_count_for_nothing() -> None:
    """Every ok generate returned a different id (strings, numbers, lists; 1 and "1" differ): valid."""
    h = Keyless("unique-ids")
    for i, id_ in enumerate(["n0-1", 1, "1", [1, 2], [2, 1], True]):
        h.op(i, "generate", None, id_, node=f"n{i % 3}")
    h.op(9, "generate", None, None, typ="fail")
    result = check(h.lines)
    assert result.valid is True
    assert result.stats["unique_ids"] == {"ids_returned": 6, "distinct_ids": 6, "duplicated_ids": 0}


def test_an_id_returned_twice_is_a_duplicate_naming_both_operations_and_nodes() -> None:
    """Two ok generates returning the same id: duplicate-id naming both processes, both nodes and all four events."""
    h = Keyless("unique-ids")
    h.op(0, "generate", None, 7, node="n0")
    h.op(1, "generate", None, 8, node="n1")
    h.op(2, "generate", None, 7, node="n2")
    result = check(h.lines)
    (a,) = result.anomalies
    assert a["type"] == "duplicate-id" and a["id"] == 7
    assert a["indexes"] == [0, 1, 4, 5] and a["nodes"] == ["n0", "n2"]
    assert "process 0 on n0" in a["explanation"] and "process 2 on n2" in a["explanation"]


def test_a_duplicate_of_a_list_id_is_found_by_json_equality() -> None:
    """Ids that are lists are compared by JSON value: [1, "a"] twice is a duplicate, [1, "a"] and ["a", 1] are not."""
    h = Keyless("unique-ids")
    h.op(0, "generate", None, [1, "a"])
    h.op(1, "generate", None, ["a", 1])
    h.op(2, "generate", None, [1, "a"], node="n1")
    assert [a["type"] for a in check(h.lines).anomalies] == ["duplicate-id"]


def test_a_duplicate_during_a_fault_says_so() -> None:
    """The fault windows around a duplicate's operations are named, as for every other rule."""
    h = Keyless("unique-ids")
    h.ev(process="nemesis", type="info", f="partition-start", value={"groups": [["n0"], ["n1", "n2"]]})
    h.op(0, "generate", None, 1, node="n0")
    h.op(1, "generate", None, 1, node="n1")
    (a,) = check(h.lines).anomalies
    assert "n0 was isolated by a partition" in a["explanation"] and a["faults"][0]["kind"] == "partition"


@pytest.mark.parametrize(("workload", "line", "field", "problem"), [
    ("echo", {"process": 0, "type": "invoke", "f": "generate", "value": None}, "f", "not an operation of the echo"),
    ("echo", {"process": 0, "type": "invoke", "f": "echo", "value": None}, "value", "carries the value it sends"),
    ("unique-ids", {"process": 0, "type": "invoke", "f": "generate", "value": 3}, "value", "carries null"),
    ("unique-ids", {"process": 0, "type": "invoke", "f": "generate", "final": True}, "final", "no final reads"),
])
def test_bad_keyless_events_name_file_line_and_field(tmp_path: Path, workload: str, line: dict[str, Any],
                                                     field: str, problem: str) -> None:
    """A malformed echo or unique-ids event stops with a HistoryError naming the file, line 2 and the field."""
    h = Keyless(workload)
    h.lines.append(line)
    path = h.write(tmp_path / "h.jsonl")
    with pytest.raises(HistoryError) as e:
        check(path)
    assert (e.value.line, e.value.field) == (2, field) and problem in e.value.problem
    assert str(path) in str(e.value)


def test_a_generate_ok_without_an_id_is_bad_input(tmp_path: Path) -> None:
    """An ok generate carrying null or an object is bad input naming the value field of its line."""
    h = Keyless("unique-ids")
    h.op(0, "generate", None, {"id": 1})
    with pytest.raises(HistoryError) as e:
        check(h.write(tmp_path / "h.jsonl"))
    assert (e.value.line, e.value.field) == (3, "value")


def test_echo_without_a_header_names_the_header_line(tmp_path: Path) -> None:
    """An echo in a history without a header is bad input whose error gives the echo header line."""
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "f": "echo", "value": "x"}\n')
    with pytest.raises(HistoryError) as e:
        check(path)
    assert e.value.field == "f" and '{"history": 1, "workload": "echo"}' in e.value.problem


def test_the_linearizability_checker_refuses_an_echo_history() -> None:
    """--checker linearizable on an echo history is a bad argument, not a register check of it."""
    h = Keyless("echo")
    h.op(0, "echo", "x", "x")
    with pytest.raises(CheckOptionError):
        check(h.lines, CheckOptions(checkers=("linearizable",)))


def test_the_command_line_checks_an_echo_history(tmp_path: Path) -> None:
    """harness.py check on an altered echo history prints INVALID with the mismatch and exits 1."""
    h = Keyless("echo")
    h.op(0, "echo", "a", "b")
    path = h.write(tmp_path / "h.jsonl")
    out = subprocess.run([sys.executable, "harness.py", "check", str(path)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 1, out.stderr
    assert "INVALID" in out.stdout and "echo-mismatch" in out.stdout and "Traceback" not in out.stderr


def test_a_maelstrom_run_directory_is_not_a_minikeydb_run(tmp_path: Path) -> None:
    """A header naming meta.system maelstrom outweighs a run.json beside it: no MinikeyDB words in its summary."""
    h = WorkloadHistory("register")
    h.header["meta"] = {"system": "maelstrom"}
    h.put(0, "k", 1)
    h.final("k", {"n0": 2})
    (tmp_path / "run.json").write_text("{}")
    path = h.write(tmp_path / "history.jsonl")
    assert minikeydb_run(path) is False
    result = check(path, CheckOptions(checkers=("convergence", "linearizable")))
    text = summary(result.results, path, minikeydb=minikeydb_run(path))
    assert "INVALID" in text and "MinikeyDB" not in text
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "run.json").write_text("{}")
    h.header["meta"] = {}
    assert minikeydb_run(h.write(plain / "history.jsonl")) is True  # no system named: run.json decides, as before


def _broadcast(crash: bool) -> WorkloadHistory:
    """A 3-node broadcast history: message 1 acknowledged by n1, then (with ``crash``) n2 crashes and
    restarts, and its final read lacks message 1."""
    h = WorkloadHistory("set")
    h.header["meta"] = {"system": "maelstrom"}
    h.add(0, "broadcast", 1, node="n1")
    if crash:
        h.nemesis("crash-start", {"nodes": ["n2"]})
        h.nemesis("crash-stop", None)
    h.add(1, "broadcast", 2, node="n2")
    h.final_reads("broadcast", {"n0": [1, 2], "n1": [1, 2], "n2": [2]})
    return h


def test_a_message_missing_on_a_crashed_node_is_lost_with_the_crash_named() -> None:
    """Broadcast: a message acknowledged, then missing from the final read of a node that crashed after it,
    is a lost-element on that node whose explanation names the crash."""
    result = check(_broadcast(crash=True).all_events())
    assert result.valid is False
    lost = [a for a in result.anomalies if a["type"] == "lost-element"]
    (a,) = lost
    assert a["element"] == 1 and a["lost_on"] == ["n2"]
    assert "on n2" in a["explanation"] and "n2 crashed at" in a["explanation"]
    assert "MinikeyDB" not in a["explanation"] and "replica" not in a["explanation"]
    assert result.stats["set"]["outcomes"]["lost"] == 1


def test_a_message_missing_without_a_crash_is_lost_without_one_named() -> None:
    """The same loss with no crash in the history (a node that never got the message): lost, no crash sentence."""
    result = check(_broadcast(crash=False).all_events())
    (a,) = [a for a in result.anomalies if a["type"] == "lost-element"]
    assert "crashed" not in a["explanation"]


def test_a_crash_before_the_add_is_not_blamed() -> None:
    """A crash that ended before the add was invoked is not named as the cause of its loss."""
    h = WorkloadHistory("set")
    h.nemesis("crash-start", {"nodes": ["n2"]})
    h.nemesis("crash-stop", None)
    h.add(0, "broadcast", 1, node="n1")
    h.final_reads("broadcast", {"n1": [1], "n2": []})
    (a,) = [a for a in check(h.all_events()).anomalies if a["type"] == "lost-element"]
    assert "crashed" not in a["explanation"]


def test_a_counter_that_added_twice_is_out_of_bounds_in_plain_words() -> None:
    """A Maelstrom pn-counter history whose final reads are twice the sum: counter-out-of-bounds, no MinikeyDB words."""
    h = WorkloadHistory("counter")
    h.header["meta"] = {"system": "maelstrom"}
    h.incr(0, "counter", 3, node="n0")
    h.decr(1, "counter", 1, node="n1")
    h.final_reads("counter", {"n0": 4, "n1": 4})
    result = check(h.all_events())
    assert result.valid is False
    assert {a["type"] for a in result.anomalies} == {"counter-out-of-bounds"}
    assert all("MinikeyDB" not in a["explanation"] for a in result.anomalies)


@pytest.mark.parametrize(("workload", "f", "sent", "got", "words"), [
    ("echo", "echo", "a", "b", "echo-mismatch"),
    ("unique-ids", "generate", None, 5, "duplicate-id"),
])
def test_the_report_of_a_keyless_history_shows_its_rule(tmp_path: Path, workload: str, f: str, sent: Any, got: Any,
                                                        words: str) -> None:
    """harness.py report on an invalid echo or unique-ids history writes report.html with the rule's anomaly
    (exit 1, the verdict, as check's), instead of an internal error."""
    h = Keyless(workload)
    h.op(0, f, sent, got)
    h.op(1, f, sent, got, node="n1")
    path = h.write(tmp_path / "h.jsonl")
    out = subprocess.run([sys.executable, "harness.py", "report", str(path), "--out", str(tmp_path / "r.html")],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 1, out.stderr
    html = (tmp_path / "r.html").read_text()
    assert words in html and "MinikeyDB" not in html


@pytest.mark.parametrize("seed", range(20))
def test_the_rules_agree_with_brute_force_on_random_histories(seed: int) -> None:
    """On seeded random keyless histories (overlapping operations, all outcomes, ids from a small pool), the
    unique-ids rule reports exactly the ids two ok generates returned, and the echo rule exactly the altered echoes."""
    import random

    rng = random.Random(seed)
    gen, echo = Keyless("unique-ids"), Keyless("echo")
    pool: list[Any] = [0, 1, "1", True, [1], [1, "a"], "x", 2.5]
    open_: dict[int, Any] = {}
    returned: list[Any] = []
    altered = 0
    for _ in range(rng.randrange(1, 60)):
        proc = rng.randrange(4)
        if proc not in open_:
            open_[proc] = rng.choice(pool)
            gen.ev(process=proc, type="invoke", f="generate", value=None, node=f"n{proc % 2}")
            echo.ev(process=proc, type="invoke", f="echo", value=open_[proc], node=f"n{proc % 2}")
            continue
        typ = rng.choice(["ok", "ok", "ok", "fail", "info"])
        id_ = rng.choice(pool) if typ == "ok" else None
        sent = open_.pop(proc)
        back = sent if rng.random() < 0.7 else rng.choice(pool)
        if typ == "ok":
            returned.append(orjson.dumps(id_))
        if typ == "ok" and orjson.dumps(back) != orjson.dumps(sent):
            altered += 1
        gen.ev(process=proc, type=typ, f="generate", value=id_, node=f"n{proc % 2}")
        echo.ev(process=proc, type=typ, f="echo", value=back, node=f"n{proc % 2}")
    dup = {r for r in returned if returned.count(r) > 1}
    got = check(gen.lines)
    assert sorted(orjson.dumps(a["id"]) for a in got.anomalies) == sorted(dup)
    assert got.valid is (not dup)
    assert check(echo.lines).stats["echo"]["mismatched"] == altered
