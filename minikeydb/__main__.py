"""``python -m minikeydb``: the command line (see ``minikeydb.cli``)."""

import sys

from .streams import guard_standard_streams

# A stdout or stderr that cannot be written (closed, a full device) never changes the exit code.
guard_standard_streams(" ".join(["minikeydb", *[a for a in sys.argv[1:] if not a.startswith("-")][:1]]))

from .cli import main  # noqa: E402 (the guards are in place before anything else is imported)

sys.exit(main())
