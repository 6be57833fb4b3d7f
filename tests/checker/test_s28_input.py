"""Review s28's bad-input findings on history reading: each shape is refused with file, line and field (exit 254)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checker.history import MAX_LINE_BYTES, HistoryError, read_events

ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str, limit_as: int | None = None) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        if limit_as is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))

    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, preexec_fn=cap)


def ev(i: int | None, p: int, typ: str, f: str, key: Any = "k1", value: Any = None, **extra: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"time": (i or 0) * 1000 + 1000, "process": p, "type": typ, "f": f, "key": key,
                         "value": value, "node": extra.pop("node", "n1")}
    if i is not None:
        e["index"] = i
    e.update(extra)
    return e


def write(tmp_path: Path, events: list[dict[str, Any]], name: str = "h.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def refused(path: Path) -> HistoryError:
    with pytest.raises(HistoryError) as info:
        read_events(path)
    return info.value


def final_reads(start: int, value: Any = "A", key: Any = "k1") -> list[dict[str, Any]]:
    return [ev(start, 9, "invoke", "get", key, None, final=True), ev(start + 1, 9, "ok", "get", key, value, final=True),
            ev(start + 2, 9, "invoke", "get", key, None, final=True, node="n2"),
            ev(start + 3, 9, "ok", "get", key, value, final=True, node="n2")]


PUT_A = [ev(0, 0, "invoke", "put", value="A"), ev(1, 0, "ok", "put", value="A")]


@pytest.mark.parametrize("f", ["put", "delete", "cas", "get"])
def test_a_register_operation_invoked_after_a_final_read_of_its_key_is_bad_input(tmp_path: Path, f: str) -> None:
    """A put, delete, cas or get of a key invoked after its final reads began is refused (it was judged a lost write)."""
    value = {"put": "B", "delete": None, "cas": ["A", "B"], "get": None}[f]
    path = write(tmp_path, PUT_A + final_reads(2) + [ev(6, 1, "invoke", f, value=value), ev(7, 1, "ok", f, value=value)])
    e = refused(path)
    assert (e.line, e.field) == (7, "final")
    assert f"a {f} of key 'k1' invoked after a final read of it began" in e.problem
    done = harness("check", str(path))
    assert done.returncode == 254 and done.stdout == "" and len(done.stderr.splitlines()) == 1, done
    assert "line 7: field 'final'" in done.stderr


def test_operations_of_other_keys_after_a_final_read_and_ops_in_flight_are_fine(tmp_path: Path) -> None:
    """Only the key's own operations invoked after its final read began are refused: other keys, and one in flight, read."""
    events = [ev(0, 0, "invoke", "put", value="A"), ev(1, 0, "ok", "put", value="A"),
              ev(2, 3, "invoke", "put", value="Z")]  # in flight when the final reads begin
    events += final_reads(3, "A") + [ev(7, 3, "info", "put", value="Z"),
                                     ev(8, 1, "invoke", "put", "k2", "B"), ev(9, 1, "ok", "put", "k2", "B")]
    assert len(read_events(write(tmp_path, events))) == 10


def test_a_cas_completing_with_another_value_than_its_invoke_is_bad_input(tmp_path: Path) -> None:
    """A cas whose ok carries [A, C] after an invoke of [A, B] is refused, as a put with that mismatch is."""
    path = write(tmp_path, PUT_A + [ev(2, 1, "invoke", "cas", value=["A", "B"]), ev(3, 1, "ok", "cas", value=["A", "C"])]
                 + final_reads(4, "C"))
    e = refused(path)
    assert (e.line, e.field) == (4, "value") and "a cas completes with the value it was invoked with" in e.problem
    done = harness("check", str(path), "--checker", "convergence,linearizable")
    assert done.returncode == 254 and "line 4: field 'value'" in done.stderr, done


def test_a_cas_completion_with_null_or_the_same_value_is_accepted(tmp_path: Path) -> None:
    """A cas completion that repeats its invoke's value, or carries null (info), still reads."""
    events = PUT_A + [ev(2, 1, "invoke", "cas", value=["A", "B"]), ev(3, 1, "ok", "cas", value=["A", "B"]),
                      ev(4, 2, "invoke", "cas", value=["B", "C"]), ev(5, 2, "info", "cas", value=None)]
    assert len(read_events(write(tmp_path, events))) == 6


