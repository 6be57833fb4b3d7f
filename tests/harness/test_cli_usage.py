"""What ``harness.py`` tells a user about itself: commands, version, near misses, and the default run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("run", "check", "report", "export", "replay", "explore")


def harness(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_top_level_help_names_every_command() -> None:
    """``harness.py --help`` lists every subcommand and the run flags, and exits 0."""
    done = harness("--help")
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert f"  {command} " in done.stdout, command
    assert "--nemesis" in done.stdout and "--version" in done.stdout


def test_version_prints_the_package_version() -> None:
    """``harness.py --version`` prints MinikeyDB's installed version and exits 0."""
    from importlib.metadata import version

    done = harness("--version")
    assert done.returncode == 0, done.stderr
    assert version("minikeydb") in done.stdout


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["chek", "x"], "did you mean 'check'?"),
        (["replya", "x"], "did you mean 'replay'?"),
        (["--nemsis", "all"], "did you mean '--nemesis'?"),
        (["--time-limt=3"], "did you mean '--time-limit'?"),
        (["check", "x", "--chekcer", "linearizable"], "did you mean '--checker'?"),
        (["replay", "x", "--qiet"], "did you mean '--quiet'?"),
    ],
)
def test_near_misses_get_a_suggestion_and_exit_254(args: list[str], suggestion: str) -> None:
    """A mistyped command or flag exits 254 with one line naming the nearest real one, no traceback."""
    done = harness(*args)
    assert done.returncode == 254, (done.stdout, done.stderr)
    assert suggestion in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["--nemesis", "partiton"], "did you mean 'partition'?"),
        (["--nemesis", "partition,clock-skw"], "did you mean 'clock-skew'?"),
        (["--partition", "halfs"], "did you mean 'halves'?"),
        (["--bug", "no-tombstone"], "did you mean 'no-tombstones'?"),
        (["--mode", "proceses"], "did you mean 'processes'?"),
        (["--crash-targets", "majorty"], "did you mean 'majority'?"),
        (["--key-dist", "zipff"], "did you mean 'zipf'?"),
        (["--checker", "linearisable"], "did you mean 'linearizable'?"),
        (["check", "x", "--checker", "linearisable"], "did you mean 'linearizable'?"),
        (["check", "x", "--model", "registr"], "did you mean 'register'?"),
    ],
)
def test_near_miss_choice_values_get_a_suggestion(args: list[str], suggestion: str) -> None:
    """A mistyped value of a choice flag (nemesis, partition, bug, mode, ...) exits 254 naming the nearest choice."""
    done = harness(*args, *([] if args[0] == "check" else ["--time-limit", "1"]))
    assert done.returncode == 254, (done.stdout, done.stderr)
    assert suggestion in done.stderr and next(a for a in args if a.startswith("--")) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_an_unknown_word_is_called_an_unknown_command() -> None:
    """A first word that is no command is reported as such, listing the commands."""
    done = harness("frobnicate")
    assert done.returncode == 254
    assert "unknown command 'frobnicate'" in done.stderr and "explore" in done.stderr


