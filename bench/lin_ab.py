"""The Knossos corpus bar (issue #16) A/B between two checkouts, interleaved in the same minutes.

This machine has a fast and a slow state (the same rounds of the same process take about 1.5x the
CPU time for a while, whatever the code), so a single median can land on either side of a bar.
This script alternates fresh processes of two checkouts (each timing ``--rounds`` rounds of the
whole corpus in process, as ``bench/linearizable.py --bars`` does) and prints, per checkout, each
process's median and minimum (the fast state), then the medians of both and their ratio.

Usage: python bench/lin_ab.py OLD_CHECKOUT NEW_CHECKOUT [--processes 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ONE = r"""
import gc, json, statistics, sys, time
from pathlib import Path
root = sys.argv[1]
sys.path[:0] = [root, root + "/bench"]
import linearizable as L
from checker.linearizable import check_events
corpus = Path(sys.argv[2])
manifest = json.loads((corpus / "knossos" / "MANIFEST.json").read_text())["histories"]
loaded = [(e, L._load(corpus / e["file"])) for e in manifest]
times = []
for _ in range(int(sys.argv[3])):
    gc.collect()
    t0 = time.perf_counter()
    for e, ev in loaded:
        check_events(ev, e["model"], **L._kwargs(e))
    times.append(time.perf_counter() - t0)
print(json.dumps({"median": statistics.median(times), "min": min(times)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    args = parser.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}; {args.processes} processes each, {args.rounds} rounds each, alternating")
    got: dict[Path, list[dict[str, float]]] = {args.old: [], args.new: []}
    for _ in range(args.processes):
        for tree in (args.old, args.new):
            env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
            out = subprocess.run([sys.executable, "-c", ONE, str(tree.resolve()), str(args.corpus), str(args.rounds)],
                                 env=env, capture_output=True, text=True, check=True, cwd="/")
            got[tree].append(json.loads(out.stdout))
    medians = {}
    for tree, runs in got.items():
        medians[tree] = statistics.median(r["median"] for r in runs)
        each = " ".join(f"{r['median']:.3f}" for r in runs)
        print(f"{tree}: per-process medians {each}; "
              f"minimums {min(r['min'] for r in runs):.3f}-{max(r['min'] for r in runs):.3f} s; "
              f"median {medians[tree]:.3f} s")
    print(f"new/old: medians {medians[args.new] / medians[args.old]:.2f}, fastest "
          f"{min(r['min'] for r in got[args.new]) / min(r['min'] for r in got[args.old]):.2f} "
          f"(bar: the corpus <= 0.09 s; load now {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
