"""`report` judges with the checker `check` would use (flags, else the run's recorded one): same verdict, same exit."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from checker.cli import main

# A user's own history (no final reads): x's get returns the overwritten 'a' after put 'b' completed.
BAD = """\
{"time": 1000000, "process": 0, "type": "invoke", "f": "put", "key": "x", "value": "a"}
{"time": 2000000, "process": 0, "type": "ok", "f": "put", "key": "x", "value": "a"}
{"time": 3000000, "process": 0, "type": "invoke", "f": "put", "key": "x", "value": "b"}
{"time": 4000000, "process": 0, "type": "ok", "f": "put", "key": "x", "value": "b"}
{"time": 5000000, "process": 1, "type": "invoke", "f": "get", "key": "x", "value": null}
{"time": 6000000, "process": 1, "type": "ok", "f": "get", "key": "x", "value": "a"}
{"time": 7000000, "process": 2, "type": "invoke", "f": "put", "key": "y", "value": "c"}
{"time": 8000000, "process": 2, "type": "info", "f": "put", "key": "y", "value": "c", "error": "timeout"}
"""

GOOD = """\
{"time": 1000000, "process": 0, "type": "invoke", "f": "put", "key": "x", "value": "a"}
{"time": 2000000, "process": 0, "type": "ok", "f": "put", "key": "x", "value": "a"}
{"time": 3000000, "process": 1, "type": "invoke", "f": "get", "key": "x", "value": null}
{"time": 4000000, "process": 1, "type": "ok", "f": "get", "key": "x", "value": "a"}
"""

SET = """\
{"history": 1, "conflict": "crdt", "workload": "set"}
{"time": 1000000, "process": 0, "type": "invoke", "f": "add", "key": "s", "value": "a", "node": "n1"}
{"time": 2000000, "process": 0, "type": "ok", "f": "add", "key": "s", "value": "a", "node": "n1"}
"""


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _verdict(page: str) -> str:
    found = re.search(r"class='verdict [^']*'>([A-Z]+)<", page)
    assert found, "no verdict on the page"
    return found.group(1)


def test_report_takes_checker_linearizable_and_agrees_with_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --checker linearizable is accepted, exits as check does (1) and its page shows check's INVALID and explanation."""
    path = _write(tmp_path, "bad.jsonl", BAD)
    assert main(["check", str(path), "--checker", "linearizable"]) == 1
    printed = capsys.readouterr().out
    explanation = next(line for line in printed.splitlines() if line.startswith("  - Key 'x'"))
    explanation = explanation[len("  - "):explanation.index("  [events")]
    out = tmp_path / "bad.html"
    assert main(["report", str(path), "--checker", "linearizable", "--out", str(out)]) == 1
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert _verdict(page) == "INVALID"
    assert "<h2>Linearizability</h2>" in page and "<svg" in page
    assert html.escape(explanation) in page  # check's own words
    assert "Checked by <b>linearizable</b>" in page and "from the command line" in page
    assert "undecided keys<b>2" not in page  # the convergence pass's UNKNOWN is not this page's finding


def test_report_without_flags_is_what_check_without_flags_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --checker both use convergence: UNKNOWN (exit 2), and the page names its checker and the other one."""
    path = _write(tmp_path, "bad.jsonl", BAD)
    assert main(["check", str(path)]) == 2
    assert main(["report", str(path)]) == 2
    page = (tmp_path / "bad.report.html").read_text()
    assert _verdict(page) == "UNKNOWN"
    assert "Checked by <b>convergence</b>" in page and "--checker linearizable" in page


@pytest.mark.parametrize("body,flags", [
    (GOOD, ["--checker", "linearizable"]),
    (GOOD, ["--checker", "convergence,linearizable"]),
    (BAD, ["--checker", "convergence,linearizable", "--null-read", "absent"]),
    (BAD, ["--checker", "linearizable", "--init", '"a"', "--time-limit", "20"]),
    (BAD, []),
], ids=["good-lin", "good-both", "bad-both-absent", "bad-lin-init-limit", "bad-default"])
def test_report_exit_code_is_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
                                    flags: list[str]) -> None:
    """For the same history and flags, report exits with check's code and shows check's verdict (a page of other
    checkers than the default convergence is named after them: h.report-linearizable.html)."""
    path = _write(tmp_path, "h.jsonl", body)
    want = main(["check", str(path), *flags])
    assert main(["report", str(path), *flags]) == want
    checkers = flags[flags.index("--checker") + 1].replace(",", "-") if "--checker" in flags else ""
    page = (tmp_path / (f"h.report-{checkers}.html" if checkers else "h.report.html")).read_text()
    assert _verdict(page) == {0: "VALID", 1: "INVALID", 2: "UNKNOWN"}[want]


def test_run_directory_recorded_with_linearizable_reports_it_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run directory whose run.json names checker linearizable (no results.json yet) is reported with it."""
    run = tmp_path / "run"
    run.mkdir()
    _write(run, "history.jsonl", BAD)
    (run / "run.json").write_text(json.dumps({"options": {"checkers": ["linearizable"]}}))
    assert main(["check", str(run)]) == 1
    assert main(["report", str(run)]) == 1
    page = (run / "report.html").read_text()
    assert _verdict(page) == "INVALID" and "<h2>Linearizability</h2>" in page
    assert "Checked by <b>linearizable</b>" in page and "recorded in run.json" in page


@pytest.mark.parametrize("body,flags,words", [
    (BAD, ["--model", "kv"], "--model is a setting of the linearizability checker"),
    (BAD, ["--time-limit", "5"], "add --checker linearizable"),
    (BAD, ["--checker", "linearisable"], "did you mean 'linearizable'?"),
    (SET, ["--checker", "linearizable"], "check it with the convergence checker"),
    (BAD, ["--checker", "linearizable", "--init", "{bad"], "--init: not valid JSON"),
    (BAD, ["--checker", "linearizable", "--model", "register"], "is not an operation of the register model"),
], ids=["model-alone", "limit-alone", "typo", "set-history", "bad-init", "wrong-model"])
def test_report_wrong_flags_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
                                         flags: list[str], words: str) -> None:
    """A wrong flag combination for report is exit 254 and one stderr line naming what to use, no page written."""
    path = _write(tmp_path, "h.jsonl", body)
    assert main(["report", str(path), *flags]) == 254
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not (tmp_path / "h.report.html").exists()


def test_report_prints_its_verdict_and_keeps_the_runs_own_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report says the verdict in one line, and report RUN --checker linearizable writes report-linearizable.html
    beside the run's own convergence report.html instead of overwriting it (--out naming a file still wins)."""
    run = tmp_path / "run"
    run.mkdir()
    _write(run, "history.jsonl", BAD)
    assert main(["report", str(run)]) == 2
    printed = capsys.readouterr().out
    assert f"wrote {run / 'report.html'}" in printed
    assert "verdict: UNKNOWN (checker convergence)" in printed.splitlines()
    own = (run / "report.html").read_text()
    assert main(["report", str(run), "--checker", "linearizable"]) == 1
    printed = capsys.readouterr().out
    assert f"wrote {run / 'report-linearizable.html'}" in printed and "report.html is left as it was" in printed
    assert "verdict: INVALID (checker linearizable)" in printed.splitlines()
    assert (run / "report.html").read_text() == own
    assert _verdict((run / "report-linearizable.html").read_text()) == "INVALID"
    assert main(["report", str(run), "--checker", "linearizable", "--out", str(run / "report.html")]) == 1
    assert "replacing the earlier one" in capsys.readouterr().out
    assert _verdict((run / "report.html").read_text()) == "INVALID"
