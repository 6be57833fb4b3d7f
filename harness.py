#!/usr/bin/env python3
"""MinikeyDB's test harness: ``python harness.py --nodes 5 --nemesis partition``.

Subcommands: ``run`` (the default), ``check``, ``report``, ``export``, ``replay``, ``explore``;
``python harness.py SUBCOMMAND --help`` for each.
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] in (["check"], ["report"], ["export"]):
        # Reading a history needs only the checker: not the store, Trio or the nemesis, whose
        # imports (through runner.cli) took longer than checking a small history.
        from checker.cli import main as checker_main

        sys.exit(checker_main(sys.argv[1:]))
    from runner.cli import main

    sys.exit(main())
