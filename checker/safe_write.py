"""Write a file whole or not at all, through a temporary file nobody else can have planted.

A fixed temporary name (``NAME.tmp``) written with ``open``/``write_text`` follows a symlink left at
that name, so whatever it points to got the report and the target became that symlink. Here the
temporary file is created by ``tempfile.mkstemp`` (O_CREAT | O_EXCL, a random name, no symlink
followed) in the target's own directory and renamed over the target in one step; on any failure it
is removed, so no half-written file is left behind either.

What replacing (rather than writing into) the target means:

- an existing regular file's permission bits are kept (a 0600 report stays 0600); a new file gets the
  mode any new file gets under the umask;
- a symlink at the target is replaced by a regular file: the link's own target is left untouched;
- a hard link to the old file keeps the old content (the target's name gets a new inode).

A write that fails without naming a file (ENOSPC, EDQUOT, EFBIG, EIO while writing or closing) is
raised naming the target, so the user learns which path could not be written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}
"""Errors of a write or close that name no file: raised again naming the target."""


def _kept_mode(target: Path) -> int:
    """The permission bits the new file gets: an existing regular file's own, else a new file's under the umask."""
    try:
        st = os.lstat(target)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode)
    return 0o666 & ~_umask()


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
        os.fchmod(fd, _kept_mode(target))  # mkstemp makes 0600: the old file's mode, else a new file's
        try:
            with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
                yield fh
        except OSError as e:  # a full disk says no path: name the target
            if e.filename is None and e.errno in _WRITE_ERRORS:
                raise OSError(e.errno, e.strerror, str(target)) from None
            raise
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
