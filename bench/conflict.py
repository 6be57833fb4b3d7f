"""The conflict-mode bars (issue 17), in simulation, over seeds 1..N:

    python bench/conflict.py                      # all three parts, 10 seeds
    python bench/conflict.py --part compare --seeds 10 --time-limit 30

1. ``compare --conflict lww,siblings --nemesis clock-skew --mode sim``: last-writer-wins loses
   acknowledged writes on some seeds, siblings on none (the same seed and schedule for both);
2. the set and counter workloads under ``--conflict crdt`` are valid under ``--nemesis partition,crash``;
3. each seeded bug of the conflict modes is caught (invalid, with the anomaly it is meant to cause)
   in at least 9 of 10 seeds.

Every figure is printed as measured; the last line says which bars held.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.compare import compare  # noqa: E402
from runner.options import RunOptions  # noqa: E402
from runner.run import run  # noqa: E402

BUGS = [
    # bug, conflict, workload, nemesis, the anomaly it is meant to cause
    ("siblings-by-timestamp", "siblings", "register", ("clock-skew",), "lost-write"),
    ("counter-merge-adds", "crdt", "counter", ("partition",), "counter-out-of-bounds"),
]
PARTS = ("compare", "crdt", "bugs")


def part_compare(seeds: range, base: RunOptions) -> bool:
    print(f"1. compare --conflict lww,siblings --nemesis clock-skew --mode sim, seeds {seeds.start}..{seeds.stop - 1}")
    lww_lost_seeds = siblings_lost_seeds = 0
    for seed in seeds:
        options = attrs.evolve(base, seed=seed, nemesis=("clock-skew",))
        modes = compare(options, ("lww", "siblings"), "set", ["bench/conflict.py"], report=False)["modes"]
        lww, sib = modes["lww"], modes["siblings"]
        lww_lost_seeds += lww["lost_writes"] > 0
        siblings_lost_seeds += sib["lost_writes"] > 0
        print(f"   seed {seed:>2}: lww lost {lww['lost_writes']:>3} of {lww['acknowledged_writes']:>4} acknowledged "
              f"({lww['valid']}), siblings lost {sib['lost_writes']:>3} of {sib['acknowledged_writes']:>4} "
              f"({sib['valid']}; siblings created {sib['siblings_created']}, resolved {sib['siblings_resolved']})",
              flush=True)
    held = lww_lost_seeds > 0 and siblings_lost_seeds == 0
    print(f"   lww lost acknowledged writes on {lww_lost_seeds}/{len(seeds)} seeds, siblings on "
          f"{siblings_lost_seeds}/{len(seeds)}: bar {'held' if held else 'MISSED'}")
    return held


def part_crdt(seeds: range, base: RunOptions) -> bool:
    print(f"2. --conflict crdt --nemesis partition,crash, seeds {seeds.start}..{seeds.stop - 1}")
    held = True
    for workload in ("set", "counter"):
        valid = 0
        findings = []
        for seed in seeds:
            options = attrs.evolve(base, seed=seed, nemesis=("partition", "crash"), conflict="crdt", workload=workload)
            results = run(options, ["bench/conflict.py"], quiet=True, report=False).results
            valid += results["valid"] is True
            if results["valid"] is not True:
                findings.append(f"seed {seed}: {results['valid']} {sorted({a['type'] for a in results['anomalies']})}")
        held = held and valid == len(seeds)
        print(f"   {workload:<8} valid {valid}/{len(seeds)}  {'; '.join(findings)}", flush=True)
    print(f"   bar {'held' if held else 'MISSED'}")
    return held


def part_bugs(seeds: range, base: RunOptions) -> bool:
    print(f"3. seeded bugs, seeds {seeds.start}..{seeds.stop - 1}")
    held = True
    for bug, conflict, workload, nemesis, anomaly in BUGS:
        caught = 0
        for seed in seeds:
            options = attrs.evolve(base, seed=seed, nemesis=nemesis, bug=bug, conflict=conflict, workload=workload)
            results = run(options, ["bench/conflict.py"], quiet=True, report=False).results
            caught += results["valid"] is False and anomaly in {a["type"] for a in results["anomalies"]}
        need = -(-9 * len(seeds) // 10)
        held = held and caught >= need
        print(f"   --bug {bug:<22} --conflict {conflict:<8} --workload {workload:<8} --nemesis {','.join(nemesis):<10} "
              f"caught as {anomaly}: {caught}/{len(seeds)}", flush=True)
    print(f"   bar (>= 9 in 10) {'held' if held else 'MISSED'}")
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--fault-interval", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--part", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--out", default=None, help="where the runs go (default a new temporary directory)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="conflict-bench-"))
    base = RunOptions(mode="sim", out=str(out), time_limit=args.time_limit, fault_interval=args.fault_interval,
                      rate=args.rate)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.monotonic()
    parts = {"compare": part_compare, "crdt": part_crdt, "bugs": part_bugs}
    held = {name: parts[name](seeds, base) for name in (args.part or PARTS)}
    verdicts = ", ".join(f"{k} {'held' if v else 'MISSED'}" for k, v in held.items())
    print(f"bars: {verdicts} "
          f"({time.monotonic() - started:.0f} s wall; runs under {out})")
    return 0 if all(held.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
