"""``python harness.py explore --runs N [run options]``: search seeds for a failing simulated run.

Every seed is a different simulated run of the same configuration (different workload, latencies,
fault schedule, scheduling), each a pure function of its seed. Explore runs seeds 1..N (``--seed S``
starts at S; ``--random`` draws them), stops at the first invalid run, and shrinks it
(``runner.shrink``) while it stays invalid with the same anomaly type. The minimal failing run is
then written to ``--out`` (``histories/`` by default) like any other run, with its edited
schedule in run.json, and explore prints the one command that replays it.

Trial runs go to a temporary directory and are deleted (without report.html, which costs more than
a short run). Exit 1 when an invalid run was found, 0 when every run was valid (unknown verdicts,
if any, are counted and reported but do not stop the search).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import orjson

from minikeydb.cli import decided
from minikeydb.testing.seeds import Seeds

from .exit_codes import EXPLORE_EXIT_ALL_VALID, EXPLORE_EXIT_FOUND
from .flags import add_run_options, options_with_config
from .interrupt import RunInterrupted
from .options import (
    EXPLORE_FAULT_INTERVAL,
    EXPLORE_TIME_LIMIT,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    RATE_MAX,
    OptionError,
    RunOptions,
    SizeSpec,
    min_key_bytes,
    parse_size,
)
from .phases import RunResult, make_schedule, run_nodes
from .replay import sha256_of
from .run import run
from .shrink import Candidate, Outcome, ShrinkResult, shrink
from .usage import Parser, add_config_option

WORKLOAD_RANGES: dict[str, tuple[Any, ...]] = {
    "key_size": (None, "uniform:1-64", "uniform:100-300", "uniform:600-1024", "1024"),
    "value_size": (None, "uniform:10-1000", "uniform:1000-8000", "uniform:8000-32768"),
    "keys": (20, 200, 5_000, 100_000),
    "rate": (100.0, 200.0, 500.0, 1000.0, RATE_MAX),
    "key_dist": ("uniform", "zipf"),
}
"""What ``--vary-workload`` draws from, per seed: long keys, large values, large key spaces, saturation."""


@attrs.frozen
class ExploreResult:
    runs: int
    """Seeds run before stopping (all of them when none failed)."""
    unknown: int
    failing_seed: int | None
    shrunk: ShrinkResult | None
    run_dir: Path | None
    """Where the minimal failing run was written."""
    replay_identical: bool | None
    """Whether writing the minimal run reproduced the shrinking trial's history byte for byte."""
    wall_seconds: float

    @property
    def replay_command(self) -> str | None:
        return None if self.run_dir is None else f"python harness.py replay {self.run_dir}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runs": self.runs, "unknown": self.unknown, "failing_seed": self.failing_seed,
            "wall_seconds": round(self.wall_seconds, 2), "replay_command": self.replay_command,
            "replay_identical": self.replay_identical,
        }
        if self.shrunk is not None:
            s = self.shrunk
            out["anomaly"] = s.original_outcome.main_anomaly
            out["original"] = _size(s.original, s.original_outcome)
            out["shrunk"] = _size(s.candidate, s.outcome)
            out["shrink_trials"] = s.trials
            out["shrink_budget_exhausted"] = s.exhausted
            out["steps"] = [step.reduction for step in s.steps]
        return out


def _size(c: Candidate, o: Outcome) -> dict[str, Any]:
    opts = c.options
    return {"faults": o.faults, "operations": o.operations, "time_limit": opts.time_limit,
            "rate": "max" if opts.closed_loop else opts.rate,
            "nodes": opts.nodes, "replicas": opts.replicas, "clients": opts.concurrency, "keys": opts.keys,
            "anomalies": dict(Counter(o.anomaly_types))}


def draw_workload(base: RunOptions, seed: int) -> RunOptions:
    """``base`` with the workload dimensions drawn for ``seed`` (from ``<seed>/explore-workload``).

    The drawn values are ordinary options: recorded in the seed's run.json, kept by shrinking
    (which may lower the rate or the key count further), and restored by ``replay``.
    """
    rng = Seeds(seed).rng("explore-workload")
    drawn = {name: rng.choice(choices) for name, choices in WORKLOAD_RANGES.items()}
    key_size = parse_size("--key-size", drawn["key_size"], MAX_KEY_BYTES)
    need = min_key_bytes(drawn["keys"])
    if key_size is not None and key_size.low < need:  # "uniform:1-64" over 100,000 keys: from 6 bytes
        drawn["key_size"] = str(SizeSpec(need, max(need, key_size.high)))
    return attrs.evolve(base, seed=seed, **bounded_load(drawn, base.concurrency))


