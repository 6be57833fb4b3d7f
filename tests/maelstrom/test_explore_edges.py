"""``harness.py maelstrom explore`` at its edges: an early Ctrl-C, more workers than seeds, a damaged ledger,
the summary's wording, and node descendants left by a killed worker. Short real runs (1 s of load)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runner.maelstrom.explore as mexplore
from runner.cli import main

NODES = Path(__file__).resolve().parent / "nodes"


def _flags(tmp_path: Path, *extra: str, runs: int = 2, workers: int = 1) -> list[str]:
    return ["maelstrom", "explore", "-w", "echo", "--bin", str(NODES / "echo.py"), "--node-count", "1",
            "--time-limit", "1", "--rate", "10", "--quiesce", "0", "--runs", str(runs), "--workers", str(workers),
            "--out", str(tmp_path / "out"), *extra]


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored as a script's background job inherits it (``cmd &``): harness.py restores that after its
    imports, so only explore's own handling stands between a SIGINT and a lost Ctrl-C."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _seed_lines(ledger: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in ledger.read_text().splitlines()[1:] if x.strip()]


def test_sigint_before_the_sweep_starts_exits_130_with_the_resume_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        sigint_ignored: None) -> None:
    """A SIGINT arriving after the ledger is made but before the sweep's own guard (the adversary's 0.85 s window)
    stops explore: exit 130, the --resume line, and no seed run."""
    real = mexplore.ExploreProgress

    class Interrupting(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kw: Any) -> None:
            signal.raise_signal(signal.SIGINT)
            super().__init__(*args, **kw)

    monkeypatch.setattr(mexplore, "ExploreProgress", Interrupting)
    ledger = tmp_path / "ledger.jsonl"
    code = main(_flags(tmp_path, "--ledger", str(ledger)))
    err = capsys.readouterr().err
    assert code == 130, err
    assert f"--resume {ledger}" in err
    assert _seed_lines(ledger) == []


def test_sigint_while_reading_the_flags_exits_130(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch, sigint_ignored: None) -> None:
    """A SIGINT before any ledger exists (while explore asks git for the commit) still stops explore: exit 130."""
    real = mexplore.commit

    def interrupting() -> str:
        signal.raise_signal(signal.SIGINT)
        return real()

    monkeypatch.setattr(mexplore, "commit", interrupting)
    ledger = tmp_path / "ledger.jsonl"
    code = main(_flags(tmp_path, "--ledger", str(ledger)))
    err = capsys.readouterr().err
    assert code == 130, err
    assert not ledger.exists() or _seed_lines(ledger) == []


DRIVER = """
import runpy, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a script's background job (cmd &) starts
import runner.cli
real = runner.cli._main
def interrupted_first(argv):
    signal.raise_signal(signal.SIGINT)  # between harness.py's start-up handler and the command's own
    return real(argv)
runner.cli._main = interrupted_first
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_sigint_between_harness_start_and_the_command_is_not_lost(tmp_path: Path) -> None:
    """harness.py run with SIGINT ignored (a background job): a SIGINT after its start-up handler is put back and
    before explore's own still stops it with 130, instead of every seed running and exit 0."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    ledger = tmp_path / "ledger.jsonl"
    done = subprocess.run([sys.executable, "-c", DRIVER, str(root / "harness.py"),
                           *_flags(tmp_path, "--ledger", str(ledger))], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 130, done.stdout + done.stderr
    assert not ledger.exists() or _seed_lines(ledger) == []


def test_workers_are_capped_at_the_seeds_to_run_and_four_per_core(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--workers 64 for 2 seeds starts no more workers than harness.py explore would (seeds to run, not under the
    cores, at most 4 per core), and says so in one line; the summary's worker count is the one used."""
    from runner.journal_writer import usable_cores

    cores = usable_cores()  # the affinity's, as explore counts them (taskset, a cgroup cpuset)
    expected = max(1, min(64, max(2, cores), 4 * cores))
    summary = tmp_path / "explore.json"
    code = main([*_flags(tmp_path, "--ledger", str(tmp_path / "l.jsonl"), "--json", str(summary)), "--workers", "64"])
    err = capsys.readouterr().err
    assert code == 0, err
    notes = [line for line in err.splitlines() if "--workers 64" in line]
    assert len(notes) == 1 and f"using {expected}" in notes[0], err
    assert f"{expected} at a time" in err
    assert json.loads(summary.read_text())["workers"] == expected


# -- a ledger edited, cut short, or not a ledger (F7) ---------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A ledger of 2 valid seeds of the echo node (1 s each), and the flags that made it."""
    where = tmp_path_factory.mktemp("swept")
    ledger = where / "ledger.jsonl"
    flags = _flags(where, runs=2)
    assert main([*flags, "--ledger", str(ledger)]) == 0
    return ledger, flags


def _rewrite(ledger: Path, to: Path, edit: Any) -> Path:
    lines = ledger.read_text().splitlines()
    to.write_text(edit(lines))
    return to


