"""The harness's own memory over a long run: VmRSS of the harness process every ``--every`` seconds.

Usage: python bench/harness_memory.py [--every 10] -- [harness run options]
e.g.   python bench/harness_memory.py -- --mode processes --nodes 3 --time-limit 600 --keys 100000

Use ``--mode processes`` so that the nodes' memory (which grows with the data they hold) is in
their own processes and the figure is the harness's: workload, recorder, client, final reads and,
at the end, the checker. Prints one line per sample (seconds since start, RSS MB) and the ratio of
the last load-phase sample to the one at 60 s; exits with the harness's exit code.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("harness_args", nargs=argparse.REMAINDER, help="options for harness.py run (after --)")
    args = parser.parse_args()
    harness_args = [a for a in args.harness_args if a != "--"]
    time_limit = float(harness_args[harness_args.index("--time-limit") + 1]) if "--time-limit" in harness_args \
        else 30.0
    proc = subprocess.Popen([sys.executable, str(ROOT / "harness.py"), "run", *harness_args], cwd=ROOT)
    started = time.monotonic()
    samples: list[tuple[float, int]] = []
    try:
        while proc.poll() is None:
            time.sleep(args.every)
            rss = rss_kib(proc.pid)
            if rss is not None:
                at = time.monotonic() - started
                samples.append((at, rss))
                print(f"harness-memory: {at:6.0f} s  RSS {rss / 1024:7.1f} MB", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        proc.send_signal(2)
    code = proc.wait()
    load = [(at, rss) for at, rss in samples if at <= time_limit + 5]
    at60 = next(((at, rss) for at, rss in load if at >= 60), None)
    if at60 and load and load[-1][0] > at60[0]:
        end = load[-1]
        print(f"harness-memory: RSS at {at60[0]:.0f} s {at60[1] / 1024:.1f} MB, at {end[0]:.0f} s "
              f"{end[1] / 1024:.1f} MB (x{end[1] / at60[1]:.2f}) during the load; peak "
              f"{max(r for _, r in samples) / 1024:.1f} MB including final reads and checking", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
