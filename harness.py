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
    os.write(2, f"\ninterrupted by {signal.Signals(signum).name} while starting\n".encode())
    os._exit(128 + signum)


if __name__ == "__main__":
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
    for signum, handler in previous.items():  # from here the commands handle signals themselves
        signal.signal(signum, handler)
    sys.exit(ready())
