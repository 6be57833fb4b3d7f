"""The journal's writer process (``python -m runner.journal_writer``): encodes what the hooks noted.

In ``udp`` mode the run's ``Journal`` (``runner/journal.py``) only notes events; every chunk of
them is pickled and sent down this process's stdin, where a reader thread takes it off the pipe at
once (so the run's Trio thread never waits for the encoding) and the main thread encodes it with
the very code of the inline journal (``Journal._encode``, a ``Journal`` of its own that owns the
file), so the bytes are the same. The encoding's Python then runs on another core, off the run's
GIL.

The wire, both ways: a 4-byte little-endian length, then a pickle.
- stdin: first ``(parent_pid, journal_kwargs, clock_offset, CHUNK)``; then each chunk's list of noted
  events; at last ``("close", events, reason, clock_reading)``.
- stdout: ``("ended", reason)`` once when the size limit ends the journal early (the hooks then
  stop noting), and at the close ``("closed", records, end_reason, error, os_error)``: ``error`` is None or
  one line naming what failed; ``os_error`` is ``(errno, strerror, file)`` when that was an OS error (a full
  disk), which the parent raises as an ``OSError`` naming the journal file.

It is started by ``start`` (ignores SIGINT, dies with its parent: ``PR_SET_PDEATHSIG``, Linux), and a closed stdin without the close message
(the parent gone) ends it without a journal END record.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

HEADER = struct.Struct("<I")
PR_SET_PDEATHSIG = 1
QUEUE_CHUNKS = 16
"""Chunks read off the pipe and waiting to be encoded at most; past it the pipe fills and the parent
waits (bounded memory)."""


def pack(message: Any) -> bytes:
    """One message's bytes on the wire: its length, then its pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def send(stream: IO[bytes], message: Any) -> None:
    """One message: its length, then its pickle."""
    stream.write(pack(message))
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def start(module: str) -> subprocess.Popen[bytes]:
    """Start ``python -m <module>`` (a child of the run: the check process, the journal writer) on pipes.

    ``-P``: the harness's own tree (``ROOT`` on PYTHONPATH), never a ``runner`` package in the working
    directory, which ``-m`` alone would put first on sys.path. The child ignores SIGINT from its first
    instruction (a terminal's Ctrl-C reaches the whole process group; the run handles it and ends the
    child itself), and dies with the run (``PR_SET_PDEATHSIG``) even if it is stopped before it reads a
    message: both set between fork and exec (``preexec``; an ignored signal stays ignored across exec)."""
    from runner import ROOT

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-P", "-m", module], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, close_fds=True, preexec_fn=_preexec(os.getpid()))


def _preexec(parent: int) -> Callable[[], None]:
    prctl = None
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            prctl = None

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the run died between fork and prctl: no signal will come
                os._exit(1)

    return preexec


def usable_cores() -> int:
    """The cores this process may run on (its affinity: ``taskset``, a cgroup cpuset), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl: no signal will come
        os._exit(1)


def main() -> int:
    import runner.journal as journal_module
    from minikeydb.ring import Ring
    from runner.journal import Journal

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = receive(stdin)
    if first is None:
        return 1
    parent, kwargs, offset, chunk = first
    journal_module.CHUNK = chunk
    _die_with(parent)
    chunks: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CHUNKS)

    def reader() -> None:
        while True:
            data_head = stdin.read(HEADER.size)
            if len(data_head) < HEADER.size:
                chunks.put(None)
                return
            (size,) = HEADER.unpack(data_head)
            chunks.put(stdin.read(size))  # unpickled by the encoder, not here: the GIL is this thread's to give

    threading.Thread(target=reader, name="journal-reader", daemon=True).start()
    error: str | None = None
    os_error: tuple[int | None, str | None, str] | None = None
    journal: Journal | None = None

    def failed(failure: Exception) -> None:
        nonlocal error, os_error
        error = f"journal writer process: {type(failure).__name__}: {failure}"
        if isinstance(failure, OSError):  # a full disk, a file too large: the parent names the journal and the error
            os_error = (failure.errno, failure.strerror, str(failure.filename or kwargs["path"]))

    try:
        journal = Journal(clock=lambda: 0.0, **{**kwargs, "ring": Ring(*kwargs["ring"])})
        journal._offset = offset
    except Exception as failure:  # noqa: BLE001 - reported to the parent at the close
        failed(failure)
    told_end = False
    while True:
        data = chunks.get()
        if data is None:
            return 1  # the parent went away without closing
        item = pickle.loads(data)
        closing = type(item) is tuple
        if journal is not None and error is None:
            try:
                if closing:
                    _, events, reason, now = item
                    journal._finish(events, reason, now)
                else:
                    journal._encode(item)
            except Exception as failure:  # noqa: BLE001 - reported to the parent at the close
                failed(failure)
        if journal is not None and closing and error is not None and not journal._raw.closed:
            with contextlib.suppress(OSError):  # the disk that failed a write may fail the gzip trailer too
                journal._close_files()
        if closing:
            records = journal.records if journal is not None else 0
            end = journal.end_reason if journal is not None else None
            send(stdout, ("closed", records, end, error, os_error))
            return 0
        if not told_end and (error is not None or (journal is not None and journal.end_reason is not None)):
            told_end = True
            send(stdout, ("ended", journal.end_reason if journal is not None else None))


def _main_without_traceback() -> int:
    """``main``; anything it did not report to the parent is one line on stderr, never a traceback (exit 1)."""
    try:
        return main()
    except Exception as failure:  # noqa: BLE001 - the process's last word
        with contextlib.suppress(OSError):
            print(f"journal writer process: {type(failure).__name__}: {failure}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    code = _main_without_traceback()
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    # No interpreter shutdown: the reader thread may still be blocked reading stdin, and finalizing
    # stdin under it aborts ("could not acquire lock ... at interpreter shutdown"). The journal file
    # is closed by now.
    os._exit(code)
