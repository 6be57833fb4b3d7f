"""Benchmark: time to write report.html for a default run, as a user waits for it.

Records one simulated run with the harness's default workload (30 s at 200 ops/s, 10 clients,
20 keys; ``--nemesis`` adds faults so the shading and convergence sections have work) into a
temporary directory, or takes ``--run DIR``, then times ``python harness.py report RUN --out F``
as a fresh process (imports included: that is what a user waits for) five times and prints the
median, every sample, the report's size and the machine load. Bar: median <= 1.5 s.

``--baseline ROOT`` times another checkout's ``harness.py report`` (for instance the previous
commit unpacked with ``git archive``) on the same run, interleaved with this one's, so that the
ratio holds even when the machine's load changes between samples.

Usage: python bench/report.py [--run DIR] [--nemesis partition] [--repeat 5] [--baseline ROOT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAR_S = 1.5


def _env(root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)
    return env


def _time(root: Path, run: Path, target: Path) -> float:
    cmd = [sys.executable, str(root / "harness.py"), "report", str(run), "--out", str(target)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1, 2):  # report exits with the verdict (0/1/2), as check does
        raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr)
    return elapsed


def record_run(out: Path, nemesis: str) -> Path:
    """A default-sized simulated run (seed 1) under ``out``; its run directory."""
    cmd = [sys.executable, str(ROOT / "harness.py"), "--mode", "sim", "--seed", "1", "--out", str(out),
           "--name", "bench-report", "--nemesis", nemesis]
    subprocess.run(cmd, cwd=ROOT, env=_env(), check=True, capture_output=True)
    return next(p for p in out.iterdir() if p.is_dir() and p.name.endswith("bench-report"))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=None, help="an existing run directory (default: record one)")
    ap.add_argument("--nemesis", default="partition", help="faults of the recorded run (default partition)")
    ap.add_argument("--repeat", type=int, default=5, help="timed report runs (default 5)")
    ap.add_argument("--baseline", default=None, help="another checkout to time alongside, interleaved")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run = Path(args.run) if args.run else record_run(Path(tmp), args.nemesis)
        target = Path(tmp) / "report.html"
        samples: list[float] = []
        base: list[float] = []
        print(f"run {run}; before: {load()}", flush=True)
        for _ in range(args.repeat):
            samples.append(_time(ROOT, run, target))
            if args.baseline:
                base.append(_time(Path(args.baseline), run, Path(tmp) / "baseline.html"))
        size = target.stat().st_size
        base_size = (Path(tmp) / "baseline.html").stat().st_size if base else 0
    med = statistics.median(samples)
    print(f"harness.py report: median {med:.2f} s over {len(samples)} runs "
          f"({', '.join(f'{s:.2f}' for s in samples)}); report.html {size / 1024:.0f} KiB")
    if base:
        bmed = statistics.median(base)
        print(f"baseline {args.baseline}: median {bmed:.2f} s ({', '.join(f'{s:.2f}' for s in base)}); "
              f"report.html {base_size / 1024:.0f} KiB; this one takes {med / bmed:.2f}x the baseline's time")
    print(f"after: {load()}")
    print(f"bar <= {BAR_S} s: {'met' if med <= BAR_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
