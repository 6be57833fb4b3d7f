"""A damaged or cut-short journal loses only its own figures: the verdict comes from the history."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.options import RunOptions
from runner.run import run as run_test

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short simulated no-repair partition run with its journal (INVALID: divergent keys)."""
    out = tmp_path_factory.mktemp("runs")
    options = RunOptions(mode="sim", seed=4, nemesis=("partition",), bug="no-repair", time_limit=6.0,
                         fault_interval=2.0, out=str(out), quiesce=1.0, converge_timeout=3.0)
    result = run_test(options, ["test"], quiet=True)
    assert (result.run_dir / "journal.jsonl.gz").is_file()
    return result.run_dir


def _copy(run_dir: Path, tmp_path: Path, damage: str) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "results.json").unlink()  # the report then computes its figures from the files
    journal = copy / "journal.jsonl.gz"
    data = journal.read_bytes()
    if damage == "cut":
        journal.write_bytes(data[: len(data) // 2])  # a harness killed while writing
    else:
        journal.write_bytes(b"not a gzip stream\n")
    return copy


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.parametrize("damage", ["cut", "garbage"])
def test_check_and_report_keep_the_verdict_when_the_journal_is_damaged(recorded: Path, tmp_path: Path,
                                                                       damage: str) -> None:
    """check exits with the history's verdict (1) and says what happened to the journal; report still writes (and exits 1 too)."""
    run = _copy(recorded, tmp_path, damage)
    done = _harness("check", str(run))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if damage == "cut":
        assert "UNKNOWN: the journal is incomplete" in done.stdout and "cut short" in done.stdout
    else:
        assert "the journal could not be read" in done.stdout
    rep = _harness("report", str(run))
    assert rep.returncode == 1, rep.stderr  # the verdict, as check's
    assert (run / "report.html").is_file()


def test_a_cut_journal_names_the_dead_writer_recorded_in_results_json_not_a_killed_run(recorded: Path,
                                                                                      tmp_path: Path) -> None:
    """check of a run whose results.json records that the journal's writer process died says so (the run went on
    and kept its verdict), and never that the run was killed; without results.json it says the run was killed."""
    import json

    run = _copy(recorded, tmp_path, "cut")
    shutil.copy(recorded / "results.json", run / "results.json")
    results = json.loads((run / "results.json").read_text())
    results["journal"]["writer"] = "the journal writer process died at t=2.50 s (it ended without closing the journal)"
    (run / "results.json").write_text(json.dumps(results))
    done = _harness("check", str(run))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the journal writer process died at t=2.50 s" in done.stdout, done.stdout
    assert "kept its verdict" in done.stdout and "the run was killed" not in done.stdout, done.stdout
    (run / "results.json").unlink()
    done = _harness("check", str(run))
    assert "the run was killed while writing it" in done.stdout, done.stdout


@pytest.mark.parametrize("check_process", [False, True], ids=["checked-after", "check-process"])
def test_a_run_whose_journal_writer_dies_records_that_in_its_own_figures(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        check_process: bool) -> None:
    """A sim run whose journal writer process is killed part-way: results.json's convergence figure says the writer
    died and the run kept its verdict, as its journal block does, not that the run was killed (checked after the
    run, or by the check process as the files grew: it is told the journal block at the end)."""
    import json

    import runner.journal
    import runner.run

    monkeypatch.setattr(runner.run, "CHECK_PROCESS", check_process)

    monkeypatch.setattr(runner.journal, "SIM_WRITER", "process")
    monkeypatch.setattr(runner.journal.os, "cpu_count", lambda: 2)
    handed: list[int] = []
    to_process = runner.journal.Journal._to_process

    def dying(self: runner.journal.Journal, events: list[object]) -> None:
        # Part-way: once ~74k noted items went to the writer (the third hand-off when HAND_OFF was 24,576; the
        # 24th at 3,072), by the items, so that a change of HAND_OFF does not move the death to the run's start.
        handed.append(len(events))
        if sum(handed) >= 73_728 > sum(handed) - len(events) and self._process is not None:
            self._process.kill()
            self._process.wait()
        to_process(self, events)

    monkeypatch.setattr(runner.journal.Journal, "_to_process", dying)
    options = RunOptions(mode="sim", seed=4, nemesis=("partition",), bug="no-repair", time_limit=6.0,
                         fault_interval=2.0, out=str(tmp_path), quiesce=1.0, converge_timeout=3.0)
    result = run_test(options, ["test"], quiet=True, report=False)
    results = json.loads((result.run_dir / "results.json").read_text())
    assert results["journal"].get("writer", "").startswith("the journal writer process died"), results["journal"]
    incomplete = results["convergence"]["incomplete"]
    assert "the journal writer process died" in incomplete and "kept its verdict" in incomplete, incomplete
    assert "the run was killed" not in incomplete, incomplete
