"""MinikeyDB's checker: reads a recorded history and gives a verdict, never importing the store.

Entry points: `check_path` (read + convergence check), `checker.history.read_events`,
`checker.convergence.check_events`, `checker.report.write_report`, and `checker.cli.main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checker.convergence import check_events as check_events
from checker.history import HistoryError as HistoryError
from checker.history import iter_events as iter_events
from checker.history import read_events as read_events


def check_path(path: str | Path) -> dict[str, Any]:
    """Read a history file (or a run directory's history.jsonl) and check it for convergence.

    Streams the file, so memory stays proportional to the number of keys and writes, not events.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "history.jsonl"
    return check_events(iter_events(p))
