"""Standard streams that cannot be written never change a command's exit code (``harness.py``, ``python -m minikeydb``).

``guard_standard_streams`` runs first in both entry points: a stdout or stderr closed at start (``>&-``) becomes
/dev/null; a stdout that cannot be written (``> /dev/full``, an I/O error) is said once on stderr and then dropped;
a stderr that cannot be written (``2> /dev/full``, a reader that has gone) is dropped silently. The command goes on
and exits with its own code (a verdict, 254 for a bad flag). Standard library only: the harness and the checker
import it without the store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

CLOSED_AT_START: set[str] = set()
"""The standard streams ("stdout", "stderr") that were closed at start and now point at /dev/null: a command
whose output is its product (``harness.py export --out -``) fails rather than write it nowhere."""


def reopen_closed_standard_streams() -> None:
    """A stdout or stderr closed at start (``>&-``) becomes /dev/null, so that every print and flush
    (and every child process that inherits the descriptor) works and the exit code stays the command's."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        CLOSED_AT_START.add(name)
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
        setattr(sys, name, open(fd, "w", closefd=False))


class StdoutGuard:
    """``sys.stdout``: a stdout that cannot be written (``> /dev/full``, an I/O error) is said once on stderr
    (``said(why)``) and then dropped, so the command goes on and exits with its own code.

    A reader that has gone (``| head``, ``BrokenPipeError``) is still raised: each command ends quietly
    there with the code it had decided (``minikeydb.cli.quiet_broken_pipe``, the checker's own handling).
    Everything else is the stream's own (``fileno``, ``isatty``, ``buffer``, ...).
    """

    _raise_broken_pipe = True

    def __init__(self, stream: TextIO, said: Callable[[str], str] | None = None) -> None:
        self._stream = stream
        self._said = said
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError as failure:
            if self._raise_broken_pipe:
                raise
            self._give_up(failure)
            return len(text)
        except OSError as failure:
            self._give_up(failure)
            return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError as failure:
            if self._raise_broken_pipe:
                raise
            self._give_up(failure)
        except OSError as failure:
            self._give_up(failure)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    def _give_up(self, failure: OSError) -> None:
        """The line on stderr the first time (a guarded stderr: if it cannot be written either, it is dropped);
        the stream's descriptor then points at /dev/null, so what is left in its buffer (and anything a child
        process inherits the descriptor for) goes nowhere instead of failing again."""
        if self.failure is None:
            self.failure = failure
            if self._said is not None:
                print(self._said(str(failure.strerror or failure)), file=sys.stderr, flush=True)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
            self._stream.flush()
        except (OSError, ValueError):
            pass


class StderrGuard(StdoutGuard):
    """``sys.stderr``: a stderr that cannot be written (``2> /dev/full``, a reader that has gone, an I/O error)
    is dropped silently (there is nowhere left to say it), so a note, a warning or an error message that cannot
    be written never changes the command's exit code nor stops a run."""

    _raise_broken_pipe = False


def guard_standard_streams(command: str, files: bool = False) -> None:
    """Reopen closed standard streams and put ``sys.stderr`` and ``sys.stdout`` behind their guards.

    ``command`` names the command in the one line a failing stdout gets (``harness.py check``), besides whatever
    the command itself says on stderr (a banner, progress notes); ``files`` says that the command writes files,
    which are written as usual."""
    reopen_closed_standard_streams()
    also = ", the files are written as usual" if files else ""

    def said(why: str) -> str:
        return (f"{command}: its output could not be written to stdout ({why}); the rest of it is dropped"
                f"{also} and the exit code is the command's own")

    sys.stderr = StderrGuard(sys.stderr)
    sys.stdout = StdoutGuard(sys.stdout, said)
