"""The check/report/export commands: exit codes, JSON output, results.json, combined checkers."""

from __future__ import annotations

import json

from checker.cli import main
from checker.history import read_events
from tests.checker.builder import History


def _valid(tmp_path, name="valid.jsonl"):
    h = History()
    h.put(0, "k1", "p0-1")
    h.get(1, "k1", "p0-1")
    h.final("k1", {"n1": "p0-1", "n2": "p0-1"})
    return h.write(tmp_path / name)


def _invalid(tmp_path, name="invalid.jsonl"):
    h = History()
    h.put(0, "k1", "p0-1")
    h.put(0, "k1", "p0-2")
    h.final("k1", {"n1": "p0-1"})
    return h.write(tmp_path / name)


def _unknown(tmp_path, name="unknown.jsonl"):
    h = History()
    h.put(0, "k1", "p0-1")
    return h.write(tmp_path / name)


def test_exit_codes_follow_verdicts(tmp_path, capsys):
    """Valid, invalid and unknown histories exit 0, 1 and 2, with a readable summary."""
    assert main(["check", str(_valid(tmp_path))]) == 0
    assert main(["check", str(_invalid(tmp_path))]) == 1
    assert main(["check", str(_unknown(tmp_path))]) == 2
    out = capsys.readouterr().out
    assert "VALID" in out and "INVALID" in out and "UNKNOWN" in out and "lost write on key k1" in out


def test_several_paths_json_lines_and_worst_exit(tmp_path, capsys):
    """With several paths and --json, one results object per line, and the worst exit code."""
    paths = [_valid(tmp_path), _unknown(tmp_path), _invalid(tmp_path)]
    assert main(["check", "--json", *map(str, paths)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["path"] for o in objs] == list(map(str, paths))
    assert [o["valid"] for o in objs] == [True, "unknown", False]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["check", str(paths[0]), str(bad)]) == 254


def test_run_directory_gets_results_json_only_with_write(tmp_path):
    """Checking a run directory writes nothing by default; --write writes results.json beside its history."""
    run = tmp_path / "run"
    run.mkdir()
    _invalid(run, "history.jsonl")
    assert main(["check", str(run)]) == 1
    assert not (run / "results.json").exists()
    assert main(["check", "--write", str(run)]) == 1
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is False and results["anomalies"][0]["type"] == "lost-write"


def test_bad_arguments_exit_254(tmp_path, capsys):
    """Unknown options, checkers, models or bad --init JSON give exit 254 and one line."""
    p = str(_valid(tmp_path))
    assert main(["check"]) == 254
    assert main(["check", p, "--checker", "elle"]) == 254
    assert main(["check", p, "--checker", "linearizable", "--model", "nope"]) == 254
    assert main(["check", p, "--init", "{bad"]) == 254
    assert main(["frobnicate"]) == 254
    assert main([]) == 254
    err = capsys.readouterr().err
    assert "Traceback" not in err and "elle" in err


