"""Seeded-bug detection rate: how often the checker catches each bug, and how often the correct
store comes out valid, over seeds 1..N of the default run.

    python bench/detection.py --seeds 10                 # every bug, default udp mode (~40 s a run)
    python bench/detection.py --seeds 50 --mode sim      # the same in simulation (faster)
    python bench/detection.py --correct --seeds 5        # the store without bugs, per nemesis kind

A bug counts as caught when the verdict is invalid and the anomaly it is meant to cause is among
the findings. The bar (issue 3): at least 9 of 10 seeds for each bug.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.options import RunOptions  # noqa: E402
from runner.run import run  # noqa: E402

BUGS = [
    ("no-tombstones", "partition", "resurrected-delete"),
    ("no-repair", "partition", "divergent"),
    ("ack-before-durable", "crash", "lost-write"),
    ("first-writer-wins", "partition", "lost-write"),
]
KINDS = ["partition", "drop", "delay", "duplicate", "reorder", "crash", "pause", "clock-skew"]


def one_run(options: RunOptions) -> dict:
    return run(options, ["bench/detection.py"], quiet=True).results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--mode", default="udp", choices=["udp", "processes", "sim"])
    parser.add_argument("--correct", action="store_true", help="run the correct store per nemesis kind instead")
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="detection-"))
    started = time.monotonic()
    if args.correct:
        print(f"correct store, {args.seeds} seeds per nemesis kind, mode {args.mode}")
        for kind in KINDS:
            valid = 0
            findings: list[str] = []
            for seed in range(1, args.seeds + 1):
                options = RunOptions(nemesis=(kind,), seed=seed, mode=args.mode, out=str(out),
                                     time_limit=args.time_limit).validate()
                results = one_run(options)
                valid += results["valid"] is True
                if results["valid"] is not True:
                    findings.append(f"seed {seed}: {sorted({a['type'] for a in results['anomalies']})}")
            print(f"  {kind:<11} valid {valid}/{args.seeds}  {'; '.join(findings)}", flush=True)
    else:
        print(f"seeded bugs, {args.seeds} seeds each, mode {args.mode}, {args.time_limit:g} s runs")
        for bug, nemesis, anomaly in BUGS:
            caught = 0
            for seed in range(1, args.seeds + 1):
                options = RunOptions(nemesis=(nemesis,), bug=bug, seed=seed, mode=args.mode, out=str(out),
                                     time_limit=args.time_limit).validate()
                results = one_run(options)
                types = {a["type"] for a in results["anomalies"]}
                caught += results["valid"] is False and anomaly in types
            print(f"  {bug:<19} --nemesis {nemesis:<9} caught as {anomaly:<18} {caught}/{args.seeds}", flush=True)
    print(f"({time.monotonic() - started:.0f} s; runs under {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
