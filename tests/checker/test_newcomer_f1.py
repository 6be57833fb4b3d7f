"""Figures a newcomer found misleading (f1), on synthetic histories: each counts what its label says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checker.cli import main
from checker.journal_figures import HistoryFacts, history_faults_block
from tests.checker.builder import History


def _ev(index: int, t_ms: float, process: Any, type_: str, f: str, **extra: Any) -> dict[str, Any]:
    return {"index": index, "time": int(t_ms * 1e6), "process": process, "type": type_, "f": f, **extra}


def _boundary_history() -> list[dict[str, Any]]:
    """A partition from 100 ms to 200 ms; operations around its start and stop."""
    n = "nemesis"
    return [
        _ev(0, 99.4, 1, "invoke", "get", key="a", value=None),      # just before the start, fails inside
        _ev(1, 99.9, 2, "invoke", "get", key="a", value=None),      # just before, ok before the start
        _ev(2, 99.95, 2, "ok", "get", key="a", value=None),
        _ev(3, 100.0, n, "info", "partition-start", value={"n1": ["n2"]}),
        _ev(4, 100.0, 3, "invoke", "put", key="a", value="x"),      # at the start, times out inside
        _ev(5, 150.0, 1, "fail", "get", key="a", value=None, error="unavailable"),
        _ev(6, 160.0, 3, "info", "put", key="a", value="x", error="timeout"),
        _ev(7, 190.0, 4, "invoke", "get", key="b", value=None),     # inside, fails after the stop
        _ev(8, 200.0, n, "info", "partition-stop", value=None),
        _ev(9, 210.0, 4, "fail", "get", key="b", value=None, error="unavailable"),
        _ev(10, 220.0, 5, "invoke", "get", key="b", value=None),    # after the window: not under it
        _ev(11, 230.0, 5, "fail", "get", key="b", value=None, error="unavailable"),
    ]


@pytest.mark.parametrize("writes_skipped", [False, True])
def test_an_operation_in_flight_when_a_window_starts_counts_under_it(writes_skipped: bool) -> None:
    """An operation invoked just before a fault window starts and failing inside it is counted under the window
    (as are those invoked at or after the start), one that ended before the start or began after the stop is not."""
    facts = HistoryFacts()
    facts.writes_skipped = writes_skipped
    facts.feed_all(_boundary_history())
    (window,) = history_faults_block([], facts)["bite"]
    assert window["ops"]["failed"] == 2, window  # index 5 (invoked before the start) and 9 (invoked inside)
    assert window["ops"]["timed_out"] == 1, window
    assert window["ops"]["invoked"] == 3, window  # in flight during the window: 0, 4, 7


def _operations_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith("operations"))


def test_check_operation_counts_say_whether_final_reads_are_in_them(tmp_path: Path, capsys: Any) -> None:
    """check's operations line says the convergence counts leave the final reads aside (and gives them) while the
    linearizability counts include them, so the two gets reconcile: ok gets + final reads = linearizable ok gets."""
    h = History()
    h.put(0, "k1", "p0-1")
    h.get(1, "k1", "p0-1")
    h.final("k1", {"n1": "p0-1", "n2": "p0-1"})
    path = str(h.write(tmp_path / "h.jsonl"))
    main(["check", path])
    conv = _operations_line(capsys.readouterr().out)
    main(["check", path, "--checker", "linearizable", "--model", "kv"])
    lin = _operations_line(capsys.readouterr().out)
    assert "final reads aside" in conv and "get 1 ok" in conv and "final reads 2" in conv, conv
    assert "final reads included" in lin and "get 3 ok" in lin, lin


def test_report_staleness_says_which_reads_the_pbs_curve_leaves_out_and_what_age_is(tmp_path: Path,
                                                                                    capsys: Any) -> None:
    """The PBS legend counts the reads with a t, the page says how many reads checked have none (no acknowledged
    write to their key before them) so the tile's figure reconciles, defines a stale read's age (as check's line
    does), and the bins table's last column has a header."""
    import json
    import re

    from checker.report import write_report
    from checker.synthetic import generate, write_history

    run = tmp_path / "run"
    run.mkdir()
    events = list(generate(seed=2, duration_s=6, processes=4, keys=5))
    first = [  # two gets of k0 before its first write ends: reads with no acknowledged write before them
        _ev(0, 1.0, 90, "invoke", "get", key="k0", value=None), _ev(1, 2.0, 90, "ok", "get", key="k0", value=None),
        _ev(2, 3.0, 90, "invoke", "get", key="k0", value=None), _ev(3, 4.0, 90, "ok", "get", key="k0", value=None)]
    write_history(run / "history.jsonl", ({**e, "index": i} for i, e in enumerate([*first, *events])))
    main(["check", str(run), "--write"])
    line = next(x for x in capsys.readouterr().out.splitlines() if "staleness:" in x)
    st = json.loads((run / "results.json").read_text())["stats"]
    page = write_report(run).read_text()
    with_t = sum(q["reads"] for q in st["pbs"])
    left_out = st["staleness"]["reads_checked"] - with_t
    assert left_out > 0
    assert f"all reads with a t ({with_t:,})" in page
    assert (f"{left_out:,} of the {st['staleness']['reads_checked']:,} reads checked began before any "
            "acknowledged write to their key") in page
    assert "age of a stale read" in page.lower() and "earliest" in page
    assert "age (read start minus" in line, line
    header = re.search(r"PBS bins: reads per bin</summary>.*?</tr>", page, re.S)
    assert header is not None and "<th></th>" not in header.group(0)


