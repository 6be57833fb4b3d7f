"""The checker's command line: ``check``, ``report`` and ``export``, as ``harness.py`` dispatches them.

Exit codes follow Jepsen and docs/HISTORY.md: 0 valid, 1 invalid, 2 unknown; 254 for bad arguments
or unreadable input (one line naming file, line and field), 255 for an internal error. No
traceback ever reaches the user: a person running ``harness.py check`` on somebody else's history
needs to know what is wrong with the *file*, not where the checker tripped.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import orjson

from checker.api import (
    CHECKERS,
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_TIME_LIMIT,
    HARNESS_RUN_SETTINGS,
    MAX_MEMORY_BUDGET,
    MAX_SECONDS,
    CheckOptionError,
    CheckOptions,
    check,
)
from checker.history import HistoryError, minikeydb_run, resolve_history
from checker.safe_write import atomic_open, write_atomic
from checker.stdout import silence_stdout
from checker.values import brief

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 254, 255
# Worst first: a bad input outranks an invalid verdict, which outranks unknown, which outranks valid.
COMMANDS = ("check", "report", "export")
"""The commands that only read histories: ``harness.py`` hands them here before importing anything else."""

_SEVERITY = {EXIT_INPUT: 4, EXIT_INTERNAL: 5, EXIT_INVALID: 3, EXIT_UNKNOWN: 2, EXIT_VALID: 1}


class UsageError(Exception):
    """Bad command-line arguments; becomes exit 254 with a one-line message."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (exit 254) and suggests the flag a mistyped one was near."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser: argparse.ArgumentParser = self
            if getattr(parsed, "command", None) in self._subcommands():
                parser = self._subcommands()[parsed.command]
            flags = [s for s in parser._option_string_actions if s.startswith("--")]
            hints = "".join(_did_you_mean(e.split("=", 1)[0], flags) for e in extras if e.startswith("--"))
            parser.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return parsed

    def _subcommands(self) -> dict[str, argparse.ArgumentParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean '--checker'?)`` for a near miss of one of ``choices``, else ``""``."""
    import difflib  # only for a mistyped flag

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def verdict_code(valid: Any) -> int:
    """0/1/2 for True/False/'unknown'."""
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def worst(codes: list[int]) -> int:
    return max(codes, key=lambda c: _SEVERITY.get(c, 0)) if codes else EXIT_VALID


# --- linearizability limits (issue 16): flags, and their pass-through to the linearizable check ---


def _byte_size(text: str) -> int:
    """``20K``, ``512M``, ``2G`` or a number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = units.get(t[-1:], 1)
    number = float(t[:-1] if t[-1:] in units else t)
    if not number > 0 or number * scale >= MAX_MEMORY_BUDGET:
        raise ValueError(text)
    return max(1, int(number * scale))


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"give a positive number of seconds up to {MAX_SECONDS:g}, got {text!r}")
    return value


def _memory_size(text: str) -> int:
    try:
        return _byte_size(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"give a size like 512M or 2G (or a number of bytes), got {text!r}") from None


def _add_linearizable_limits(c: argparse.ArgumentParser, every_part: bool = False) -> None:
    c.add_argument(
        "--time-limit",
        type=_positive_seconds,
        default=None,
        help="seconds the whole linearizability check may take; parts not decided by then are unknown "
        f"(default {DEFAULT_TIME_LIMIT:g})",
    )
    c.add_argument(
        "--memory-budget",
        type=_memory_size,
        default=None,
        help="memory one part's linearizability search may use, e.g. 512M or 2G; a part that needs more is "
        f"unknown, never invalid (default {DEFAULT_MEMORY_BUDGET >> 20}M)",
    )
    c.add_argument(
        "--all-parts",
        action="store_true",
        help="report searches every part (key) for linearizability anyway, to draw each one that fails"
        if every_part else
        "search every part (key) for linearizability; by default the check ends at the first refuted part",
    )


LINEARIZABLE_ONLY_FLAGS = ("model", "init", "time_budget", "time_limit", "memory_budget", "all_parts")
"""Flags that mean something only to the linearizability checker: refused when it does not run."""


