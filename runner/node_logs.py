"""What the nodes logged as errors during a run: counted by exception type, surfaced in the summary.

A node that raises in a message handler logs an ERROR with a traceback and carries on, so the
history (and the verdict) may never show it: anti-entropy failing every round with ``TooLarge``
looked like a healthy run. The harness reads every node log after the run, streaming (bounded
memory however long the run), and records each exception type with a count and its first message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MESSAGE_CHARS = 200


def scan_node_logs(nodes_dir: Path) -> dict[str, Any]:
    """``{"errors": n, "exceptions": {type: {"count": n, "first": message}}}`` over ``nodes_dir/*.log``."""
    errors = 0
    exceptions: dict[str, dict[str, Any]] = {}
    for log in sorted(nodes_dir.glob("*.log")):
        in_traceback = False
        with log.open("r", errors="replace") as lines:
            for line in lines:
                if " ERROR " in line or " CRITICAL " in line:
                    errors += 1
                if line.startswith("Traceback (most recent call last)"):
                    in_traceback = True
                    continue
                if in_traceback and line.strip() and not line[0].isspace() and not line.startswith("^"):
                    in_traceback = False
                    name, _, message = line.strip().partition(": ")
                    entry = exceptions.setdefault(name, {"count": 0, "first": message[:MESSAGE_CHARS],
                                                         "log": log.name})
                    entry["count"] += 1
    return {"errors": errors, "exceptions": exceptions}


def describe(scan: dict[str, Any]) -> list[str]:
    """Summary lines: nothing when the logs are clean."""
    if not scan or not (scan.get("errors") or scan.get("exceptions")):
        return []
    lines = [f"  node logs: {scan['errors']} ERROR line(s)"
             + (", exceptions:" if scan["exceptions"] else "")]
    for name, e in sorted(scan["exceptions"].items(), key=lambda item: -item[1]["count"]):
        lines.append(f"    {name} x{e['count']} (first in nodes/{e['log']}: {e['first']})")
    return lines
