"""The flags of a run, in one place: ``run``, ``explore`` (and ``--help``) take them from here.

Every default is ``RunOptions``'s own (``runner/options.py``): a flag left out is left out of the
``RunOptions(...)`` call, and the help text quotes the same value, so the two cannot disagree.
``--config FILE`` fills the cluster flags from a MinikeyDB TOML.
"""

from __future__ import annotations

import argparse
import copy
import random
from collections.abc import Sequence
from typing import Any

import attrs

from minikeydb.config import load_config
from minikeydb.node import BUGS
from nemesis import PARTITION_KINDS

from .options import (
    CHECKERS,
    CONFLICTS,
    CRASH_TARGETS,
    KEY_DISTS,
    MAX_KEY_BYTES,
    MAX_NODES,
    MAX_VALUE_BYTES,
    MODES,
    NEMESIS_CHOICES,
    WORKLOADS,
    OptionError,
    RunOptions,
    parse_checkers,
    parse_mix,
    parse_nemesis,
    parse_rate,
    rate_text,
    size_option,
)
from .usage import Parser, add_config_option, commands_text, version_text

DEFAULT = RunOptions()
"""The defaults of every run flag (the help text quotes them; a flag not given keeps them)."""


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The flags of a run; ``explore`` takes the same ones. None of them has a default of its own:
    ``options_from_args`` leaves a flag not given to ``RunOptions``."""
    d = DEFAULT
    g = parser.add_argument_group("cluster")
    g.add_argument("--nodes", type=int, default=None, help=f"number of nodes (default {d.nodes})")
    g.add_argument("--replicas", type=int, default=None, help=f"replication factor N (default {d.replicas})")
    g.add_argument("--write-quorum", type=int, default=None,
                   help=f"W: replicas that acknowledge a write (default {d.write_quorum})")
    g.add_argument("--read-quorum", type=int, default=None,
                   help=f"R: replicas that answer a read (default {d.read_quorum})")
    g.add_argument("-e", "--eventual", action="store_true",
                   help="eventual mode, W=1 R=1 (the default; accepted as the original driver's flag)")
    g.add_argument("--mode", default=None, help=f"{' | '.join(MODES)} (default {d.mode})")
    g.add_argument("--bug", default=None, help=f"switch on a seeded defect: {', '.join(BUGS)}")
    g.add_argument("--conflict", default=None,
                   help=f"{' | '.join(CONFLICTS)}: last-writer-wins, siblings with version vectors, or CRDT "
                   f"counters and sets (default {d.conflict})")
    g = parser.add_argument_group("faults")
    g.add_argument("--nemesis", default=None,
                   help=f"comma-separated: {', '.join(NEMESIS_CHOICES)} (default {','.join(d.nemesis) or 'none'})")
    g.add_argument("--partition", default=None, help=f"{', '.join(PARTITION_KINDS)} (default {d.partition})")
    g.add_argument("--fault-interval", type=float, default=None,
                   help=f"seconds a fault is on, then off (default {d.fault_interval:g})")
    g.add_argument("--crash-targets", default=None,
                   help=f"nodes a crash takes down: {', '.join(CRASH_TARGETS)} (default {d.crash_targets})")
    g = parser.add_argument_group("workload")
    g.add_argument("--time-limit", type=float, default=None, help=f"seconds of load (default {d.time_limit:g})")
    g.add_argument("--rate", default=None,
                   help="total operations per second, or 'max': closed-loop clients, each starting its next "
                   f"operation as soon as the last answered (default {rate_text(d.rate)})")
    g.add_argument("--concurrency", type=int, default=None, help=f"client processes (default {d.concurrency})")
    g.add_argument("--keys", type=int, default=None, help=f"number of keys (default {d.keys})")
    g.add_argument("--workload", default=None,
                   help=f"{' | '.join(WORKLOADS)}: put/get/delete, add/remove/read of sets, incr/decr/read of "
                   f"counters (set and counter need --conflict crdt; default {d.workload})")
    g.add_argument("--mix", default=None, help=f"put:get:delete weights (default {':'.join(map(str, d.mix))})")
    g.add_argument("--key-dist", default=None, help=f"{' | '.join(KEY_DISTS)} (default {d.key_dist})")
    g.add_argument("--key-size", default=None, metavar="N|uniform:A-B",
                   help=f"key length in bytes per key, up to {MAX_KEY_BYTES} (default: the short name k<i>)")
    g.add_argument("--value-size", default=None, metavar="N|uniform:A-B",
                   help=f"value length in bytes per write, up to {MAX_VALUE_BYTES} (default: the short "
                   "p<process>-<n>)")
    g.add_argument("--seed", type=int, default=None, help="random seed in 0..2**63-1 (random when absent; always recorded)")
    g = parser.add_argument_group("final phase and output")
    g.add_argument("--quiesce", type=float, default=None,
                   help=f"seconds to wait after the final heal (default {d.quiesce:g})")
    g.add_argument("--converge-timeout", type=float, default=None,
                   help=f"seconds final reads poll for agreement (default {d.converge_timeout:g})")
    g.add_argument("--checker", default=None, help=f"comma-separated: {', '.join(CHECKERS)}")
    g.add_argument("--out", default=None, help=f"where run directories go (default {d.out}/)")
    g.add_argument("--name", default=None, help="name for the run directory (default from the nemesis)")
    g.add_argument("-v", "--verbose", action="store_true", default=None,
                   help="message-level node logs in nodes/*.log")
    g.add_argument("--journal", default=None, metavar="off|applies|full",
                   help="journal.jsonl.gz of the run: every datagram and apply (full), or applies and queued "
                   "records only; default full in sim and udp modes, off in processes mode (its nodes apply in "
                   "other processes, out of the harness's sight)")
    g.add_argument("--journal-max-mb", type=float, default=None,
                   help="the journal file never exceeds this many MiB: it stops, with a size-limit record, "
                   f"before records that would not fit (default {d.journal_max_mb:g})")


PARSED: dict[str, tuple[str, Any]] = {
    "nemesis": ("nemesis", parse_nemesis),
    "rate": ("rate", parse_rate),
    "mix": ("mix", parse_mix),
    "checker": ("checkers", parse_checkers),
    "key_size": ("key_size", lambda text: size_option("--key-size", text, MAX_KEY_BYTES)),
    "value_size": ("value_size", lambda text: size_option("--value-size", text, MAX_VALUE_BYTES)),
}
"""Flags whose text becomes another value (and field name) in ``RunOptions``; the others are taken as they are."""


def options_from_args(args: argparse.Namespace) -> RunOptions:
    """The ``RunOptions`` the flags ask for: only the flags given; ``RunOptions`` supplies the rest and checks all.

    Parsed values (``args``) that are no field of ``RunOptions`` (``-e``, ``--config``, explore's own
    flags) are not options of the run.
    """
    if args.eventual and (args.write_quorum not in (None, 1) or args.read_quorum not in (None, 1)):
        raise OptionError("-e (eventual mode) means W=1 R=1; drop -e or the quorum flags")
    given = {dest: value for dest, value in vars(args).items() if value is not None}
    fields = attrs.fields_dict(RunOptions)
    values: dict[str, Any] = {dest: value for dest, value in given.items() if dest in fields and dest not in PARSED}
    for dest, (name, parse) in PARSED.items():  # in this order, so that the first bad flag is the one named
        if dest in given:
            values[name] = parse(given[dest])
    if "seed" not in values:
        values["seed"] = random.SystemRandom().randrange(1, 2**31)
    return RunOptions(**values)


def run_parser(prog: str = "harness.py run") -> Parser:
    """The parser of a run; as ``harness.py`` (no command) its help also lists every command."""
    if prog != "harness.py":
        parser = Parser(prog=prog, description="Run a test: cluster, workload, nemesis, verdict.")
    else:
        parser = Parser(
            prog=prog,
            usage="harness.py [COMMAND] [FLAGS]   (no COMMAND: run a test with FLAGS)",
            description="MinikeyDB's Jepsen-style test harness: run a test against a real cluster (or a\n"
            "simulated one), then check, report, export, replay or explore recorded runs.\n\n"
            f"commands:\n{commands_text()}\n\n"
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


def options_with_config(args: argparse.Namespace, argv: Sequence[str], parser: argparse.ArgumentParser) -> RunOptions:
    """``options_from_args``, with the cluster of ``--config FILE`` when one is given."""
    if getattr(args, "config", None) is None:
        return options_from_args(args)
    cluster = apply_cluster_file(args, given_flags(argv, parser))
    return attrs.evolve(options_from_args(args), cluster=cluster)
