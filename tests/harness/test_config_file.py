"""``harness.py --config FILE``: a run on a cluster TOML, contradicting flags refused, recorded so replay repeats it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.options import OptionError, RunOptions

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["--mode", "sim", "--time-limit", "3", "--fault-interval", "1", "--nemesis", "partition", "--seed", "3",
         "--keys", "4", "--rate", "50", "--quiesce", "0.5"]
TOML = """\
[cluster]
replicas = 3
write_quorum = 2
read_quorum = 2
vnodes = 16
read_repair_chance = 0.5
data_dir = "ignored-by-the-harness"

[timeouts]
client = 1.5
coordinator = 0.7

[[nodes]]
id = "a"
host = "127.0.0.1"
port = 7001

[[nodes]]
id = "b"
host = "127.0.0.1"
port = 7002

[[nodes]]
id = "c"
host = "127.0.0.1"
port = 7003

[[nodes]]
id = "d"
host = "127.0.0.1"
port = 7004
"""


def harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(TOML)
    return path


def test_run_takes_the_cluster_from_the_file_and_replays_it(config: Path, tmp_path: Path) -> None:
    """Node count, N/W/R, vnodes, read-repair chance and timeouts come from the file, are recorded, and replay."""
    out = tmp_path / "runs"
    done = harness("--config", str(config), *SHORT, "--out", str(out), cwd=tmp_path)
    assert done.returncode in (0, 1, 2), done.stderr
    assert "4 nodes, N=3 W=2 R=2" in done.stdout
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["options"]["nodes"] == 4 and run["options"]["write_quorum"] == 2
    recorded = run["config"]
    assert (recorded["vnodes"], recorded["read_repair_chance"]) == (16, 0.5)
    assert (recorded["timeouts"]["client"], recorded["timeouts"]["coordinator"]) == (1.5, 0.7)
    assert recorded["file"] == str(config) and [n["id"] for n in recorded["nodes"]] == ["n1", "n2", "n3", "n4"]
    assert not (tmp_path / "ignored-by-the-harness").exists()
    config.unlink()  # a replay needs only run.json
    replay = harness("replay", str(run_dir), "-q", cwd=tmp_path)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout


def test_the_file_changes_the_run(config: Path, tmp_path: Path) -> None:
    """The same seed with and without the file gives different histories (the settings are really used)."""
    with_file, without = tmp_path / "with", tmp_path / "without"
    assert harness("--config", str(config), *SHORT, "--out", str(with_file)).returncode in (0, 1, 2)
    assert harness(*SHORT, "--nodes", "4", "--out", str(without)).returncode in (0, 1, 2)
    (a,) = with_file.glob("*-sim/history.jsonl")
    (b,) = without.glob("*-sim/history.jsonl")
    assert a.read_bytes() != b.read_bytes()


@pytest.mark.parametrize(
    ("flags", "mentions"),
    [
        (["--nodes", "5"], ["--nodes 5", "4 [[nodes]] entries"]),
        (["--replicas", "2"], ["--replicas 2", "replicas = 3"]),
        (["--write-quorum", "1"], ["--write-quorum 1", "write_quorum = 2"]),
        (["--read-quorum", "3"], ["--read-quorum 3", "read_quorum = 2"]),
        (["-e"], ["-e", "write_quorum = 2"]),
    ],
)
def test_a_flag_contradicting_the_file_names_both(config: Path, flags: list[str], mentions: list[str]) -> None:
    """A flag that says otherwise than the file exits 254 naming the flag, the file's setting and the file."""
    done = harness("--config", str(config), *flags, "--mode", "sim", "--time-limit", "1")
    assert done.returncode == 254, done.stderr
    for text in [*mentions, str(config)]:
        assert text in done.stderr
    assert "Traceback" not in done.stderr


def test_a_flag_agreeing_with_the_file_is_accepted(config: Path, tmp_path: Path) -> None:
    """Repeating the file's value as a flag is no contradiction."""
    done = harness("--config", str(config), "--nodes", "4", "--write-quorum", "2", *SHORT, "--out", str(tmp_path))
    assert done.returncode in (0, 1, 2), done.stderr


@pytest.mark.parametrize("text", ["[cluster\n", "[[nodes]]\nid = 1\n", ""])
def test_a_bad_file_is_a_usage_error_naming_it(tmp_path: Path, text: str) -> None:
    """An unreadable, malformed or empty cluster file exits 254 with the file named."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    done = harness("--config", str(path), "--mode", "sim", "--time-limit", "1")
    assert done.returncode == 254, done.stderr
    assert str(path) in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("content", [b"\xff\xfe[cluster]\x00\x81", b"a = " + b"[" * 5000],
                         ids=["binary", "nested"])
def test_a_binary_or_deeply_nested_file_is_one_line_naming_it(tmp_path: Path, content: bytes) -> None:
    """A non-UTF-8 or 5000-deep nested TOML: exit 254 and one line naming the file (harness and store CLI)."""
    path = tmp_path / "hostile.toml"
    path.write_bytes(content)
    done = harness("--config", str(path), "--mode", "sim", "--time-limit", "1")
    assert done.returncode == 254, done.stderr
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr and "Error" not in done.stderr
    store = subprocess.run([sys.executable, "-m", "minikeydb", "stats", "--config", str(path)], capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
    assert store.returncode == 254, store.stderr
    assert store.stderr.count("\n") == 1 and str(path) in store.stderr and "Error" not in store.stderr


def test_recorded_cluster_settings_are_checked_on_replay() -> None:
    """run.json cluster settings a config file could not hold are refused, naming the setting."""
    with pytest.raises(OptionError, match="vnodes"):
        RunOptions.from_json({"cluster": {"vnodes": "many"}})
    with pytest.raises(OptionError, match="keys among"):
        RunOptions.from_json({"cluster": {"ports": [1]}})
    with pytest.raises(OptionError, match="client"):
        RunOptions.from_json({"cluster": {"timeouts": {"client": -1}}})


def test_explore_takes_the_file_too(config: Path, tmp_path: Path) -> None:
    """``explore --config FILE`` runs on the file's cluster and refuses a contradicting flag the same way."""
    done = harness("explore", "--config", str(config), "--runs", "1", "--nemesis", "partition", "--time-limit", "2",
                   "--keys", "4", "--rate", "50", "--out", str(tmp_path))
    assert done.returncode in (0, 1), done.stderr
    refused = harness("explore", "--config", str(config), "--replicas", "4", "--runs", "1")
    assert refused.returncode == 254 and "--replicas 4 contradicts replicas = 3" in refused.stderr


def test_a_command_after_flags_is_pointed_at() -> None:
    """``harness.py --nodes 3 check x`` says the command comes first."""
    done = harness("--nodes", "3", "check", "x")
    assert done.returncode == 254 and "a command comes first" in done.stderr
