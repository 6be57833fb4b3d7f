"""What a user reads must be true: check writes nothing, verdict lines name the findings, no card contradicts."""

from __future__ import annotations

import json
from pathlib import Path

from checker.cli import main, summary
from checker.convergence import check_events

from .builder import History


def _divergent_after_heal() -> History:
    h = History()
    h.nemesis("start-partition", {"groups": [["n1"], ["n2"]]})
    h.put(0, "k1", "p0-1", node="n1")
    h.put(1, "k1", "p1-1", node="n2")
    h.put(0, "k2", "p0-2", node="n1")
    h.nemesis("heal")
    h.at(5.0)
    h.final("k1", {"n1": "p0-1", "n2": "p1-1"})
    h.final("k2", {"n1": "p0-2", "n2": "p0-2"})
    return h


def test_divergent_run_claims_no_convergence_time():
    """With a key that never agreed, no 'all keys agreed after' figure exists and the summary says which did not."""
    r = check_events(_divergent_after_heal().events)
    assert r["valid"] is False
    conv = r["stats"]["convergence"][-1]
    assert conv["keys_not_agreed"] == 1
    assert conv.get("all_agreed_after_s") is None
    text = summary(r, "h.jsonl")
    assert "every key" not in text
    assert "1 of 2 keys still disagreed at their last final reads" in text


def _run_dir(tmp_path: Path) -> Path:
    """A run directory as the harness leaves it: run.json with null_read-sensitive history, results.json with final_reads."""
    run = tmp_path / "run"
    run.mkdir()
    h = History()
    h.put(0, "k1", "p0-1")
    h.get(1, "k1", None)  # a null read after an acknowledged put: fine if null means "any", not if "absent"
    h.final("k1", {"n1": "p0-1"})
    h.write(run / "history.jsonl")
    options = {"replicas": 3, "write_quorum": 1, "read_quorum": 1, "checkers": ["convergence", "linearizable"]}
    (run / "run.json").write_text(json.dumps({"options": options}))
    results = {"valid": True, "stats": {"final_reads": {"rounds": 1, "converged": True}}}
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_check_uses_recorded_settings_and_writes_nothing(tmp_path, capsys):
    """check judges with the run's recorded settings (null_read absent from run.json) and leaves results.json alone."""
    run = _run_dir(tmp_path)
    before = (run / "results.json").read_bytes()
    assert main(["check", str(run)]) == 1  # null read of a key that exists: not linearizable when null = absent
    out = capsys.readouterr().out
    assert "null-read absent" in out and "(recorded in run.json)" in out
    assert (run / "results.json").read_bytes() == before
    assert main(["check", "--null-read", "any", str(run)]) == 0  # a flag still overrides


def test_check_write_keeps_blocks_it_does_not_compute(tmp_path):
    """--write replaces the verdict but keeps the run's final_reads block and records the settings it used."""
    run = _run_dir(tmp_path)
    assert main(["check", "--write", str(run)]) == 1
    results = json.loads((run / "results.json").read_text())
    assert results["stats"]["final_reads"] == {"rounds": 1, "converged": True}
    assert results["check_settings"]["null_read"] == "absent"
    assert results["valid"] is False and "path" not in results
    assert main(["check", str(run)]) == 1  # and a later check reads them back from results.json


