"""SIGINT and SIGTERM to a running harness: every child stopped, partial run kept, one line, 130/143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def node_processes(run_root: Path) -> list[int]:
    """Pids of live (not zombie) ``minikeydb serve`` processes whose command line names a path under ``run_root``."""
    found = []
    marker = str(run_root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and b"minikeydb\x00serve" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def start_run(out: Path, mode: str) -> subprocess.Popen[str]:
    args = [sys.executable, str(ROOT / "harness.py"), "run", "--mode", mode, "--nodes", "3", "--time-limit", "60",
            "--rate", "50", "--concurrency", "4", "--keys", "10", "--nemesis", "partition", "--fault-interval", "2",
            "--out", str(out), "--seed", "5"]
    if mode == "sim":
        args[args.index("60")] = "100000"  # virtual seconds: still running when the signal comes
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def history_started(out: Path) -> bool:
    return any(p.stat().st_size > 0 for p in out.glob("*/history.jsonl"))


@pytest.mark.parametrize(
    ("mode", "signum", "code"),
    [
        ("processes", signal.SIGTERM, 143),
        ("processes", signal.SIGINT, 130),
        ("udp", signal.SIGINT, 130),
        ("udp", signal.SIGTERM, 143),
        ("sim", signal.SIGTERM, 143),
        ("sim", signal.SIGINT, 130),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else str(v),
)
def test_a_signal_stops_every_child_keeps_the_partial_run_and_exits_128_plus_signal(
    tmp_path: Path, mode: str, signum: int, code: int
) -> None:
    """A signal mid-run: exit 128+signal, one stderr line and no traceback, results unknown/interrupted, no orphan."""
    out = tmp_path / "runs"
    orphans: list[int] = []
    proc = start_run(out, mode)
    try:
        assert wait_for(lambda: history_started(out) or proc.poll() is not None, 60), "the run never started"
        assert proc.poll() is None, proc.communicate()
        if mode == "processes":
            assert len(node_processes(out)) == 3
        time.sleep(1.5)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in node_processes(out):  # orphans the harness left: the test fails below, but cleans up
            os.kill(pid, signal.SIGKILL)
            orphans.append(pid)
    assert proc.returncode == code, f"exit {proc.returncode}, orphans {orphans}, stderr {stderr[-400:]}"
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("MinikeyDB:")]
    assert len(lines) == 1 and "interrupted by" in lines[0], stderr
    assert "Traceback" not in stderr + stdout
    run_dir = next(out.glob("*/history.jsonl")).parent
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown" and results["reason"] == "interrupted"
    load = results["stats"]["workload"]  # rates over the time run, not the time limit the signal cut short
    time_limit = json.loads((run_dir / "run.json").read_text())["options"]["time_limit"]
    # The signal cut the load short: rates are over the time run, however fast (virtual time runs
    # tens of times faster than real time in sim), never over the whole time limit.
    assert 0 < load["load_seconds"] < time_limit and load["completed"] > 0
    assert load["achieved_rate"] == pytest.approx(load["completed"] / load["load_seconds"], rel=0.02)
    assert (run_dir / "history.jsonl").read_bytes().endswith(b"\n")
    assert not orphans, f"node processes left running after the harness exited: {orphans}"


def test_sigkill_of_the_harness_leaves_no_node_process_running(tmp_path: Path) -> None:
    """SIGKILL (no handler can run) of a processes-mode harness: its node processes die with it."""
    out = tmp_path / "runs"
    proc = start_run(out, "processes")
    survivors: list[int] = []
    try:
        assert wait_for(lambda: history_started(out) or proc.poll() is not None, 60), "the run never started"
        assert proc.poll() is None, proc.communicate()
        assert len(node_processes(out)) == 3
        proc.kill()
        proc.communicate(timeout=30)
        wait_for(lambda: not node_processes(out), 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in node_processes(out):  # what the harness left: the test fails below, but cleans up
            os.kill(pid, signal.SIGKILL)
            survivors.append(pid)
    assert not survivors, f"node processes outlived the SIGKILLed harness: {survivors}"


def test_sigterm_while_the_report_is_written_exits_143_and_keeps_the_verdict_marked_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM during report.html: exit 143, the verdict kept but marked interrupted, no half report, no summary."""
    import checker.report
    from runner.cli import main

    def write_report_until_signalled(run_dir: Path, results: object, **_: object) -> Path:
        (run_dir / "report.html").write_text("<html><body>half a rep")
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here, as it would in the middle of a plot
        time.sleep(5)
        raise AssertionError("the signal did not stop the report")

    monkeypatch.setattr(checker.report, "write_report", write_report_until_signalled)
    out = tmp_path / "runs"
    code = main(["--mode", "sim", "--time-limit", "2", "--seed", "4", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 143, captured.err
    run_dir = next(out.glob("*/history.jsonl")).parent
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True and results["interrupted"]["signal"] == "SIGTERM"
    assert results["interrupted"]["missing"] == ["report.html"]
    assert not (run_dir / "report.html").exists()
    assert "report.html" not in captured.out and "interrupted by SIGTERM" in captured.err


SLOW_IMPORT = """
import runpy, sys, time
class SlowRunnerCli:  # holds the import of runner.cli, so the signal lands while imports run
    def find_spec(self, name, path=None, target=None):
        if name == "runner.cli":
            print("importing", file=sys.stderr, flush=True)
            time.sleep(60)
        return None
sys.meta_path.insert(0, SlowRunnerCli())
sys.argv = [sys.argv[1], "--mode", "sim", "--time-limit", "1", "--out", sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_imports_run_is_one_line_and_128_plus_signal(tmp_path: Path, signum: int,
                                                                         code: int) -> None:
    """Ctrl-C during start-up (imports still running): one stderr line, no traceback, exit 130 (143 SIGTERM)."""
    proc = subprocess.Popen([sys.executable, "-c", SLOW_IMPORT, str(ROOT / "harness.py"), str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "importing\n"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        f"interrupted by {signal.Signals(signum).name} while starting"]
    assert proc.returncode == code


def children_running(parent: int, module: bytes) -> list[int]:
    """Pids of live (not zombie) children of ``parent`` whose command line runs ``python -m MODULE``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == parent and b"-m\x00" + module in cmdline:
            found.append(int(entry.name))
    return found


def test_a_signal_stops_a_sim_runs_check_process(tmp_path: Path) -> None:
    """SIGINT to a sim run checked as it runs: exit 130, interrupted results, and its check process gone too."""
    out = tmp_path / "runs"
    proc = start_run(out, "sim")
    checkers: list[int] = []
    try:
        assert wait_for(lambda: history_started(out) or proc.poll() is not None, 60), "the run never started"
        assert wait_for(lambda: children_running(proc.pid, b"runner.check_process") or proc.poll() is not None, 30)
        checkers = children_running(proc.pid, b"runner.check_process")
        assert len(checkers) == 1 and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-400:]
    results = json.loads(next(out.glob("*/results.json")).read_text())
    assert results["valid"] == "unknown" and results["reason"] == "interrupted"

    def gone() -> bool:
        try:
            state = (Path("/proc") / str(checkers[0]) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"

    assert wait_for(gone, 10), "the check process outlived the interrupted run"
