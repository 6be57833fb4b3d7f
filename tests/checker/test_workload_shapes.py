"""The history header and the new workloads' shapes: read back compatibly, malformed lines named exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from checker.api import CheckOptions, check
from checker.cli import main
from tests.checker.builder import History
from tests.checker.workload_builder import WorkloadHistory

ROOT = Path(__file__).resolve().parents[2]


def _lines(*objs: dict) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def _ev(i: int, proc: int, typ: str, f: str, key: str = "k", value: object = None, **extra: object) -> dict:
    return {"index": i, "time": i + 1, "process": proc, "type": typ, "f": f, "key": key, "value": value, **extra}


def _register() -> History:
    h = History()
    h.put(0, "k1", "p0-1")
    h.put(1, "k1", "p1-1")
    h.get(2, "k1", "p0-1")
    h.final("k1", {"n1": "p1-1", "n2": "p1-1"})
    return h


@pytest.mark.parametrize("conflict", ["lww", "crdt"])
def test_a_register_history_with_a_header_is_checked_exactly_as_without(tmp_path: Path, conflict: str) -> None:
    """Declaring lww (or crdt, whose registers keep LWW) changes nothing in a register history's results."""
    h = _register()
    plain = h.write(tmp_path / "plain.jsonl")
    headed = tmp_path / "headed.jsonl"
    header = {"history": 1, "conflict": conflict, "workload": "register"}
    headed.write_bytes(orjson.dumps(header) + b"\n" + plain.read_bytes())
    a, b = check(plain).results, check(headed).results
    assert a == b
    assert check([header, *h.events]).results == check(h.events).results


H = {"history": 1, "conflict": "crdt", "workload": "set"}
C = {"history": 1, "conflict": "crdt", "workload": "counter"}
S = {"history": 1, "conflict": "siblings", "workload": "register"}

