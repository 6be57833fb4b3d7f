#!/usr/bin/env python3
"""MinikeyDB's test harness: ``python harness.py --nodes 5 --nemesis partition``.

Subcommands: ``run`` (the default), ``check``, ``report``, ``export``, ``replay``, ``explore``;
``python harness.py SUBCOMMAND --help`` for each.
"""

import os
import signal
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """Ctrl-C (or SIGTERM) while the imports run: one line and 128 + signal, not an import traceback.

    Nothing has started yet (no run directory, no process), so there is nothing to clean up.
    """
    _write_stderr(f"\ninterrupted by {signal.Signals(signum).name} while starting\n".encode())
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


def _write_stderr(data: bytes) -> None:
    """``os.write(2, data)``, dropped if stderr cannot be written (a signal's note must not become a traceback)."""
    try:
        os.write(2, data)
    except OSError:
        pass


if __name__ == "__main__":
    from minikeydb.streams import guard_standard_streams  # standard library only: nothing of the store

    named = sys.argv[1] if sys.argv[1:2] and not sys.argv[1].startswith("-") else "run"
    guard_standard_streams(f"harness.py {named}", files=named not in ("check", "export"))  # these write no file
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
        _write_stderr(b"\ninterrupted by SIGINT while starting\n")
        code = 128 + signal.SIGINT
    _exit(code)
