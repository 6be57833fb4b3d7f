"""``harness.py replay`` of a Maelstrom run that was damaged or moved: one line naming the field, exit 254, and
nothing run; an intact run's replay goes where the README says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODES = Path(__file__).resolve().parent / "nodes"


def _harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real echo run (2 nodes, 1 s) to copy and damage."""
    out = tmp_path_factory.mktemp("source")
    done = _harness("maelstrom", "test", "-w", "echo", "--bin", str(NODES / "echo.py"), "--node-count", "2",
                    "--time-limit", "1", "--rate", "10", "--quiesce", "0", "--seed", "1", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    return run_dir


def _edited(recorded: Path, where: Path, **edits: Any) -> Path:
    copy = where / "run"
    shutil.copytree(recorded, copy)
    data = json.loads((copy / "run.json").read_text())
    for key, value in edits.items():
        section, _, field = key.partition("__")
        data[section][field] = value
    (copy / "run.json").write_text(json.dumps(data))
    return copy


@pytest.mark.parametrize(("edits", "named"), [
    ({"options__bin": "/nonexistent/node"}, "options.bin"),
    ({"options__workload": "kafka"}, "options.workload"),
    ({"options__node_count": -3}, "options.node_count"),
    ({"options__node_count": "three"}, "options.node_count"),
    ({"options__time_limit": 0}, "options.time_limit"),
    ({"options__nemesis": ["flood"]}, "options.nemesis"),
    ({"options__topology": "ring"}, "options.topology"),
    ({"options__node_count": 1}, "schedule"),
], ids=["bin-gone", "workload", "node-count-negative", "node-count-text", "time-limit", "nemesis", "topology",
        "schedule-nodes"])
def test_a_damaged_run_json_is_one_line_naming_the_field(recorded: Path, tmp_path: Path, edits: dict[str, Any],
                                                         named: str) -> None:
    """A replay of a run whose run.json names a missing program or a field out of range: exit 254, one line naming
    the field, no traceback, no internal error, and no replay directory made."""
    run_dir = _edited(recorded, tmp_path, **edits)
    done = _harness("replay", str(run_dir), "--out", str(tmp_path / "replays"))
    assert done.returncode == 254, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "internal error" not in lines[0], done.stderr
    assert not (tmp_path / "replays").exists() or not any((tmp_path / "replays").iterdir())


def test_the_replay_of_a_run_in_the_examples_folder_goes_to_histories(recorded: Path, tmp_path: Path) -> None:
    """As the README says for the tracked examples: a replay of histories/examples/NAME is written to histories/,
    never into the examples folder."""
    examples = tmp_path / "histories" / "examples"
    examples.mkdir(parents=True)
    shutil.copytree(recorded, examples / "echo")
    done = _harness("replay", str(examples / "echo"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in examples.iterdir()) == ["echo"]
    assert [p for p in (tmp_path / "histories").iterdir() if p.name.endswith("-replay")]