BAD: dict[str, tuple[list[dict], int, str]] = {
    "header version": ([{"history": 2}], 1, "history"),
    "header conflict": ([{"history": 1, "conflict": "lwww"}], 1, "conflict"),
    "header workload": ([{"history": 1, "workload": "queue"}], 1, "workload"),
    "header unknown field": ([{"history": 1, "workoad": "set"}], 1, "workoad"),
    "header not first": ([_ev(0, 0, "invoke", "get"), H], 2, "history"),
    "set: f of another workload": ([H, _ev(0, 0, "invoke", "put", value="a")], 2, "f"),
    "set: add without element": ([H, _ev(0, 0, "invoke", "add")], 2, "value"),
    "set: element a list": ([H, _ev(0, 0, "invoke", "add", value=[1])], 2, "value"),
    "set: add completes with another element": (
        [H, _ev(0, 0, "invoke", "add", value=1), _ev(1, 0, "ok", "add", value=2)], 3, "value"),
    "set: read returns a scalar": ([H, _ev(0, 0, "invoke", "read"), _ev(1, 0, "ok", "read", value=3)], 3, "value"),
    "set: read element an object": (
        [H, _ev(0, 0, "invoke", "read"), _ev(1, 0, "ok", "read", value=[{"a": 1}])], 3, "value"),
    "set: missing key": ([H, {"index": 0, "process": 0, "type": "invoke", "f": "add", "value": 1}], 2, "key"),
    "counter: negative amount": ([C, _ev(0, 0, "invoke", "incr", value=-1)], 2, "value"),
    "counter: amount a string": ([C, _ev(0, 0, "invoke", "decr", value="3")], 2, "value"),
    "counter: amount a boolean": ([C, _ev(0, 0, "invoke", "incr", value=True)], 2, "value"),
    "counter: read of null": ([C, _ev(0, 0, "invoke", "read"), _ev(1, 0, "ok", "read", value=None)], 3, "value"),
    "counter: read of a float": ([C, _ev(0, 0, "invoke", "read"), _ev(1, 0, "ok", "read", value=1.5)], 3, "value"),
    "siblings: get returns a scalar": (
        [S, _ev(0, 0, "invoke", "get"), _ev(1, 0, "ok", "get", value="a")], 3, "value"),
    "siblings: a Jepsen read": ([S, _ev(0, 0, "invoke", "read")], 2, "f"),
    "siblings: put of a list": ([S, _ev(0, 0, "invoke", "put", value=["a"])], 2, "value"),
    "siblings: context_from a string": (
        [S, _ev(0, 0, "invoke", "put", value="a", context_from="ctx")], 2, "context_from"),
    "siblings: context_from not a get": (
        [S, _ev(0, 0, "invoke", "put", value="a"), _ev(1, 0, "ok", "put", value="a"),
         _ev(2, 0, "invoke", "put", value="b", context_from=1)], 4, "context_from"),
    "siblings: context_from another key's get": (
        [S, _ev(0, 0, "invoke", "get", key="j"), _ev(1, 0, "ok", "get", key="j", value=[]),
         _ev(2, 0, "invoke", "put", value="b", context_from=1)], 4, "context_from"),
    "siblings: context_from a later get": (
        [S, _ev(0, 0, "invoke", "put", value="b", context_from=2), _ev(1, 1, "invoke", "get"),
         _ev(2, 1, "ok", "get", value=[])], 2, "context_from"),
    "siblings: completion with another context": (
        [S, _ev(0, 0, "invoke", "get"), _ev(1, 0, "ok", "get", value=[]),
         _ev(2, 0, "invoke", "put", value="b", context_from=1), _ev(3, 0, "ok", "put", value="b", context_from=7)],
        5, "context_from"),
    "lww register: a put with context_from": (
        [{"history": 1, "conflict": "lww"}, _ev(0, 0, "invoke", "get"), _ev(1, 0, "ok", "get", value="a"),
         _ev(2, 0, "invoke", "put", value="b", context_from=1)], 4, "context_from"),
    "headerless register: a put with context_from": (
        [_ev(0, 0, "invoke", "get"), _ev(1, 0, "ok", "get", value="a"),
         _ev(2, 0, "invoke", "put", value="b", context_from=1)], 3, "context_from"),
    "set: an add with context_from": ([H, _ev(0, 0, "invoke", "add", value=1, context_from=0)], 2, "context_from"),
    "counter: an incr with context_from": ([C, _ev(0, 0, "invoke", "incr", value=1, context_from=0)], 2,
                                           "context_from"),
    "siblings: a get with context_from": ([S, _ev(0, 0, "invoke", "get", context_from=0)], 2, "context_from"),
    "node a number": ([H, _ev(0, 0, "invoke", "add", value=1, node=3)], 2, "node"),
    "headerless register: node a number": ([_ev(0, 0, "invoke", "get", node=3)], 1, "node"),
    "header with a process": ([{"history": 1, "workload": "set", "process": 0}], 1, "process"),
    "counter: an operation after a final read of its key": (
        [C, _ev(0, 1, "invoke", "read", final=True), _ev(1, 1, "ok", "read", value=0, final=True),
         _ev(2, 0, "invoke", "incr", value=4), _ev(3, 0, "ok", "incr", value=4)], 4, "final"),
    "set: an operation after a final read of its key": (
        [H, _ev(0, 1, "invoke", "read", final=True), _ev(1, 1, "ok", "read", value=[], final=True),
         _ev(2, 0, "invoke", "add", value=4)], 4, "final"),
    "siblings: an operation after a final read of its key": (
        [S, _ev(0, 1, "invoke", "get", final=True), _ev(1, 1, "ok", "get", value=[], final=True),
         _ev(2, 0, "invoke", "put", value="a")], 4, "final"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_lines_name_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  name: str) -> None:
    """Each malformed header or new-workload line is exit 254 with one line naming file, line and field."""
    objs, line, field = BAD[name]
    path = tmp_path / "h.jsonl"
    path.write_bytes(_lines(*objs))
    assert main(["check", str(path)]) == 254
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: line {line}: field '{field}'"), err
    assert "\n" not in err and "Traceback" not in err


def test_a_set_history_through_the_command_line(tmp_path: Path) -> None:
    """harness.py check on a set history with a lost add exits 1 and prints the finding in a sentence."""
    h = WorkloadHistory("set")
    h.add(0, "s", "e1")
    h.add(1, "s", "e2")
    h.final_reads("s", {"n1": ["e1"], "n2": ["e1"]})
    path = h.write(tmp_path / "set.jsonl")
    out = subprocess.run([sys.executable, str(ROOT / "harness.py"), "check", str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "INVALID" in out.stdout and "lost element \"e2\" of set \"s\"" in out.stdout
    assert "set-full rule" in out.stdout and "set: 2 elements (1 ok, 1 lost)" in out.stdout


def test_the_linearizability_checker_refuses_a_set_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--checker linearizable on a set history is bad arguments (254) saying which checker to use, not a crash."""
    h = WorkloadHistory("set")
    h.add(0, "s", 1)
    path = h.write(tmp_path / "set.jsonl")
    assert main(["check", str(path), "--checker", "linearizable"]) == 254
    assert "workload set" in capsys.readouterr().err
    with pytest.raises(ValueError, match="convergence checker"):
        check(path, CheckOptions(checkers=("linearizable",)))


def test_counter_reads_flag_reaches_the_counter_rule(tmp_path: Path) -> None:
    """--counter-reads strict makes a stale counter read invalid (exit 1); the default eventual measures it (0)."""
    h = WorkloadHistory("counter")
    h.incr(0, "c", 4)
    h.read(1, "c", 0)
    h.final_reads("c", {"n1": 4})
    path = h.write(tmp_path / "c.jsonl")
    assert main(["check", str(path)]) == 0
    assert main(["check", str(path), "--counter-reads", "strict"]) == 1


def test_the_report_of_a_set_history_shows_its_rule_s_verdict(tmp_path: Path) -> None:
    """report.html of a set history with a lost add says INVALID and explains the lost element."""
    from checker.report import write_report

    h = WorkloadHistory("set")
    h.add(0, "s", "e1")
    h.add(1, "s", "e2")
    h.final_reads("s", {"n1": ["e1"], "n2": ["e1"]})
    page = write_report(h.write(tmp_path / "set.jsonl"), out=tmp_path / "r.html").read_text()
    assert "v-false'>INVALID" in page and "lost element &quot;e2&quot; of set &quot;s&quot;" in page