def _refuse_linearizable_flags_without_it(args: argparse.Namespace, settings: dict[str, Any], where: str,
                                          prog: str = "harness.py check") -> None:
    if "linearizable" in settings["checkers"]:
        return
    given = [f"--{n.replace('_', '-')}" for n in LINEARIZABLE_ONLY_FLAGS if getattr(args, n, None) not in (None, False)]
    if given:
        raise UsageError(
            f"{prog}: {', '.join(given)} {'is a setting' if len(given) == 1 else 'are settings'} of the "
            f"linearizability checker, which does not run here (checker {','.join(settings['checkers'])}, {where}); "
            "add --checker linearizable (or --checker convergence,linearizable)"
        )


def _linearizable_limits(args: argparse.Namespace) -> dict[str, Any]:
    """The `CheckOptions` fields the limit flags give; a flag not given keeps the option's default.

    ``check`` stops at the first refuted part unless ``--all-parts`` (the library default, which a
    report wants, is every part).
    """
    limits: dict[str, Any] = {"all_parts": bool(getattr(args, "all_parts", False))}
    if getattr(args, "time_limit", None) is not None:
        limits["time_limit"] = args.time_limit
    if getattr(args, "memory_budget", None) is not None:
        limits["memory_budget"] = args.memory_budget
    return limits


# --- end of the linearizability limits ---


def _add_check_settings(c: argparse.ArgumentParser, every_part: bool = False) -> None:
    """The flags choosing the checker and its settings: ``check`` and ``report`` take the same ones."""
    c.add_argument(
        "--checker",
        default=None,
        help="convergence, linearizable, or both, comma-separated (default: what the run recorded, else convergence)",
    )
    c.add_argument("--model", default=None, help="linearizability model (default: kv)")
    c.add_argument("--init", default=None, help="initial state for the linearizability model, as JSON")
    c.add_argument(
        "--null-read",
        choices=("any", "absent"),
        default=None,
        help="what a read of null means to the linearizability checker: absent (the key does not exist, "
        "as in MinikeyDB) or any (no information) (default: the run's recorded setting, else any)",
    )
    c.add_argument(
        "--fail-cas",
        choices=("not-applied", "observed"),
        default=None,
        help="whether a failed cas certainly did not apply (not-applied) or only observed a value "
        "(default: the run's recorded setting, else not-applied)",
    )
    c.add_argument("--time-budget", type=float, default=None, help="seconds per part for linearizability")
    c.add_argument(
        "--counter-reads",
        choices=("eventual", "strict"),
        default=None,
        help="counter histories: strict holds every read to the bounds its time allows; eventual holds only "
        "the final reads to them and counts stale reads (default: the run's recorded setting, else eventual)",
    )
    _add_linearizable_limits(c, every_part)


def _parser() -> _Parser:
    ap = _Parser(prog="harness.py", description="Check, report and export MinikeyDB histories.")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    c = sub.add_parser(
        "check",
        help="give a verdict on one or more histories",
        description="Give a verdict on run directories or history files (HISTORY.md JSON lines, or Jepsen "
        "EDN). Prints a summary per path; exit 0 valid, 1 invalid, 2 unknown, 254 bad input or flags "
        "(the worst over all paths).",
    )
    c.add_argument("paths", nargs="+", metavar="PATH", help="run directory or history (.jsonl / .edn)")
    _add_check_settings(c)
    c.add_argument("--json", action="store_true", help="print the results object (one line per path)")
    c.add_argument(
        "--write",
        action="store_true",
        help="write results.json into the run directory (keeping blocks check does not compute, such as "
        "final_reads); by default check writes nothing",
    )
    r = sub.add_parser(
        "report",
        help="write report.html for a run directory or history",
        description="Write report.html (verdict, anomalies, latency, availability, faults) for a run "
        "directory or a history file, and print where it went: a run directory's report.html, or, for "
        "any other history file, NAME.report.html beside NAME.jsonl. The verdict is the checker's that "
        "check would use (--checker and its settings as check takes them, else what the run recorded, else "
        "convergence); the linearizability checker searches every key. Exit codes as check's: 0 valid, "
        "1 invalid, 2 unknown, 254 bad input or flags.",
    )
    r.add_argument("path", metavar="PATH")
    _add_check_settings(r, every_part=True)
    r.add_argument("--out", default=None, help="where to write the page: a file, or a directory (existing, or "
                   "ending in /) to write it into (default: beside the history: report.html in a run "
                   "directory, else NAME.report.html)")
    e = sub.add_parser(
        "export",
        help="write the history in another format",
        description="Write a run's history as Jepsen EDN (one op map a line), for Jepsen, Knossos or Elle.",
    )
    e.add_argument("path", metavar="PATH")
    e.add_argument("--edn", action="store_true", required=True, help="as Jepsen EDN")
    e.add_argument(
        "--out", "-o", default=None, help="output file, a directory to write NAME.edn into, or - for stdout (default: history.edn beside it)"
    )
    return ap


