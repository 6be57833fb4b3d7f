"""The figures a user reads in the summary and report.html of one real sim run: where two differ, each says why;
a 0 ms lag says what 0 means; sparse PBS bins look uncertain; the quiescence wait is not drawn as convergence."""

from __future__ import annotations

import html
import re

import pytest

from runner.run import RunResult
from runner.summary import format_summary
from tests.sim.runs import run_short


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, str, str]:
    """One 4-virtual-second partition run (seed 0) with its report: (result, summary, report.html)."""
    result = run_short(tmp_path_factory.mktemp("figures"), report=True, nemesis=("partition",), time_limit=4.0,
                       rate=150.0)
    return result, format_summary(result), (result.run_dir / "report.html").read_text()


def test_summary_and_report_count_the_same_operations_and_say_why_the_rate_counts_fewer(
        run: tuple[RunResult, str, str]) -> None:
    """The summary's rate line gives the count it divides (completions within the load) and the table's total;
    report.html's "client operations" card shows that total with the same within-the-load count."""
    result, text, page = run
    done = result.throughput["completed"]
    total = sum(sum(c.values()) for c in result.results["stats"]["ops"].values())
    assert done <= total
    assert f"{done:,} operations completed within the 4 s load" in text
    assert f"the table below counts all {total:,}" in text
    card = re.search(r"<div>client operations<b>([\d,]+)</b><span class='sub'>([^<]*)</span></div>", page)
    assert card is not None, "the report's client operations card carries its label"
    assert card.group(1) == f"{total:,}"
    assert f"{done:,} completed within the 4 s load" in card.group(2)
    if total > done:
        assert f"{total - done:,} after it" in text and f"{total - done:,} after it" in card.group(2)


def test_a_report_made_again_of_the_run_keeps_the_runs_own_rate_count(run: tuple[RunResult, str, str], tmp_path) -> None:
    """`harness.py report RUN` judges the history again but still shows the run's measured within-the-load count
    (results.json stats.workload, which no check can compute) on its client operations card, as the run's page."""
    from checker.cli import main

    result, _, _ = run
    done = result.throughput["completed"]
    out = tmp_path / "again.html"
    assert main(["report", str(result.run_dir), "--out", str(out)]) == 0
    assert f"{done:,} completed within the 4 s load" in out.read_text()


def test_a_zero_replication_lag_says_it_is_below_the_ticks_resolution(run: tuple[RunResult, str, str]) -> None:
    """A sim run's lag of 0 (on every replica within the 1 ms tick of the ok) reads '< 1 ms' in the summary and
    report.html, with the count of such writes, never a bare '0 ms'."""
    result, text, page = run
    rl = result.results["convergence"]["replication_lag_ms"]
    assert rl["p50"] == 0  # this run's lags are mostly within one tick (else the test proves nothing)
    zero = rl["zero"]
    assert 0 < zero <= rl["n"]
    for shown in (text, html.unescape(page)):
        assert "p50 0 ms" not in shown
        assert "replication lag p50 < 1 ms" in shown
        assert f"{zero:,} of {rl['n']:,} writes on every replica within the simulated clock's 1 ms tick" in shown


def test_pbs_bins_show_their_counts_and_sparse_ones_look_uncertain(run: tuple[RunResult, str, str]) -> None:
    """Every PBS bin's read count is in the report (a table under the chart and each point's title), with a 95 %
    interval; bins under the minimum count are drawn hollow, off the line, and the caption says so."""
    from checker.report import MIN_PBS_READS

    result, _, page = run
    pbs = result.results["stats"]["pbs"]
    sparse = [q for q in pbs if q["reads"] < MIN_PBS_READS]
    assert sparse and len(sparse) < len(pbs)  # this run has both (else the test proves nothing)
    section = page[page.index("<h2>Staleness</h2>"):page.index("<h2>Convergence</h2>")]
    for q in pbs:
        assert re.search(rf"<td>{q['t_ms_from']}[^<]*</td><td>{q['reads']:,}</td><td>{q['fresh']:,}</td>", section)
    hollow = re.findall(r"<circle [^>]*fill=\"white\"[^>]*><title>([^<]*)</title>", section)
    assert len(hollow) >= len(sparse) and all("too few reads to say P" in t for t in hollow)
    assert f"fewer than {MIN_PBS_READS} reads" in section and "95 % interval" in section


