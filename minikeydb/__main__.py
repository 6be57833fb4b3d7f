"""``python -m minikeydb``: the command line (see ``minikeydb.cli``)."""

import sys

from .cli import main

sys.exit(main())
