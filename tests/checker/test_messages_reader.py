"""The report reads the journal with the checker's own validated reader, and never shows a stale figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.api import check
from checker.journal import JournalError, load_journal
from checker.messages import read_journal
from checker.report import write_report

from .journal_builder import JournalBuilder, stamp
from .test_messages import dropped_replicate_run

DAMAGE = {
    "apply on a node the header does not list": ["A", 5, "x9", "k1", stamp(1), "client", True, False],
    "key placed twice differently": ["K", "k1", ["n1", "n2"]],
    "fault no layer decides": ["S", 5, 1, "n1", "n2", "replicate", "flood", 1, [["k1", stamp(1)]]],
    "stamp of two fields": ["A", 5, "n1", "k1", [1, 0], "client", True, False],
    "lifecycle event that does not exist": ["C", 5, "n1", "explode"],
    "won that is not a boolean": ["A", 5, "n1", "k1", stamp(1), "client", "yes", False],
}


@pytest.mark.parametrize("what", sorted(DAMAGE))
def test_every_damage_the_checker_refuses_the_report_refuses(tmp_path: Path, what: str) -> None:
    """Each damaged record the checker's reader refuses makes the report's reader raise the same JournalError."""
    j = JournalBuilder().replicas("k1", ("n1", "n2", "n3"))
    j.apply(1, "n1", "k1", stamp(1000))
    j.raw(json.dumps(DAMAGE[what]).encode())
    path = j.write(tmp_path / "journal.jsonl.gz")
    with pytest.raises(JournalError) as checker_error:
        list(load_journal(path).records())
    with pytest.raises(JournalError) as report_error:
        read_journal(path, {"k1"})
    assert str(report_error.value) == str(checker_error.value)


def test_a_record_after_end_is_refused_by_the_report_too(tmp_path: Path) -> None:
    """A record after the END record (two journals run together) is refused by both readers."""
    j = JournalBuilder().replicas("k1")
    j.apply(1, "n1", "k1", stamp(1000)).end(2).apply(3, "n2", "k1", stamp(1000))
    path = j.write(tmp_path / "journal.jsonl.gz")
    with pytest.raises(JournalError, match="after the END record"):
        read_journal(path, {"k1"})


def test_the_report_does_not_show_a_stale_convergence_figure_from_results_json(tmp_path: Path) -> None:
    """results.json whose journal figure no longer matches the journal/history: the report computes its own."""
    run = dropped_replicate_run(tmp_path / "run")
    results = check(run).results
    assert results["convergence"]["source"] == "journal"
    stale = {**results["convergence"], "keys_not_agreed": 0, "after_last_heal_s": 99.0, "last_heal_s": 3.0}
    (run / "results.json").write_text(json.dumps({**results, "convergence": stale}))
    page = write_report(run).read_text()
    assert "99.000" not in page
    assert "NOT converged" in page


def test_the_report_does_not_claim_a_journal_figure_once_the_journal_is_gone(tmp_path: Path) -> None:
    """results.json made with a journal, journal since removed: the report says the figure is the final reads'."""
    run = dropped_replicate_run(tmp_path / "run")
    (run / "results.json").write_text(json.dumps(check(run).results))
    (run / "journal.jsonl.gz").unlink()
    page = write_report(run).read_text()
    assert "measured from the journal" not in page and "NOT converged" not in page
