"""The report's convergence section leads with the journal's measured figures and labels the final reads' bound."""

from __future__ import annotations

from pathlib import Path

from checker.report import RELATION, write_report

from .test_messages import dropped_replicate_run


def test_measured_charts_come_first_and_the_bound_is_labelled(tmp_path: Path) -> None:
    """With a journal: the lag distribution and per-heal chart precede the final reads' chart, titled an upper bound."""
    page = write_report(dropped_replicate_run(tmp_path / "run")).read_text()
    section = page[page.index("<h2>Convergence</h2>"):]
    lag = section.index("Replication lag per write (measured, from the journal)")
    heal = section.index("After each heal: until every earlier write was on all replicas")
    bound = section.index("<h3>Upper bound: when the final reads agreed</h3>")
    assert lag < bound and heal < bound
    assert "How the numbers relate:" in section[:bound] and RELATION.split(";")[0] in page
    assert "1 write not on all" in section[:bound]  # the write the partition kept from n2 and n3


def test_without_a_journal_only_the_bound_is_charted_and_says_why(tmp_path: Path) -> None:
    """No journal: no measured chart, a sentence that the only figure is the final reads' upper bound."""
    run = dropped_replicate_run(tmp_path / "run")
    (run / "journal.jsonl.gz").unlink()
    section = write_report(run).read_text().split("<h2>Convergence</h2>")[1]
    assert "Replication lag per write" not in section
    assert "the only figure is the final reads' upper bound" in section


def _text(page: str) -> str:
    """The page's visible words (tags dropped), for sentences that span an SVG's elements."""
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_no_last_key_agreed_bar_when_keys_never_agreed(tmp_path: Path) -> None:
    """bug-no-repair (4 of 10 keys never agree): the wait bar claims no time "until the last key agreed";
    it says the final reads ended with keys not agreed (not reached), and how long they ran."""
    example = Path(__file__).resolve().parents[2] / "histories" / "examples" / "bug-no-repair"
    text = _text(write_report(example, out=tmp_path / "r.html").read_text())
    assert "4 of 10 keys still disagreed at their last final reads" in text
    assert "until the last key agreed" not in text and "final reads: 10 ms" not in text
    assert "last key agreed: not reached" in text
    assert "15.20 s of final reads, which ended with 4 keys still disagreeing at their last reads" in text
