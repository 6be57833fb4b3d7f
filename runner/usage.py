"""The command line's plumbing, light enough for every command: the table of commands, the parser
class (exit 254 and "did you mean" for a mistyped flag), ``--version`` and ``--config``.

It imports nothing of the store, the nemesis or Trio, so ``harness.py check`` can use it.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from typing import Any, NoReturn

COMMAND_HELP = {
    "run": "run a test: cluster, workload, nemesis, verdict (the default command)",
    "check": "give a verdict on run directories or histories (.jsonl / Jepsen .edn)",
    "report": "write report.html for a run directory or history",
    "export": "write a history as Jepsen EDN",
    "replay": "re-run a recorded run from its run.json (sim: byte for byte)",
    "explore": "search seeds in simulation and shrink the first failure",
    "maelstrom": "test a Maelstrom node (harness.py maelstrom test -w echo --bin ./node), or explore seeds of it",
    "compare": "the same seed and fault schedule under each conflict mode (lww, siblings, crdt), side by side",
}
SUBCOMMANDS = tuple(COMMAND_HELP)


class UsageError(Exception):
    """Bad command-line arguments: one line, exit 254 (``EXIT_USAGE``)."""


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'check'?)`` for a near miss of one of ``choices``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Parser(argparse.ArgumentParser):
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


def version_text() -> str:
    """``harness.py (MinikeyDB 0.1.0)``: the installed package's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("minikeydb")
    except PackageNotFoundError:
        number = "unknown: not installed (pip install -e .)"
    return f"harness.py (MinikeyDB {number})"


def commands_text() -> str:
    width = max(map(len, COMMAND_HELP))
    return "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMAND_HELP.items())


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: the cluster from a MinikeyDB TOML (``apply_cluster_file`` reads it)."""
    parser.add_argument(
        "--config", metavar="FILE", default=None,
        help="take the cluster from a MinikeyDB TOML (the file 'python -m minikeydb serve|cluster --config FILE' reads): node count, "
        "N/W/R, vnodes, read_repair_chance, fsync and timeouts; a flag that contradicts the file is an error. "
        "The harness still runs its own nodes n1..nN on free loopback ports, data and secret in the run directory",
    )
