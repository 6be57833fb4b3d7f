#!/usr/bin/env python3
"""MinikeyDB's test harness: ``python harness.py --nodes 5 --nemesis partition``.

Subcommands: ``run`` (the default), ``check``, ``report``, ``export``, ``replay``, ``explore``;
``python harness.py SUBCOMMAND --help`` for each.
"""

import os
import signal
import sys
from collections.abc import Iterable
from typing import TextIO


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """Ctrl-C (or SIGTERM) while the imports run: one line and 128 + signal, not an import traceback.

    Nothing has started yet (no run directory, no process), so there is nothing to clean up.
    """
    os.write(2, f"\ninterrupted by {signal.Signals(signum).name} while starting\n".encode())
    os._exit(128 + signum)


def _exit(code: int | str | None) -> None:
    """Exit with ``code`` without tearing the interpreter down object by object.

    A run's heap (the check's and the report's structures, the simulation's) took 0.3-0.5 s to free
    at exit, after everything was written. The exit handlers still run (logging's flush, weakref
    finalizers, multiprocessing's joins), and the output is flushed first; only the freeing of
    memory the process gives back anyway is skipped. The interpreter's own exit is kept whenever it
    would do more: a non-daemon thread still running, or stdout that cannot be flushed (a closed pipe).
    """
    import atexit
    import threading

    if type(code) is not int:
        sys.exit(code)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if not _flushed():
        sys.exit(code)
    if others or not hasattr(atexit, "_run_exitfuncs"):
        sys.exit(code)
    atexit._run_exitfuncs()
    if not _flushed():
        sys.exit(code)
    os._exit(code)


def _flushed() -> bool:
    """Flush stdout and stderr; False if one could not be (a closed pipe); a stream that is None (the process
    was started with that descriptor closed, ``>&-``) has nothing to flush."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            return False
    return True


def _reopen_closed_standard_streams() -> None:
    """A stdout or stderr closed at start (``>&-``) becomes /dev/null, so that every print and flush
    (and every child process that inherits the descriptor) works and the exit code stays the verdict's."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
        setattr(sys, name, open(fd, "w", closefd=False))


class _StdoutGuard:
    """``sys.stdout`` for every command: a stdout that cannot be written (``> /dev/full``, an I/O error) is
    said once on stderr and then dropped, so the command goes on and exits with its own code (a verdict).

    A reader that has gone (``| head``, ``BrokenPipeError``) is still raised: each command ends quietly
    there with the code it had decided (``minikeydb.cli.quiet_broken_pipe``, the checker's own handling).
    Everything else is the stream's own (``fileno``, ``isatty``, ``buffer``, ...).
    """

    def __init__(self, stream: "TextIO") -> None:
        self._stream = stream
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as failure:
            self._give_up(failure)
            return len(text)

    def writelines(self, lines: "Iterable[str]") -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as failure:
            self._give_up(failure)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    def _give_up(self, failure: OSError) -> None:
        """One line on stderr the first time; stdout then points at /dev/null, so what is left in its buffer
        (and anything a child process inherits the descriptor for) goes nowhere instead of failing again."""
        if self.failure is None:
            self.failure = failure
            command = sys.argv[1] if sys.argv[1:2] and not sys.argv[1].startswith("-") else "run"
            why = failure.strerror or failure
            print(f"harness.py {command}: its output could not be written to stdout ({why}); the rest of it is "
                  "dropped, the files are written as usual and the exit code is the command's own",
                  file=sys.stderr, flush=True)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
            self._stream.flush()
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    _reopen_closed_standard_streams()
    sys.stdout = _StdoutGuard(sys.stdout)
    previous = {s: signal.signal(s, _interrupted_while_starting) for s in (signal.SIGINT, signal.SIGTERM)}
    # Each command imports only what it needs: check, report and export only the checker (not the
    # runner, the store, Trio or the nemesis, whose imports took longer than checking a small history).
    from checker.cli import COMMANDS as CHECKER_COMMANDS

    if sys.argv[1:2] and sys.argv[1] in CHECKER_COMMANDS:
        from checker.cli import main as checker_main

        def ready() -> int:
            return checker_main(sys.argv[1:])
    else:
        from runner.cli import command

        ready = command()
    # From here the commands handle signals themselves. A SIGINT ignored at start (a script's background job,
    # ``cmd &``) becomes Python's KeyboardInterrupt: put back as ignored, a Ctrl-C between here and a command's
    # own handler was lost, and ``maelstrom explore`` then ran every seed and exited 0.
    if previous[signal.SIGINT] is signal.SIG_IGN:
        previous[signal.SIGINT] = signal.default_int_handler
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    try:
        code = ready()
    except KeyboardInterrupt:  # landed before the command's own handling began: nothing had started
        os.write(2, b"\ninterrupted by SIGINT while starting\n")
        code = 128 + signal.SIGINT
    _exit(code)
