"""Check the whole Knossos corpus for linearizability and print the timings.

    python bench/linearizable.py [--corpus DIR] [--profile] [--repeat N] [--stress]

Prints the total and slowest check times (wall clock, and CPU time of this process, which is
steadier on a shared machine) (loading the files is timed apart, since it is the
history reader's cost, not the search's), and the number of histories that came out `unknown` or
disagreed with their manifest label. The bar (issue 6): total <= 1 s, slowest <= 0.2 s, none
unknown. `--profile` adds a cProfile summary of where the check time goes; `--stress` also times
MinikeyDB-like kv histories (unique values, many timeouts, optionally stale gets) and the
synthetic worst case (n concurrent writes then an impossible read: every order must be tried).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checker.linearizable import check_events  # noqa: E402


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        from checker.history import read_events
    except ImportError:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    return read_events(path)


def _kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    # Knossos semantics: a null read matches anything, failed operations never happened.
    return {"init": entry["model_params"].get("init"), "null_read": "any", "fail_cas": "not-applied"}


def _stress(n: int) -> list[dict[str, Any]]:
    rows = [{"process": p, "type": "invoke", "f": "write", "value": p} for p in range(n)]
    rows += [{"process": p, "type": "ok", "f": "write", "value": p} for p in range(n)]
    rows += [
        {"process": n, "type": "invoke", "f": "read", "value": None},
        {"process": n, "type": "ok", "f": "read", "value": -1},
    ]
    return rows


def _kv_like(
    seed: int, n_ops: int, processes: int, keys: int, timeouts: float, stale: float
) -> list[dict[str, Any]]:
    """A MinikeyDB-like kv history: unique put values, gets, timeouts that may or may not apply.

    Each operation takes effect at a random point of its interval on a single copy of the data
    (so the history is linearizable), except that with probability `stale` a get returns an
    older value of its key, as an eventually consistent store with W=1/R=1 does.
    """
    import random

    rng = random.Random(seed)
    current: dict[str, Any] = {}
    older: dict[str, list[Any]] = {}
    events: list[dict[str, Any]] = []
    pending: dict[int, list[Any]] = {}
    active = list(range(processes))
    next_process = processes
    started = 0
    while started < n_ops or pending:
        idle = [p for p in active if p not in pending]
        if started < n_ops and idle and (not pending or rng.random() < 0.5):
            p = rng.choice(idle)
            key = f"k{rng.randrange(keys)}"
            f = rng.choice(["put", "get"])
            value = f"p{p}-{started}" if f == "put" else None
            events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": value})
            pending[p] = [f, key, value, False]
            started += 1
            continue
        p = rng.choice(list(pending))
        f, key, value, applied = pending[p]
        if not applied and rng.random() < 0.5:
            if f == "put" and rng.random() < timeouts:
                if rng.random() < 0.5:
                    older.setdefault(key, []).append(current.get(key))
                    current[key] = value
                events.append({"process": p, "type": "info", "f": f, "key": key, "value": value})
                del pending[p]
                active[active.index(p)] = next_process
                next_process += 1
                continue
            if f == "put":
                older.setdefault(key, []).append(current.get(key))
                current[key] = value
            else:
                value = current.get(key)
                if stale and older.get(key) and rng.random() < stale:
                    value = rng.choice(older[key])
            pending[p] = [f, key, value, True]
            continue
        if applied:
            del pending[p]
            events.append({"process": p, "type": "ok", "f": f, "key": key, "value": value})
    return events


def main() -> int:
    """Run the corpus once (or --repeat times, keeping each history's best time) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stress", action="store_true")
    args = parser.parse_args()
    manifest = json.loads((args.corpus / "knossos" / "MANIFEST.json").read_text())["histories"]

    started = time.perf_counter()
    loaded = [(entry, _load(args.corpus / entry["file"])) for entry in manifest]
    load_seconds = time.perf_counter() - started
    gc.collect()  # the reader's garbage is not the checker's cost

    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    verdicts: dict[str, Any] = {}
    profiler = cProfile.Profile() if args.profile else None
    for _ in range(max(1, args.repeat)):
        for entry, events in loaded:
            if profiler is not None:
                profiler.enable()
            c0 = time.process_time()
            t0 = time.perf_counter()
            result = check_events(events, entry["model"], **_kwargs(entry))
            dt = time.perf_counter() - t0
            cpu[entry["name"]] = min(time.process_time() - c0, cpu.get(entry["name"], float("inf")))
            if profiler is not None:
                profiler.disable()
            best[entry["name"]] = min(dt, best.get(entry["name"], float("inf")))
            verdicts[entry["name"]] = result["valid"]

    total = sum(best.values())
    slowest = max(best, key=best.__getitem__)
    unknown = [name for name, v in verdicts.items() if v == "unknown"]
    mismatched = [e["name"] for e in manifest if verdicts[e["name"]] is not e["expected_linearizable"]]
    print(f"histories:  {len(manifest)} ({sum(len(ev) for _, ev in loaded)} events)")
    print(f"load:       {load_seconds:.3f} s (history reader, not counted below)")
    cpu_slowest = max(cpu, key=cpu.__getitem__)
    print(f"check:      {total:.3f} s total wall clock (bar 1 s); {sum(cpu.values()):.3f} s CPU")
    print(f"slowest:    {best[slowest]:.4f} s wall  {slowest} (bar 0.2 s)")
    print(f"            {cpu[cpu_slowest]:.4f} s CPU   {cpu_slowest}")
    print(f"unknown:    {len(unknown)} {unknown if unknown else ''}".rstrip())
    print(f"mismatched: {len(mismatched)} {mismatched if mismatched else ''}".rstrip())
    if args.stress:
        for processes, keys, timeouts, stale in (
            (10, 10, 0.05, 0.0),
            (30, 3, 0.3, 0.0),
            (30, 3, 0.3, 0.02),
            (50, 1, 0.5, 0.05),
        ):
            events = _kv_like(2, 5000, processes, keys, timeouts, stale)
            t0 = time.perf_counter()
            result = check_events(events, "kv", null_read="absent", time_budget=10)
            print(
                f"kv-like:    5000 ops, {processes} processes, {keys} keys, {timeouts:.0%} timeouts, "
                f"{stale:.0%} stale gets: {time.perf_counter() - t0:.3f} s, valid={result['valid']}, "
                f"{result['stats']['configurations']} configurations"
            )
        for n in (10, 12, 14):
            t0 = time.perf_counter()
            result = check_events(_stress(n), "register", init=0)
            print(
                f"stress:     {n} concurrent writes + impossible read: {time.perf_counter() - t0:.3f} s, "
                f"{result['stats']['configurations']} configurations, valid={result['valid']}"
            )
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        print(out.getvalue())
    return 0 if not unknown and not mismatched else 1


if __name__ == "__main__":
    sys.exit(main())