def test_a_ledger_seed_flipped_to_invalid_that_does_not_fail_again_is_refused_like_harness_explore(
        swept: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A seed the ledger calls invalid that is valid when run again: exit 254 with one line saying so (as
    harness.py explore does), and no failure block (was: exit 1 and a 'failure:' block)."""
    ledger, flags = swept

    def flip(lines: list[str]) -> str:
        seed = json.loads(lines[2])
        seed.update(verdict="invalid", anomalies={"echo-mismatch": 1})
        return "\n".join([*lines[:2], json.dumps(seed), *lines[3:]]) + "\n"

    edited = _rewrite(ledger, tmp_path / "flip.jsonl", flip)
    capsys.readouterr()
    code = main([*flags, "--resume", str(edited)])
    captured = capsys.readouterr()
    assert code == 254, captured.out + captured.err
    assert "failure:" not in captured.out + captured.err
    (line,) = [x for x in captured.err.splitlines() if x.startswith("error:")]
    assert "seed 2" in line and "invalid in the ledger" in line


def test_a_ledger_cut_short_is_said_in_one_line(swept: tuple[Path, list[str]], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A ledger whose last line was cut short (a killed explore): resuming says so in one line and runs that seed
    again, as harness.py explore does (was: dropped silently)."""
    ledger, flags = swept
    edited = _rewrite(ledger, tmp_path / "cut.jsonl", lambda lines: "\n".join(lines)[:-40])
    capsys.readouterr()
    assert main([*flags, "--resume", str(edited)]) == 0
    err = capsys.readouterr().err
    assert len([x for x in err.splitlines() if "cut short" in x]) == 1, err
    assert [json.loads(x)["seed"] for x in edited.read_text().splitlines()[1:]] == [1, 2]


def test_a_header_whose_options_were_edited_keeping_the_hash_is_refused(swept: tuple[Path, list[str]],
                                                                        tmp_path: Path) -> None:
    """The header's options hashed again must give its options_hash: an edit that kept the old hash is an
    edited ledger, named in one line (was: accepted)."""
    from runner.explore_ledger import LedgerError, read_ledger

    ledger, _ = swept

    def edit(lines: list[str]) -> str:
        header = json.loads(lines[0])
        header["sweep"]["options"]["node_count"] = 9
        return "\n".join([json.dumps(header), *lines[1:]]) + "\n"

    edited = _rewrite(ledger, tmp_path / "header.jsonl", edit)
    with pytest.raises(LedgerError, match="options_hash"):
        read_ledger(edited)
    assert read_ledger(ledger).header["options_hash"]  # the unedited one still reads


@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b"\x1f\x8b\x08\x00" + bytes(200), b"not json\n{}\n"],
                         ids=["binary", "gzip", "text"])
def test_a_file_that_is_no_ledger_is_said_to_be_none(tmp_path: Path, content: bytes) -> None:
    """Random bytes, a gzip file or text given to --resume: 'not an explore ledger', not 'the ledger is empty'."""
    from runner.explore_ledger import LedgerError, read_ledger

    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(LedgerError, match="not an explore ledger"):
        read_ledger(path)


def test_an_empty_ledger_is_still_called_empty(tmp_path: Path) -> None:
    """An empty file (or blank lines only) is still 'the ledger is empty'."""
    from runner.explore_ledger import LedgerError, read_ledger

    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\n\n")
    with pytest.raises(LedgerError, match="empty"):
        read_ledger(path)


# -- the summary's wording: why a shrink candidate was not kept, what "failed in k of n" counts ------------------


class ScriptedExecutor:
    """Answers each trial from a script instead of running it (the verdicts a node would give), in order."""

    workers = 1

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def map_unordered(self, fn: Any, items: Any) -> Iterator[Any]:
        for task in items:
            yield self.answer(task)

    def close(self) -> None:
        pass

    def __enter__(self) -> ScriptedExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _trial(task: Any, valid: bool | None, operations: int, tries: int = 1, failures: int = 0) -> Any:
    from runner.explore_trial import TrialReport
    from runner.maelstrom.explore_trial import MaelstromTrial
    from runner.shrink import Outcome

    outcome = Outcome(valid, () if valid else ("echo-mismatch",), operations, 0)
    bite = {"windows": 0, "bit": 0, "inert": 0, "unknown": 0}
    report = TrialReport(task.index, task.candidate.options.seed, outcome, (), bite, 1.0, 1.0)
    return MaelstromTrial(report, None if valid else "echo-mismatch", tries, failures)


