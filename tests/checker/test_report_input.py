"""`report` never writes over what it reads, and judges a run's history as `check` does whatever its results.json holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main

# put a, put b, then a get of the overwritten a: invalid for the linearizability checker.
BAD = """\
{"time": 1000000, "process": 0, "type": "invoke", "f": "put", "key": "x", "value": "a"}
{"time": 2000000, "process": 0, "type": "ok", "f": "put", "key": "x", "value": "a"}
{"time": 3000000, "process": 0, "type": "invoke", "f": "put", "key": "x", "value": "b"}
{"time": 4000000, "process": 0, "type": "ok", "f": "put", "key": "x", "value": "b"}
{"time": 5000000, "process": 1, "type": "invoke", "f": "get", "key": "x", "value": null}
{"time": 6000000, "process": 1, "type": "ok", "f": "get", "key": "x", "value": "a"}
"""


def _run_dir(tmp_path: Path, results: str | None, checkers: list[str] | None = None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.jsonl").write_text(BAD)
    if checkers is not None:
        (run / "run.json").write_text(json.dumps({"options": {"checkers": checkers}}))
    if results is not None:
        (run / "results.json").write_text(results)
    return run


@pytest.mark.parametrize("target", ["history.jsonl", "results.json", "run.json"])
def test_report_refuses_to_write_over_a_file_it_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      target: str) -> None:
    """``report RUN --out RUN/<input>`` exits 254 with one line and leaves the input as it was."""
    run = _run_dir(tmp_path, '{"valid": false}', ["convergence"])
    before = (run / target).read_bytes()
    assert main(["report", str(run), "--out", str(run / target)]) == 254
    err = capsys.readouterr().err
    assert "refusing to overwrite the input" in err and len(err.strip().splitlines()) == 1, err
    assert (run / target).read_bytes() == before


def test_report_refuses_to_write_over_its_history_through_a_symlink(tmp_path: Path) -> None:
    """``report H --out LINK`` where LINK points at H: refused (resolved paths compared), H kept."""
    h = tmp_path / "h.jsonl"
    h.write_text(BAD)
    (tmp_path / "link.html").symlink_to(h)
    assert main(["report", str(h), "--out", str(tmp_path / "link.html")]) == 254
    assert main(["report", str(h), "--out", str(h)]) == 254
    assert h.read_text() == BAD


@pytest.mark.parametrize("results", ["garbage{", "null", '"x"', "[1]", "1", '{"valid": true, "anomalies": 5}',
                                     '{"valid": true}', '{"valid": "unknown", "checker": "linearizable"}'])
def test_report_exits_as_check_whatever_results_json_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           results: str) -> None:
    """A damaged, misshapen or stale results.json: report gives check's verdict (1 here), never 0, 2 or 255."""
    run = _run_dir(tmp_path, results, ["linearizable"])
    check_code = main(["check", str(run)])
    assert check_code == 1
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == check_code, capsys.readouterr().err
    assert "v-false" in (tmp_path / "r.html").read_text()


def test_a_history_not_named_as_a_runs_own_does_not_borrow_results_json(tmp_path: Path) -> None:
    """``history.old.jsonl`` beside a results.json saying valid: report judges it itself, as check (1)."""
    (tmp_path / "history.old.jsonl").write_text(BAD)
    (tmp_path / "results.json").write_text('{"valid": true, "checker": "linearizable", "anomalies": []}')
    h = str(tmp_path / "history.old.jsonl")
    code = main(["check", h, "--checker", "linearizable"])
    assert code == 1
    assert main(["report", h, "--checker", "linearizable"]) == code
    assert main(["check", h]) == main(["report", h])
