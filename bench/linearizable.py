"""Check the whole Knossos corpus for linearizability and print the timings.

    python bench/linearizable.py [--corpus DIR] [--profile] [--repeat N] [--stress]
    python bench/linearizable.py --bars [--rounds N] [--stress-time-limit S]

Prints the total and slowest check times (wall clock, and CPU time of this process, which is
steadier on a shared machine) (loading the files is timed apart, since it is the
history reader's cost, not the search's), and the number of histories that came out `unknown` or
disagreed with their manifest label. The bar (issue 6): total <= 1 s, slowest <= 0.2 s, none
unknown. `--profile` adds a cProfile summary of where the check time goes; `--stress` also times
MinikeyDB-like kv histories (unique values, many timeouts, optionally stale gets) and the
synthetic worst case (n concurrent writes then an impossible read: every order must be tried).

`--bars` prints the bars of issue 16 beside their reference figures: the corpus as the median
of interleaved rounds (Porcupine, in Go: 0.063 s wall); histories shaped like Porcupine's kv
`c50-bad` (bench/lin_histories.py) checked by a whole `harness.py check` with default flags (bar
<= 2 s, verdict false); a 20-process register stress set with crashed operations (each decided or
unknown within its limit, peak RSS <= 2 GiB, exit 1 only for a violation); and a whole-process
check of a 10-line history (bar <= 0.4 s; with the bytecode cached as a user's Python has it, and beside it compiling the sources at each start as PYTHONDONTWRITEBYTECODE=1 makes it here). Report `uptime` beside the figures: the machine is shared.
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
sys.path.append(str(Path(__file__).resolve().parent))  # lin_histories (appended: bench/checker.py is no package)

from checker.linearizable import check_events  # noqa: E402
from checker.linearizable.compiled import describe  # noqa: E402


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


def _cli_check(path: Path, *flags: str, env: dict[str, str] | None = None) -> tuple[int, float, dict[str, Any]]:
    """Run `harness.py check --checker linearizable` on `path` as a whole process: (exit, seconds, results)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(root / "harness.py"), "check", str(path), "--checker", "linearizable", "--json", *flags],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
    )
    seconds = time.perf_counter() - t0
    try:
        results = json.loads(proc.stdout.splitlines()[0])
    except (IndexError, json.JSONDecodeError):
        results = {"valid": None, "stderr": proc.stderr.strip()[-300:]}
    return proc.returncode, seconds, results


def _write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def bars(loaded: list[tuple[dict[str, Any], list[dict[str, Any]]]], rounds: int, stress_limit: float | None) -> None:
    """Print the bars of issue 16 (see the module docstring)."""
    import os
    import resource
    import statistics
    import tempfile

    from lin_histories import kv_c50, register_stress

    print(f"load:       {os.getloadavg()[0]:.2f} (1-min load average; 2 cores shared)")
    print(describe())
    totals = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        for entry, events in loaded:
            check_events(events, entry["model"], **_kwargs(entry))
        totals.append(time.perf_counter() - t0)
    print(
        f"corpus:     {statistics.median(totals):.3f} s median of {rounds} rounds, in process "
        f"(min {min(totals):.3f}; bar 0.09 s; Porcupine 0.063 s wall)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for seed in (1, 2, 3):
            path = _write(d / f"c50-{seed}.jsonl", kv_c50(seed))
            code, seconds, res = _cli_check(path, "--model", "kv", "--init", '""', "--null-read", "absent")
            st = res.get("stats", {})
            print(
                f"c50-bad:    seed {seed}: {seconds:.2f} s whole process, exit {code}, valid={res.get('valid')}, "
                f"{st.get('workers')} workers, {st.get('parts_not_checked')} parts not checked (bar <= 2 s, false)"
            )
        flags = ["--model", "register", "--init", "0"]
        if stress_limit is not None:
            flags += ["--time-limit", str(stress_limit)]
        worst_rss = 0
        for seed in range(6):
            path = _write(d / f"stress-{seed}.jsonl", register_stress(seed))
            code, seconds, res = _cli_check(path, *flags)
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
            worst_rss = max(worst_rss, rss)
            reasons = sorted({u["reason"] for u in res.get("unknown", [])})
            ok = code in (0, 2) or (code == 1 and res.get("valid") is False)
            print(
                f"stress:     seed {seed}: {seconds:.2f} s, exit {code}, valid={res.get('valid')} "
                f"{reasons if reasons else ''} {'ok' if ok else 'BAD EXIT'}".rstrip()
            )
        print(f"stress:     peak RSS of any check process so far {worst_rss} MiB (bar 2048 MiB)")
        small = _write(
            d / "small.jsonl",
            [{"process": p, "type": t, "f": "put", "key": "k", "value": f"v{p}"} for p in range(5) for t in ("invoke", "ok")],
        )
        # As a user's Python runs it, with the project's bytecode cached (a scratch PYTHONPYCACHEPREFIX,
        # filled by the first run); and as this environment runs it when PYTHONDONTWRITEBYTECODE is set
        # (every start compiles the project's sources again), interleaved.
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(d / "pycache")
        uncached = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        _cli_check(small, env=cached)
        pairs = [(_cli_check(small, env=cached)[1], _cli_check(small, env=uncached)[1]) for _ in range(7)]
        print(f"small:      {statistics.median(a for a, _ in pairs):.3f} s median of 7 whole-process checks of a "
              f"10-line history, bytecode cached as on a user's machine (bar 0.4 s); "
              f"{statistics.median(b for _, b in pairs):.3f} s compiling the sources each start "
              f"(PYTHONDONTWRITEBYTECODE=1), interleaved")


def main() -> int:
    """Run the corpus once (or --repeat times, keeping each history's best time) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stress", action="store_true")
    parser.add_argument("--bars", action="store_true", help="print the bars of issue 16 and exit")
    parser.add_argument("--rounds", type=int, default=7, help="corpus rounds for --bars")
    parser.add_argument("--stress-time-limit", type=float, default=None, help="--time-limit for the stress set")
    args = parser.parse_args()
    manifest = json.loads((args.corpus / "knossos" / "MANIFEST.json").read_text())["histories"]

    started = time.perf_counter()
    loaded = [(entry, _load(args.corpus / entry["file"])) for entry in manifest]
    load_seconds = time.perf_counter() - started
    gc.collect()  # the reader's garbage is not the checker's cost
    if args.bars:
        bars(loaded, args.rounds, args.stress_time_limit)
        return 0

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
    print(describe())
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
