"""Errors the nodes log (a handler's traceback) are counted by exception type for the summary."""

from __future__ import annotations

from pathlib import Path

from runner.node_logs import describe, scan_node_logs

LOG = """2026-11-25 14:49:58,479 minikeydb.node ERROR node n3: error handling Digests(id=1, src='n5')
Traceback (most recent call last):
  File "/x/minikeydb/node.py", line 10, in dispatch
    await handler(message)
  File "/x/minikeydb/wire.py", line 20, in encode
    raise TooLarge(f"message of {len(payload)} bytes exceeds the limit")
    ^^^^^^^^^^^^^^
minikeydb.wire.TooLarge: message of 64172 bytes exceeds the 60000-byte datagram limit
2026-11-25 14:49:59,000 minikeydb.node INFO node n3: all well
"""


def test_a_handler_traceback_is_counted_and_named(tmp_path: Path) -> None:
    """Two logs with one TooLarge traceback each: 2 errors, TooLarge x2, named in the summary lines."""
    (tmp_path / "n1.log").write_text(LOG)
    (tmp_path / "n2.log").write_text(LOG)
    scan = scan_node_logs(tmp_path)
    assert scan["errors"] == 2
    assert scan["exceptions"]["minikeydb.wire.TooLarge"]["count"] == 2
    assert "64172 bytes" in "\n".join(describe(scan))


def test_clean_logs_add_no_summary_line(tmp_path: Path) -> None:
    """A log with no error gives no summary line."""
    (tmp_path / "n1.log").write_text("2026-11-25 14:49:59,000 minikeydb.node INFO node n1: up\n")
    assert describe(scan_node_logs(tmp_path)) == []
