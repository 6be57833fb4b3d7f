"""Hostile or broken inputs and output paths are bad input (exit 254, file and line named), never a crash (255)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from checker.edn import MAX_DEPTH, read_edn_events
from checker.history import HistoryError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "histories" / "examples" / "partition-sim"


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


OP = '{:index 0 :time 0 :process 0 :type :invoke :f :put :value [:k 1]}\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (OP + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper"),
        (OP + "#_" * 100_000 + "1\n", "nested deeper"),
        (OP + "#foo " * 100_000 + "1\n", "nested deeper"),
        (OP.replace(":k 1", ":k " + "7" * 100_000), "100000 digits"),
    ],
    ids=["deep-vectors", "deep-discards", "deep-tags", "huge-integer"],
)
def test_hostile_edn_is_bad_input_with_file_and_line(tmp_path: Path, text: str, problem: str) -> None:
    """100,000-deep nesting or a 100,000-digit integer: `check` exits 254 naming the file and line."""
    path = tmp_path / "hostile.edn"
    path.write_text(text)
    done = harness("check", str(path))
    assert done.returncode == 254, done.stderr
    assert str(path) in done.stderr and problem in done.stderr
    assert "line" in done.stderr and "internal error" not in done.stderr


def test_nesting_up_to_the_limit_still_reads() -> None:
    """An op nested exactly MAX_DEPTH levels (map included) is read; one level more is refused."""
    deep = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    raw = f"{{:index 0 :time 0 :process 0 :type :invoke :f :read :value {deep}}}\n".encode()
    ((line, event),) = list(read_edn_events(raw, "x.edn"))
    assert line == 1 and event["f"] == "read"
    with pytest.raises(HistoryError, match="nested deeper"):
        list(read_edn_events(raw.replace(b"1]", b"[1]]", 1), "x.edn"))


def _read_only_targets(tmp_path: Path) -> list[Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return [a_file / "under-a-file", Path("/sys/minikeydb-cannot-write-here")]


@pytest.mark.parametrize("which", [0, 1], ids=["under-a-file", "read-only-filesystem"])
def test_export_and_report_to_an_unwritable_out_are_usage_errors(tmp_path: Path, which: int) -> None:
    """`export --out` and `report --out` into a file's path or a read-only place exit 254 naming the path."""
    target = _read_only_targets(tmp_path)[which]
    if which == 1 and not Path("/sys").is_dir():
        pytest.skip("no /sys on this machine")
    for args in (["export", str(EXAMPLE), "--edn", "--out", str(target)],
                 ["report", str(EXAMPLE), "--out", str(target)]):
        done = harness(*args)
        assert done.returncode == 254, (args, done.stderr)
        assert str(target) in done.stderr and "internal error" not in done.stderr


def test_a_json_line_nested_200000_deep_is_bad_input_not_a_crash(tmp_path: Path) -> None:
    """A JSON-lines event nested 200,000 levels (orjson overflows the C stack on it) exits 254 naming the line."""
    path = tmp_path / "deep.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "f": "put", "key": "k", "value": '
                    + "[" * 200_000 + "]" * 200_000 + "}\n")
    done = harness("check", str(path))
    assert done.returncode == 254, (done.returncode, done.stderr)
    assert f"{path}: line 1" in done.stderr and "nested deeper" in done.stderr
