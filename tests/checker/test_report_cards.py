"""report.html's summary cards and small captions say what was measured: counts split by what happened."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from checker.report import write_report

EXAMPLES = Path(__file__).resolve().parents[2] / "histories" / "examples"


def _card(page: str, label: str) -> tuple[str, str]:
    """(value, sub-line) of the summary card ``label``."""
    m = re.search(rf"<div>{re.escape(label)}<b>([^<]*)</b><span class='sub'>([^<]*)</span></div>", page)
    assert m is not None, label
    return html.unescape(m.group(1)), html.unescape(m.group(2))


def test_never_completed_operations_are_not_called_drained(tmp_path: Path) -> None:
    """A client operation invoked and never completed (a run cut short) is counted apart from the drained ones
    in the "client operations" card: it did not complete after the load, it never completed."""
    run = tmp_path / "run"
    shutil.copytree(EXAMPLES / "shrunk-ack-before-durable", run)
    with (run / "history.jsonl").open("a") as fh:
        fh.write('{"index":7,"time":5060000000,"process":9,"type":"invoke","f":"put","key":"k0","value":"p9-1",'
                 '"node":"n2"}\n')
    value, sub = _card(write_report(run, out=tmp_path / "r.html").read_text(), "client operations")
    assert value == "2"
    assert "1 completed within the 2.05 s load" in sub
    assert "1 never completed (counted info)" in sub and "drained" not in sub
