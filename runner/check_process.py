"""The check of a single simulated run, made while it runs (``python -m runner.check_process``).

A simulated run's one thread is busy until the simulation ends; then the check of the history, the
journal's figures and the report's plot data took another second, one after the other. Here they are
made on the second core as the files grow: this process reads ``history.jsonl`` and the journal
through ``checker.follow`` (reads at a file's end wait for more, until the run says the files are
complete), with the checker's own code, so what it computes is what ``runner.phases.finish`` would
compute from the finished files. The run hands the result to ``finish`` (``CheckProcess.result``),
which writes results.json and report.html as ever.

The wire is the journal writer's (``runner.journal_writer``: a 4-byte length, then a pickle).
- stdin: ``(parent_pid, history, journal or None, checkers, report)``; then ``("ended", journal block)``
  once both files are complete (closed by the run), with results.json's ``journal`` block (or None).
- stdout: ``("checked", CheckResult, ReportPass or None, scan or None)``, or ``("failed", why)``.

Started by ``journal_writer.start``: it ignores SIGINT from its start (the run handles Ctrl-C, and kills it),
dies with its parent (``PR_SET_PDEATHSIG``, armed before exec),
and ends when its stdin closes without ``"ended"``. Anything that goes wrong here costs only time:
the run then checks the files itself (``finish`` without a result), so the verdict never depends on
this process. Once the run ended, what was read is compared with the paths on disk (``checker.follow.changed_on_disk``):
a file deleted, replaced, truncated or rewritten meanwhile is "failed", so the run checks the files it leaves.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from . import journal_writer as wire

STALL_SECONDS = 10.0
"""Seconds the run waits, once its files are complete, while the process makes no progress (its CPU time
stands still: stopped, or blocked), before it checks the files itself. A process that still works (a
long run's tail) is waited for."""
POLL = 0.1


class CheckProcess:
    """The run's side: start the process, tell it the files are complete, take its result."""

    def __init__(self, history: Path, journal: Path | None, checkers: tuple[str, ...], report: bool) -> None:
        self._process: subprocess.Popen[bytes] | None = wire.start("runner.check_process")
        assert self._process.stdin is not None and self._process.stdout is not None
        self._to: IO[bytes] = self._process.stdin
        self._from: IO[bytes] = self._process.stdout
        self.failure: str | None = None
        self._send((os.getpid(), str(history), None if journal is None else str(journal), tuple(checkers), report))

    def _send(self, message: Any) -> None:
        try:
            self._to.write(wire.pack(message))
            self._to.flush()
        except OSError as failure:
            self._give_up(f"it could not be told ({failure})")

    def _give_up(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
        self.close()

    def result(self, run_journal: Mapping[str, Any] | None) -> tuple[Any, Any, Any] | None:
        """(CheckResult, ReportPass or None, scan or None) of the finished files, or None: check them here.

        Call once the history and the journal are closed; ``run_journal`` is results.json's ``journal``
        block (the check's ``run_journal``: why a journal is cut short). A signal meanwhile raises as anywhere outside
        the Trio run (``runner.interrupt``); the caller's ``close`` ends the process."""
        if self._process is None:
            return None
        self._send(("ended", None if run_journal is None else dict(run_journal)))
        if self._process is None:
            return None
        try:
            message = self._receive()
        except Exception as failure:  # noqa: BLE001 - a garbled reply: check here
            message = ("failed", f"{type(failure).__name__}: {failure}")
        self.close()
        if message is None:
            self.failure = self.failure or "it ended without a result"
            return None
        if message[0] != "checked":
            self.failure = str(message[1])
            return None
        return message[1], message[2], message[3]

    def _receive(self) -> Any:
        """The next message (the wire's length, then its pickle), or None: the process ended, or made no
        progress for ``STALL_SECONDS`` (then ``failure`` says so). Read with ``os.read`` a piece at a time
        as the pipe has it, so that a process stopped half-way through its reply never holds the run."""
        head = self._read(wire.HEADER.size)
        if head is None:
            return None
        body = self._read(wire.HEADER.unpack(head)[0])
        return None if body is None else pickle.loads(body)

    def _read(self, n: int) -> bytes | None:
        assert self._process is not None
        fd, pid = self._from.fileno(), self._process.pid
        parts: list[bytes] = []
        cpu, still = _cpu_ticks(pid), 0.0
        while n:
            if not select.select([fd], [], [], POLL)[0]:
                now = _cpu_ticks(pid)
                if now is None or now == cpu:
                    still += POLL
                else:
                    cpu, still = now, 0.0
                if still >= STALL_SECONDS:
                    self.failure = f"no result, and no progress for {STALL_SECONDS:g} s after the run"
                    return None
                continue
            piece = os.read(fd, min(n, 1 << 20))
            if not piece:
                return None
            parts.append(piece)
            n -= len(piece)
            still = 0.0
        return b"".join(parts)

    def close(self) -> None:
        """End the process (killed unless it already ended); idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(OSError):
            self._to.close()
        with contextlib.suppress(OSError):
            self._from.close()
        process.wait()


def _cpu_ticks(pid: int) -> int | None:
    """The CPU time a process used so far, in clock ticks (Linux's /proc), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    except (OSError, IndexError, ValueError):
        return None


def _exists(path: Path, ended: threading.Event) -> None:
    """Wait until ``path`` exists or the run's files are complete."""
    while not path.exists() and not ended.is_set():
        ended.wait(0.005)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = wire.receive(stdin)
    if first is None:
        return 1
    parent, history_name, journal_name, checkers, report = first
    wire._die_with(parent)
    ended = threading.Event()
    recorded: dict[str, Any] = {}
    """results.json's ``journal`` block, told at the end: read only once a journal's stream ended cut short
    (``checker.journal.cut_short_cause``), after ``ended``."""

    def control() -> None:
        message = wire.receive(stdin)
        if type(message) is not tuple or message[0] != "ended":
            os._exit(1)  # the run went away (or was interrupted) without its files complete: nothing to check
        recorded.update(message[1] or {})
        ended.set()

    threading.Thread(target=control, name="check-control", daemon=True).start()
    try:
        from checker.api import check, harness_run_options
        from checker.follow import changed_on_disk, following, prefetch_journal
        from checker.journal_figures import pass_kinds
        from checker.report import check_for_report

        from .scan import Scanner

        history = Path(history_name)
        journal = None if journal_name is None else Path(journal_name)
        paths = [history] if journal is None else [history, journal]
        with following(paths, ended):
            _exists(history, ended)
            if journal is not None:
                _exists(journal, ended)
                if journal.exists():
                    prefetch_journal(journal, pass_kinds, recorded)
            scanner = Scanner()
            options = harness_run_options(checkers)
            if report:
                checked, prepared = check_for_report(history, options, watch=scanner.watch, run_journal=recorded)
            else:
                checked, prepared = check(history, options, watch=scanner.watch, run_journal=recorded), None
            if not ended.is_set():  # read to the end before the end was told: impossible, unless the files were
                raise RuntimeError("the check ended before the run's files were complete")
            changed = changed_on_disk()
            if changed is not None:  # then the run checks the files it leaves, as a later `harness.py check` would
                raise RuntimeError(f"the run's files changed on disk: {changed}")
        wire.send(stdout, ("checked", checked, prepared, scanner.scan if scanner.complete else None))
    except BaseException as failure:  # noqa: BLE001 - the run checks the files itself
        with contextlib.suppress(Exception):
            wire.send(stdout, ("failed", f"check process: {type(failure).__name__}: {failure}"))
    return 0


if __name__ == "__main__":
    code = main()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(code)  # no interpreter shutdown: the control thread may be blocked reading stdin