def test_check_help_describes_the_command_and_every_flag() -> None:
    """``check --help`` has a description and a help line for --null-read and --fail-cas."""
    done = harness("check", "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "Give a verdict" in text
    assert "what a read of null means" in text
    assert "failed cas" in text


def test_flags_without_a_command_still_run_a_test(tmp_path: Path) -> None:
    """The README's main command form (flags, no command) runs a test: here a short simulated one."""
    done = harness("--mode", "sim", "--time-limit", "2", "--fault-interval", "1", "--nemesis", "partition",
                   "--seed", "3", "--keys", "4", "--rate", "50", "--quiesce", "0.5", "--out", str(tmp_path))
    assert done.returncode in (0, 1, 2), done.stderr
    assert "verdict:" in done.stdout
    assert list(tmp_path.glob("*-partition-sim/history.jsonl"))


@pytest.mark.parametrize(
    ("flags", "mentions"),
    [
        (["--out", "{file}"], "is a file"),
        (["--out", "{file}/sub"], "Not a directory"),
        (["--out", "/sys/minikeydb-cannot-write-here"], "--out"),
        (["--name", "../escape"], "--name"),
        (["--name", "a/b"], "--name"),
        (["--name", ".hidden"], "--name"),
    ],
    ids=["out-is-a-file", "out-under-a-file", "out-read-only", "name-dotdot", "name-slash", "name-hidden"],
)
def test_bad_out_or_name_is_a_usage_error(tmp_path: Path, flags: list[str], mentions: str) -> None:
    """An --out that cannot hold a run directory, or a --name that is not one plain name, exits 254 with a message."""
    if "/sys/" in flags[1] and not Path("/sys").is_dir():
        pytest.skip("no /sys on this machine")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    flags = [f.replace("{file}", str(a_file)) for f in flags]
    done = harness("--mode", "sim", "--time-limit", "1", "--seed", "1", *flags, cwd=tmp_path)
    assert done.returncode == 254, done.stderr
    assert mentions in done.stderr and "internal error" not in done.stderr
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("flags", [["--name", "a/b"], ["--out", "{file}"]], ids=["bad-name", "out-is-a-file"])
def test_real_time_run_refused_before_it_announces_itself(tmp_path: Path, flags: list[str]) -> None:
    """A udp run refused for a bad --name/--out prints only the error: no 'MinikeyDB: udp run ...' banner, no note."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    flags = [f.replace("{file}", str(a_file)) for f in flags]
    done = harness("--mode", "udp", "--time-limit", "1", "--nemesis", "all", *flags, cwd=tmp_path)
    assert done.returncode == 254, done.stderr
    assert "MinikeyDB:" not in done.stderr and "note:" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_read_only_out_directory_is_a_usage_error(tmp_path: Path) -> None:
    """An existing --out directory without write permission exits 254 naming --out (skipped as root)."""
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = harness("--mode", "sim", "--time-limit", "1", "--seed", "1", "--out", str(locked))
    assert done.returncode == 254, done.stderr
    assert "--out" in done.stderr and "Permission denied" in done.stderr


@pytest.mark.parametrize("mode", ["udp", "processes"])
def test_ctrl_c_during_a_run_exits_130_without_a_traceback(tmp_path: Path, mode: str) -> None:
    """SIGINT in the middle of a real-time run: exit 130, 'interrupted', no traceback, no node process left."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "harness.py"), "--mode", mode, "--time-limit", "30", "--nemesis", "partition",
         "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job may inherit SIG_IGN
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*/history.jsonl")) or not any(
            p.stat().st_size for p in tmp_path.glob("*/history.jsonl")
        ):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "KeyboardInterrupt" not in err
    leftover = subprocess.run(["pgrep", "-f", f"minikeydb serve --config {tmp_path}"], capture_output=True, text=True)
    assert leftover.stdout == "", "node processes outlived the run"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--key-size", "1", "--keys", "20"],
         "error: --key-size 1: 20 keys are named k0..k19, so a key takes at least 3 bytes; use --key-size 3"),
        (["--key-size", "uniform:1-40", "--keys", "200"],
         "error: --key-size uniform:1-40: 200 keys are named k0..k199, so a key takes at least 4 bytes; use "
         "--key-size uniform:4-40"),
        (["--mix", "-1:1:1"], "error: --mix -1:1:1: weights cannot be negative (put weight -1)"),
        (["--mix", "5:-2:1"], "error: --mix 5:-2:1: weights cannot be negative (get weight -2)"),
    ],
    ids=["key-size-1", "key-size-range", "mix-negative-put", "mix-negative-get"],
)
def test_a_key_size_below_the_names_or_a_negative_mix_weight_is_refused_clearly(args: list[str], line: str) -> None:
    """--key-size under the k<i> names' length names the minimum; --mix -1:1:1 names the negative weight; exit 254."""
    done = harness(*args, "--mode", "sim", "--time-limit", "1")
    assert done.returncode == 254, done.stderr
    assert done.stderr.startswith(line) and done.stderr.count("\n") == 1, done.stderr


def test_a_config_file_with_too_many_nodes_names_the_file_not_a_flag(tmp_path: Path) -> None:
    """--config with 300 nodes: the error names the file's node count, not a --nodes flag never given."""
    path = tmp_path / "big.toml"
    path.write_text("[cluster]\nreplicas = 3\nwrite_quorum = 1\nread_quorum = 1\n" + "".join(
        f'[[nodes]]\nid = "n{i}"\nhost = "127.0.0.1"\nport = {20000 + i}\n' for i in range(300)))
    done = harness("--config", str(path), "--mode", "sim", "--time-limit", "1")
    assert done.returncode == 254, done.stderr
    assert f"{path}: 300 [[nodes]] entries" in done.stderr and "--nodes" not in done.stderr, done.stderr
