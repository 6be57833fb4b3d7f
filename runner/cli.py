"""``python harness.py``: run a test, or check, report, export, replay or explore recorded runs.

Exit codes, as in Jepsen and HISTORY.md: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or
unreadable input (with a message saying what to use), 255 an internal error; 130 when Ctrl-C
stopped it. Output into a pipe whose reader has gone (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import difflib
import random
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from minikeydb.config import ConfigError

from .interrupt import RunInterrupted
from .options import (
    CHECKERS,
    CRASH_TARGETS,
    KEY_DISTS,
    MAX_KEY_BYTES,
    MAX_NODES,
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


COMMAND_HELP = {
    "run": "run a test: cluster, workload, nemesis, verdict (the default command)",
    "check": "give a verdict on run directories or histories (.jsonl / Jepsen .edn)",
    "report": "write report.html for a run directory or history",
    "export": "write a history as Jepsen EDN",
    "replay": "re-run a recorded run from its run.json (sim: byte for byte)",
    "explore": "search seeds in simulation and shrink the first failure",
}


class UsageError(Exception):
    pass


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'check'?)`` for a near miss of one of ``choices``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (exit 254) and suggests the flag a mistyped one was near."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        if args is not None:
            args = self.join_dash_values(args)
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            flags = [s for s in self._option_string_actions if s.startswith("--")]
            hints = "".join(did_you_mean(e.split("=", 1)[0], flags) for e in extras if e.startswith("--"))
            misplaced = [e for e in extras if e in SUBCOMMANDS]
            if misplaced:
                hints += f" (a command comes first: harness.py {misplaced[0]} ...)"
            self.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return parsed


    def join_dash_values(self, args: Sequence[str]) -> list[str]:
        """``--mix -1:1:1`` as ``--mix=-1:1:1``: a value that starts with '-' but is no flag is the value.

        argparse takes it for a flag ("expected one argument"), so the value's own check, with its
        clear message (a negative weight), never ran.
        """
        takes_value = {s for a in self._actions if a.nargs is None and a.option_strings for s in a.option_strings
                       if not isinstance(a, argparse._StoreTrueAction | argparse._VersionAction | argparse._HelpAction)}
        out: list[str] = []
        i = 0
        args = list(args)
        while i < len(args):
            word = args[i]
            nxt = args[i + 1] if i + 1 < len(args) else None
            if (word in takes_value and nxt is not None and nxt.startswith("-") and nxt != "--"
                    and nxt.split("=", 1)[0] not in self._option_string_actions):
                out.append(f"{word}={nxt}")
                i += 2
                continue
            out.append(word)
            i += 1
        return out


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
    g.add_argument("--journal", default=None, metavar="off|applies|full",
                   help="journal.jsonl.gz of the run: every datagram and apply (full), or applies and queued "
                   "records only; default full in sim and udp modes, off in processes mode (its nodes apply in "
                   "other processes, out of the harness's sight)")
    g.add_argument("--journal-max-mb", type=float, default=512.0,
                   help="the journal stops at this many MiB compressed, with a size-limit record (default 512)")


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
        journal=args.journal, journal_max_mb=args.journal_max_mb,
    ).validate()


def version_text() -> str:
    """``harness.py (MinikeyDB 0.1.0)``: the installed package's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("minikeydb")
    except PackageNotFoundError:
        number = "unknown: not installed (pip install -e .)"
    return f"harness.py (MinikeyDB {number})"


