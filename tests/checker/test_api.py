"""The checker's programmatic API (checker/api.py): one call, a history in and a verdict out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker.api import CheckOptionError, CheckOptions, CheckResult, check, harness_run_options
from checker.cli import main
from checker.history import HistoryError
from checker.report import write_report
from tests.checker.builder import History

ROOT = Path(__file__).resolve().parents[2]


def _lost_write_after_heal() -> History:
    h = History()
    h.nemesis("start-partition", {"groups": [["n1"], ["n2"]]})
    h.put(0, "k1", "p0-1", node="n1")
    h.put(1, "k1", "p1-1", node="n2")
    h.nemesis("heal")
    h.at(5.0)
    h.final("k1", {"n1": "p0-1", "n2": "p0-1"})
    h.put(2, "k2", "p2-1")
    h.final("k2", {"n1": "p2-1", "n2": "p2-1"})
    return h


def test_a_file_a_run_directory_and_an_event_list_give_the_same_results(tmp_path: Path) -> None:
    """check() of a history file, of its run directory and of its events (no index) are one results object."""
    h = _lost_write_after_heal()
    run = tmp_path / "run"
    run.mkdir()
    path = h.write(run / "history.jsonl")
    from_file = check(path)
    from_dir = check(run)
    from_events = check([{k: v for k, v in ev.items() if k != "index"} for ev in h.events])
    assert from_file.valid is False and from_file.anomalies[0]["type"] == "lost-write"
    assert from_file.results == from_dir.results == from_events.results
    assert from_file.history == from_dir.history == path and from_events.history is None
    heal = next(ev for ev in h.events if ev["f"] == "heal")
    assert from_file.heals == [heal["time"] / 1e9]
    assert from_file.agreement is not None
    assert (from_file.agreement.keys, from_file.agreement.not_agreed) == (2, 0)
    assert from_file.results["check_settings"] == CheckOptions().settings()


def test_the_command_line_prints_what_the_api_returns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check --json` prints check()'s results object (first refuted part, its default), only the path added."""
    path = _lost_write_after_heal().write(tmp_path / "h.jsonl")
    assert main(["check", str(path), "--json", "--checker", "convergence,linearizable"]) == 1
    printed = json.loads(capsys.readouterr().out)
    result = check(path, CheckOptions(checkers=("convergence", "linearizable"), all_parts=False))
    assert printed.pop("path") == str(path)

    def untimed(x: object) -> object:  # the linearizability search's own timings differ run to run
        if isinstance(x, dict):
            return {k: untimed(v) for k, v in x.items() if k != "seconds"}
        return [untimed(v) for v in x] if isinstance(x, list) else x

    assert untimed(printed) == untimed(json.loads(json.dumps(result.results)))
    assert result.linearizable is result.results["linearizable"]


def test_linearizable_alone_and_both_checkers_combine_verdicts(tmp_path: Path) -> None:
    """With both checkers the verdict is the worse one; a linearizable-only result is the linearizability object."""
    h = History()
    h.put(0, "k1", "a")
    h.get(1, "k1", None)  # after an acknowledged put: a stale read, not linearizable when null means absent
    h.final("k1", {"n1": "a"})
    path = h.write(tmp_path / "h.jsonl")
    lin = check(path, CheckOptions(checkers=("linearizable",), null_read="absent"))
    both = check(path, CheckOptions(checkers="convergence,linearizable", null_read="absent"))
    assert lin.valid is False and lin.linearizable is lin.results and lin.agreement is None
    assert both.results["checker"] == "convergence" and both.valid is False
    assert both.results["linearizable"]["valid"] is False and both.agreement is not None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"checkers": ()}, "checkers"),
        ({"checkers": ("convergence", "linearisable")}, "checkers"),
        ({"model": "regster"}, "model"),
        ({"null_read": "none"}, "null_read"),
        ({"fail_cas": "maybe"}, "fail_cas"),
        ({"time_budget": 0}, "time_budget"),
        ({"time_budget": True}, "time_budget"),
    ],
)
def test_bad_options_are_refused_when_made_naming_the_field(fields: dict[str, object], named: str) -> None:
    """CheckOptions checks every field on construction; the one-line error names the field."""
    with pytest.raises(CheckOptionError) as e:
        CheckOptions(**fields)  # type: ignore[arg-type]
    assert named in str(e.value) or "model" in str(e.value)
    assert "\n" not in str(e.value)


def test_options_are_frozen_and_harness_runs_record_their_settings() -> None:
    """Options cannot change after they are checked; a harness run is checked with null read = absent."""
    options = harness_run_options(["convergence", "linearizable"])
    with pytest.raises(AttributeError):
        options.null_read = "any"  # type: ignore[misc]
    assert options.settings() == {"checkers": ["convergence", "linearizable"], "model": "kv",
                                  "null_read": "absent", "fail_cas": "not-applied", "time_budget": 10.0}


def test_an_unreadable_history_raises_history_error_with_its_line(tmp_path: Path) -> None:
    """A bad line stops check() with a HistoryError naming the file and line, under either checker."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "put", "key": "k", '
                    '"value": 1}\n{"index": 1, "time": 2, "process": 0, "type": "sideways", "f": "put", "key": "k", '
                    '"value": 1}\n')
    for checkers in (("convergence",), ("linearizable",)):
        with pytest.raises(HistoryError, match="line 2"):
            check(path, CheckOptions(checkers=checkers))
    with pytest.raises(HistoryError, match="no such file"):
        check(tmp_path / "missing.jsonl")


def test_report_takes_a_check_result(tmp_path: Path) -> None:
    """write_report accepts the CheckResult itself and writes the same page as from its results object."""
    path = _lost_write_after_heal().write(tmp_path / "h.jsonl")
    result = check(path)
    assert isinstance(result, CheckResult)
    a = write_report(path, result, out=tmp_path / "a.html").read_text()
    b = write_report(path, result.results, out=tmp_path / "b.html").read_text()
    assert a == b and "lost-write" in a


def test_a_convergence_check_imports_no_linearizability_report_or_trio(tmp_path: Path) -> None:
    """Checking for convergence through the API loads neither the linearizability checker, the report nor Trio."""
    path = _lost_write_after_heal().write(tmp_path / "h.jsonl")
    code = (
        "import sys; from checker.api import check; check(sys.argv[1]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('trio', 'minikeydb', 'runner', 'nemesis') "
        "or m in ('checker.linearizable', 'checker.report', 'checker.svgplot')))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_a_bad_setting_is_refused_even_when_only_convergence_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --time-budget -1` exits 254 with one line naming it, whichever checkers run (never ignored)."""
    path = _lost_write_after_heal().write(tmp_path / "h.jsonl")
    for checker, words in (("convergence", "--time-budget is a setting of the linearizability checker"),
                           ("linearizable", "time_budget must be a positive number of seconds")):
        assert main(["check", str(path), "--checker", checker, "--time-budget", "-1"]) == 254
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err