def test_a_candidate_with_more_operations_is_said_to_be_refused_for_them_and_reruns_are_counted_alone(
        tmp_path: Path) -> None:
    """A shrink candidate that failed in every run but with more operations is reported as refused for its
    operations (was: 'no (failed in 2 of 2 run(s))'); the reproduction figure counts the seed's re-runs and the
    runs writing it, not the sweep run that found it, and says so."""
    import io

    from runner.maelstrom.command import MaelstromOptions

    base = MaelstromOptions(workload="echo", bin=str(NODES / "echo_altering.py"), node_count=1, time_limit=1.0,
                            rate=10.0, concurrency=3, quiesce=0.0, seed=1, out=str(tmp_path / "out"))

    def answer(task: Any) -> Any:
        o = task.candidate.options
        if o.concurrency < 3:  # fails every time, with more operations than the seed's run
            return _trial(task, False, 50, tries=1 + task.confirm, failures=1 + task.confirm)
        if o.rate < 10:
            return _trial(task, True, 3)
        return _trial(task, False, 10, failures=1)  # the seed itself, in the sweep and its re-run

    stream = io.StringIO()
    result = mexplore.explore(base, [1], ScriptedExecutor(answer), argv=["harness.py", "maelstrom", "explore"],
                              shrink_budget=10, confirm=1, stream=stream)
    notes = stream.getvalue()
    (clients,) = [line for line in notes.splitlines() if "clients 3 -> 1" in line]
    assert "more operations" in clients and "50" in clients and "10" in clients, clients
    assert "failed in 2 of 2" not in clients
    minimal = result.minimal_reproduction
    assert result.written is not None and minimal is not None
    assert minimal.tries == 1 + result.written.tries  # the seed's one re-run and the runs writing it
    report = mexplore.format_report(result)
    assert "sweep run is not counted" in report, report


# -- what a killed worker's nodes started ----------------------------------------------------------------------


def _helpers(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in cmdline and b"import time; time.sleep(600)" in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.realtime
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc to find the helpers")
@pytest.mark.parametrize("how", ["group", "setsid"])
def test_ctrl_c_leaves_nothing_a_workers_nodes_started(tmp_path: Path, how: str) -> None:
    """Ctrl-C of an explore on 2 workers whose nodes each started a helper (in the node's group, or in a session
    of its own): the workers are SIGKILLed, their nodes die with them, and the helpers are killed too (were left
    running for their 600 s)."""
    import os
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    marker = f"helper-{os.getpid()}-{how}"
    flags = ["maelstrom", "explore", "-w", "echo", "--bin", str(NODES / "echo_forks.py"), "--node-count", "2",
             "--time-limit", "8", "--rate", "10", "--quiesce", "0", "--runs", "4", "--workers", "2",
             "--out", str(tmp_path / "out"), "--ledger", str(tmp_path / "l.jsonl"), "--", how, marker]
    proc = subprocess.Popen([sys.executable, str(root / "harness.py"), *flags], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(_helpers(marker)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_helpers(marker)) >= 2, "the nodes did not start their helpers"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, out + err
        deadline = time.monotonic() + 10
        while _helpers(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _helpers(marker) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _helpers(marker):
            os.kill(pid, signal.SIGKILL)


# -- a minimal run that cannot be written ----------------------------------------------------------------------


@pytest.mark.parametrize("as_symlink", [True, False], ids=["latest-symlink", "latest-file"])
def test_a_minimal_run_that_cannot_be_written_puts_back_the_latest_named_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_symlink: bool) -> None:
    """A full disk while maelstrom explore writes its minimal run removes that run and puts ``latest`` back on
    the run it named before (was: ``latest`` removed, as harness explore did before session 26's fix)."""
    import errno

    import runner.maelstrom.command as mcommand
    from nemesis import FaultSchedule
    from runner.maelstrom.command import MaelstromOptions
    from runner.maelstrom.explore_trial import MaelstromCandidate
    from runner.run_dir import update_latest
    from runner.usage import UsageError

    out = tmp_path / "out"
    (out / "earlier-run").mkdir(parents=True)
    if as_symlink:
        (out / "latest").symlink_to("earlier-run")
    else:
        (out / "latest").write_text("earlier-run\n")

    def full_disk(options: Any, run_dir: Path, argv: Any, **kw: Any) -> Any:
        (run_dir / "run.json").write_text("{}")  # as command.run begins: run.json, then latest on the new run
        update_latest(run_dir.parent, run_dir)
        raise OSError(errno.ENOSPC, "No space left on device")  # the disk fills later (journal, report.html)

    monkeypatch.setattr(mcommand, "run", full_disk)
    options = MaelstromOptions(workload="echo", bin=str(NODES / "echo.py"), node_count=1, time_limit=1.0,
                               rate=10.0, quiesce=0.0, seed=1, out=str(out))
    candidate = MaelstromCandidate(options, FaultSchedule(("n0",), 1.0, 1.0, ()))
    with pytest.raises(UsageError, match="could not be written"):
        mexplore.write_minimal(candidate, str(out), None, ["harness.py"], lambda _text: None)
    assert sorted(p.name for p in out.iterdir()) == ["earlier-run", "latest"]
    latest = out / "latest"
    assert (latest.is_symlink() and str(latest.readlink()) == "earlier-run") if as_symlink \
        else latest.read_text() == "earlier-run\n"