def test_the_convergence_bound_draws_the_wait_apart_from_the_final_reads(run: tuple[RunResult, str, str]) -> None:
    """The final reads' upper bound is drawn from the moment the final reads began (the measured part), and the
    quiescence wait before them is a separate, labelled bar, never the chart's x axis."""
    result, text, page = run
    drain = result.final.drain_seconds
    if drain is not None and drain >= 0.005:  # the drain comes before the final reads: the summary says so
        assert f"+ {drain:.2f} s waiting until no node held a record queued; 1 round" in text
    section = page[page.index("<h3>Upper bound: when the final reads agreed</h3>"):]
    assert "ms into the final reads (they began" in section  # the step chart's axis: the measured part
    assert "seconds after the last heal</text>" in section  # only the bar's axis, which shows the wait
    assert re.search(r"waiting before the final reads \(drain and quiescence\): not convergence", section)


def test_summary_and_report_give_one_time_into_the_final_reads(run: tuple[RunResult, str, str]) -> None:
    """The summary's time "into the final reads" and the wait before them are report.html's wait bar's figures:
    both count the drain (until nothing was queued) in the wait before the final reads, never in them."""
    _, text, page = run
    m = re.search(r"(\d+) ms into the final reads, which began (\d+\.\d\d) s after the last heal", text)
    assert m is not None, text
    section = html.unescape(page[page.index("<h3>Upper bound: when the final reads agreed</h3>"):])
    assert f"{m.group(1)} ms into the final reads until the last key agreed" in section
    assert f"{m.group(2)} s waiting before the final reads (drain and quiescence)" in section


def test_without_a_journal_the_summary_adds_up(run: tuple[RunResult, str, str]) -> None:
    """With the final reads' bound as the convergence figure (no journal), the summary's wait before the final
    reads plus its time into them is the bound it gives: one run, one reading of the final reads."""
    import attrs

    from checker.journal_figures import final_reads_convergence

    result, _, _ = run
    results = {**result.results, "convergence": final_reads_convergence(result.results["stats"])}
    text = format_summary(attrs.evolve(result, results=results))
    m = re.search(r"(\d+) ms into the final reads, which began (\d+\.\d\d) s after the last heal", text)
    bound = re.search(r"converged at most (\d+\.\d\d) s after the last heal", text)
    assert m is not None and bound is not None, text
    assert abs(float(m.group(2)) + int(m.group(1)) / 1000 - float(bound.group(1))) <= 0.011
    assert f"began {m.group(2)} s after the heal (the harness's quiescence wait, then its wait until nothing" in text


def test_the_checkers_sim_tick_is_the_simulations() -> None:
    """The checker's SIM_TICK_MS (it imports no runner) is the tick runner.simulate runs the sim clock on."""
    from checker.journal_figures import SIM_TICK_MS
    from runner.simulate import SIM_TICK

    assert SIM_TICK_MS == SIM_TICK * 1000


def test_a_run_without_faults_counts_from_the_loads_end_not_a_heal(tmp_path, capsys) -> None:
    """No fault window: the summary, `check`, report.html's headline, cards, findings and final reads' bound count
    convergence from the load's end, never "after the (last) heal" (the harness's mark at the load's end)."""
    result = run_short(tmp_path, report=True, nemesis=(), time_limit=1.0, rate=100.0)
    assert result.results["stats"]["faults"] == []
    from checker.cli import main

    capsys.readouterr()
    main(["check", str(result.run_dir)])
    checked = capsys.readouterr().out
    text = format_summary(result)
    page = html.unescape((result.run_dir / "report.html").read_text())
    bound = page[page.index("<h3>Upper bound"):page.index("<h2>Convergence anomalies")]
    top = page[:page.index("<h2>Timeline</h2>")] + page[page.index("<h2>Convergence</h2>"):][:400]
    for shown in (text, top, bound, checked):
        assert "after the last heal" not in shown and "after the heal" not in shown, shown
        assert "after last heal" not in shown and "From the last heal" not in shown
        assert "after the load ended" in shown
