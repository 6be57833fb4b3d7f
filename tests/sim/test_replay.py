"""``harness.py replay`` re-runs a recorded run from run.json, schedule included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli import main
from runner.replay import load_recorded_run, replay_command, sha256_of

from .runs import history_digest, run_short


def _replayed_dir(out: Path) -> Path:
    (replay,) = [p for p in out.iterdir() if p.name.endswith("-replay")]
    return replay


def test_replay_of_a_recorded_sim_run_is_identical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Replaying a sim run prints two equal sha256 sums, says identical and exits 0."""
    original = run_short(tmp_path, seed=31)
    assert replay_command([str(original.run_dir), "-q"]) == 0
    out = capsys.readouterr().out
    digest = history_digest(original)
    assert out.count(digest) == 2
    assert "identical" in out
    assert sha256_of(_replayed_dir(tmp_path) / "history.jsonl") == digest


def test_replay_uses_the_recorded_schedule_not_the_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An edited schedule in run.json is the one a replay carries out (as explore's shrunk runs need)."""
    original = run_short(tmp_path / "orig", seed=32)
    run_json = original.run_dir / "run.json"
    meta = json.loads(run_json.read_text())
    assert meta["schedule"]["windows"], "the seed's schedule must have windows to remove"
    meta["schedule"]["windows"] = []
    run_json.write_text(json.dumps(meta))
    assert replay_command([str(original.run_dir), "--out", str(tmp_path / "re"), "-q"]) == 1
    assert "DIFFERENT" in capsys.readouterr().out
    replayed = _replayed_dir(tmp_path / "re")
    events = [json.loads(line) for line in (replayed / "history.jsonl").read_text().splitlines()[1:]]  # header
    assert [e["f"] for e in events if e["process"] == "nemesis"] == ["heal"]
    assert load_recorded_run(replayed).schedule.windows == ()
    # ... and the edited run, replayed in turn, reproduces itself byte for byte.
    assert replay_command([str(replayed), "--out", str(tmp_path / "again"), "-q"]) == 0


def test_replay_follows_histories_latest(tmp_path: Path) -> None:
    """``replay histories/latest`` finds the newest run."""
    run_short(tmp_path, seed=33)
    assert replay_command([str(tmp_path / "latest"), "-q"]) == 0


def test_replay_of_a_missing_run_is_a_clear_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path with no run.json exits 254 with a message naming it, not a traceback."""
    assert main(["replay", str(tmp_path / "nowhere")]) == 254
    err = capsys.readouterr().err
    assert "nowhere" in err and "no such run directory" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "line 1"),
        ('{"options": {"nodes": 0}, "schedule": {}}', "--nodes"),
        ('{"options": {}, "schedule": {"nodes": ["n1"], "time_limit": 1, "interval": 1, "windows": [{"kind": "x"}]}}',
         "windows[0].kind"),
        ('{"schedule": {}}', "'options'"),
        pytest.param('{"options": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply", id="deeply-nested"),
    ],
)
def test_replay_of_a_bad_run_json_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    """A malformed run.json exits 254 with the file and the offending field or line in the message."""
    (tmp_path / "run.json").write_text(content)
    assert main(["replay", str(tmp_path)]) == 254
    err = capsys.readouterr().err
    assert "run.json" in err and expected in err


def test_replay_given_a_file_inside_a_run_directory_means_that_directory() -> None:
    """``replay RUN/history.jsonl`` (any file beside run.json) loads RUN, not the file's content as a path."""
    example = Path(__file__).resolve().parents[2] / "histories" / "examples" / "partition"
    for name in ("history.jsonl", "results.json", "run.json"):
        assert load_recorded_run(example / name).run_dir == example.resolve()


def test_replay_given_a_file_outside_any_run_is_one_line_and_exit_254(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A large file that is no run (nor a ``latest`` pointer) is a usage error naming it, exit 254."""
    from runner.cli import main

    stray = tmp_path / "history.jsonl"
    stray.write_text('{"index": 0}\n' * 2000)
    assert main(["replay", str(stray)]) == 254
    err = capsys.readouterr().err
    assert f"{stray}: a file, not a run directory" in err and "Traceback" not in err


@pytest.mark.parametrize("text", ['{"time": 1000000, "type": "invoke"}' * 10, "a" * 300, "two\nlines"])
def test_replay_given_a_small_file_that_names_no_run_is_one_line_and_exit_254(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    """A small file whose text is no run name (a hand-written history, a 300-character line) is exit 254, one line."""
    from runner.cli import main

    stray = tmp_path / "h1.jsonl"
    stray.write_text(text)
    assert main(["replay", str(stray)]) == 254
    err = capsys.readouterr().err
    assert f"{stray}: a file, not a run directory" in err and "Traceback" not in err
