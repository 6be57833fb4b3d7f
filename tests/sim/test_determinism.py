"""A simulated run is a pure function of its options and seed, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .runs import history_digest, run_short

ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_twice_gives_identical_history_bytes(tmp_path: Path) -> None:
    """Two runs of the same options and seed in one process write byte-identical histories."""
    first = run_short(tmp_path / "a", seed=11)
    second = run_short(tmp_path / "b", seed=11)
    assert (first.run_dir / "history.jsonl").read_bytes() == (second.run_dir / "history.jsonl").read_bytes()
    assert first.faults, "the run must have injected faults for this to prove anything"


def test_different_seeds_give_different_histories(tmp_path: Path) -> None:
    """Changing only the seed changes the history."""
    assert history_digest(run_short(tmp_path / "a", seed=11)) != history_digest(run_short(tmp_path / "b", seed=12))


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.sim.runs import history_digest, run_short
print(history_digest(run_short(Path(sys.argv[1]), seed=23)))
"""


def _digest_in_subprocess(out: Path, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT)), str(out)],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_same_seed_in_separate_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    """Separate interpreters with different PYTHONHASHSEED values produce the same history as this one."""
    here = history_digest(run_short(tmp_path / "here", seed=23))
    assert _digest_in_subprocess(tmp_path / "one", "1") == here
    assert _digest_in_subprocess(tmp_path / "two", "4242") == here


def test_simulated_clients_start_operations_on_the_delivery_grid(tmp_path: Path) -> None:
    """In sim mode every invocation falls on a whole virtual millisecond, the network's delivery tick."""
    import orjson

    result = run_short(tmp_path, seed=5)
    lines = (result.run_dir / "history.jsonl").read_bytes().splitlines()
    invokes = [e["time"] for e in map(orjson.loads, lines) if e.get("type") == "invoke" and not e.get("final")]
    assert len(invokes) > 50
    off_grid = [t for t in invokes if abs(t - round(t / 1e6) * 1e6) > 1]  # the recorder truncates to whole ns
    assert not off_grid, off_grid[:5]
