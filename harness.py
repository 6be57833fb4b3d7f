#!/usr/bin/env python3
"""MinikeyDB's test harness: ``python harness.py --nodes 5 --nemesis partition``.

Subcommands: ``run`` (the default), ``check``, ``report``, ``export``, ``replay``, ``explore``;
``python harness.py SUBCOMMAND --help`` for each.
"""

import sys

from runner.cli import main

if __name__ == "__main__":
    sys.exit(main())
