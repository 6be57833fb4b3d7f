"""``harness.py maelstrom explore``: seeds of a Maelstrom node searched, the ledger, resume, shrinking, Ctrl-C.

The reductions and the flag checks are tested without running anything; the sweeps run real node
processes in real time, kept short (1-2 s of load); the slower ones (a shrink, an interrupted
sweep) are marked ``realtime`` as the other end-to-end Maelstrom runs are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from nemesis import FaultSchedule, ScheduledFault
from runner.explore_ledger import options_hash, read_ledger
from runner.explore_trial import TrialReport
from runner.maelstrom.command import MaelstromOptions, schedule_for
from runner.maelstrom.explore import LedgerOptions, explore_command, resume_command, seed_command
from runner.maelstrom.explore_shrink import MIN_TIME_LIMIT, reductions, shrink, with_nodes
from runner.maelstrom.explore_trial import MaelstromCandidate, MaelstromTrial, anomaly_types
from runner.options import OptionError
from runner.shrink import Outcome
from runner.usage import UsageError

ROOT = Path(__file__).resolve().parents[2]
NODES = Path(__file__).resolve().parent / "nodes"
SEED_FIELDS = {"options_hash", "seed", "verdict", "anomalies", "signature", "fault_kinds", "faults",
               "faults_changed_nothing", "operations", "fault_windows", "history_sha256", "virtual_s", "wall_s",
               "commit"}


def _harness(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), "maelstrom", "explore", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _echo_flags(tmp_path: Path, *extra: str) -> list[str]:
    return ["-w", "echo", "--bin", str(NODES / "echo.py"), "--node-count", "1", "--time-limit", "1", "--rate", "10",
            "--quiesce", "0", "--out", str(tmp_path / "out"), "--ledger", str(tmp_path / "ledger.jsonl"), *extra]


def _seed_lines(ledger: Path) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in ledger.read_text().splitlines() if x.strip()]
    assert lines[0]["ledger"] == "minikeydb-explore"
    return lines[1:]


# -- without running anything ------------------------------------------------------------------


def _candidate(**kw: Any) -> MaelstromCandidate:
    options = MaelstromOptions(**{"workload": "g-set", "bin": "/bin/true", "node_count": 5, "time_limit": 8.0,
                                  "rate": 20.0, "concurrency": 5, "nemesis": ("crash", "partition"),
                                  "nemesis_interval": 1.0, "seed": 3, **kw})
    return MaelstromCandidate(options, schedule_for(options))


def test_every_reduction_is_a_smaller_run_whose_schedule_names_its_own_nodes() -> None:
    """Each reduction of a crash+partition run on 5 nodes makes a run: its schedule on n0..n{N-1}, --nemesis the
    kinds it still has, no time limit under the minimum, and something smaller than the original."""
    c = _candidate()
    assert c.schedule.windows, "seed 3 draws fault windows"
    made = list(reductions(c))
    names = [name for name, _ in made]
    assert names[0] == "end at the last fault" or names[0] == "halve the time limit"
    assert "no faults" in names and any(n.startswith("nodes 5 ->") for n in names)
    for name, r in made:
        assert r.schedule.nodes == tuple(r.options.node_ids), name
        assert set(r.options.nemesis) >= {w.kind for w in r.schedule.windows}, name
        assert r.options.time_limit >= MIN_TIME_LIMIT, name
        assert r.key() != c.key(), name


def test_removing_nodes_adapts_the_windows_that_name_them() -> None:
    """Going from 5 nodes to 2 drops crashes of n2..n4 alone and takes them out of the other windows."""
    options = MaelstromOptions(workload="g-set", bin="/bin/true", node_count=5, nemesis=("crash",), time_limit=4.0)
    nodes = tuple(options.node_ids)
    windows = (ScheduledFault("crash", 0.5, 1.0, {"nodes": ["n3", "n4"]}),
               ScheduledFault("crash", 1.5, 2.0, {"nodes": ["n0", "n4"]}))
    c = MaelstromCandidate(options, FaultSchedule(nodes, 4.0, 1.0, windows))
    smaller = with_nodes(c, 2)
    assert smaller.options.node_count == 2 and smaller.schedule.nodes == ("n0", "n1")
    assert [w.params["nodes"] for w in smaller.schedule.windows] == [["n0"]]


class _Judge:
    """An executor that runs no process: a candidate fails when it has 2+ nodes and a rate of 5+; dropping the
    latency fails its first run only (a flaky node), so its confirmation must refuse it."""

    workers = 2

    def map_unordered(self, fn: Any, items: Any) -> Any:
        for task in items:
            o = task.candidate.options
            fails = o.node_count >= 2 and o.rate >= 5
            flaky = o.latency == 0
            outcome = Outcome(valid=not fails, anomaly_types=("lost-element",) if fails else (),
                              operations=int(o.rate * o.time_limit), faults=task.candidate.faults)
            report = TrialReport(task.index, o.seed, outcome, (), {"windows": 0, "bit": 0, "inert": 0, "unknown": 0},
                                 0.0, 0.0)
            tries = 1 + (task.confirm if fails else 0)
            failures = (1 if flaky else tries) if fails else 0
            yield MaelstromTrial(report, None, tries, failures)

    def close(self) -> None:
        pass


def test_shrinking_keeps_only_candidates_that_fail_in_every_run_of_them() -> None:
    """The search ends at the smallest configuration that still fails (2 nodes, rate 5, the shortest run); the
    reduction that failed once and passed its confirmation (no latency) is not kept."""
    c = _candidate(latency=50.0, rate=20.0)
    ops = int(c.options.rate * c.options.time_limit)
    original = Outcome(valid=False, anomaly_types=("lost-element",), operations=ops, faults=c.faults)
    result = shrink(c, original, _Judge(), argv=(), scratch="", budget=200, confirm=1)  # type: ignore[arg-type]
    o = result.candidate.options
    assert (o.node_count, o.rate, o.time_limit, o.latency) == (2, 5.0, MIN_TIME_LIMIT, 50.0)
    assert result.candidate.faults == 0 and not result.exhausted
    assert all(step.tries == 2 for step in result.steps)
    assert "latency 50 -> 0 ms" not in [step.reduction for step in result.steps]


def test_an_invalid_run_without_anomalies_gets_the_rule_that_failed_it() -> None:
    """A run failed by the stats rule (no operation kind ever ok) is a failure of its own type, not "no anomaly"."""
    assert anomaly_types({"valid": False, "reason": "some kind of operation never succeeded: cas"}) == ("never-ok",)
    assert anomaly_types({"valid": False, "anomalies": [{"type": "lost-element"}]}) == ("lost-element",)
    assert anomaly_types({"valid": True}) == ()


def test_the_ledger_hash_covers_the_node_program_and_the_mode() -> None:
    """Two sweeps differing only in the node program's bytes have different hashes: --resume refuses the other's."""
    options = MaelstromOptions(workload="echo", bin="/x/node")
    a, b = LedgerOptions(options, "aa"), LedgerOptions(options, "bb")
    assert options_hash(a, False) != options_hash(b, False)
    assert a.to_json()["mode"] == "maelstrom"


def test_the_seed_command_is_a_maelstrom_test_of_that_seed() -> None:
    """The failure's one-line command reruns the seed with its flags (the binary's own arguments after --)."""
    options = MaelstromOptions(workload="broadcast", bin="/n/node", node_count=3, concurrency=3, time_limit=2.0,
                               nemesis=("crash",), seed=7, args=("--fast",))
    cmd = seed_command(options)
    assert cmd.startswith("python harness.py maelstrom test -w broadcast --bin /n/node --seed 7 --time-limit 2")
    assert "--nemesis crash" in cmd and "--node-count 3" in cmd and "--concurrency" not in cmd
    assert cmd.endswith("-- --fast")


@pytest.mark.parametrize(("flag", "value", "named"), [
    ("--runs", "0", "--runs"), ("--workers", "0", "--workers"), ("--confirm", "-1", "--confirm"),
    ("--shrink-runs", "-2", "--shrink-runs"), ("--nemesis", "crush", "--nemesis"),
    ("--bin", "/nonexistent/node", "--bin"), ("--time-limit", "0", "--time-limit"),
])
def test_a_bad_flag_is_one_line_naming_it(tmp_path: Path, flag: str, value: str, named: str) -> None:
    """Every explore flag out of range (and maelstrom test's) is refused naming the flag, before anything runs."""
    argv = ["-w", "echo", "--bin", str(NODES / "echo.py"), "--out", str(tmp_path)]
    argv = [x for i, x in enumerate(argv) if not (flag == "--bin" and (x == "--bin" or argv[i - 1] == "--bin"))]
    with pytest.raises(UsageError, match=named):
        explore_command([*argv, f"{flag}={value}"])
    assert not (tmp_path / "explore-ledgers").exists()


def test_a_bad_flag_exits_254_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    """On the command line a bad flag is one line on stderr, exit 254."""
    done = _harness("-w", "echo", "--bin", str(NODES / "echo.py"), "--runs", "0", timeout=120)
    assert done.returncode == 254
    assert done.stderr.strip().count("\n") == 0 and "--runs" in done.stderr and "Traceback" not in done.stderr


def test_resume_command_puts_resume_before_the_node_arguments() -> None:
    """The resume line printed on Ctrl-C replaces --ledger and keeps the binary's arguments last."""
    line = resume_command(["-w", "echo", "--ledger", "L", "--bin", "x", "--", "--flag"], Path("L"))
    assert "--ledger" not in line and line.endswith("--bin x -- --flag") and "--resume L" in line


# -- real runs ------------------------------------------------------------------------------------


def test_a_correct_node_gives_no_failure_and_resume_runs_only_the_missing_seeds(tmp_path: Path) -> None:
    """A correct echo node over 2 seeds: all valid, exit 0, a well-formed ledger; --resume with --runs 3 runs seed
    3 only, appending it."""
    done = _harness(*_echo_flags(tmp_path, "--runs", "2", "--workers", "2", "--json", str(tmp_path / "a.json")))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no invalid run in 2 seed(s) (2 valid)" in done.stdout
    ledger = tmp_path / "ledger.jsonl"
    lines = _seed_lines(ledger)
    header = json.loads(ledger.read_text().splitlines()[0])
    assert header["sweep"]["options"]["mode"] == "maelstrom" and header["sweep"]["options"]["bin_sha256"]
    assert [x["seed"] for x in lines] == [1, 2]
    for line in lines:
        assert SEED_FIELDS <= set(line), set(SEED_FIELDS) - set(line)
        assert line["verdict"] == "valid" and line["options_hash"] == header["options_hash"]
        assert line["operations"] > 0 and len(line["history_sha256"]) == 64
    assert json.loads((tmp_path / "a.json").read_text())["failing_seed"] is None

    again = _harness(*[x for x in _echo_flags(tmp_path, "--runs", "3", "--workers", "1") if x != str(ledger)
                       and x != "--ledger"], "--resume", str(ledger))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 seed(s) already in the ledger" in again.stderr
    assert [x["seed"] for x in _seed_lines(ledger)] == [1, 2, 3]
    assert sorted(read_ledger(ledger).seeds) == [1, 2, 3]


def test_a_node_that_breaks_the_protocol_is_unknown_with_its_reason_in_the_ledger(tmp_path: Path) -> None:
    """A node that writes garbage: every seed unknown (exit 2, nothing to shrink), each ledger line saying why."""
    node = tmp_path / "garbage.sh"
    node.write_text("#!/bin/sh\necho 'not json'\nsleep 5\n")
    node.chmod(0o755)
    flags = _echo_flags(tmp_path, "--runs", "2", "--workers", "2")
    flags[flags.index("--bin") + 1] = str(node)
    done = _harness(*flags)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "every one of the 2 runs was UNKNOWN" in done.stdout
    lines = _seed_lines(tmp_path / "ledger.jsonl")
    assert [x["verdict"] for x in lines] == ["unknown", "unknown"]
    assert all("not a Maelstrom message" in x["reason"] for x in lines)


def test_resume_refuses_a_ledger_of_other_flags(tmp_path: Path) -> None:
    """A ledger resumed with another --rate is refused in one line naming the option that differs."""
    ledger = tmp_path / "ledger.jsonl"
    ledger.parent.mkdir(exist_ok=True)
    options = MaelstromOptions(workload="echo", bin=str(NODES / "echo.py"), node_count=1, time_limit=1.0, rate=10.0,
                               concurrency=1, quiesce=0.0, nemesis_interval=2.0, seed=1, out=str(tmp_path / "out"))
    from runner.maelstrom.explore import MaelstromLedger, bin_digest

    MaelstromLedger(ledger, LedgerOptions(attrs.evolve(options, rate=5.0), bin_digest(options.bin)), False,
                    "c").close()
    flags = [x for x in _echo_flags(tmp_path, "--runs", "1") if x not in (str(ledger), "--ledger")]
    with pytest.raises(OptionError, match="rate 5.0 in the ledger, 10.0 now"):
        explore_command([*flags, "--resume", str(ledger)])


@pytest.mark.realtime
def test_a_broadcast_that_never_forwards_is_found_and_shrunk_to_a_run_that_still_fails(tmp_path: Path) -> None:
    """explore finds seed 1 of a non-forwarding broadcast invalid (lost-element), shrinks it to a smaller
    configuration confirmed by re-runs, and writes it as a run directory that check, and replay, find invalid."""
    out = tmp_path / "out"
    done = _harness("-w", "broadcast", "--bin", str(NODES / "broadcast_no_forward.py"), "--node-count", "3",
                    "--time-limit", "2", "--rate", "20", "--quiesce", "1", "--runs", "2", "--workers", "2",
                    "--shrink-runs", "4", "--confirm", "1", "--out", str(out), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["failing_seed"] == 1 and result["anomaly"] == "lost-element"
    assert result["steps"], "at least one reduction is kept (a shorter run or a lower rate still loses elements)"
    assert result["shrunk"]["operations"] <= result["original"]["operations"]
    assert result["minimal_reproduced"]["failed"] >= 1
    run_dir = Path(result["run_dir"])
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is False and "lost-element" in {a["type"] for a in results["anomalies"]}
    assert json.loads((run_dir / "run.json").read_text())["mode"] == "maelstrom"
    failure = (run_dir / "failure.txt").read_text()
    assert "python harness.py maelstrom test -w broadcast" in failure and "--seed 1" in failure
    assert f"python harness.py replay {run_dir}" in done.stdout
    check = subprocess.run([sys.executable, str(ROOT / "harness.py"), "check", str(run_dir)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 1, check.stdout + check.stderr


@pytest.mark.realtime
def test_a_set_that_forgets_after_a_crash_is_shrunk_to_a_run_that_keeps_a_crash(tmp_path: Path) -> None:
    """A g-set node that never re-syncs after a crash: explore finds it under --nemesis crash, and whatever it
    shrinks, the minimal run still has a crash window (without one the node is correct) and still loses elements."""
    done = _harness("-w", "g-set", "--bin", str(NODES / "g_set_forgetful.py"), "--node-count", "3", "--time-limit",
                    "3", "--rate", "20", "--quiesce", "1", "--nemesis", "crash", "--nemesis-interval", "1", "--runs",
                    "3", "--workers", "3", "--shrink-runs", "4", "--out", str(tmp_path / "out"), "--json",
                    str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["anomaly"] == "lost-element"
    assert "crash" in result["shrunk"]["fault_kinds"]
    run_dir = Path(result["run_dir"])
    schedule = json.loads((run_dir / "run.json").read_text())["schedule"]
    assert any(w["kind"] == "crash" for w in schedule["windows"])
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is False and "lost-element" in {a["type"] for a in results["anomalies"]}


def _node_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.realtime
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc to find the node processes")
def test_ctrl_c_stops_every_run_and_resume_runs_only_the_seeds_left(tmp_path: Path) -> None:
    """SIGINT in the middle of a sweep: exit 130, no node process left, a resume line printed; --resume then
    runs only the seeds the ledger lacks, and the ledger ends with each seed once."""
    node = tmp_path / "echo-node-under-test.py"  # a path of its own, to find its processes
    shutil.copy(NODES / "echo.py", node)
    shutil.copy(NODES / "maelstrom_node.py", tmp_path / "maelstrom_node.py")
    node.chmod(0o755)
    flags = ["-w", "echo", "--bin", str(node), "--node-count", "2", "--time-limit", "3", "--rate", "10",
             "--quiesce", "0", "--runs", "6", "--workers", "2", "--out", str(tmp_path / "out")]
    ledger = tmp_path / "ledger.jsonl"
    proc = subprocess.Popen([sys.executable, str(ROOT / "harness.py"), "maelstrom", "explore", *flags, "--ledger",
                             str(ledger)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if ledger.exists() and len(_seed_lines(ledger)) >= 1 and _node_processes(node.name):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "continue with:" in err and "--resume" in err
    deadline = time.monotonic() + 30
    while _node_processes(node.name) and time.monotonic() < deadline:
        time.sleep(0.2)  # a SIGKILLed worker's nodes get their death signal from the kernel
    assert _node_processes(node.name) == []
    done_before = [x["seed"] for x in _seed_lines(ledger)]
    assert 1 <= len(done_before) < 6
    again = _harness(*flags, "--resume", str(ledger))
    assert again.returncode == 0, again.stdout + again.stderr
    seeds = [x["seed"] for x in _seed_lines(ledger)]
    assert sorted(seeds) == [1, 2, 3, 4, 5, 6] and len(seeds) == 6
    assert f"{len(done_before)} seed(s) already in the ledger" in again.stderr
