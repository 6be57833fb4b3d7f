"""``explore`` on worker processes: the same outcome as one worker, a ledger that resumes, findings, reproducible reports."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.explore import FAILURE_FILE
from runner.explore_ledger import findings, summary_lines

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["--time-limit", "4", "--fault-interval", "1", "--quiesce", "1", "--converge-timeout", "3"]
BUG = ["--bug", "no-repair", "--nemesis", "partition"]


def _ledger(path: Path) -> list[dict[str, Any]]:
    """The seed lines of a ledger, wall times dropped (they are the one thing allowed to differ)."""
    lines = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    for line in lines:
        line.pop("wall_s")
    return lines


def _explore(tmp: Path, name: str, *flags: str) -> tuple[int, dict[str, Any], Path]:
    ledger, summary = tmp / f"{name}.jsonl", tmp / f"{name}.json"
    code = main(["explore", *flags, "--out", str(tmp / name), "--ledger", str(ledger), "--json", str(summary)])
    return code, json.loads(summary.read_text()), ledger


@pytest.mark.realtime
def test_one_and_two_workers_give_the_same_ledger_and_shrunk_run(tmp_path: Path) -> None:
    """--workers 1 and 2 write the same ledger lines (wall times aside) and shrink to the same run, byte for byte."""
    flags = ["--runs", "4", "--keep-going", *BUG, *SHORT, "--shrink-runs", "8"]
    one = _explore(tmp_path, "one", *flags, "--workers", "1")
    two = _explore(tmp_path, "two", *flags, "--workers", "2")
    assert one[0] == two[0] == 1
    assert _ledger(one[2]) == _ledger(two[2]) and len(_ledger(one[2])) == 4
    keys = ("failing_seed", "anomaly", "original", "shrunk", "shrink_trials", "steps", "findings")
    assert {k: one[1][k] for k in keys} == {k: two[1][k] for k in keys}
    shas = [hashlib.sha256((Path(r["replay_command"].split()[-1]) / "history.jsonl").read_bytes()).hexdigest()
            for r in (one[1], two[1])]
    assert shas[0] == shas[1]
    assert one[1]["workers"] == 1 and two[1]["workers"] == 2


@pytest.mark.realtime  # 10-17 s of real processes: with .ci/run's second step, off the 10-minute default suite
def test_a_shrink_begun_while_the_failing_seed_ran_equals_one_workers(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --keep-going, --workers 2 (seed 1's shrink run ahead while it runs) and --workers 1 report the same
    failure, shrunk run (history bytes), ledger and summary lines (all but the wall time and the line marked as timing's)."""
    import re

    import attrs

    import runner.explore
    from runner.explore import TIMING_MARK
    from runner.shrink import Shrinker

    ahead, handed = Shrinker.ahead, []
    monkeypatch.setattr(Shrinker, "ahead", lambda self: handed.append(ahead(self)) or handed[-1])
    formatted, format_report = [], runner.explore.format_report
    monkeypatch.setattr(runner.explore, "format_report", lambda r: formatted.append(r) or format_report(r))

    flags = ["--runs", "3", *BUG, *SHORT, "--shrink-runs", "12"]
    reports: list[list[str]] = []
    results = []
    for workers in ("1", "2"):
        results.append(_explore(tmp_path, f"w{workers}", *flags, "--workers", workers))
        out = capsys.readouterr().out
        out = out.replace(str(tmp_path / f"w{workers}"), "OUT")
        reports.append([re.sub(r"\((?:the shrink took \d+ s of wall-clock time, of the \d+ s this explore command took in all, its sweep "
                               r"included|the explore command took \d+ s of wall-clock time); \d workers?\)|\d{8}T\d{6}Z|ledger: .*", "", line)
                        for line in out.splitlines() if not line.endswith(TIMING_MARK)])
    (one_code, one, one_ledger), (two_code, two, two_ledger) = results
    assert one_code == two_code == 1 and one["failing_seed"] == two["failing_seed"] == 1
    keys = ("failure", "anomaly", "original", "shrunk", "shrink_trials", "steps", "findings", "runs")
    assert {k: one[k] for k in keys} == {k: two[k] for k in keys}
    assert _ledger(one_ledger) == _ledger(two_ledger)
    shas = [hashlib.sha256((Path(r["replay_command"].split()[-1]) / "history.jsonl").read_bytes()).hexdigest()
            for r in (one, two)]
    assert shas[0] == shas[1]
    assert reports[0] == reports[1] and any("minimal failing run" in line for line in reports[0])
    assert any(handed), "with 2 workers, candidates of seed 1's shrink ran while seed 1 ran"
    # the count of speculative runs (timing's) is on its own marked line, never in those compared
    shrunk = formatted[-1].shrunk
    assert shrunk is not None
    texts = [format_report(attrs.evolve(formatted[-1], shrunk=attrs.evolve(shrunk, speculative=n))) for n in (0, 5)]
    assert [[line for line in t.splitlines() if not line.endswith(TIMING_MARK)] for t in texts] == [
        [line for line in texts[0].splitlines() if not line.endswith(TIMING_MARK)]] * 2