def test_linearizable_combined_with_convergence(tmp_path, capsys):
    """--checker convergence,linearizable runs both and nests the linearizability result."""
    p = str(_valid(tmp_path))
    assert main(["check", p, "--checker", "convergence,linearizable", "--model", "kv", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["checker"] == "convergence" and r["linearizable"]["valid"] is True


def test_export_edn_round_trips(tmp_path, capsys):
    """export --edn writes Jepsen EDN that check reads back to the same events and verdict."""
    src = _invalid(tmp_path)
    out = tmp_path / "h.edn"
    assert main(["export", str(src), "--edn", "-o", str(out)]) == 0
    text = out.read_text()
    assert ":type :invoke" in text and ':value ["k1" "p0-1"]' in text
    assert read_events(out) == read_events(src)
    assert main(["check", str(out)]) == 1


def test_report_command_writes_page(tmp_path, capsys):
    """report writes report.html beside the history and prints its path."""
    run = tmp_path / "run"
    run.mkdir()
    _invalid(run, "history.jsonl")
    assert main(["report", str(run)]) == 1  # the verdict, as check's exit
    assert (run / "report.html").is_file()
    assert str(run / "report.html") in capsys.readouterr().out


def test_report_names_a_lone_history_after_itself(tmp_path, capsys):
    """Two histories in one directory get a report each (NAME.report.html), neither overwriting the other."""
    a, b = _invalid(tmp_path, "a.jsonl"), _valid(tmp_path, "b.jsonl")
    assert main(["report", str(a)]) == 1
    assert main(["report", str(b)]) in (0, 2)  # b's verdict (check's exit for it)
    out = capsys.readouterr().out
    pa, pb = tmp_path / "a.report.html", tmp_path / "b.report.html"
    assert f"wrote {pa}" in out and f"wrote {pb}" in out
    assert "INVALID" in pa.read_text() and "INVALID" not in pb.read_text()
    assert not (tmp_path / "report.html").exists()


def test_report_of_a_run_directory_history_stays_report_html(tmp_path, capsys):
    """A run directory's own history.jsonl, named as a file, still gets the directory's report.html."""
    _invalid(tmp_path, "history.jsonl")
    assert main(["report", str(tmp_path / "history.jsonl")]) == 1
    assert f"wrote {tmp_path / 'report.html'}" in capsys.readouterr().out


def test_no_file_is_written_through_a_link_planted_at_the_old_temporary_names(tmp_path, capsys):
    """report, check --write and export never write through a symlink left at NAME.tmp (the old fixed
    temporary name): the file it points to keeps its bytes and each output is a regular file."""
    run = tmp_path / "run"
    run.mkdir()
    _invalid(run, "history.jsonl")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious data\n")
    for name in ("report.html", "results.json", "history.edn"):
        (run / f"{name}.tmp").symlink_to(victim)
    assert main(["report", str(run)]) == 1  # the verdict, INVALID, as check's
    assert main(["check", "--write", str(run)]) == 1
    assert main(["export", str(run / "history.jsonl"), "--edn"]) == 0
    assert victim.read_text() == "precious data\n"
    for name in ("report.html", "results.json", "history.edn"):
        assert (run / name).is_file() and not (run / name).is_symlink(), name
    assert sorted(p.name for p in run.iterdir() if not p.name.endswith(".tmp")) == [
        "history.edn", "history.jsonl", "report.html", "results.json"]


def test_report_out_a_directory_writes_into_it(tmp_path, capsys):
    """report --out EXISTING_DIR, or --out NEW_DIR/ (trailing slash), writes the page into that directory
    (named as the history's report), leaving no temporary file beside it."""
    src = _invalid(tmp_path, "a.jsonl")
    (tmp_path / "outdir").mkdir()
    assert main(["report", str(src), "--out", str(tmp_path / "outdir")]) == 1  # INVALID, as check's
    assert main(["report", str(src), "--out", str(tmp_path / "newdir") + "/"]) == 1
    assert f"wrote {tmp_path / 'newdir' / 'a.report.html'}" in capsys.readouterr().out
    for d in ("outdir", "newdir"):
        assert [p.name for p in (tmp_path / d).iterdir()] == ["a.report.html"]
        assert "INVALID" in (tmp_path / d / "a.report.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "newdir", "outdir"]


def test_report_over_a_directory_is_one_line_naming_it_and_leaves_nothing(tmp_path, capsys):
    """NAME.report.html already a directory: exit 254, one error line naming that path (not a temporary
    file), and no half-written file left behind."""
    src = _invalid(tmp_path, "a.jsonl")
    (tmp_path / "a.report.html").mkdir()
    assert main(["report", str(src)]) == 254
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'a.report.html'}: ") and ".tmp" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "a.report.html"]
    assert list((tmp_path / "a.report.html").iterdir()) == []
