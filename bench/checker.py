"""Benchmark: the convergence checker against the floor of reading the history at all.

Generates (once, cached, in a child process so its memory does not count) or takes a history of
about 1,000,000 operations over 100,000 keys, then prints in one run:

- the time for plain stdlib ``json.loads`` of every line (the floor: you must read the file),
- the time for ``check`` (read with orjson + validate + convergence check + stats),
- their ratio (bar: <= 2.0), and the peak RSS of this process (bar: <= 1 GiB).

Usage: python bench/checker.py [--ops N] [--keys K] [--history PATH] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First, even when PYTHONPATH already names it: otherwise this script's own directory comes first
# and `checker` would be this file rather than the package.
if str(ROOT) in sys.path:
    sys.path.remove(str(ROOT))
sys.path.insert(0, str(ROOT))

GEN = """
import sys
from checker.synthetic import generate, write_history
ops, keys, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
client_ops = max(ops - 3 * keys, ops // 2)
processes = 100
# each process does about one operation per 49 ms (40 ms think time, latency, timeouts)
duration = client_ops / processes * 0.049
n = write_history(path, generate(seed=7, duration_s=duration, processes=processes, keys=keys,
                                 faults=[("partition", duration * 0.2, duration * 0.4),
                                         ("crash", duration * 0.6, duration * 0.7)]))
print(n)
"""


def ensure_history(ops: int, keys: int, path: Path, regenerate: bool) -> None:
    if path.exists() and not regenerate:
        return
    print(f"generating {ops:,} operations over {keys:,} keys into {path} ...", flush=True)
    t0 = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    out = subprocess.run(
        [sys.executable, "-c", GEN, str(ops), str(keys), str(tmp)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    tmp.rename(path)
    print(f"  {int(out.stdout):,} events in {time.perf_counter() - t0:.1f} s", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--history", type=Path, default=None, help="use this history instead of generating one")
    ap.add_argument("--regenerate", action="store_true")
    args = ap.parse_args()
    path = (
        args.history
        or Path(os.environ.get("TMPDIR", "/tmp")) / f"minikeydb-bench-{args.ops}-{args.keys}.jsonl"
    )
    if args.history is None:
        ensure_history(args.ops, args.keys, path, args.regenerate)

    from checker.api import CheckOptions, check

    size = path.stat().st_size
    t0 = time.perf_counter()
    lines = 0
    with open(path, "rb") as fh:
        loads = json.loads
        for line in fh:
            loads(line)
            lines += 1
    t_json = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = check(path, CheckOptions()).results
    t_check = time.perf_counter() - t0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    ops = sum(sum(c.values()) for c in result["stats"]["ops"].values()) + sum(
        result["stats"]["final_read_counts"].values()
    )
    print(
        f"history            {path} ({size / 2**20:.0f} MiB, {lines:,} events, {ops:,} operations, "
        f"{result['stats']['keys']:,} keys)"
    )
    print(f"verdict            {result['valid']} (anomalies: {result['stats']['anomaly_counts'] or 'none'})")
    print(f"json.loads / line  {t_json:.2f} s")
    print(f"check              {t_check:.2f} s  ({ops / t_check:,.0f} ops/s)")
    print(f"ratio              {t_check / t_json:.2f}  (bar <= 2.0)")
    print(f"peak RSS           {rss_kib / 1024:.0f} MiB  (bar <= 1024 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
