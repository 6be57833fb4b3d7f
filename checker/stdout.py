"""Stdout that can no longer take output (a closed pipe, a full device): pointed at /dev/null.

Shared by ``harness.py``'s checker commands (``checker/cli.py``) and the standalone
``python -m checker.linearizable``, which imports nothing heavier than this; standard library only.
"""

from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that the rest of the output and the interpreter's flush at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no real file (a test's capture)
        pass