def test_check_and_report_import_neither_the_store_nor_plotting(tmp_path):
    """harness.py check/report of a small history imports no matplotlib, numpy, trio, store or nemesis."""
    import subprocess
    import sys

    h = _divergent_after_heal()
    path = h.write(tmp_path / "history.jsonl")
    root = Path(__file__).resolve().parents[2]
    for command in (["check", str(path)], ["report", str(path), "--out", str(tmp_path / "r.html")]):
        done = subprocess.run([sys.executable, "-X", "importtime", str(root / "harness.py"), *command],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode in (0, 1), done.stderr[-2000:]
        modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
        # harness.py's stream guards (minikeydb/streams.py, standard library only, under an empty package
        # __init__) are the one module of the store's package every command imports; nothing else of it
        allowed = {"minikeydb", "minikeydb.streams"}
        imported = {m.split(".")[0] for m in modules - allowed}
        assert not imported & {"matplotlib", "numpy", "trio", "minikeydb", "nemesis", "runner"}, command


def test_linearizability_failure_is_named_in_terminal_and_report(tmp_path):
    """A run INVALID only by linearizability says so, with the first explanation and the W=1/R=1 caveat, in both."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "harness.py"), "--mode", "sim", "--seed", "3", "--nemesis", "partition",
         "--time-limit", "8", "--fault-interval", "2", "--checker", "convergence,linearizable",
         "--out", str(tmp_path), "--name", "lin"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    verdict = done.stdout[done.stdout.index("verdict: INVALID"):]
    assert "linearizability (model kv): NOT linearizable" in verdict
    assert "first: Key " in verdict and "is not expected to be linearizable" in verdict
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    page = (run / "report.html").read_text()
    top = page[: page.index("<h2>")]
    assert "NOT linearizable" in top and "first: Key " in top and "not expected to be linearizable" in top
    assert "Anomalies (0)" not in page


def test_report_reads_true_and_plain(tmp_path):
    """report.html: no absolute path, card and caption agree on counts, no long raw floats, distinct colours per f."""
    import re

    from checker.report import F_STYLE, write_report
    from checker.synthetic import generate, write_history

    run = tmp_path / "20260101T000000Z-somewhere"
    run.mkdir()
    write_history(run / "history.jsonl", generate(seed=2, duration_s=6, processes=4, keys=5))
    page = write_report(run).read_text()
    assert str(tmp_path) not in page
    client = int(re.search(r"client operations<b>([\d,]+)</b>", page).group(1).replace(",", ""))
    finals = int(re.search(r"final reads<b>([\d,]+)</b>", page).group(1).replace(",", ""))
    caption = re.search(r"([\d,]+) operations \(([\d,]+) client operations and ([\d,]+) final reads\)", page)
    assert caption is not None
    assert [int(g.replace(",", "")) for g in caption.groups()] == [client + finals, client, finals]
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert not [c for c in cells if re.fullmatch(r"-?\d+\.\d{4,}", c)]
    assert len({color for color, _ in F_STYLE.values()}) == len(F_STYLE) == len({s for _, s in F_STYLE.values()})
    assert "1 keys" not in page and "1 anomalies" not in page


def _skewed_lost_write() -> History:
    h = History()
    h.at(1.0)
    h.nemesis("clock-skew-start", {"nodes": ["n2"], "offset_ms": 500})
    h.put(0, "k1", "old", node="n1")
    h.put(1, "k1", "new", node="n2")
    h.nemesis("clock-skew-stop")
    h.nemesis("heal")
    h.at(5.0)
    h.final("k1", {"n1": "old", "n2": "old"})
    return h


def test_clock_skew_note_is_in_check_and_report(tmp_path):
    """A lost write under clock-skew fault windows carries the LWW-under-skew note in check's summary and report.html."""
    from checker.report import write_report

    h = _skewed_lost_write()
    r = check_events(h.events)
    assert r["stats"]["anomaly_counts"].get("lost-write")
    assert "last-writer-wins loses an acknowledged write" in summary(r, "h.jsonl")
    run = tmp_path / "run"
    run.mkdir()
    h.write(run / "history.jsonl")
    page = write_report(run, r).read_text()
    assert "last-writer-wins loses an acknowledged write" in page


def test_no_clock_skew_note_without_skew_windows():
    """The same lost write without clock-skew windows gets no skew note (the note is about skew only)."""
    h = History()
    h.at(1.0)
    h.put(0, "k1", "old", node="n1")
    h.put(1, "k1", "new", node="n2")
    h.at(5.0)
    h.final("k1", {"n1": "old", "n2": "old"})
    r = check_events(h.events)
    assert r["stats"]["anomaly_counts"].get("lost-write")
    assert "last-writer-wins loses" not in summary(r, "h.jsonl")