def test_replication_lag_caption_says_the_curves_are_drawn_at_fixed_fractions() -> None:
    """The lag chart draws each group's writes at CDF_POINTS, not every write: its caption says so and names them
    (a 620-write curve rising in steps of 0.1 is the deciles)."""
    from checker.convergence import FinalAgreement
    from checker.journal_figures import CDF_POINTS
    from checker.report import _convergence_section

    conv = {"source": "journal", "replication_lag_ms": {"n": 3, "healthy": {"n": 3}},
            "replication_lag_cdf": {"healthy": [[0.0, 0.3333], [1.0, 0.6667], [2.0, 1.0]]}}
    page = _convergence_section(conv, FinalAgreement(0, 0, ()), [], None)
    assert "not every write" in page and "10 %, 20 %" in page and "99.9 %" in page
    assert len(CDF_POINTS) == 17 and "17 fixed fractions" in page


def test_report_says_why_processes_outnumber_clients_and_that_latency_n_leaves_out_info(tmp_path: Path) -> None:
    """The timeline's caption says a client takes a new process id after an info (so 0-N processes for fewer
    clients), and the latency table says its n leaves out info operations (no latency) and the final reads."""
    from checker.report import write_report

    run = tmp_path / "run"
    run.mkdir()
    h = History()
    h.put(0, "k1", "p0-1")
    h.put(0, "k1", "p0-2", typ="info")  # process 0 timed out: its client goes on as process 1
    h.put(1, "k1", "p1-1")
    h.get(1, "k1", "p1-1")
    h.final("k1", {"n1": "p1-1", "n2": "p1-1"})
    h.write(run / "history.jsonl")
    main(["check", str(run), "--write"])
    page = write_report(run).read_text()
    assert "3 processes include 1 retired after an info" in page  # 0, 1 and the final reader
    assert "takes a new process id after an info" in page
    assert "n counts ok and fail operations: info operations" in page


def test_maelstrom_report_labels_duration_and_msgs_per_op_counts(tmp_path: Path) -> None:
    """A Maelstrom run's report says its duration is first to last event (with where they fall from run start, the
    timeline's clock) and that msgs per op's operation count includes the final reads beside client operations."""
    import re
    import shutil

    from checker.report import write_report

    run = tmp_path / "run"  # a newcomer's shrunk maelstrom explore run: 7 client operations, 2 final reads
    shutil.copytree(Path(__file__).resolve().parent / "data" / "maelstrom-shrunk", run)
    main(["check", str(run), "--write"])
    page = write_report(run).read_text()
    cards = dict(re.findall(r"<div>([^<]*)<b>([^<]*)</b>", page))
    assert "duration (first to last event)" in cards, cards
    assert cards["duration (first to last event)"] == "1.615 s"
    assert "<span class='sub'>0.685 s to 2.300 s after run start (the timeline&#x27;s clock)</span>" in page
    msgs = next(v for k, v in cards.items() if k.startswith("msgs per op"))
    assert "9 operations: 7 client operations and 2 final reads" in msgs, msgs
