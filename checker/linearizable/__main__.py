"""Standalone use: `python -m checker.linearizable PATH... --model MODEL [flags] [--json]`.

The project's `harness.py check --checker linearizable` is the main entry point; this one exists
so the checker can be used (and timed) on any history without the rest of the project. Exit
codes as in Jepsen: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or unreadable input, 255
internal error; with several paths the worst verdict wins (254 > 1 > 2 > 0). A checker that cannot
be imported (a module missing or broken) is one error line and 254; Ctrl-C is "interrupted", 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from checker.stdout import silence_stdout

if TYPE_CHECKING:
    from checker.timelimit import TimeLimit

_EXIT = {True: 0, False: 1, "unknown": 2}
_RANK = {0: 0, 2: 1, 1: 2, 254: 3, 255: 4}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(254)


def _read(path: Path, limit: TimeLimit | None = None) -> list[dict[str, Any]]:
    try:
        from checker.history import read_events
    except ImportError:
        events = []
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_no}: not JSON ({exc.msg})") from None
        return events
    return read_events(path, None, limit)


def main(argv: list[str] | None = None) -> int:
    """Check each path and print its verdict; return the worst exit code."""
    try:  # here, not at the top: a checker that cannot be imported is one line, not a traceback
        from checker.linearizable.check import (
            DEFAULT_MEMORY_BUDGET,
            DEFAULT_TIME_LIMIT,
            check_events,
            out_of_time_result,
        )
        from checker.linearizable.compiled import describe
        from checker.linearizable.initial import InitError, decode_init, init_note
        from checker.linearizable.models import MODELS
        from checker.linearizable.render import render_html
        from checker.timelimit import TimeLimit, TimeLimitExceeded
    except Exception as exc:  # noqa: BLE001 - a module missing or broken: say which, exit as for bad input
        print(f"error: the linearizability checker cannot be imported: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 254
    parser = _Parser(prog="python -m checker.linearizable", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="history.jsonl files")
    parser.add_argument("--version", action="version", version=f"%(prog)s: {describe()}",
                        help="say whether the search's hot loops run compiled, then exit")
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--init", default="null", help="initial state as JSON (default null)")
    parser.add_argument("--null-read", default="any", choices=("any", "absent"))
    parser.add_argument("--fail-cas", default="not-applied", choices=("not-applied", "observed"))
    parser.add_argument("--time-budget", type=float, default=None, help="seconds per part")
    parser.add_argument(
        "--memory-budget", type=int, default=DEFAULT_MEMORY_BUDGET, help="bytes one part's search may grow by"
    )
    parser.add_argument(
        "--time-limit", type=float, default=DEFAULT_TIME_LIMIT, help=f"seconds for the whole check (default {DEFAULT_TIME_LIMIT:g})"
    )
    parser.add_argument("--all-parts", action="store_true", help="search every part, not only up to the first refuted")
    parser.add_argument("--json", action="store_true", help="one results object per line")
    parser.add_argument("--html", type=Path, default=None, help="write the picture of the last path here")
    args = parser.parse_args(argv)
    try:
        init = decode_init(args.init)
    except InitError as exc:  # one line, as harness.py check says it (not argparse's usage above it)
        print(f"error: {exc}", file=sys.stderr)
        return 254
    worst = 0
    for path in args.paths:
        limit = None if args.time_limit is None else TimeLimit(args.time_limit)  # reading counts too
        try:
            try:
                events = _read(path, limit)
            except TimeLimitExceeded as exc:
                events = None
                result = out_of_time_result(exc, model=args.model, init=init, null_read=args.null_read,
                                            fail_cas=args.fail_cas, all_parts=args.all_parts,
                                            memory_budget=args.memory_budget, started=exc.started)
            if events is not None:
                result = check_events(
                    events,
                    args.model,
                    init=init,
                    null_read=args.null_read,
                    fail_cas=args.fail_cas,
                    time_budget=args.time_budget,
                    memory_budget=args.memory_budget,
                    time_limit=args.time_limit,
                    all_parts=args.all_parts,
                    started=None if limit is None else limit.started,
                )
        except (OSError, ValueError) as exc:
            message = str(exc)  # the history reader's messages already begin with the file
            print(f"error: {message if message.startswith(str(path)) else f'{path}: {message}'}", file=sys.stderr)
            code = 254
        except Exception as exc:  # noqa: BLE001 - a message, never a traceback
            print(f"internal error on {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 255
        else:
            code = _EXIT[result["valid"]]
            if result["stats"].get("init_unused"):  # a warning whatever the output format, as harness.py check's
                print(f"warning: {path}: {init_note(result['stats']['init_unused'])}", file=sys.stderr)
            if args.json:
                _say(json.dumps({"path": str(path), **result}, default=str))
            else:
                verdict = {True: "linearizable", False: "NOT linearizable"}.get(result["valid"], "unknown")
                _say(f"{path}: {verdict} ({result['stats']['seconds']:.3f} s)")
                for item in [*result["anomalies"], *result["unknown"]]:
                    _say(f"  {item['explanation']}")
            if args.html is not None:
                args.html.write_text(
                    f"<!doctype html><meta charset=utf-8><body><h2>Linearizability</h2>{render_html(result)}</body>"
                )
        if _RANK[code] > _RANK[worst]:
            worst = code
    return worst


_STDOUT_LOST: list[str] = []
"""Why stdout could not take the output (empty while it can): from then on the output is dropped."""


def _say(line: str) -> None:
    """One line of output on stdout. A stdout that cannot take it (a reader gone, ``| head``; a full device,
    ``> /dev/full``; an I/O error) never changes the exit code, which is the verdict's: the output is
    dropped from then on (`_stdout_lost`), as `harness.py check` does."""
    if _STDOUT_LOST:
        return
    try:
        print(line)
    except OSError as exc:
        _stdout_lost(exc)


def _stdout_lost(exc: OSError) -> None:
    """Drop the rest of the output: stdout pointed at /dev/null (so the exit's flush cannot fail either), and
    one line on stderr unless the reader has merely gone (a closed pipe is an ordinary end, ``| head -1``)."""
    _STDOUT_LOST.append("pipe" if isinstance(exc, BrokenPipeError) else exc.strerror or str(exc))
    silence_stdout()
    if not isinstance(exc, BrokenPipeError):
        print(f"python -m checker.linearizable: its output could not be written to stdout ({_STDOUT_LOST[0]}); "
              "the rest of it is dropped and the exit code is the verdict's", file=sys.stderr)


def _run() -> int:
    """`main`, with Ctrl-C one line and 130 (128 + SIGINT), as `harness.py check` has it, and a stdout that
    cannot take the output one line on stderr (none for a reader gone), the exit code still the verdict's."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if not _STDOUT_LOST:
        try:
            sys.stdout.flush()
        except OSError as exc:
            _stdout_lost(exc)
    return code


if __name__ == "__main__":
    sys.exit(_run())
