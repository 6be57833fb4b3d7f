"""``python harness.py``: run a test, or check, report, export, replay or explore recorded runs.

Exit codes, as in Jepsen and HISTORY.md: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or
unreadable input (with a message saying what to use), 255 an internal error.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence

from .interrupt import RunInterrupted
from .options import (
    CHECKERS,
    CRASH_TARGETS,
    KEY_DISTS,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    MODES,
    NEMESIS_CHOICES,
    OptionError,
    RunOptions,
    parse_checkers,
    parse_mix,
    parse_nemesis,
    parse_rate,
    size_option,
)

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 254, 255
SUBCOMMANDS = ("run", "check", "report", "export", "replay", "explore")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


def verdict_exit(valid: object) -> int:
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(valid, EXIT_UNKNOWN)  # type: ignore[call-overload]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The flags of a run; ``explore`` takes the same ones."""
    from minikeydb.node import BUGS
    from nemesis import PARTITION_KINDS

    g = parser.add_argument_group("cluster")
    g.add_argument("--nodes", type=int, default=5, help="number of nodes (default 5)")
    g.add_argument("--replicas", type=int, default=3, help="replication factor N (default 3)")
    g.add_argument("--write-quorum", type=int, default=1, help="W: replicas that acknowledge a write (default 1)")
    g.add_argument("--read-quorum", type=int, default=1, help="R: replicas that answer a read (default 1)")
    g.add_argument("-e", "--eventual", action="store_true",
                   help="eventual mode, W=1 R=1 (the default; accepted as the original driver's flag)")
    g.add_argument("--mode", default="udp", help=f"{' | '.join(MODES)} (default udp)")
    g.add_argument("--bug", default=None, help=f"switch on a seeded defect: {', '.join(BUGS)}")
    g = parser.add_argument_group("faults")
    g.add_argument("--nemesis", default="none", help=f"comma-separated: {', '.join(NEMESIS_CHOICES)} (default none)")
    g.add_argument("--partition", default="random-halves", help=f"{', '.join(PARTITION_KINDS)} (default random-halves)")
    g.add_argument("--fault-interval", type=float, default=5.0, help="seconds a fault is on, then off (default 5)")
    g.add_argument("--crash-targets", default="all",
                   help=f"nodes a crash takes down: {', '.join(CRASH_TARGETS)} (default all)")
    g = parser.add_argument_group("workload")
    g.add_argument("--time-limit", type=float, default=30.0, help="seconds of load (default 30)")
    g.add_argument("--rate", default="200",
                   help="total operations per second, or 'max': closed-loop clients, each starting its next "
                   "operation as soon as the last answered (default 200)")
    g.add_argument("--concurrency", type=int, default=10, help="client processes (default 10)")
    g.add_argument("--keys", type=int, default=20, help="number of keys (default 20)")
    g.add_argument("--mix", default="5:5:1", help="put:get:delete weights (default 5:5:1)")
    g.add_argument("--key-dist", default="uniform", help=f"{' | '.join(KEY_DISTS)} (default uniform)")
    g.add_argument("--key-size", default=None, metavar="N|uniform:A-B",
                   help="key length in bytes per key, up to 1024 (default: the short name k<i>)")
    g.add_argument("--value-size", default=None, metavar="N|uniform:A-B",
                   help="value length in bytes per write, up to 32768 (default: the short p<process>-<n>)")
    g.add_argument("--seed", type=int, default=None, help="random seed (random when absent; always recorded)")
    g = parser.add_argument_group("final phase and output")
    g.add_argument("--quiesce", type=float, default=3.0, help="seconds to wait after the final heal (default 3)")
    g.add_argument("--converge-timeout", type=float, default=15.0,
                   help="seconds final reads poll for agreement (default 15)")
    g.add_argument("--checker", default="convergence", help=f"comma-separated: {', '.join(CHECKERS)}")
    g.add_argument("--out", default="histories", help="where run directories go (default histories/)")
    g.add_argument("--name", default=None, help="name for the run directory (default from the nemesis)")
    g.add_argument("-v", "--verbose", action="store_true", help="message-level node logs in nodes/*.log")


def options_from_args(args: argparse.Namespace) -> RunOptions:
    if args.eventual and (args.write_quorum != 1 or args.read_quorum != 1):
        raise OptionError("-e (eventual mode) means W=1 R=1; drop -e or the quorum flags")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    return RunOptions(
        nodes=args.nodes, replicas=args.replicas, write_quorum=args.write_quorum, read_quorum=args.read_quorum,
        nemesis=parse_nemesis(args.nemesis), partition=args.partition, fault_interval=args.fault_interval,
        crash_targets=args.crash_targets, time_limit=args.time_limit, rate=parse_rate(args.rate),
        concurrency=args.concurrency, keys=args.keys, mix=parse_mix(args.mix), key_dist=args.key_dist,
        seed=seed, quiesce=args.quiesce, converge_timeout=args.converge_timeout, mode=args.mode, out=args.out,
        bug=args.bug, checkers=parse_checkers(args.checker), name=args.name, verbose=args.verbose,
        key_size=size_option("--key-size", args.key_size, MAX_KEY_BYTES),
        value_size=size_option("--value-size", args.value_size, MAX_VALUE_BYTES),
    ).validate()


def run_command(argv: Sequence[str], full_argv: list[str]) -> int:
    parser = _Parser(prog="harness.py run", description="Run a test: cluster, workload, nemesis, verdict.")
    add_run_options(parser)
    args = parser.parse_args(list(argv))
    options = options_from_args(args)
    if options.mode == "sim":
        from .simulate import simulate_run

        result = simulate_run(options, full_argv)
    else:
        from .run import execute

        print(f"MinikeyDB: {options.mode} run, seed {options.seed}, nemesis "
              f"{','.join(options.nemesis) or 'none'}, {options.time_limit:g} s ...", file=sys.stderr, flush=True)
        result = execute(options, full_argv)
    from .summary import format_summary

    print(format_summary(result))
    return verdict_exit(result.results.get("valid"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    full_argv = ["harness.py", *argv]
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else "run"
    rest = argv[1:] if argv and argv[0] in SUBCOMMANDS else argv
    try:
        if command in ("check", "report", "export"):
            from checker.cli import main as checker_main

            return checker_main([command, *rest])
        if command == "replay":
            from .replay import replay_command

            return replay_command(rest)
        if command == "explore":
            from .explore import explore_command

            return explore_command(rest)
        return run_command(rest, full_argv)
    except (UsageError, OptionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunInterrupted as exc:
        where = f"; partial run in {exc.run_dir} (results.json: verdict unknown, reason interrupted)" \
            if exc.run_dir else ""
        print(f"interrupted by {exc.signal_name}{where}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a bare traceback for a user; the details go to the log
        import traceback

        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if "-v" in argv or "--verbose" in argv:
            traceback.print_exc()
        return EXIT_INTERNAL
