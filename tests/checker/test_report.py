"""report.html: self-contained, shows faults and anomalies, and scales past 10,000 operations."""

from __future__ import annotations

from checker.cli import main
from checker.report import DETAIL_LIMIT, write_report
from checker.synthetic import generate, write_history


def test_report_of_partition_run_is_self_contained(tmp_path):
    """The page inlines SVG plots, loads nothing from the network, and highlights proof events."""
    run = tmp_path / "run"
    run.mkdir()
    write_history(
        run / "history.jsonl", generate(seed=2, duration_s=6, processes=4, keys=5, merge="first-writer-wins")
    )
    assert main(["check", str(run)]) == 1
    page = write_report(run).read_text()
    assert page.count("<svg") >= 4
    assert "<script" not in page and 'src="http' not in page and "<link" not in page
    assert "partition" in page and 'class="proof"' in page and "INVALID" in page


def test_large_run_is_aggregated_not_capped(tmp_path):
    """Above the detail limit the timeline is binned and still counts every operation."""
    path = tmp_path / "history.jsonl"
    write_history(path, generate(seed=3, duration_s=40, processes=16, keys=50, think_ms=20))
    page = write_report(path).read_text()
    assert "binned into" in page
    import re

    n = int(re.search(r"([\d,]+) operations binned", page).group(1).replace(",", ""))
    assert n > DETAIL_LIMIT


def test_convergence_table_after_one_final_heal_is_titled_so(tmp_path):
    """Three partition windows closed by partition-stop and one final heal: the table says 'after the final heal'."""
    from .builder import History

    h = History()
    for i in range(3):
        h.at(1.0 + 2 * i)
        h.nemesis("partition-start", {"groups": [["n1"], ["n2", "n3"]]})
        h.put(0, "k1", f"p0-{i + 1}", node="n1")
        h.at(2.0 + 2 * i)
        h.nemesis("partition-stop")
    h.nemesis("heal")
    h.at(9.0)
    h.final("k1", {"n1": "p0-3", "n2": "p0-3"})
    run = tmp_path / "run"
    run.mkdir()
    h.write(run / "history.jsonl")
    page = write_report(run).read_text()
    assert "Convergence after the final heal" in page and "after each heal" not in page


def test_a_fault_kind_the_checker_does_not_know_gets_a_stable_colour_of_its_own():
    """Known kinds keep their table colour; an unknown kind gets a palette colour fixed by its name, not grey."""
    from checker.report import FAULT_COLORS, OTHER_FAULT_COLORS, fault_color

    assert all(fault_color(kind) == colour for kind, colour in FAULT_COLORS.items())
    new = {kind: fault_color(kind) for kind in ("disk-stall", "bitflip", "skew-drift", "membership")}
    assert all(colour in OTHER_FAULT_COLORS for colour in new.values())
    assert new == {kind: fault_color(kind) for kind in new}  # the same in every report
    assert len(set(new.values())) > 1  # derived from the name, not one fallback


def test_report_from_the_checks_own_pass_is_the_report_of_a_pass_of_its_own(tmp_path):
    """check_for_report's one pass gives write_report the same page as the report's own second pass."""
    from checker.api import check, harness_run_options
    from checker.report import check_for_report

    run = tmp_path / "run"
    run.mkdir()
    write_history(run / "history.jsonl", generate(seed=5, duration_s=8, processes=4, keys=5))
    options = harness_run_options(["convergence"])
    separate = check(run / "history.jsonl", options).results
    two_passes = write_report(run, separate).read_bytes()
    checked, prepared = check_for_report(run / "history.jsonl", options)
    assert prepared is not None and checked.results == separate
    assert write_report(run, checked.results, prepared=prepared).read_bytes() == two_passes


def test_a_history_with_anomalies_gets_the_reports_own_pass(tmp_path):
    """With anomalies the plots need their keys' events, known only after the check: no shared pass."""
    from checker.api import harness_run_options
    from checker.report import check_for_report

    path = tmp_path / "history.jsonl"
    write_history(path, generate(seed=2, duration_s=6, processes=4, keys=5, merge="first-writer-wins"))
    checked, prepared = check_for_report(path, harness_run_options(["convergence"]))
    assert checked.results["anomalies"] and prepared is None
