"""Crash safety: SIGKILL nodes at random moments during writes, many times; count what was lost.

Usage: python bench/crash_safety.py [--runs 3] [--seconds 20] [--fault-interval 1] [--rate 150]

Each run is the harness in ``processes`` mode (every node its own OS process, a crash is SIGKILL
and a fresh process on the same data directory) with N=3 nodes, W=2, ``--nemesis crash``: a
crash window every ``2 x --fault-interval`` seconds for the whole load, each under load from 10
clients writing and reading 20 keys. ``--runs`` runs with ``--crash-targets mixed`` (one, a
minority, a majority or all per window, as Jepsen's kill nemesis) and as many with ``all``
(whole-cluster power loss, the only crash that can lose a write acknowledged before durable).

Printed per run and in total: crash-restarts survived (nodes SIGKILLed and restarted, from the
history's crash-start events), writes acknowledged (ok puts and deletes), and what the checker
found: lost acknowledged writes, divergent keys, any other anomaly, and the verdict.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[1]


@attrs.frozen
class CrashRun:
    targets: str
    seed: int
    exit_code: int
    valid: bool | None
    crash_restarts: int
    windows: int
    writes_acknowledged: int
    lost_writes: int
    divergent: int
    other_anomalies: dict[str, int]
    run_dir: Path

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and self.valid is True and self.lost_writes == 0 and self.divergent == 0


def harness_command(targets: str, seed: int, seconds: float, fault_interval: float, rate: float,
                    out: Path, name: str, bug: str | None = None) -> list[str]:
    """The exact harness invocation of one run (printed, so any run can be repeated by hand)."""
    return [
        sys.executable, str(ROOT / "harness.py"), "run", *([] if bug is None else ["--bug", bug]),
        "--mode", "processes", "--nodes", "3",
        "--replicas", "3", "--write-quorum", "2", "--nemesis", "crash", "--crash-targets", targets,
        "--fault-interval", str(fault_interval), "--time-limit", str(seconds), "--rate", str(rate),
        "--quiesce", "1", "--seed", str(seed), "--out", str(out), "--name", name,
    ]


def read_run(run_dir: Path, targets: str, seed: int, exit_code: int) -> CrashRun:
    """Crash-restarts from the history, acknowledged writes and anomalies from results.json."""
    restarts = windows = 0
    history = run_dir / "history.jsonl"
    if history.exists():
        for line in history.read_text().splitlines():
            event = json.loads(line)
            if event.get("process") == "nemesis" and event.get("f") == "crash-start":
                windows += 1
                restarts += len((event.get("value") or {}).get("nodes", []))
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    stats = results.get("stats", {})
    ops = stats.get("ops", {})
    acked = sum(ops.get(f, {}).get("ok", 0) for f in ("put", "delete"))
    counts = dict(stats.get("anomaly_counts") or {})
    lost = counts.pop("lost-write", 0)
    divergent = counts.pop("divergent", 0)
    return CrashRun(targets, seed, exit_code, results.get("valid"), restarts, windows, acked, lost, divergent,
                    counts, run_dir)


def run_once(targets: str, seed: int, seconds: float, fault_interval: float, rate: float, out: Path,
             bug: str | None = None) -> CrashRun:
    """One harness run in its own directory under ``out`` (the harness prefixes the name with a time stamp)."""
    name = f"crash-{targets}-{seed}"
    own = out / name
    command = harness_command(targets, seed, seconds, fault_interval, rate, own, name, bug)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1, 2):
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
    run_dirs = sorted(p for p in own.glob(f"*-{name}") if p.is_dir() and not p.is_symlink())
    return read_run(run_dirs[-1] if run_dirs else own, targets, seed, done.returncode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per crash-targets setting (default 3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of load per run (default 20)")
    parser.add_argument("--fault-interval", type=float, default=1.0, help="seconds a crash lasts, then up (default 1)")
    parser.add_argument("--rate", type=float, default=150.0, help="client ops per second (default 150)")
    parser.add_argument("--targets", default="mixed,all", help="comma-separated crash targets (default mixed,all)")
    parser.add_argument("--seed", type=int, default=100, help="first seed (default 100)")
    parser.add_argument("--bug", default=None, help="seed a defect (ack-before-durable shows lost writes are seen)")
    parser.add_argument("--out", type=Path, default=None, help="keep run directories here (default: temporary)")
    args = parser.parse_args()
    if args.runs <= 0 or args.seconds <= 0 or args.fault_interval <= 0 or args.rate <= 0:
        parser.error("--runs, --seconds, --fault-interval and --rate must be positive")
    with tempfile.TemporaryDirectory(prefix="minikeydb-crash-") as tmp:
        out = args.out or Path(tmp)
        runs: list[CrashRun] = []
        print("targets   seed  crash windows  crash-restarts  acked writes  lost  divergent  other  verdict")
        for targets in args.targets.split(","):
            for i in range(args.runs):
                run = run_once(targets, args.seed + i, args.seconds, args.fault_interval, args.rate, out, args.bug)
                runs.append(run)
                verdict = {True: "VALID", False: "INVALID", None: f"no result (exit {run.exit_code})"}[run.valid]
                print(f"{targets:<8} {run.seed:>5}  {run.windows:>13}  {run.crash_restarts:>14}  "
                      f"{run.writes_acknowledged:>12}  {run.lost_writes:>4}  {run.divergent:>9}  "
                      f"{sum(run.other_anomalies.values()):>5}  {verdict}", flush=True)
        restarts = sum(r.crash_restarts for r in runs)
        acked = sum(r.writes_acknowledged for r in runs)
        lost = sum(r.lost_writes for r in runs)
        divergent = sum(r.divergent for r in runs)
        print(f"total: {len(runs)} runs, {restarts} crash-restarts survived, {acked} acknowledged writes, "
              f"{lost} lost, {divergent} divergent keys")
        print("command of one run: " + " ".join(harness_command("mixed", args.seed, args.seconds,
                                                                args.fault_interval, args.rate, Path("OUT"), "NAME", args.bug)[1:]))
        ok = all(r.clean for r in runs)
        print(f"verdict: {'PASS' if ok else 'FAIL'} (every run valid, no lost acknowledged write, no divergence)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
