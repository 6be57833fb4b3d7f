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
        fh.write('{"index":7,"time":5060000000,"process":9,"type":"invoke","f":"put","key":"k9","value":"p9-1",'
                 '"node":"n2"}\n')
    value, sub = _card(write_report(run, out=tmp_path / "r.html").read_text(), "client operations")
    assert value == "2"
    assert "1 completed within the 2.05 s load" in sub
    assert "1 never completed (counted info)" in sub and "drained" not in sub


def test_pbs_table_marks_each_sparse_column_it_draws_hollow() -> None:
    """A bin of 27 reads split 18 healthy / 9 under faults: both split cells (drawn hollow, under the minimum)
    say too few reads, though the all-reads count is enough; a split cell with enough reads says nothing."""
    from checker.report import MIN_PBS_READS, _pbs_table

    assert MIN_PBS_READS == 20
    pbs = [{"t_ms_from": 10, "t_ms_to": 20, "reads": 27, "fresh": 27, "probability": 1.0},
           {"t_ms_from": 20, "t_ms_to": 50, "reads": 40, "fresh": 40, "probability": 1.0}]
    split = {"healthy": [{"t_ms_from": 10, "t_ms_to": 20, "reads": 18, "fresh": 18, "probability": 1.0},
                         {"t_ms_from": 20, "t_ms_to": 50, "reads": 30, "fresh": 30, "probability": 1.0}],
             "under_faults": [{"t_ms_from": 10, "t_ms_to": 20, "reads": 9, "fresh": 9, "probability": 1.0},
                              {"t_ms_from": 20, "t_ms_to": 50, "reads": 10, "fresh": 10, "probability": 1.0}]}
    table = _pbs_table(pbs, split)
    assert "<td>1.00 of 18 (too few reads)</td>" in table and "<td>1.00 of 9 (too few reads)</td>" in table
    assert "<td>1.00 of 10 (too few reads)</td>" in table and "<td>1.00 of 30</td>" in table


def test_a_rate_under_one_op_per_second_is_not_shown_as_zero(tmp_path: Path) -> None:
    """shrunk-ack-before-durable completed 1 operation in its 2.05 s load: the card shows the recorded
    0.49 ops/s, not "0 ops/s"."""
    _, sub = _card(write_report(EXAMPLES / "shrunk-ack-before-durable", out=tmp_path / "r.html").read_text(),
                   "client operations")
    assert "(the achieved rate, 0.49 ops/s)" in sub and "0 ops/s)" not in sub.replace("0.49 ops/s)", "")
