"""A journal is used only with its own history: another run's journal, or one with no K records, is refused with
the reason, and the figures fall back to the final reads' bound; an old journal without a run id still works."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pytest

from checker.api import check
from checker.findings import SOURCE_FINAL_READS, SOURCE_JOURNAL, convergence_headline
from checker.report import write_report
from runner.options import RunOptions
from runner.run import run as run_test


def _run(out: Path, seed: int) -> Path:
    options = RunOptions(mode="sim", seed=seed, nemesis=("partition",), time_limit=5.0, fault_interval=2.0,
                         out=str(out), quiesce=1.0, converge_timeout=3.0, name=f"s{seed}")
    return run_test(options, ["test"], quiet=True, report=False).run_dir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two short simulated partition runs of different seeds (same node names n1..n5)."""
    out = tmp_path_factory.mktemp("runs")
    return _run(out, 21), _run(out, 22)


def _rewrite(journal: Path, keep: object = None, header: object = None) -> None:
    lines = gzip.decompress(journal.read_bytes()).split(b"\n")
    head = orjson.loads(lines[0])
    if callable(header):
        head = header(head)
    body = [line for line in lines[1:] if keep is None or keep(line)]  # type: ignore[operator]
    journal.write_bytes(gzip.compress(b"\n".join([orjson.dumps(head), *body])))


def _swap(two_runs: tuple[Path, Path], tmp_path: Path) -> Path:
    mine, other = two_runs
    copy = tmp_path / "run"
    shutil.copytree(mine, copy)
    shutil.copyfile(other / "journal.jsonl.gz", copy / "journal.jsonl.gz")
    return copy


def test_another_runs_journal_is_refused_by_its_run_id(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """A journal whose header names another run than run.json: refused naming both runs, final-reads bound used."""
    c = check(_swap(two_runs, tmp_path)).results["convergence"]
    assert c["source"] == SOURCE_FINAL_READS and c["journal_mismatch"] is True
    assert two_runs[1].name in c["journal_error"] and two_runs[0].name in c["journal_error"]
    assert "is not this history's" in str(convergence_headline(c))


def test_another_runs_journal_without_run_id_is_refused_by_its_content(two_runs: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    """An old-format journal (no run id, no seed) of another run: none of the history's writes applied in it."""
    run = _swap(two_runs, tmp_path)
    _rewrite(run / "journal.jsonl.gz", header=lambda h: {k: v for k, v in h.items() if k not in ("run", "seed")})
    c = check(run).results["convergence"]
    assert c["source"] == SOURCE_FINAL_READS and c["journal_mismatch"] is True
    assert "none of the history's first" in c["journal_error"]


def test_own_journal_without_run_id_is_used_and_says_so(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """The run's own journal with the run id removed (an old journal) is used, with a note that nothing ties it."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    _rewrite(run / "journal.jsonl.gz", header=lambda h: {k: v for k, v in h.items() if k not in ("run", "seed")})
    c = check(run).results["convergence"]
    assert c["source"] == SOURCE_JOURNAL and "no run id" in c["journal_unverified"]
    assert "no run id" in write_report(run).read_text()


def test_a_journal_without_k_records_falls_back_with_the_reason(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """Strip the K records: the figures are not computed from it (no silent zero keys), and the reason is given."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    _rewrite(run / "journal.jsonl.gz", keep=lambda line: not line.startswith(b'["K"'))
    c = check(run).results["convergence"]
    assert c["source"] == SOURCE_FINAL_READS and "no K records" in c["journal_error"]
    assert "could not be read" in str(convergence_headline(c))


def test_the_report_draws_no_messages_from_another_runs_journal(tmp_path: Path) -> None:
    """An INVALID run with another run's journal beside it: the report shows no diagram from it and says why."""
    from tests.checker.test_messages import dropped_replicate_run

    run = dropped_replicate_run(tmp_path / "run")
    other = dropped_replicate_run(tmp_path / "other")
    (run / "run.json").write_text('{"run_id": "mine", "seed": 1}')
    _rewrite(other / "journal.jsonl.gz", header=lambda h: {**h, "run": "theirs", "seed": 1})
    shutil.copyfile(other / "journal.jsonl.gz", run / "journal.jsonl.gz")
    page = write_report(run).read_text()
    assert 'class="spacetime"' not in page and "The journal is not this history&#x27;s" in page


def test_a_journal_whose_node_names_differ_from_the_runs_is_refused(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """n3 renamed n9 throughout the journal: refused naming both node lists, not 'n9 never received'."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    path = run / "journal.jsonl.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()).replace(b'"n3"', b'"n9"')))
    c = check(run).results["convergence"]
    assert c["source"] == SOURCE_FINAL_READS, c.get("how")
    assert "'n9'" in c["journal_error"] and "'n3'" in c["journal_error"] and "run.json" in c["journal_error"]