SATURATION_CLIENTS = 4
"""Closed-loop clients at most in a drawn saturation run (each completes some 350 operations per virtual s)."""
SATURATION_VALUE_SIZE = "uniform:10-1000"
MAX_VALUE_BYTES_PER_SECOND = 2_500_000
"""Value bytes a drawn workload may write per virtual second: 8 s of it (each value in the invoke and the ok) is a history of some 40 MB."""


def bounded_load(drawn: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """Keep a drawn seed cheap: saturation only with few clients and small values, large values at low rates.

    Unbounded, ``--rate max`` with 8-32 KiB values wrote a 378 MB history in 3 virtual seconds and
    explore peaked at 1.2 GB; the dimensions each still get drawn, not all at once at their extremes.
    """
    out = dict(drawn)
    value = parse_size("--value-size", out["value_size"], MAX_VALUE_BYTES)
    mean_value = 0.0 if value is None else (value.low + value.high) / 2
    if math.isinf(out["rate"]):
        out["concurrency"] = min(concurrency, SATURATION_CLIENTS)
        if mean_value > 1000:
            out["value_size"] = SATURATION_VALUE_SIZE
    elif out["rate"] * mean_value > MAX_VALUE_BYTES_PER_SECOND:
        allowed = [r for r in WORKLOAD_RANGES["rate"] if r * mean_value <= MAX_VALUE_BYTES_PER_SECOND]
        out["rate"] = max(allowed) if allowed else min(WORKLOAD_RANGES["rate"])
    return out


def describe_workload(o: RunOptions) -> str:
    rate = "max" if o.closed_loop else f"{o.rate:g}/s"
    return (f"keys {o.keys} ({o.key_dist}), key size {o.key_size or 'k<i>'}, value size {o.value_size or 'p<n>'}, "
            f"rate {rate}")


# -- one trial --------------------------------------------------------------------------------


def count_operations(history: Path) -> int:
    """Client operations invoked during the load (final reads and nemesis events aside)."""
    count = 0
    with history.open("rb") as lines:
        for line in lines:
            if b'"invoke"' not in line:
                continue
            event = orjson.loads(line)
            if event.get("type") == "invoke" and event.get("process") != "nemesis" and not event.get("final"):
                count += 1
    return count


def outcome_of(result: RunResult, faults: int) -> Outcome:
    history = result.run_dir / "history.jsonl"
    anomalies = result.results.get("anomalies") or []
    return Outcome(
        valid=result.results.get("valid"),
        anomaly_types=tuple(str(a.get("type", "?")) for a in anomalies),
        operations=count_operations(history),
        faults=faults,
        history_sha256=sha256_of(history),
    )


def trial_runner(workdir: Path, argv: list[str]) -> Callable[[Candidate], Outcome]:
    """A ``Trial`` that runs a candidate in a scratch directory under ``workdir`` and deletes it."""

    def trial(candidate: Candidate) -> Outcome:
        options = attrs.evolve(candidate.options, out=str(workdir), name="trial")
        run_dir = Path(tempfile.mkdtemp(prefix="trial-", dir=workdir))
        try:
            try:
                result = run(options, argv, run_dir=run_dir, schedule=candidate.schedule, quiet=True,
                             report=False)
            except RunInterrupted as exc:
                exc.run_dir = None  # a scratch trial, deleted below: nothing to point at
                raise
            return outcome_of(result, len(candidate.schedule.windows))
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    return trial


# -- progress ---------------------------------------------------------------------------------


class ExploreProgress:
    """A bar rewritten in place on a terminal; plain lines now and then when stderr is not one."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_line = 0.0
        self._every = max(1, total // 20)

    def update(self, done: int, seed: int, counts: Counter[str]) -> None:
        elapsed = time.monotonic() - self.started
        per_run = elapsed / done if done else 0.0
        eta = per_run * (self.total - done)
        tally = f"valid {counts['valid']}  invalid {counts['invalid']}  unknown {counts['unknown']}"
        if self.tty:
            width = 24
            filled = int(width * done / self.total) if self.total else width
            bar = "#" * filled + "-" * (width - filled)
            line = f"explore [{bar}] {done}/{self.total}  seed {seed}  {tally}  {per_run:.1f} s/run  ETA {eta:.0f} s"
            self.stream.write("\r" + line[:120].ljust(120))
            self.stream.flush()
        elif done == self.total or done % self._every == 0 or time.monotonic() - self._last_line > 30:
            self._last_line = time.monotonic()
            print(f"explore: {done}/{self.total} runs (last seed {seed}), {tally}, {elapsed:.0f} s",
                  file=self.stream, flush=True)

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()

    def note(self, text: str) -> None:
        self.clear()
        print(text, file=self.stream, flush=True)


# -- the search -------------------------------------------------------------------------------


def explore(
    base: RunOptions,
    seeds: Sequence[int],
    *,
    shrink_budget: int,
    argv: list[str],
    stream: TextIO | None = None,
    vary_workload: bool = False,
) -> ExploreResult:
    """Run ``seeds`` until one is invalid, shrink it, and write the minimal run to ``base.out``."""
    started = time.monotonic()
    progress = ExploreProgress(len(seeds), stream)
    stream = progress.stream
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="minikeydb-explore-") as scratch:
        trial = trial_runner(Path(scratch), argv)
        failing: tuple[Candidate, Outcome] | None = None
        done = 0
        for seed in seeds:
            options = draw_workload(base, seed) if vary_workload else attrs.evolve(base, seed=seed)
            candidate = Candidate(options, make_schedule(options, run_nodes(options)))
            outcome = trial(candidate)
            done += 1
            verdict = {True: "valid", False: "invalid"}.get(outcome.valid, "unknown")  # type: ignore[call-overload]
            counts[verdict] += 1
            progress.update(done, seed, counts)
            if outcome.valid is False:
                failing = (candidate, outcome)
                break
        progress.clear()
        if failing is None:
            return ExploreResult(done, counts["unknown"], None, None, None, None, time.monotonic() - started)
        candidate, outcome = failing
        progress.note(
            f"explore: seed {candidate.options.seed} is INVALID ({_anomaly_text(outcome)}) with "
            f"{candidate.describe()}, {outcome.operations} operations"
            + (f" [{describe_workload(candidate.options)}]" if vary_workload else "")
            + f"; shrinking (at most {shrink_budget} runs) ..."
        )

        def on_trial(n: int, reduction: str, c: Candidate, o: Outcome, kept: bool) -> None:
            if kept:
                progress.note(f"  shrink {n}: {reduction}: still {_anomaly_text(o)} -> {c.describe()}, "
                              f"{o.operations} operations")
            elif progress.tty:
                stream.write(f"\r  shrink {n}/{shrink_budget}: {reduction} ... no"[:120].ljust(120))
                stream.flush()

        result = shrink(candidate, outcome, trial, budget=shrink_budget, on_trial=on_trial)
        progress.clear()
    minimal = result.candidate
    name = "-".join(["explore", *([base.bug] if base.bug else []), f"seed{minimal.options.seed}", "shrunk"])
    final_options = attrs.evolve(minimal.options, out=base.out, name=name)
    written = run(final_options, argv, schedule=minimal.schedule, quiet=True, report=True)
    identical = sha256_of(written.run_dir / "history.jsonl") == result.outcome.history_sha256
    return ExploreResult(done, counts["unknown"], minimal.options.seed, result, written.run_dir, identical,
                         time.monotonic() - started)


def _cell(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _anomaly_text(o: Outcome) -> str:
    counts = Counter(o.anomaly_types)
    return ", ".join(f"{t} x{n}" for t, n in counts.most_common()) or "no anomaly listed"


def format_report(result: ExploreResult) -> str:
    if result.shrunk is None:
        unknown = f" ({result.unknown} unknown)" if result.unknown else ""
        return f"explore: all {result.runs} runs valid{unknown}; nothing found ({result.wall_seconds:.0f} s)"
    s = result.shrunk
    a, b = _size(s.original, s.original_outcome), _size(s.candidate, s.outcome)
    rows = [
        f"explore: found an invalid run at seed {result.failing_seed} after {result.runs} run(s); "
        f"shrunk in {s.trials} trial runs" + (" (budget spent; it may shrink further)" if s.exhausted else ""),
        f"  anomaly kept: {s.original_outcome.main_anomaly}",
        "                 original    shrunk",
    ]
    for field in ("faults", "operations", "time_limit", "rate", "nodes", "replicas", "clients", "keys"):
        rows.append(f"  {field:<12} {_cell(a[field]):>11} {_cell(b[field]):>9}")
    rows.append(f"  anomalies: {_anomaly_text(s.original_outcome)}  ->  {_anomaly_text(s.outcome)}")
    if result.replay_identical is False:
        rows.append("  WARNING: writing the minimal run did not reproduce the trial's history byte for byte")
    rows += [f"  minimal failing run: {result.run_dir}", f"  replay it with: {result.replay_command}"]
    return "\n".join(rows)


# -- the command ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="harness.py explore",
        description="Run seeds 1..N (or random seeds) in sim mode, stop at the first invalid run, shrink it while it "
        "stays invalid with the same anomaly type, write it to --out and print the command that replays it. "
        f"Explore's own defaults are shorter runs: --time-limit {EXPLORE_TIME_LIMIT:g} "
        f"--fault-interval {EXPLORE_FAULT_INTERVAL:g}.",
    )
    g = parser.add_argument_group("explore")
    g.add_argument("--runs", type=int, default=100, help="number of seeds to try (default 100)")
    g.add_argument("--random", action="store_true", help="draw random seeds instead of 1..N (each is reported)")
    g.add_argument("--shrink-runs", type=int, default=100, help="budget of trial runs for shrinking (default 100)")
    g.add_argument("--json", default=None, metavar="FILE", help="also write the outcome as JSON to FILE")
    add_config_option(parser)
    g.add_argument("--vary-workload", action="store_true",
                   help="draw each seed's key size, value size, key count and distribution, and rate (up to "
                   "max: saturation) from explore's ranges, replacing those flags; what was drawn is in each "
                   "run's options, so replay reproduces it")
    add_run_options(parser)
    for action in parser._actions:
        if action.dest == "time_limit":
            action.help = f"seconds of load per run (explore's default {EXPLORE_TIME_LIMIT:g})"
        elif action.dest == "fault_interval":
            action.help = f"seconds a fault is on, then off (explore's default {EXPLORE_FAULT_INTERVAL:g})"
        elif action.dest == "mode":
            action.help = "sim (explore runs only simulated runs)"
        elif action.dest == "seed":
            action.help = "first seed (default 1): seeds S..S+N-1"
    parser.set_defaults(mode="sim", time_limit=EXPLORE_TIME_LIMIT, fault_interval=EXPLORE_FAULT_INTERVAL)
    return parser


def explore_command(argv: Sequence[str]) -> int:
    """``harness.py explore``: exit 1 when an invalid run was found (and shrunk), 0 when all were valid."""
    parser = _parser()
    args = parser.parse_args(list(argv))
    if args.mode != "sim":
        raise OptionError(f"explore runs only simulated runs; drop --mode {args.mode} (or use --mode sim)")
    if not 1 <= args.runs <= 1_000_000:
        raise OptionError(f"--runs must be between 1 and 1,000,000, got {args.runs}")
    if args.shrink_runs < 0:
        raise OptionError(f"--shrink-runs must be zero or more, got {args.shrink_runs}")
    if args.random and args.seed is not None:
        raise OptionError("--random draws the seeds; drop --seed (or drop --random to start at --seed)")
    first = 1 if args.seed is None else args.seed
    args.seed = first
    base = options_with_config(args, argv, parser)
    if args.random:
        draw = random.SystemRandom()
        seeds = [draw.randrange(1, 2**31) for _ in range(args.runs)]
    else:
        seeds = list(range(first, first + args.runs))
    print(f"MinikeyDB explore: {args.runs} simulated runs, seeds {_seed_text(seeds, args.random)}, nemesis "
          f"{','.join(base.nemesis) or 'none'}" + (f", bug {base.bug}" if base.bug else "")
          + f", {base.time_limit:g} virtual s each"
          + (", workload drawn per seed (--vary-workload)" if args.vary_workload else ""), file=sys.stderr, flush=True)
    result = explore(base, seeds, shrink_budget=args.shrink_runs, argv=["harness.py", "explore", *argv],
                     vary_workload=args.vary_workload)
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    code = decided(EXPLORE_EXIT_ALL_VALID if result.shrunk is None else EXPLORE_EXIT_FOUND)  # a closed stdout must not change it
    print(format_report(result))
    return code


def _seed_text(seeds: Sequence[int], drawn: bool) -> str:
    if drawn:
        return "drawn at random (" + ", ".join(map(str, seeds[:3])) + (" ..." if len(seeds) > 3 else "") + ")"
    return f"{seeds[0]}..{seeds[-1]}"
