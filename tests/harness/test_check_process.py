"""The check of a single simulated run made as it runs (runner/check_process.py, checker/follow.py):
the same files as a check after the run, and a check process that dies or stalls costs only time."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import runner.run as run_module
from checker.follow import GrowingFile, following
from checker.history import iter_events
from runner import check_process
from runner.check_process import CheckProcess
from runner.phases import make_schedule
from runner.run import RunResult
from tests.sim.runs import run_short, short_options


def _run(out: Path, monkeypatch: pytest.MonkeyPatch, *, ahead: bool, seed: int = 3) -> RunResult:
    """A short simulated run into ``out/run`` with report.html, checked by the check process or not."""
    monkeypatch.setattr(run_module, "CHECK_PROCESS", ahead)
    options = short_options(out, seed=seed)
    schedule = make_schedule(options, tuple(f"n{i + 1}" for i in range(options.nodes)))
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / "run"
    run_dir.mkdir()
    return run_module.run(options, ["test"], run_dir=run_dir, schedule=schedule, quiet=True, report=True)


def _files(result: RunResult) -> dict[str, bytes]:
    return {name: (result.run_dir / name).read_bytes() for name in ("history.jsonl", "results.json", "report.html")}


def _spy(monkeypatch: pytest.MonkeyPatch, seen: list[Any], after_start: Any = None) -> None:
    """Record each CheckProcess's result (and failure); ``after_start(process)`` runs once it started."""
    start, result = CheckProcess.__init__, CheckProcess.result

    def init(self: CheckProcess, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        if after_start is not None:
            after_start(self)

    def spied(self: CheckProcess, run_journal: Any) -> Any:
        got = result(self, run_journal)
        seen.append((got, self.failure))
        return got

    monkeypatch.setattr(CheckProcess, "__init__", init)
    monkeypatch.setattr(CheckProcess, "result", spied)


def test_the_check_process_writes_the_files_a_check_after_the_run_writes(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A run checked as it runs gives byte-identical results.json and report.html, and its summary's figures."""
    seen: list[Any] = []
    _spy(monkeypatch, seen)
    ahead = _run(tmp_path / "ahead", monkeypatch, ahead=True)
    assert len(seen) == 1 and seen[0][0] is not None and seen[0][1] is None, seen  # its result was used
    after = _run(tmp_path / "after", monkeypatch, ahead=False)
    assert len(seen) == 1
    assert _files(ahead) == _files(after)
    assert ahead.scan is not None and after.scan is not None
    assert (ahead.scan.counts, ahead.scan.latencies) == (after.scan.counts, after.scan.latencies)


def test_a_killed_check_process_costs_the_run_only_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check process killed mid-run: the run checks its files itself, with the same verdict and files."""
    seen: list[Any] = []

    def kill(process: CheckProcess) -> None:
        assert process._process is not None
        process._process.kill()

    _spy(monkeypatch, seen, kill)
    killed = _run(tmp_path / "killed", monkeypatch, ahead=True)
    assert len(seen) == 1 and seen[0][0] is None and seen[0][1], seen
    after = _run(tmp_path / "after", monkeypatch, ahead=False)
    assert _files(killed) == _files(after)
    assert killed.results["valid"] is True


def test_a_stalled_check_process_is_given_up_and_the_run_checks_itself(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped check process (SIGSTOP) is given up after STALL_SECONDS and killed; the verdict is the run's own."""
    seen: list[Any] = []
    pids: list[int] = []

    def stop(process: CheckProcess) -> None:
        assert process._process is not None
        pids.append(process._process.pid)
        os.kill(process._process.pid, signal.SIGSTOP)

    monkeypatch.setattr(check_process, "STALL_SECONDS", 0.5)
    _spy(monkeypatch, seen, stop)
    stalled = _run(tmp_path / "stalled", monkeypatch, ahead=True)
    assert len(seen) == 1 and seen[0][0] is None and "no result" in seen[0][1], seen
    assert stalled.results["valid"] is True and (stalled.run_dir / "report.html").is_file()
    with pytest.raises(ChildProcessError):  # killed and reaped, not left stopped
        os.waitpid(pids[0], os.WNOHANG)


def test_a_growing_file_is_read_as_the_finished_file_is(tmp_path: Path) -> None:
    """Events written a piece at a time (lines cut mid-way) read as the complete file does, ending only at the end."""
    path = tmp_path / "history.jsonl"
    lines = [b'{"history":1,"conflict":"lww","workload":"register"}\n'] + [
        b'{"index":%d,"time":%d,"process":0,"type":"%s","f":"put","key":"k","value":%d}\n'
        % (i, i * 1000, b"invoke" if i % 2 == 0 else b"ok", i // 2) for i in range(400)]
    data = b"".join(lines)
    path.write_bytes(b"")
    ended = threading.Event()

    def write() -> None:
        with path.open("ab", buffering=0) as f:
            for start in range(0, len(data), 997):  # pieces that cut lines
                f.write(data[start:start + 997])
                time.sleep(0.002)
        ended.set()

    writer = threading.Thread(target=write)
    with following([path], ended):
        writer.start()
        growing = list(iter_events(path))
        assert ended.is_set()  # the reader did not stop at a temporary end
    writer.join()
    assert growing == list(iter_events(path))
    assert len(growing) == 400
    with following([path], ended), GrowingFile(path, ended) as whole:
        assert b"".join(whole) == data


def test_the_journal_pass_takes_the_records_read_ahead_as_the_files_grew(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """History and journal written a piece at a time: the pass uses the read-ahead records, and the results are the
    finished files' check."""
    import checker.journal as journal_module
    from checker.api import check, harness_run_options
    from checker.follow import prefetch_journal
    from checker.journal_figures import pass_kinds
    from runner.journal import JOURNAL_NAME
    from runner.options import RunOptions

    done = run_short(tmp_path / "runs", seed=4)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "run.json").write_bytes((done.run_dir / "run.json").read_bytes())
    names = ("history.jsonl", JOURNAL_NAME)
    for name in names:
        (copy / name).write_bytes(b"")
    ended = threading.Event()

    def write() -> None:
        sources = [(done.run_dir / name).read_bytes() for name in names]
        with (copy / names[0]).open("ab", buffering=0) as h, (copy / names[1]).open("ab", buffering=0) as j:
            for start in range(0, max(map(len, sources)), 4093):
                h.write(sources[0][start:start + 4093])
                j.write(sources[1][start:start + 4093])
                time.sleep(0.001)
        ended.set()

    taken: list[Any] = []
    take = journal_module.take_prefetched

    def spied(path: Path, kinds: tuple[str, ...] | None) -> Any:
        taken.append(take(path, kinds))
        return taken[-1]

    monkeypatch.setattr(journal_module, "take_prefetched", spied)
    options = harness_run_options(RunOptions().checkers)
    writer = threading.Thread(target=write)
    with following([copy / name for name in names], ended):
        writer.start()
        prefetch_journal(copy / JOURNAL_NAME, pass_kinds)
        ahead = check(copy / "history.jsonl", options).results
    writer.join()
    assert [t is not None for t in taken] == [True], taken  # the pass read the records read ahead, once
    assert ahead == check(done.run_dir / "history.jsonl", options).results
    assert ahead["convergence"]["source"] == "journal"


def test_a_check_process_stopped_half_way_through_its_reply_never_holds_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply cut off mid-way by a process that then makes no progress: given up, the process killed, no hang."""
    import subprocess
    import sys

    monkeypatch.setattr(check_process, "STALL_SECONDS", 0.5)
    stuck = CheckProcess.__new__(CheckProcess)
    script = "import sys, time; sys.stdin.buffer.read(1); sys.stdout.buffer.write(b'\\x10\\0\\0\\0abc'); " \
             "sys.stdout.flush(); time.sleep(120)"
    stuck._process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert stuck._process.stdin is not None and stuck._process.stdout is not None
    stuck._to, stuck._from, stuck.failure = stuck._process.stdin, stuck._process.stdout, None
    process = stuck._process
    got: list[Any] = []
    waiting = threading.Thread(target=lambda: got.append(stuck.result(None)), daemon=True)
    waiting.start()
    waiting.join(60)
    if waiting.is_alive():
        process.kill()
        pytest.fail("result() hung on a reply cut off mid-way")
    assert got == [None] and stuck.failure is not None and "no progress" in stuck.failure
    assert process.poll() is not None  # killed and reaped