@pytest.mark.parametrize(("header", "f", "value"), [
    (None, "put", "Z"), (None, "delete", None), (None, "cas", ["A", "B"]),
    ({"history": 1, "workload": "set"}, "add", "x"), ({"history": 1, "workload": "counter"}, "incr", 1),
    ({"history": 1, "conflict": "siblings"}, "put", "Z"),
])
def test_only_reads_can_be_final(tmp_path: Path, header: dict[str, Any] | None, f: str, value: Any) -> None:
    """`final: true` on anything but a read is refused (it was counted as a final read of no key)."""
    events = [ev(0, 9, "invoke", f, "k2", value, final=True), ev(1, 9, "ok", f, "k2", value, final=True)]
    path = write(tmp_path, ([header] if header else []) + events)  # type: ignore[list-item]
    e = refused(path)
    assert (e.line, e.field) == (2 if header else 1, "final")
    assert f"only reads can be final, not a {f}" in e.problem or f"only reads can be final, not an {f}" in e.problem


@pytest.mark.parametrize(("first", "second", "line", "problem"), [
    (5, None, 2, "line 2 has no 'index' but line 1 has one"),
    (None, 7, 2, "line 2 has an 'index' but line 1 has none"),
])
def test_mixing_events_with_and_without_index_names_the_real_problem(
    tmp_path: Path, first: int | None, second: int | None, line: int, problem: str
) -> None:
    """An index on some events only is named as such (it said an index the line does not have 'does not increase')."""
    events = [ev(first, 0, "invoke", "put", value="A"), ev(second, 0, "ok", "put", value="A")]
    e = refused(write(tmp_path, events))
    assert (e.line, e.field) == (line, "index")
    assert problem in e.problem and "does not increase" not in e.problem


def test_a_line_longer_than_the_limit_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    """A history line over MAX_LINE_BYTES is one error naming file and line (exit 254), read in bounded pieces."""
    path = tmp_path / "long.jsonl"
    good = json.dumps(PUT_A[0]) + "\n"
    path.write_text(good + '{"index": 1, "value": "' + "x" * (MAX_LINE_BYTES + 10) + '"}\n')
    e = refused(path)
    assert (e.line, e.field) == (2, "(json)") and "longer than" in e.problem
    done = harness("check", str(path), limit_as=1 << 31)
    assert done.returncode == 254 and "line 2" in done.stderr and "longer than" in done.stderr, done


def test_dev_zero_is_refused_quickly_under_a_memory_cap() -> None:
    """`check /dev/zero` (no newline, ever) exits 254 naming line 1 under a 2 GiB cap: no MemoryError, no hang."""
    done = harness("check", "/dev/zero", limit_as=1 << 31)
    assert done.returncode == 254, done
    assert "/dev/zero: line 1" in done.stderr and "longer than" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cr_only_line_endings_are_named(tmp_path: Path) -> None:
    """A file whose lines end in CR alone is said to use CR line endings (it said 'truncated ... on the last line')."""
    path = tmp_path / "cr.jsonl"
    path.write_bytes(b"".join(json.dumps(e).encode() + b"\r" for e in PUT_A))
    e = refused(path)
    assert e.line == 1 and "CR line endings" in e.problem and "truncated" not in e.problem


def test_a_set_read_listing_an_element_twice_is_bad_input(tmp_path: Path) -> None:
    """A set read of [x, x] is refused: a set holds each element once (it was accepted silently)."""
    events = [{"history": 1, "workload": "set"}, ev(0, 0, "invoke", "add", "s", "x"), ev(1, 0, "ok", "add", "s", "x"),
              ev(2, 9, "invoke", "read", "s", None, final=True), ev(3, 9, "ok", "read", "s", ["x", "x"], final=True)]
    e = refused(write(tmp_path, events))
    assert (e.line, e.field) == (5, "value") and "'x' twice" in e.problem
