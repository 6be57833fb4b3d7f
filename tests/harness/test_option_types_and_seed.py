"""Every option is checked for its type and the seed for its range wherever options are made: flags, run.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli import main
from runner.options import OptionError, RunOptions

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("seed", [2**64, 2**63, -1])
def test_a_seed_outside_the_range_is_refused_on_construction(seed: int) -> None:
    """RunOptions refuses a seed outside 0..2**63-1 (2**64 crashed the journal writer, exit 255), naming --seed."""
    with pytest.raises(OptionError, match=r"--seed must lie in 0\.\.2\*\*63-1"):
        RunOptions(seed=seed)


def test_the_largest_seed_is_accepted() -> None:
    """2**63-1, the top of the range explore and the ledger use, makes options."""
    assert RunOptions(seed=2**63 - 1).seed == 2**63 - 1


def test_run_with_a_seed_beyond_64_bits_is_one_line_and_exit_254(tmp_path: Path) -> None:
    """``run --seed 2**64`` is a usage error naming --seed and the range, before any file is written."""
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "run", "--mode", "sim", "--seed",
                           str(2**64), "--time-limit", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 254, done.stderr
    assert "--seed must lie in 0..2**63-1" in done.stderr, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not any(tmp_path.iterdir())


def _run_json(tmp_path: Path, **options: object) -> Path:
    (tmp_path / "run.json").write_text(json.dumps({"options": {**RunOptions().to_json(), **options},
                                                   "schedule": {}}))
    return tmp_path


def test_replay_of_a_run_json_whose_seed_is_beyond_64_bits_names_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run.json's options.seed = 2**64 is refused in one line naming that field and the range, exit 254."""
    assert main(["replay", str(_run_json(tmp_path, seed=2**64, mode="sim"))]) == 254
    err = capsys.readouterr().err
    assert "run.json: options.seed must lie in 0..2**63-1" in err, err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("nodes", "five", "options.nodes must be a whole number, got 'five'"),
    ("replicas", 2.5, "options.replicas must be a whole number, got 2.5"),
    ("seed", True, "options.seed must be a whole number, got True"),
    ("time_limit", "30", "options.time_limit must be a number, got '30'"),
    ("quiesce", None, "options.quiesce must be a number, got None"),
    ("rate", True, "options.rate must be a number or 'max', got True"),
    ("mode", 3, "options.mode must be a string, got 3"),
    ("bug", 1, "options.bug must be a string or null, got 1"),
    ("verbose", "yes", "options.verbose must be true or false, got 'yes'"),
    ("nemesis", "partition", "options.nemesis must be a list of strings, got 'partition'"),
    ("checkers", 5, "options.checkers must be a list of strings, got 5"),
    ("mix", [1, "2", 3], "options.mix must be a list of three whole numbers, got [1, '2', 3]"),
    ("cluster", [], "options.cluster must be an object or null, got []"),
])
def test_replay_names_the_field_and_type_of_a_mistyped_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: object, expected: str) -> None:
    """A run.json option of the wrong JSON type is named with the type it needs, exit 254 (was 'bad options (...)')."""
    assert main(["replay", str(_run_json(tmp_path, **{field: value}))]) == 254
    err = capsys.readouterr().err
    assert f"run.json: {expected}" in err, err
    assert "not supported between" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("field", "value", "flag"), [
    ("nodes", "five", "--nodes must be a whole number"),
    ("keys", 2.0, "--keys must be a whole number"),
    ("concurrency", None, "--concurrency must be a whole number"),
    ("time_limit", "30", "--time-limit must be a number"),
    ("mode", None, "--mode must be a string"),
    ("verbose", 1, "--verbose must be true or false"),
])
def test_a_mistyped_value_is_refused_on_construction_naming_the_flag(field: str, value: object, flag: str) -> None:
    """RunOptions made in code (explore's draws, shrinking) gets the same type check, naming the flag."""
    with pytest.raises(OptionError, match=flag):
        RunOptions(**{field: value})
