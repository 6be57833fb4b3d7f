"""``python harness.py``: run a test, or check, report, export, replay or explore recorded runs.

The exit codes are ``runner.exit_codes``'s: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or
unreadable input (with a message saying what to use), 255 an internal error; 130 when Ctrl-C
stopped it. Output into a pipe whose reader has gone (``| head``) ends quietly.

Each command imports what it needs when it runs: ``check``, ``report`` and ``export`` import only
the checker (not the store, Trio, the nemesis or the run machinery).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from checker.cli import COMMANDS as CHECKER_COMMANDS

from .exit_codes import EXIT_CTRL_C, EXIT_INTERNAL, EXIT_USAGE, verdict_exit
from .usage import SUBCOMMANDS, UsageError, did_you_mean


def run_command(argv: Sequence[str], full_argv: list[str], prog: str = "harness.py run") -> int:
    """``harness.py [run] FLAGS``: one run, its summary, its verdict as the exit code."""
    from pathlib import Path

    from minikeydb.cli import decided

    from .flags import options_with_config, run_parser
    from .run import run, run_notes
    from .run_dir import new_run_dir, run_name
    from .summary import format_summary

    parser = run_parser(prog)
    args = parser.parse_args(list(argv))
    options = options_with_config(args, argv, parser)
    run_dir = new_run_dir(Path(options.out), run_name(options))  # a bad --name/--out is refused before any output
    for note in run_notes(options):
        print(note, file=sys.stderr, flush=True)
    from . import journal

    journal.SIM_WRITER = "process"  # one run: its journal encodes on another core (runner.journal.journal_writer)
    from . import run as run_module

    run_module.CHECK_PROCESS = True  # and its files are checked as they grow, on another core (runner.check_process)
    result = run(options, full_argv, run_dir=run_dir)
    code = decided(verdict_exit(result.results.get("valid")))  # a reader that went away (| head) must not change it
    print(format_summary(result))  # a stdout that cannot be written (> /dev/full): harness.py's _StdoutGuard
    return code


def unknown_command(word: str) -> UsageError:
    """A first word that is neither a command nor a flag: say so, with the nearest command."""
    return UsageError(
        f"harness.py: unknown command {word!r}{did_you_mean(word, SUBCOMMANDS)}; commands: "
        f"{', '.join(SUBCOMMANDS)}, or flags alone to run a test (see harness.py --help)"
    )


COMMAND_MODULES = {"run": ("runner.run", "runner.flags"), "replay": ("runner.replay",),
                   "explore": ("runner.explore",), "maelstrom": ("runner.maelstrom.command",),
                   "compare": ("runner.compare",)}
"""What each command of the run machinery imports before it starts."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one harness command; the exit code (see the module docstring). Output into a closed pipe
    (``| head``) ends quietly."""
    return command(argv)()


def command(argv: Sequence[str] | None = None) -> Callable[[], int]:
    """The command ``argv`` names, ready to call, with the modules it needs imported (and no others).

    ``harness.py`` calls this while its start-up signal handler is in place, so a Ctrl-C during
    the imports is one line, not an import traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] and args[0] in CHECKER_COMMANDS:
        # Reading a history needs only the checker (which never raises and ends quietly on a closed pipe).
        from checker.cli import main as checker_main

        return lambda: checker_main(args)
    for module in COMMAND_MODULES[args[0] if args[:1] and args[0] in COMMAND_MODULES else "run"]:
        importlib.import_module(module)
    from minikeydb.cli import quiet_broken_pipe

    return lambda: quiet_broken_pipe(lambda: _main(args))


def _main(argv: list[str]) -> int:
    full_argv = ["harness.py", *argv]
    explicit = bool(argv) and argv[0] in SUBCOMMANDS
    command = argv[0] if explicit else "run"
    rest = argv[1:] if explicit else argv
    try:
        if argv and not explicit and not argv[0].startswith("-"):
            raise unknown_command(argv[0])
        if command == "replay":
            from .replay import replay_command

            return replay_command(rest)
        if command == "maelstrom" and rest[:1] == ["explore"]:
            from .maelstrom.explore import explore_command as maelstrom_explore

            return maelstrom_explore(rest[1:])
        if command == "maelstrom":
            from .maelstrom.command import maelstrom_command

            return maelstrom_command(rest)
        if command == "compare":
            from .compare import compare_command

            return compare_command(rest)
        if command == "explore":
            from .explore import explore_command

            return explore_command(rest)
        return run_command(rest, full_argv, "harness.py run" if explicit else "harness.py")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_CTRL_C
    except BrokenPipeError:
        raise  # stdout's reader went away: main ends quietly
    except BaseExceptionGroup as group:  # trio's nurseries wrap what a run raises, a Ctrl-C included
        if group.subgroup(KeyboardInterrupt) is not None:
            print("\ninterrupted", file=sys.stderr)
            return EXIT_CTRL_C
        if group.split(BrokenPipeError)[1] is None:
            raise  # stdout's reader went away: main ends quietly
        if isinstance(group, Exception):
            return _internal_error(group, argv)
        raise
    except Exception as exc:
        if _user_error(exc):
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return _internal_error(exc, argv)
    except BaseException as exc:
        from .interrupt import RunInterrupted  # imported by the run that raised it: no cost here

        if not isinstance(exc, RunInterrupted):
            raise
        where = f"; partial run in {exc.run_dir} (results.json: {exc.results_note})" if exc.run_dir else ""
        print(f"interrupted by {exc.signal_name}{where}", file=sys.stderr)
        return exc.exit_code


def _user_error(exc: Exception) -> bool:
    """A mistake in the flags, a run.json or a config file (exit 254, one line), not a defect of the harness.

    The classes are imported here, not at the top, so that this module stays light for every command.
    """
    from minikeydb.config import ConfigError

    from .options import OptionError

    return isinstance(exc, UsageError | OptionError | ConfigError)


def _internal_error(exc: BaseException, argv: Sequence[str]) -> int:
    """Never a bare traceback for a user: one line (the traceback with -v)."""
    import traceback

    print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    if "-v" in argv or "--verbose" in argv:
        traceback.print_exc()
    return EXIT_INTERNAL
