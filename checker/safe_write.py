"""Write a file whole or not at all, through a temporary file nobody else can have planted.

A fixed temporary name (``NAME.tmp``) written with ``open``/``write_text`` follows a symlink left at
that name, so whatever it points to got the report and the target became that symlink. Here the
temporary file is created by ``tempfile.mkstemp`` (O_CREAT | O_EXCL, a random name, no symlink
followed) in the target's own directory and renamed over the target in one step; on any failure it
is removed, so no half-written file is left behind either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(target: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A new file (``mode`` "w" text UTF-8 or "wb") that becomes ``target`` when the block ends
    without an exception; ``target`` an existing directory: IsADirectoryError naming it."""
    target = Path(target)
    if target.is_dir() and not target.is_symlink():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:  # the directory is missing, a file, read-only: name what the user asked for
        raise OSError(e.errno, e.strerror, str(target)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a report is as readable as any new file
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
        try:
            os.replace(name, target)
        except OSError as e:  # name the target, not the temporary file the user never asked for
            raise OSError(e.errno, e.strerror, str(target)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def write_atomic(target: Path, data: str | bytes) -> Path:
    """``target`` holds ``data`` (str as UTF-8), replaced in one rename; see ``atomic_open``."""
    with atomic_open(target, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)
    return Path(target)
