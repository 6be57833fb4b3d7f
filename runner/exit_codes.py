"""Every exit code of ``harness.py``, in one place: the commands return these and their help texts quote them.

As in Jepsen and docs/HISTORY.md, a run (and ``check``) exits with its verdict: 0 valid, 1 invalid,
2 unknown. 254 is bad arguments or unreadable input (with a message saying what to use), 255 an
internal error, 128 + the signal's number a run a signal stopped (130 Ctrl-C, 143 SIGTERM).
``replay`` of a simulated run says whether the history matched; ``explore`` whether it found a
failing run. Importing this module costs nothing (``harness.py check`` reads it too).
"""

from __future__ import annotations

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2
"""The verdict of a run or a check."""
EXIT_USAGE = 254
"""Bad flags, a bad run.json or config file, an unusable --out: one line saying what to use."""
EXIT_INTERNAL = 255
"""An internal error: one line (the traceback with -v)."""
EXIT_SIGNAL_BASE = 128
"""A run stopped by a signal exits 128 + its number (``RunInterrupted.exit_code``)."""
EXIT_CTRL_C = EXIT_SIGNAL_BASE + 2
"""Ctrl-C outside a run's own handling (while starting, or a KeyboardInterrupt): 130."""

REPLAY_EXIT_IDENTICAL, REPLAY_EXIT_DIFFERENT, REPLAY_EXIT_UNCONFIRMED = 0, 1, 2
"""``replay`` of a sim run: the history is byte-identical, it differs, nothing (whole) to compare with: no
recorded history, or an interrupted one identical up to the interruption."""
EXPLORE_EXIT_ALL_VALID, EXPLORE_EXIT_FOUND = 0, 1
"""``explore``: every run was valid, or an invalid run was found (and shrunk)."""

REPLAY_EXIT_HELP = (
    f"Exit code: for a sim run it says whether the replay matched, not the verdict: {REPLAY_EXIT_IDENTICAL} the "
    f"history is byte-identical, {REPLAY_EXIT_DIFFERENT} it differs, {REPLAY_EXIT_UNCONFIRMED} nothing to compare "
    "with: no recorded history, or the recorded run was interrupted and its history is identical up to the "
    "interruption (the verdict, which may be INVALID for a seeded bug, is printed; `harness.py check RUN` exits with it). "
    "For udp, processes and Maelstrom runs, which cannot be reproduced byte for byte, it is the new run's verdict "
    "(a Maelstrom replay prints whether each process's events were the recorded ones): "
    f"{EXIT_VALID} valid, {EXIT_INVALID} invalid, {EXIT_UNKNOWN} unknown. {EXIT_USAGE} bad arguments or run.json. "
    "Output goes beside RUN, or under histories/ for histories/examples/*, or to --out."
)


def verdict_exit(valid: object) -> int:
    """The exit code of a verdict (``results.json`` ``valid``): True 0, False 1, anything else 2."""
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(valid, EXIT_UNKNOWN)  # type: ignore[call-overload]
