"""SIGINT and SIGTERM during a run: stop the work in order, keep what the run has, exit 130 or 143.

Without this, SIGTERM killed the harness on the spot and left ``--mode processes`` node processes
running (holding their ports and data directories), and Ctrl-C surfaced as a KeyboardInterrupt
raised inside Trio's nurseries: an exception group, exit 1 (the code for INVALID).

``InterruptGuard`` owns both signals while a run is going. Inside the Trio run a signal only
cancels the run's outermost cancel scope, through ``TrioToken.run_sync_soon`` (safe from a signal
handler): every ``finally`` then runs as usual, node processes are stopped (shielded), and the
history is flushed and closed. The caller writes results.json with verdict ``unknown`` and reason
``interrupted`` and raises ``RunInterrupted``, which the CLI turns into one line and the exit code
128 + signal number. Outside the Trio run (setting up, checking the history) the handler raises
``RunInterrupted`` directly. A second signal while the first is being handled is ignored: the
shutdown it would cut short is bounded (a node process gets SIGKILL after a few seconds).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

import trio

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    """The run was stopped by a signal; ``exit_code`` is 128 + its number (130 SIGINT, 143 SIGTERM).

    A ``BaseException``, like ``KeyboardInterrupt``: an ``except Exception`` of a phase it lands in
    (a report that "could not be written") must not swallow it and end the run with exit 0.
    ``results_note`` says what results.json holds (set by whoever wrote it).
    """

    def __init__(self, signum: int, run_dir: object = None) -> None:
        self.signum = signum
        self.run_dir = run_dir
        self.results_note = "verdict unknown, reason interrupted"
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def signal_pending() -> bool:
    """True when the innermost entered guard has taken a signal: code that waits outside Trio (the
    journal's full pipe to its writer process) looks, and stops waiting."""
    guard = InterruptGuard.active
    return guard is not None and guard.interrupted


class InterruptGuard:
    """While entered (main thread only; elsewhere it does nothing), SIGINT/SIGTERM stop the run."""

    active: InterruptGuard | None = None
    """The innermost entered guard (main thread), for ``signal_pending``."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._previous: dict[int, Any] = {}
        self._deferred = False
        self._outer: InterruptGuard | None = None

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handler)
            self._outer, InterruptGuard.active = InterruptGuard.active, self
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._previous:
            InterruptGuard.active = self._outer
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    @property
    def interrupted(self) -> bool:
        return self.signum is not None

    def defer(self) -> None:
        """About to enter the Trio run: until ``attach``, a signal is only remembered."""
        self._deferred = True

    def attach(self, scope: trio.CancelScope) -> None:
        """Inside the Trio run: a signal from now on cancels ``scope``."""
        self._token = trio.lowlevel.current_trio_token()
        self._scope = scope
        if self.signum is not None:
            scope.cancel()

    def detach(self) -> None:
        """The Trio run is over: a signal from now on raises ``RunInterrupted`` where the program is."""
        self._token = None
        self._scope = None
        self._deferred = False

    def check(self) -> None:
        """Raise ``RunInterrupted`` if a signal came."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        token, scope = self._token, self._scope
        if token is not None and scope is not None:
            try:
                token.run_sync_soon(scope.cancel)
                return
            except trio.RunFinishedError:
                pass
        elif self._deferred:
            return
        raise RunInterrupted(signum)