def _unknown_choice(flag: str, bad: Sequence[str], choices: Sequence[str],
                    prog: str = "harness.py check") -> UsageError:
    """``--checker: unknown 'linearisable' (did you mean 'linearizable'?); choose from ...``."""
    import difflib  # only for a mistyped value

    shown = []
    for word in bad:
        close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
        shown.append(f"{word!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return UsageError(f"{prog}: {flag}: unknown {', '.join(shown) or '(empty)'}; "
                      f"choose from {', '.join(choices)}")


def _parse_checkers(spec: str, prog: str = "harness.py check") -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in CHECKERS]
    if not names or bad:
        raise _unknown_choice("--checker", bad, CHECKERS, prog)
    return list(dict.fromkeys(names))


# Settings of `check` when neither a flag nor the run says otherwise: `CheckOptions`' defaults.
DEFAULT_SETTINGS: dict[str, Any] = {**CheckOptions().settings(), "counter_reads": CheckOptions().counter_reads}


def _load_object(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def recorded_settings(run_dir: Path | None) -> tuple[dict[str, Any], str | None]:
    """The check settings a run recorded, and the file they came from (or ``({}, None)``).

    results.json's ``check_settings`` (written by every check since they were recorded) wins;
    otherwise a harness run's run.json gives its checkers, with the settings the harness used.
    """
    if run_dir is None:
        return {}, None
    results = _load_object(run_dir / "results.json")
    if results is not None and isinstance(results.get("check_settings"), dict):
        known = {k: v for k, v in results["check_settings"].items() if k in DEFAULT_SETTINGS}
        return known, "results.json"
    run = _load_object(run_dir / "run.json")
    options = run.get("options") if run is not None else None
    if isinstance(options, dict) and isinstance(options.get("checkers"), list):
        # Runs from before `check_settings` was recorded were checked as harness runs are.
        return {**HARNESS_RUN_SETTINGS, "checkers": [str(c) for c in options["checkers"]]}, "run.json"
    return {}, None


def run_quorum(run_dir: Path | None) -> tuple[int, int, int] | None:
    """(N, W, R) of a harness run, from its run.json, or None."""
    run = _load_object(run_dir / "run.json") if run_dir is not None else None
    options = run.get("options") if run is not None else None
    if not isinstance(options, dict):
        return None
    try:
        return int(options["replicas"]), int(options["write_quorum"]), int(options["read_quorum"])
    except (KeyError, TypeError, ValueError):
        return None


def _more_line(listed: int, shown: int, anomaly_counts: Any) -> list[str]:
    """The line after the anomalies printed: how many more there are, and whether the results object
    lists them all (a checker lists at most so many; its ``anomaly_counts`` has the true counts)."""
    total = listed
    if isinstance(anomaly_counts, dict):
        total = max(listed, sum(n for n in anomaly_counts.values() if type(n) is int))
    if total <= shown:
        return []
    if total == listed:
        return [f"  ... {total - shown} more (all in the results object: --json)"]
    return [f"  ... {total - shown} more (the results object, --json, lists the first {listed} of {total})"]


def summary(
    results: dict[str, Any], path: Path | str, max_anomalies: int = 10, quorum: tuple[int, int, int] | None = None,
    minikeydb: bool = False,
) -> str:
    """A readable multi-line summary of a results object; ``quorum`` is the run's (N, W, R) if known.

    ``minikeydb``: the history is a MinikeyDB run's (`checker.history.minikeydb_run`), so advice about
    MinikeyDB's settings applies; any other system's history gets none.
    """
    # Imported here: a --json check prints none of it, and loads (or compiles) less.
    from checker.findings import (
        SOURCE_JOURNAL,
        checker_findings,
        clock_skew_note,
        convergence_entry,
        convergence_headline,
        convergence_line,
        faults_sentence,
        finding_line,
        linearizability_note,
        load_end_words,
        workload_lines,
    )

    verdict = {True: "VALID", False: "INVALID"}.get(results["valid"], "UNKNOWN")
    lines = [f"{path}: {verdict}"]
    st = results.get("stats", {})
    ops = st.get("ops")
    if isinstance(ops, dict) and ops:
        parts = [f"{f} {c['ok']} ok/{c['fail']} fail/{c['info']} info" for f, c in sorted(ops.items())]
        fr = st.get("final_read_counts")
        if isinstance(fr, dict):  # the convergence checker counts the final reads apart from the client's
            head, finals = "operations (final reads aside)", f"; final reads {sum(fr.values()):,}"
        elif results.get("checker") == "linearizable":  # it judges a final read like any read
            head, finals = "operations (final reads included)", ""
        else:
            head, finals = "operations", ""
        lines.append(f"  {head}: {'; '.join(parts)}{finals}")
    for f in checker_findings(results):
        lines.append(f"  {finding_line(f)}")
        lines.extend(f"  note: {note}" for note in f.get("notes") or [])
    anomalies = results.get("anomalies", [])
    if anomalies:
        for a in anomalies[:max_anomalies]:
            lines.append(f"  - {a.get('explanation', a)}  [events {a.get('indexes', [])[:12]}]")
        lines.extend(_more_line(len(anomalies), max_anomalies, st.get("anomaly_counts")))
    lines.extend(f"  {line}" for line in workload_lines(results))
    unknown = results.get("unknown") or []
    if unknown:
        lines.append(f"  undecided keys: {st.get('unknown_keys', len(unknown))}")
        for u in unknown[:3]:
            lines.append(f"  ? {brief(str(u.get('key')))}: {u.get('reason')}")
    stale = st.get("staleness")
    if stale and stale.get("reads_checked"):
        from checker.stats import STALE_AGE_MEANS

        age = stale["age_ms"]
        frac = stale["stale_fraction"] or 0.0
        lines.append(
            f"  staleness: {stale['stale_reads']} of {stale['reads_checked']} reads stale ({frac:.1%})"
            + (f", age ({STALE_AGE_MEANS}) p50 {age['p50']} ms, p99 {age['p99']} ms, max {age['max']} ms"
               if age["n"] else "")
        )
    sess = st.get("sessions")
    if sess:
        lines.append(
            f"  sessions: {sess['read_your_writes']['violations']} read-your-writes and "
            f"{sess['monotonic_reads']['violations']} monotonic-read violations (informational)"
        )
    c = convergence_entry(st)
    if c is not None:
        lines.append(f"  final reads: {load_end_words(convergence_line(c), st.get('faults') if minikeydb else None)}")
    headline = load_end_words(convergence_headline(results.get("convergence")), st.get("faults") if minikeydb else None)
    conv_block = results.get("convergence") or {}
    if headline and (conv_block.get("source") == SOURCE_JOURNAL or conv_block.get("journal_error")):
        lines.append(f"  convergence time: {headline}")  # the final reads' bound is already said just above
    bite = faults_sentence(results.get("faults") or {})
    if bite:
        lines.append(f"  {bite}")
    lin = results.get("linearizable")
    if lin is not None and results.get("checker") != "linearizable":  # alone, its findings are printed above
        lin_anomalies = lin.get("anomalies", [])
        if lin_anomalies:
            lines.append("  linearizability findings:")
        for a in lin_anomalies[:max_anomalies]:
            lines.append(f"  - {a.get('explanation', a)}")
        lines.extend(_more_line(len(lin_anomalies), max_anomalies, (lin.get("stats") or {}).get("anomaly_counts")))
        lin_unknown = lin.get("unknown") or []
        if lin.get("valid") == "unknown" and lin_unknown:  # why it is undecided (a time limit, a budget)
            lines.append("  linearizability undecided:")
            lines.extend(f"  ? {brief(str(u.get('key')))}: {u.get('reason')}" for u in lin_unknown[:3])
    if (minikeydb or quorum is not None) and any(
        f["checker"] == "linearizable" and f["valid"] is False for f in checker_findings(results)
    ):
        lines.append("  note: " + linearizability_note(quorum))
    skew = clock_skew_note(results)
    if skew:
        lines.append("  note: " + skew)
    return "\n".join(lines)


def _with_run_figures(results: dict[str, Any], run_dir: Path | None, history: Path) -> dict[str, Any]:
    """``results`` (the verdict just judged) with the stats blocks only the run could measure and no check
    computes (its achieved rate, ``workload``; its final reads' rounds, node logs) taken from the run's own
    results.json when that is a JSON object whose stats are an object: figures, never its verdict."""
    from checker.report import RUN_HISTORIES

    if run_dir is None or history.name not in RUN_HISTORIES:
        return results
    return _keep_old_stats(results, _load_object(run_dir / "results.json") or {})


def _keep_old_stats(merged: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """``merged`` with the stats blocks of ``old`` (a run's results) that ``merged``'s stats lack."""
    old_stats, new_stats = old.get("stats"), merged.get("stats")
    if isinstance(old_stats, dict) and isinstance(new_stats, dict):
        merged["stats"] = {**{k: v for k, v in old_stats.items() if k not in new_stats}, **new_stats}
    return merged


def _write_results(run_dir: Path, results: dict[str, Any]) -> Path:
    """results.json with the new verdict; blocks the checkers do not compute (a run's final_reads
    summary, say) are kept from the file being replaced."""
    target = run_dir / "results.json"
    old = _load_object(target) or {}
    merged = {**{k: v for k, v in old.items() if k not in results and k != "path"}, **results}
    merged.pop("path", None)  # where this check found the history: not a property of the run
    _keep_old_stats(merged, old)
    return write_atomic(target, orjson.dumps(merged, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                                             default=str))


def _settings_for(args: argparse.Namespace, run_dir: Path | None,
                  prog: str = "harness.py check") -> tuple[dict[str, Any], str]:
    """Flags given on the command line, else the run's recorded settings, else the defaults."""
    recorded, source = recorded_settings(run_dir)
    settings = {**DEFAULT_SETTINGS, **recorded}
    given = []
    if args.checker is not None:
        settings["checkers"] = _parse_checkers(args.checker, prog)
        given.append("checker")
    for name in ("model", "null_read", "fail_cas", "time_budget", "counter_reads"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
            given.append(name)
    bad = [c for c in settings["checkers"] if c not in CHECKERS]
    if bad or not settings["checkers"]:
        raise UsageError(f"{prog}: {source}: unknown checkers {bad} recorded; give --checker")
    where = f"recorded in {source}" if source else "defaults"
    if given:
        where += " with " + ", ".join("--" + g.replace("_", "-") for g in given) + " from the command line"
    return settings, where


def _settings_line(settings: dict[str, Any], where: str) -> str:
    text = f"  settings: checker {','.join(settings['checkers'])}"
    if "linearizable" in settings["checkers"]:
        text += f", model {settings['model']}, null-read {settings['null_read']}, fail-cas {settings['fail_cas']}"
    return f"{text} ({where})"


def _check_flags(args: argparse.Namespace, prog: str) -> Any:
    """Usage errors in the check flags, before any file is read; returns ``--init`` decoded (or None)."""
    if args.checker is not None:
        _parse_checkers(args.checker, prog)
    init = None
    if args.init is not None:
        from checker.linearizable.initial import InitError, decode_init

        try:
            init = decode_init(args.init)
        except InitError as e:
            raise UsageError(f"{prog}: {e}") from None
    if args.model is not None or (args.checker is not None and "linearizable" in args.checker):
        try:
            import checker.linearizable as lin

            lin.check_events  # noqa: B018 - the whole checker now (check.py imports the rest): a missing module is said here
        except ImportError as e:
            raise UsageError(f"{prog}: the linearizability checker is not available ({e})") from None
        if args.model is not None and args.model not in lin.MODELS:
            raise _unknown_choice("--model", [args.model], tuple(lin.MODELS), prog)
    return init


def _settings_dir(history: Path, run_dir: Path | None) -> Path | None:
    """Where the settings a history was checked with are recorded: its run directory (a run's own history)."""
    if run_dir is None and history.name in ("history.jsonl", "history.edn"):
        return history.parent
    return run_dir


def _judge(args: argparse.Namespace, history: Path, settings: dict[str, Any], init: Any,
           every_part: bool = False) -> dict[str, Any]:
    """``check`` of ``history`` with ``settings`` (flags over the recorded ones) and the limit flags."""
    return dict(check(history, _options(args, settings, init, every_part)).results)


def _options(args: argparse.Namespace, settings: dict[str, Any], init: Any, every_part: bool = False) -> CheckOptions:
    """The `CheckOptions` of ``settings`` and the limit flags: check's and report's, so they cannot drift."""
    limits = _linearizable_limits(args)
    if every_part:
        limits["all_parts"] = True
    return CheckOptions(**{k: settings[k] for k in DEFAULT_SETTINGS}, init=init, **limits)


def _judgement(args: argparse.Namespace, raw: str,
               prog: str) -> tuple[Path, Path | None, Path | None, dict[str, Any], str]:
    """Which history ``raw`` names and which settings judge it (flags, else the run's recorded ones, else the
    defaults): one function for ``check`` and ``report``, so that both give the same verdict on the same input.

    Returns (history, run_dir, settings_dir, settings, where).
    """
    history, run_dir = resolve_history(raw)
    settings_dir = _settings_dir(history, run_dir)
    settings, where = _settings_for(args, settings_dir, prog)
    _refuse_linearizable_flags_without_it(args, settings, where, prog)
    return history, run_dir, settings_dir, settings, where


def _input_error(e: ValueError, raw: str) -> bool:
    """Print the one line of an input/argument error the checkers raise; False for any other ValueError."""
    if isinstance(e, CheckOptionError) or type(e).__name__ in ("HistoryInputError", "ModelArgumentError"):
        print(f"error: {raw}: {e}", file=sys.stderr)
        return True
    return False


def cmd_check(args: argparse.Namespace) -> int:
    init = _check_flags(args, "harness.py check")  # a bad flag is a usage error before any file is read
    codes = []
    reader_gone = False
    for raw in args.paths:
        try:
            history, _, settings_dir, settings, where = _judgement(args, raw, "harness.py check")
            results = _judge(args, history, settings, init)
        except HistoryError as e:
            print(f"error: {e}", file=sys.stderr)
            codes.append(EXIT_INPUT)
            continue
        except ValueError as e:  # the options' and the linearizability checker's input/argument errors
            if _input_error(e, raw):
                codes.append(EXIT_INPUT)
                continue
            raise
        written = None
        if args.write:
            if settings_dir is None:
                raise UsageError(f"harness.py check: --write: {raw} is not in a run directory; nowhere to write")
            written = _write_results(settings_dir, results)
        results["path"] = str(history)
        for note in results.get("notes") or []:  # about the history's shape: said whatever the output format
            print(f"warning: {note}", file=sys.stderr)
        codes.append(verdict_code(results["valid"]))  # before printing: a closed stdout cannot change it
        if reader_gone:
            continue
        try:
            if args.json:
                sys.stdout.write(
                    orjson.dumps(results, option=orjson.OPT_NON_STR_KEYS, default=str).decode() + "\n"
                )
            else:
                print(summary(results, history, quorum=run_quorum(settings_dir), minikeydb=minikeydb_run(history)))
                print(_settings_line(settings, where))
                if written is not None:
                    print(f"  wrote {written}")
            sys.stdout.flush()
        except BrokenPipeError:  # | head: the reader has gone; the verdicts still decide the exit code
            reader_gone = True
            silence_stdout()
    return worst(codes)


def example_output_dir(run_dir: Path) -> Path | None:
    """Where output about a tracked example goes: ``histories/examples/NAME`` -> ``histories/example-NAME``.

    The examples are committed evidence; commands that read them must leave them (and the git
    tree) untouched, so what they write goes beside the examples folder, which git ignores.
    """
    for d in (run_dir, run_dir.resolve()):  # as typed, when that names the folder (for a short message)
        if d.parent.name == "examples" and d.name:
            return d.parent.parent / f"example-{d.name}"
    return None


def _out_path(given: str, name: str) -> Path:
    """``--out`` as meant: an existing directory, or a path ending in "/" (made if missing), is where
    ``name`` is written; anything else names the file itself."""
    out = Path(given)
    if given.endswith(("/", os.sep)) or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        return out / name
    return out


RUN_INPUTS = ("results.json", "run.json", "journal.jsonl.gz", "messages.jsonl.gz")
"""Files beside a history that ``report`` reads (and ``check`` may): never overwritten by its page."""


def _refuse_overwriting_inputs(out: Path, history: Path, prog: str) -> None:
    """UsageError if ``out`` is (resolved: symlinks, the same file) the history or a file of the run beside it."""
    inputs = [history, *(history.parent / n for n in RUN_INPUTS)]
    target = out.resolve()
    for f in inputs:
        same = target == f.resolve()
        if not same and out.exists() and f.exists():
            try:
                same = out.samefile(f)
            except OSError:
                same = False
        if same:
            raise UsageError(f"{prog}: refusing to overwrite the input {f}")


def cmd_report(args: argparse.Namespace) -> int:
    """report.html with the verdict of the checker ``check`` would use; exits with that verdict, as check does.

    The history is always judged here, as ``check`` judges it (`_judgement`: the flags, else the recorded
    settings, else the defaults; the same `CheckOptions`), in the pass that gathers the plots
    (`check_for_report`). A run's results.json is never trusted for the verdict: it may be damaged,
    misshapen, or stale (written with other flags, or edited), and check would not use it either.
    """
    from checker.findings import verdict_word
    from checker.report import check_for_report, report_name, write_report

    prog = "harness.py report"
    init = _check_flags(args, prog)
    facts: dict[str, Any] = {}
    notes: list[str] = []
    try:
        history, run_dir, settings_dir, settings, where = _judgement(args, args.path, prog)
        # A page of other checkers than the run's own (recorded, else the default) gets a name saying them, so that
        # `report RUN --checker linearizable` leaves the run's own report.html alone (--out naming a file wins).
        own = recorded_settings(settings_dir)[0].get("checkers") or DEFAULT_SETTINGS["checkers"]
        other = list(settings["checkers"]) if list(settings["checkers"]) != list(own) else None
        name = report_name(history, other)
        out = _out_path(args.out, name) if args.out else None
        if out is None:
            example_out = example_output_dir(run_dir or history.parent)
            if example_out is not None:
                example_out.mkdir(parents=True, exist_ok=True)
                out = example_out / name
        if out is None:
            out = history.parent / name
        _refuse_overwriting_inputs(out, history, prog)
        replacing = out.exists()
        checked, prepared = check_for_report(history, _options(args, settings, init, every_part=True))
        results = _with_run_figures(dict(checked.results), run_dir, history)
        out = write_report(history, results, out=out, prepared=prepared, notes=notes, facts=facts,
                           settings_source=where)
    except HistoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as e:  # as check: the options' and the linearizability checker's input errors
        if _input_error(e, args.path):
            return EXIT_INPUT
        raise
    for warning in results.get("notes") or []:  # about the history's shape, as check says them
        print(f"warning: {warning}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    code = verdict_code(facts.get("valid"))
    said = []
    if replacing:
        said.append("replacing the earlier one")
    elif other is not None and (out.parent / report_name(history)).exists():
        said.append(f"checker {','.join(other)}; the run's own {report_name(history)} is left as it was")
    checkers = facts.get("checkers") or settings["checkers"]
    try:
        print(f"wrote {out}" + (f" ({'; '.join(said)})" if said else ""))
        print(f"verdict: {verdict_word(facts.get('valid'))} (checker {','.join(checkers)})")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader has gone; the verdict still decides the exit code, as check's
        silence_stdout()
    return code


def _export_to_stdout(history: Path) -> int:
    """``export --out -``: the export is the product, so a stdout that cannot take it (closed at start, a full
    device, an I/O error) is exit 254 with one line, not the 0 of a lost export. A reader that has gone
    (``| head``) still ends quietly (`_main`)."""
    from checker.edn import write_edn
    from checker.history import iter_events

    streams = sys.modules.get("minikeydb.streams")  # harness.py's guard, if it runs: it knows a closed stdout
    if sys.stdout is None or "stdout" in getattr(streams, "CLOSED_AT_START", ()):
        print("error: harness.py export: stdout is closed: the export was not written (give --out FILE)",
              file=sys.stderr)
        return EXIT_INPUT
    out = getattr(sys.stdout, "_stream", sys.stdout)  # past the guard, which drops a failing stdout and goes on
    try:
        write_edn(iter_events(history), out)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        silence_stdout()
        print(f"error: harness.py export: the export could not be written to stdout ({e.strerror or e})",
              file=sys.stderr)
        return EXIT_INPUT
    return EXIT_VALID


def cmd_export(args: argparse.Namespace) -> int:
    from checker.edn import write_edn
    from checker.history import iter_events

    try:
        history, run_dir = resolve_history(args.path)
        _exportable(history)
        if args.out == "-":
            return _export_to_stdout(history)
        out = _out_path(args.out, history.with_suffix(".edn").name) if args.out else history.with_suffix(".edn")
        example_out = None if args.out else example_output_dir(run_dir or history.parent)
        if example_out is not None:  # never into the tracked examples folder
            example_out.mkdir(parents=True, exist_ok=True)
            out = example_out / out.name
        if out.resolve() == history.resolve():
            raise UsageError(f"harness.py export: refusing to overwrite the input {history}")
        with atomic_open(out) as fh:
            n = write_edn(iter_events(history), fh)
    except HistoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    # On stderr: `export RUN --edn > run.edn` must not leave this line where the EDN was expected.
    print(f"wrote {out} ({n:,} events; --out - writes the EDN to stdout)", file=sys.stderr)
    return EXIT_VALID


def _exportable(history: Path) -> None:
    """EDN has no header line: a history whose header declares a workload or conflict mode with shapes of
    its own (set, counter, siblings, echo, unique-ids) would come back as a register history, which check
    refuses or misjudges; such a history is refused (`UsageError`), a register or key-value one exported."""
    from checker.history import is_edn_path
    from checker.workloads import read_header

    if is_edn_path(history):
        return
    header = read_header(history)
    if header.rule is not None:
        what = header.workload if header.workload != "register" else f"{header.conflict} register"
        raise UsageError(f"harness.py export: {history} is a {what} history; EDN carries register and "
                         "key-value histories only (it has no header line to declare the workload)")


class _Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt, past `except Exception`
    """SIGTERM or SIGHUP arrived: unwind (stopping any worker processes) and exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def main(argv: list[str]) -> int:
    """Run one subcommand; return the exit code (never raises, never prints a traceback).

    SIGTERM and SIGHUP end it like Ctrl-C does: one line, the workers of a linearizability check
    stopped, exit 128 + the signal's number.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        return _main(argv)
    except _Terminated as e:
        print(f"terminated by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(argv: list[str]) -> int:
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as e:  # --help
            return int(e.code or 0)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "export":
            return cmd_export(args)
        raise UsageError("harness.py: expected a command: check, report or export")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # report/export output into a closed pipe: nothing was judged
        silence_stdout()
        return EXIT_VALID
    except OSError as e:  # a path that cannot be read or written (--out into a file, read-only, ...)
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e} (check the path and its permissions)", file=sys.stderr)
        return EXIT_INPUT
    except Exception as e:  # the promise: no traceback reaches the user
        print(f"internal error in the checker: {type(e).__name__}: {e} (please report this)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