def test_the_failure_report_carries_a_command_that_replays_the_seed(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The printed report and failure.txt name seed, commit and a `harness.py run` that gives the seed's history again."""
    code, summary, ledger = _explore(tmp_path, "e", "--runs", "2", *BUG, *SHORT, "--shrink-runs", "2", "--workers", "2")
    assert code == 1
    out = capsys.readouterr().out
    failure = summary["failure"]
    command = failure["seed_command"]
    assert f"reproduce the seed:   {command}" in out and f"commit {failure['commit']}" in out
    written = (Path(summary["replay_command"].split()[-1]) / FAILURE_FILE).read_text()
    assert command in written and summary["replay_command"] in written and f"seed {failure['seed']}" in written
    words = shlex.split(command)
    assert words[:3] == ["python", "harness.py", "run"]
    assert main([*words[2:], "--out", str(tmp_path / "again")]) == 1  # invalid again
    (again,) = [p for p in (tmp_path / "again").iterdir() if p.is_dir() and not p.is_symlink()]
    line = next(x for x in _ledger(ledger) if x["seed"] == failure["seed"])
    assert hashlib.sha256((again / "history.jsonl").read_bytes()).hexdigest() == line["history_sha256"]


@pytest.mark.realtime
def test_resume_after_ctrl_c_runs_only_the_missing_seeds(tmp_path: Path) -> None:
    """SIGINT to a running explore exits 130 without a traceback; --resume then runs just the seeds not in its ledger."""
    ledger = tmp_path / "ledger.jsonl"
    flags = ["--runs", "10", "--nemesis", "partition", *SHORT, "--workers", "2", "--ledger", str(ledger)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(ROOT / "harness.py"), "explore", *flags, "--out", str(tmp_path / "h")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if ledger.exists() and len(ledger.read_text().splitlines()) >= 1 + 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "explore finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted by SIGINT" in err
    before = {line["seed"] for line in _ledger(ledger)}
    assert 3 <= len(before) < 10
    (told,) = [line for line in err.splitlines() if "continue with: " in line]  # the exact command, printed
    assert str(ledger) in told
    command = shlex.split(told.split("continue with: ", 1)[1])
    assert command[:3] == ["python", "harness.py", "explore"] and "--ledger" not in command
    summary = tmp_path / "resumed.json"
    assert main([*command[2:], "--json", str(summary)]) == 0
    seeds = [line["seed"] for line in _ledger(ledger)]
    assert sorted(seeds) == list(range(1, 11))  # every seed once: none run twice
    assert json.loads(summary.read_text())["runs"] == 10 - len(before)


def test_a_ledger_of_other_options_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--resume with flags other than the ledger's (another --nodes) exits 254 naming the option that differs."""
    code, _, ledger = _explore(tmp_path, "e", "--runs", "1", "--nemesis", "partition", *SHORT, "--workers", "1")
    assert code == 0
    capsys.readouterr()
    assert main(["explore", "--runs", "2", "--nemesis", "partition", *SHORT, "--nodes", "4", "--resume",
                 str(ledger), "--out", str(tmp_path / "h")]) == 254
    err = capsys.readouterr().err
    assert "other options" in err and "nodes 5 in the ledger, 4 now" in err
    assert len(ledger.read_text().splitlines()) == 2  # nothing appended


def _line(seed: int, verdict: str, sig: str, inert: bool = False) -> dict[str, Any]:
    return {"seed": seed, "verdict": verdict, "signature": sig, "anomalies": {sig.split(" |")[0]: 2} if sig else {},
            "faults": {"windows": 2, "bit": 0 if inert else 2, "inert": 2 if inert else 0, "unknown": 0},
            "faults_changed_nothing": inert}


def test_failing_seeds_group_by_signature_into_findings() -> None:
    """Five failing seeds of one signature and one of another read as two findings with 5 and 1 witnesses."""
    lines = [_line(s, "invalid", "divergent | faults: partition") for s in (9, 2, 4, 7, 3)]
    lines += [_line(5, "invalid", "lost-write | faults: crash"), _line(1, "valid", "")]
    got = findings(lines)
    assert [(f.signature, f.seeds) for f in got] == [("divergent | faults: partition", (2, 3, 4, 7, 9)),
                                                     ("lost-write | faults: crash", (5,))]
    assert got[0].anomalies == {"divergent": 10}
    text = "\n".join(summary_lines(lines))
    assert "2 finding(s)" in text and "5 witness seed(s)" in text and "changed nothing in 0 of 7" in text


def test_the_summary_says_loudly_when_no_fault_changed_anything() -> None:
    """When every seed's fault windows changed nothing, the summary warns in capitals; when some did, it counts them."""
    inert = [_line(s, "valid", "", inert=True) for s in (1, 2, 3)]
    assert "THE FAULTS CHANGED NOTHING in every one of the 3" in "\n".join(summary_lines(inert))
    mixed = [*inert, _line(4, "valid", "")]
    assert "faults changed nothing in 3 of 4 seed(s)" in "\n".join(summary_lines(mixed))


def test_cluster_without_its_engine_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--cluster when runner.explore_cluster cannot be imported exits 254 with one line naming pip install -e '.[cluster]'."""
    monkeypatch.setitem(sys.modules, "runner.explore_cluster", None)  # importing it raises ImportError
    assert main(["explore", "--cluster", "127.0.0.1:1", "--runs", "1"]) == 254
    err = capsys.readouterr().err
    assert "pip install -e '.[cluster]'" in err and len(err.strip().splitlines()) == 1


def test_each_trial_has_an_out_directory_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials running at once never share --out (its `latest` link raced: IsADirectoryError in a worker)."""
    import runner.run
    from runner.explore import candidate_for
    from runner.explore_trial import TrialTask, run_task
    from runner.options import RunOptions

    seen: list[tuple[Path, Path]] = []

    def fake_run(options, argv, *, run_dir, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((Path(options.out), run_dir))
        raise KeyboardInterrupt  # stop here: only where the trial would be written matters

    monkeypatch.setattr(runner.run, "run", fake_run)
    base = RunOptions(mode="sim", nemesis=("partition",), time_limit=2.0, fault_interval=1.0)
    for i in range(2):
        with pytest.raises(KeyboardInterrupt):
            run_task(TrialTask(i, candidate_for(base, 1, False), ("x",), str(tmp_path)))
    (out1, dir1), (out2, dir2) = seen
    assert out1 != out2 and out1 != tmp_path and dir1.parent == out1 and dir2.parent == out2
    assert list(tmp_path.iterdir()) == []  # each trial's directory is deleted after it


# -- resume: commits, tampered and damaged ledgers, locks, what a resume says ------------------------------

VALID = ["--nemesis", "partition", *SHORT, "--workers", "1"]


def _rewrite(ledger: Path, edit: Any) -> None:
    """Rewrite each JSON line of ``ledger`` through ``edit(number, record)`` (numbers from 1, the header's)."""
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    ledger.write_text("".join(json.dumps(edit(n, r)) + "\n" for n, r in enumerate(records, 1)))


def test_a_ledger_of_another_commit_is_refused_naming_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--resume of a ledger whose commit is not this checkout's exits 254 naming both commits and the way out."""
    code, summary, ledger = _explore(tmp_path, "e", "--runs", "1", *VALID)
    assert code == 0
    _rewrite(ledger, lambda n, r: {**r, "commit": "0" * 40})
    capsys.readouterr()
    assert main(["explore", "--runs", "2", *VALID, "--resume", str(ledger), "--out", str(tmp_path / "h")]) == 254
    err = capsys.readouterr().err
    assert "0" * 40 in err and "--resume-other-commit" in err and len(err.strip().splitlines()) == 1
    assert len(ledger.read_text().splitlines()) == 2  # nothing appended


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_a_ledger_claiming_a_valid_seed_invalid_is_not_shrunk(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A ledger line saying seed 1 is invalid when it runs valid: 'did not reproduce', no shrink, no failure.txt."""
    code, _, ledger = _explore(tmp_path, "e", "--runs", "1", *VALID)
    assert code == 0

    def lie(n: int, r: dict[str, Any]) -> dict[str, Any]:
        return r if n == 1 else {**r, "verdict": "invalid", "anomalies": {"divergent": 1},
                                 "signature": "divergent | faults: partition"}

    _rewrite(ledger, lie)
    capsys.readouterr()
    out = tmp_path / "h"
    code = main(["explore", "--runs", "2", "--keep-going", *VALID, "--shrink-runs", "2", "--resume", str(ledger),
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert "seed 1 did not reproduce (the ledger says invalid)" in err
    assert code != 1
    assert not list(out.rglob("failure.txt")) and not [p for p in out.glob("explore-*") if p.is_dir()]


def test_a_ledger_with_disagreeing_or_bad_seed_lines_is_refused_naming_the_line(tmp_path: Path) -> None:
    """Two lines of one seed with different verdicts, or a negative seed, or a seed past 2**63: refused naming the line."""
    from runner.explore_ledger import LedgerError, read_ledger

    header = {"ledger": "minikeydb-explore", "options_hash": "h", "commit": "c"}
    line = {"options_hash": "h", "seed": 3, "verdict": "valid", "history_sha256": "a", "commit": "c", "wall_s": 1}
    cases = {
        "line 3": [header, line, {**line, "verdict": "invalid", "history_sha256": "b"}],
        "line 2": [header, {**line, "seed": -1}],
        "line 4": [header, line, {**line, "seed": 4}, {**line, "seed": 2**64}],
    }
    for where, records in cases.items():
        path = tmp_path / "l.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        with pytest.raises(LedgerError, match=where):
            read_ledger(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in [header, line, {**line, "wall_s": 2}]))
    assert list(read_ledger(path).seeds) == [3]  # the same result twice (wall time aside) is no conflict


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_a_ledger_cut_mid_line_resumes_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A last line cut short is dropped (said in one line) by --resume, so that a second --resume still reads the file."""
    code, _, ledger = _explore(tmp_path, "e", "--runs", "2", *VALID)
    assert code == 0
    data = ledger.read_bytes()
    ledger.write_bytes(data[: len(data) - 40])  # seed 2's line cut short, as by a kill mid-write
    flags = ["explore", "--runs", "2", *VALID, "--resume", str(ledger), "--out", str(tmp_path / "h")]
    capsys.readouterr()
    assert main(flags) == 0
    assert "cut short" in capsys.readouterr().err
    assert main([*flags[:2], "3", *flags[3:]]) == 0, capsys.readouterr().err
    assert [line["seed"] for line in _ledger(ledger)] == [1, 2, 3]


def test_a_ledger_in_use_by_another_explore_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """While another explore holds a ledger (its flock), --resume of it exits 254 in one line and appends nothing."""
    import fcntl

    code, _, ledger = _explore(tmp_path, "e", "--runs", "1", *VALID)
    assert code == 0
    before = ledger.read_bytes()
    capsys.readouterr()
    with ledger.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["explore", "--runs", "2", *VALID, "--resume", str(ledger), "--out", str(tmp_path / "h")]) == 254
    err = capsys.readouterr().err
    assert "another explore" in err and len(err.strip().splitlines()) == 1
    assert ledger.read_bytes() == before


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_a_resume_with_every_seed_known_does_not_shrink_again(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Resuming a finished failing sweep runs the failing seed once to confirm it, prints the failure, shrinks nothing."""
    code, summary, ledger = _explore(tmp_path, "e", "--runs", "2", *BUG, *SHORT, "--shrink-runs", "2",
                                     "--workers", "1")
    assert code == 1
    seed = summary["failing_seed"]
    runs_before = sorted(p for p in (tmp_path / "e").iterdir() if p.is_dir() and p.name.startswith("explore-"))
    capsys.readouterr()
    assert main(["explore", "--runs", "2", *BUG, *SHORT, "--shrink-runs", "2", "--workers", "1",
                 "--resume", str(ledger), "--out", str(tmp_path / "e")]) == 1
    out = capsys.readouterr().out
    assert f"seed {seed}" in out and "not shrunk again" in out and "--shrink-again" in out
    assert summary["failure"]["seed_command"] in out
    assert sorted(p for p in (tmp_path / "e").iterdir() if p.is_dir() and p.name.startswith("explore-")) == runs_before


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_workers_beyond_the_seeds_are_not_started(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--workers 16 for 2 seeds runs 2 workers and warns, in one line, that 16 is more than the cores."""
    code, summary, _ = _explore(tmp_path, "e", "--runs", "2", "--nemesis", "partition", *SHORT, "--workers", "16")
    assert code == 0
    assert summary["workers"] == 2
    err = capsys.readouterr().err
    assert sum("--workers 16" in line for line in err.splitlines()) == 1


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_resume_other_commit_runs_the_ledgers_failures_again(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--resume-other-commit keeps another commit's valid seeds and runs its failures again (seed 1: valid here)."""
    code, _, ledger = _explore(tmp_path, "e", "--runs", "2", *VALID)
    assert code == 0

    def old_commit(n: int, r: dict[str, Any]) -> dict[str, Any]:
        r = {**r, "commit": "0" * 40}
        return {**r, "verdict": "invalid", "signature": "divergent | faults: partition"} if r.get("seed") == 1 else r

    _rewrite(ledger, old_commit)
    flags = ["explore", "--runs", "2", *VALID, "--resume", str(ledger), "--resume-other-commit", "--out",
             str(tmp_path / "h"), "--json", str(tmp_path / "r.json")]
    assert main(flags) == 0
    assert json.loads((tmp_path / "r.json").read_text())["runs"] == 1  # seed 1 again, seed 2 (valid) kept
    last = _ledger(ledger)[-1]
    assert last["seed"] == 1 and last["verdict"] == "valid" and last["commit"] != "0" * 40
    assert main(flags) == 0  # the re-run line supersedes the old commit's: read again without a conflict
    assert json.loads((tmp_path / "r.json").read_text())["runs"] == 0


def test_a_resumed_report_counts_runs_of_this_session_and_of_the_ledger() -> None:
    """After a resume the report says "after 5 runs (2 in this session, 3 from the ledger)"."""
    from runner.explore import ExploreResult, _runs_text

    lines = [{"seed": s, "verdict": "valid"} for s in range(1, 6)]
    assert _runs_text(ExploreResult(2, 0, 1, None, None, None, 0.0, lines)) == \
        "5 runs (2 in this session, 3 from the ledger)"
    assert _runs_text(ExploreResult(5, 0, 1, None, None, None, 0.0, lines)) == "5 runs"


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_kill_9_of_a_worker_mid_sweep_reruns_its_seed(tmp_path: Path) -> None:
    """SIGKILL of one of explore's worker processes: its seed runs again on a new worker; the sweep ends normally."""
    ledger = tmp_path / "ledger.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(ROOT / "harness.py"), "explore", "--runs", "6", "--keep-going",
                             *VALID[:-2], "--workers", "2", "--ledger", str(ledger), "--out", str(tmp_path / "h")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        children: list[str] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not children:
            if ledger.exists() and len(ledger.read_text().splitlines()) >= 2:
                children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            time.sleep(0.05)
        assert children and proc.poll() is None, "explore ended before a worker could be killed"
        os.kill(int(children[0]), signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert [line["seed"] for line in _ledger(ledger)] == [1, 2, 3, 4, 5, 6]


def test_the_resume_command_works_from_the_directory_explore_was_started_in(tmp_path, monkeypatch):
    """Started outside the checkout, the printed --resume command goes back to that directory and names
    harness.py by its absolute path, so it runs as printed (spaces quoted); from the checkout it stays short."""
    import shlex
    import subprocess

    from runner.explore import resume_command

    where = tmp_path / "sp ace"
    where.mkdir()
    monkeypatch.chdir(where)
    command = resume_command(["--runs", "3", "--out", "o ut", "--ledger", "my l.jsonl"], Path("my l.jsonl"))
    assert command.startswith(shlex.join(["cd", str(where)]) + " && python "), command
    assert str(ROOT / "harness.py") in command and "--ledger" not in command
    assert subprocess.run(["bash", "-c", command.replace(" explore ", " explore --help #", 1)],
                          capture_output=True, timeout=120).returncode == 0, command
    monkeypatch.chdir(ROOT)
    assert resume_command(["--runs", "3"], Path("l.jsonl")) == "python harness.py explore --runs 3 --resume l.jsonl"


@pytest.mark.realtime  # seconds of real processes: .ci/run's second step runs it; the default suite stays under 10 minutes
def test_ctrl_c_during_the_shrink_prints_a_resume_command_that_shrinks(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted while shrinking, explore's 'continue with' command carries --shrink-again, and following it shrinks."""
    from runner.shrink import Shrinker

    run = Shrinker.run

    def interrupted(self: Shrinker, outcome: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Shrinker, "run", interrupted)
    ledger = tmp_path / "ledger.jsonl"
    assert main(["explore", "--runs", "2", *BUG, *SHORT, "--shrink-runs", "4", "--workers", "1",
                 "--out", str(tmp_path / "o"), "--ledger", str(ledger)]) == 130
    (told,) = [line for line in capsys.readouterr().err.splitlines() if "continue with: " in line]
    command = shlex.split(told.split("continue with: ", 1)[1])
    assert "--shrink-again" in command, told
    monkeypatch.setattr(Shrinker, "run", run)
    assert main([*command[2:], "--json", str(tmp_path / "s.json")]) == 1
    assert json.loads((tmp_path / "s.json").read_text())["shrunk"] is not None
