"""What Maelstrom's log flags show on the console, on the harness's stderr (stdout keeps the summary).

- ``--log-stderr``: each line a node writes on its stderr, prefixed with the node's id (the whole
  stream, up to ``node_process.MAX_LOG`` bytes a node, is in ``nodes/<id>.log`` with or without the flag);
- ``--log-net-send``: each message as it enters the network (from a node, a client or a service);
- ``--log-net-recv``: each message as it reaches its destination (a node's stdin, a client, a service).

A node's bytes are shown safely: control characters (a terminal escape, say) as ``\\x1b``, and a line
longer than ``MAX_SHOWN`` characters cut with the count of what was left out.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import trio

from .protocol import dumps

MAX_SHOWN = 2000
"""Characters of one stderr line or message shown on the console (the log file keeps all)."""
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0a, 0x20), 0x7f)}
_CONTROL.update({c: f"\\x{c:02x}" for c in range(0x80, 0xa0)})


def printable(text: str) -> str:
    """``text`` with control characters escaped and cut at ``MAX_SHOWN`` characters."""
    text = text.translate(_CONTROL)
    if len(text) > MAX_SHOWN:
        text = f"{text[:MAX_SHOWN]}... ({len(text) - MAX_SHOWN} more characters)"
    return text


class Console:
    """The flags' output; ``out`` is the harness's stderr unless a test gives another stream."""

    def __init__(self, stderr: bool, net_send: bool, net_recv: bool, out: TextIO | None = None) -> None:
        self.stderr = stderr
        self.net_send = net_send
        self.net_recv = net_recv
        self.out = out
        self._start: float | None = None

    def _write(self, text: str) -> None:
        out = self.out if self.out is not None else sys.stderr
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError):
            pass  # a closed console must not fail the run

    def _time(self) -> str:
        try:
            now = trio.current_time()
        except RuntimeError:
            return "      -"
        if self._start is None:
            self._start = now
        return f"{now - self._start:7.3f}"

    def node_stderr(self, node_id: str, line: bytes) -> None:
        """One line node ``node_id`` wrote on its stderr (``--log-stderr``)."""
        self._write(f"{node_id} stderr: {printable(line.decode('utf-8', 'replace'))}")

    def message(self, event: str, src: str, dest: str, body: Any) -> None:
        """``send`` or ``recv`` of one message (``--log-net-send`` / ``--log-net-recv``)."""
        try:
            text = dumps(body).decode("utf-8", "replace")
        except (TypeError, ValueError):
            text = repr(body)
        self._write(f"{self._time()} {event} {src} -> {dest} {printable(text)}")