def _commands_text() -> str:
    width = max(map(len, COMMAND_HELP))
    return "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMAND_HELP.items())


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: the cluster from a MinikeyDB TOML (``apply_cluster_file`` reads it)."""
    parser.add_argument(
        "--config", metavar="FILE", default=None,
        help="take the cluster from a MinikeyDB TOML (as 'python -m minikeydb --config' reads): node count, "
        "N/W/R, vnodes, read_repair_chance, fsync and timeouts; a flag that contradicts the file is an error. "
        "The harness still runs its own nodes n1..nN on free loopback ports, data and secret in the run directory",
    )


def run_parser(prog: str = "harness.py run") -> _Parser:
    """The parser of a run; as ``harness.py`` (no command) its help also lists every command."""
    if prog != "harness.py":
        parser = _Parser(prog=prog, description="Run a test: cluster, workload, nemesis, verdict.")
    else:
        parser = _Parser(
            prog=prog,
            usage="harness.py [COMMAND] [FLAGS]   (no COMMAND: run a test with FLAGS)",
            description="MinikeyDB's Jepsen-style test harness: run a test against a real cluster (or a\n"
            "simulated one), then check, report, export, replay or explore recorded runs.\n\n"
            f"commands:\n{_commands_text()}\n\n"
            "'harness.py COMMAND --help' shows a command's flags. Without a command, harness.py\n"
            "runs a test with the flags below, e.g.\n"
            "  python harness.py --nodes 5 --nemesis partition --time-limit 30",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    parser.add_argument("--version", action="version", version=version_text())
    add_config_option(parser)
    add_run_options(parser)
    return parser


CONFIG_FLAGS = {"nodes": "--nodes", "replicas": "--replicas", "write_quorum": "--write-quorum",
                "read_quorum": "--read-quorum"}


def given_flags(argv: Sequence[str], parser: argparse.ArgumentParser) -> set[str]:
    """The destinations of the flags ``argv`` sets explicitly (a default is not a choice)."""
    import copy

    probe = copy.deepcopy(parser)
    probe._defaults = {}  # parser-level defaults (explore's set_defaults) are not choices either
    for action in probe._actions:
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_args(list(argv))))


def apply_cluster_file(args: argparse.Namespace, given: set[str]) -> dict[str, Any]:
    """Fill the cluster flags from ``--config FILE``; the settings to record in ``RunOptions.cluster``.

    A flag given on the command line that says otherwise than the file is an ``OptionError``
    naming both, since quietly preferring either one would run a different test than asked.
    """
    import attrs

    from minikeydb.config import load_config

    config = load_config(args.config)
    if not 1 <= len(config.nodes) <= MAX_NODES:
        raise OptionError(f"{args.config}: {len(config.nodes)} [[nodes]] entries; a harness run takes 1 to "
                          f"{MAX_NODES} nodes")
    from_file = {"nodes": len(config.nodes), "replicas": config.replicas, "write_quorum": config.write_quorum,
                 "read_quorum": config.read_quorum}
    in_file = {"nodes": f"{len(config.nodes)} [[nodes]] entries", "replicas": f"replicas = {config.replicas}",
               "write_quorum": f"write_quorum = {config.write_quorum}",
               "read_quorum": f"read_quorum = {config.read_quorum}"}
    for dest, value in from_file.items():
        if dest in given and getattr(args, dest) != value:
            raise OptionError(f"{CONFIG_FLAGS[dest]} {getattr(args, dest)} contradicts {in_file[dest]} in "
                              f"{args.config}; drop the flag or change the file")
        setattr(args, dest, value)
    if "eventual" in given and args.eventual and (config.write_quorum, config.read_quorum) != (1, 1):
        raise OptionError(f"-e (eventual mode, W=1 R=1) contradicts {in_file['write_quorum']}, "
                          f"{in_file['read_quorum']} in {args.config}; drop -e or change the file")
    return {"file": str(args.config), "vnodes": config.vnodes, "read_repair_chance": config.read_repair_chance,
            "fsync": config.fsync, "timeouts": attrs.asdict(config.timeouts)}


def run_command(argv: Sequence[str], full_argv: list[str], prog: str = "harness.py run") -> int:
    parser = run_parser(prog)
    args = parser.parse_args(list(argv))
    options = options_with_config(args, argv, parser)
    from pathlib import Path

    from .run import new_run_dir, run_name

    run_dir = new_run_dir(Path(options.out), run_name(options))  # a bad --name/--out is refused before any output
    if options.nemesis:
        from nemesis.schedule import too_short

        why = too_short(options.nemesis, options.time_limit, options.fault_interval)
        if why:
            print(f"note: --nemesis {','.join(options.nemesis)}: {why}; the summary names the kinds left out",
                  file=sys.stderr, flush=True)
    if options.mode == "sim":
        from .simulate import saturation_note, simulate_run

        note = saturation_note(options)
        if note:
            print(note, file=sys.stderr, flush=True)

        result = simulate_run(options, full_argv, run_dir=run_dir)
    else:
        from .run import execute

        print(f"MinikeyDB: {options.mode} run, seed {options.seed}, nemesis "
              f"{','.join(options.nemesis) or 'none'}, {options.time_limit:g} s ...", file=sys.stderr, flush=True)
        result = execute(options, full_argv, run_dir=run_dir)
    from minikeydb.cli import decided

    from .summary import format_summary

    code = decided(verdict_exit(result.results.get("valid")))  # a closed stdout must not change it
    print(format_summary(result))
    return code


def options_with_config(args: argparse.Namespace, argv: Sequence[str], parser: argparse.ArgumentParser) -> RunOptions:
    """``options_from_args``, with the cluster of ``--config FILE`` when one is given."""
    if getattr(args, "config", None) is None:
        return options_from_args(args)
    import attrs

    cluster = apply_cluster_file(args, given_flags(argv, parser))
    return attrs.evolve(options_from_args(args), cluster=cluster).validate()


def unknown_command(word: str) -> UsageError:
    """A first word that is neither a command nor a flag: say so, with the nearest command."""
    return UsageError(
        f"harness.py: unknown command {word!r}{did_you_mean(word, SUBCOMMANDS)}; commands: "
        f"{', '.join(SUBCOMMANDS)}, or flags alone to run a test (see harness.py --help)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one harness command; the exit code (see the module docstring). Output into a closed pipe
    (``| head``) ends quietly."""
    from minikeydb.cli import quiet_broken_pipe

    return quiet_broken_pipe(lambda: _main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    full_argv = ["harness.py", *argv]
    explicit = bool(argv) and argv[0] in SUBCOMMANDS
    command = argv[0] if explicit else "run"
    rest = argv[1:] if explicit else argv
    try:
        if argv and not explicit and not argv[0].startswith("-"):
            raise unknown_command(argv[0])
        if command in ("check", "report", "export"):
            from checker.cli import main as checker_main

            return checker_main([command, *rest])
        if command == "replay":
            from .replay import replay_command

            return replay_command(rest)
        if command == "explore":
            from .explore import explore_command

            return explore_command(rest)
        return run_command(rest, full_argv, "harness.py run" if explicit else "harness.py")
    except (UsageError, OptionError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunInterrupted as exc:
        where = f"; partial run in {exc.run_dir} (results.json: {exc.results_note})" if exc.run_dir else ""
        print(f"interrupted by {exc.signal_name}{where}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # stdout's reader went away: main ends quietly
    except BaseExceptionGroup as group:  # trio's nurseries wrap what a run raises, a Ctrl-C included
        if group.subgroup(KeyboardInterrupt) is not None:
            print("\ninterrupted", file=sys.stderr)
            return 130
        if group.split(BrokenPipeError)[1] is None:
            raise  # stdout's reader went away: main ends quietly
        if isinstance(group, Exception):
            return _internal_error(group, argv)
        raise
    except Exception as exc:
        return _internal_error(exc, argv)


def _internal_error(exc: BaseException, argv: Sequence[str]) -> int:
    """Never a bare traceback for a user: one line (the traceback with -v)."""
    import traceback

    print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    if "-v" in argv or "--verbose" in argv:
        traceback.print_exc()
    return EXIT_INTERNAL
