"""``python harness.py replay RUN``: run a recorded run again from its ``run.json``.

A run directory records its options (seed included) and the fault schedule it carried out. A
replay rebuilds both from ``run.json`` and runs them again. The schedule is always taken from
``run.json``, never regenerated from the seed: ``explore`` writes shrunk runs whose schedule was
edited by hand, and those must replay exactly as recorded.

In ``sim`` mode the run is a pure function of options, seed and schedule, so the new history must
be byte-identical: the command prints both sha256 sums and exits 0 when they match, 1 when they
do not. A run a signal stopped (results.json ``reason: interrupted``) has no whole history: its events are
compared up to the interruption (the instant the signal came may be in another order, and the stop and
heal lines the interruption appended are the original's alone); identical up to there exits 2, as a run
with no history does, and a difference before it 1. In ``udp`` and ``processes`` modes real time and the kernel's scheduling make their own
choices, so the same configuration, seed and schedule are re-run and the history may differ; the
exit code is then the new run's verdict, as for ``run``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from minikeydb.cli import decided
from nemesis import FaultSchedule

from .exit_codes import (
    REPLAY_EXIT_DIFFERENT,
    REPLAY_EXIT_HELP,
    REPLAY_EXIT_IDENTICAL,
    REPLAY_EXIT_UNCONFIRMED,
    verdict_exit,
)
from .options import OptionError, RunOptions
from .phases import schedule_mismatch
from .run import run
from .run_dir import versions
from .summary import format_summary
from .usage import Parser


@attrs.frozen
class RecordedRun:
    """What ``run.json`` says was run: the options and the schedule, plus the raw metadata."""

    run_dir: Path
    options: RunOptions
    schedule: FaultSchedule
    metadata: dict[str, Any]

    @property
    def history(self) -> Path:
        return self.run_dir / "history.jsonl"


def resolve_run_dir(path: str | Path) -> Path:
    """A run directory from what a user typed: the directory, its run.json, or ``histories/latest``."""
    p = Path(path)
    if p.is_file() and (p.parent / "run.json").is_file():  # run.json, history.jsonl, report.html...
        return p.parent.resolve()
    if p.is_file() and not p.is_symlink():
        # ``latest`` written as a file holding the run's name (where symlinks are unavailable).
        name = _latest_name(p)
        if name and (p.parent / name / "run.json").is_file():
            return p.parent / name
        raise OptionError(f"{path}: a file, not a run directory; give the directory holding run.json "
                          "(or a file inside it)")
    if not p.exists():
        raise OptionError(f"{path}: no such run directory (give a directory holding run.json)")
    if not (p / "run.json").is_file():
        raise OptionError(f"{path}: not a run directory (no run.json inside)")
    return p.resolve()


def _latest_name(p: Path) -> str | None:
    """The run name a small text file such as ``histories/latest`` holds, else None."""
    try:
        if p.stat().st_size > 4096:
            return None
        name = p.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    # A run name is one path component: a hand-written history or a long line is no name (and
    # must not reach the file system, where a 300-character name is an OSError).
    if not name or len(name.encode()) > 255 or any(c in name for c in "/\0\n\r"):
        return None
    return name


def load_recorded_run(path: str | Path) -> RecordedRun:
    """Read ``run.json``; anything unusable raises ``OptionError`` naming the file and the field."""
    run_dir = resolve_run_dir(path)
    source = run_dir / "run.json"
    try:
        metadata = json.loads(source.read_text())
    except json.JSONDecodeError as exc:
        raise OptionError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise OptionError(f"{source}: not a run.json (nested too deeply to read)") from None
    except OSError as exc:
        raise OptionError(f"{source}: cannot read ({exc.strerror})") from None
    if not isinstance(metadata, dict):
        raise OptionError(f"{source}: expected a JSON object")
    if "options" not in metadata:
        raise OptionError(f"{source}: missing field 'options' (written by an older harness?)")
    try:
        options = RunOptions.from_json(metadata["options"])
    except OptionError as exc:
        raise OptionError(f"{source}: {exc}") from None
    if "schedule" not in metadata:
        raise OptionError(f"{source}: missing field 'schedule'")
    try:
        schedule = FaultSchedule.from_json(metadata["schedule"], "schedule")
    except ValueError as exc:
        raise OptionError(f"{source}: {exc}") from None
    problem = schedule_mismatch(schedule, options)  # the one check of a recorded schedule against its run
    if problem:
        raise OptionError(f"{source}: {problem}")
    return RecordedRun(run_dir, options, schedule, metadata)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the command -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="harness.py replay",
        description="Re-run a recorded run from its run.json (options, seed and fault schedule). In sim mode "
        "the new history must be byte-identical; both sha256 sums are printed.",
        epilog=REPLAY_EXIT_HELP,
    )
    parser.add_argument("run", help="a run directory (holding run.json), its run.json, or histories/latest")
    parser.add_argument("--out", default=None, help="where the new run directory goes (default: beside RUN; "
                        "for histories/examples/NAME, in histories/)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the comparison, not the summary")
    return parser


def replay_command(argv: Sequence[str]) -> int:
    """``harness.py replay RUN [--out DIR]``; see the module docstring for the exit codes."""
    args = _parser().parse_args(list(argv))
    maelstrom = _maelstrom_run(args.run)
    if maelstrom is not None:
        from .maelstrom.command import replay_maelstrom

        return replay_maelstrom(maelstrom[0], maelstrom[1], args.out)
    recorded = load_recorded_run(args.run)
    out = Path(args.out) if args.out else recorded.run_dir.parent
    if not args.out and recorded.run_dir.parent.name == "examples":
        out = recorded.run_dir.parent.parent  # never into the tracked examples folder: histories/
    original_name = recorded.options.name or _name_without_stamp(recorded.run_dir.name)
    options = attrs.evolve(recorded.options, out=str(out), name=f"{original_name}-replay")
    _warn_on_version_change(recorded)
    argv_recorded = ["harness.py", "replay", str(args.run), *(["--out", args.out] if args.out else [])]
    if options.mode == "sim":  # -q keeps a simulated replay silent until the comparison
        result = run(options, argv_recorded, schedule=recorded.schedule, quiet=args.quiet)
    else:
        result = run(options, argv_recorded, schedule=recorded.schedule,
                     announce=f"MinikeyDB: replaying {options.mode} run {recorded.run_dir.name} (seed {options.seed}, "
                     "same schedule) in real time ...")
    new_sum = sha256_of(result.run_dir / "history.jsonl")
    old_sum = sha256_of(recorded.history) if recorded.history.is_file() else None
    stopped_by = interrupted_by(recorded.run_dir)
    prefix = None
    if options.mode == "sim" and old_sum is not None and old_sum != new_sum and stopped_by is not None:
        prefix = compare_prefix(recorded.history, result.run_dir / "history.jsonl")
    if options.mode != "sim":
        code = verdict_exit(result.results.get("valid"))
    elif old_sum is None:
        code = REPLAY_EXIT_UNCONFIRMED
    elif prefix is not None:  # an interrupted original: its events match up to the interruption, or they differ
        code = REPLAY_EXIT_UNCONFIRMED if prefix.identical else REPLAY_EXIT_DIFFERENT
    else:
        code = REPLAY_EXIT_IDENTICAL if old_sum == new_sum else REPLAY_EXIT_DIFFERENT
    decided(code)  # a closed stdout (| head) must not change it
    if not args.quiet:
        print(format_summary(result))
    print(f"original {recorded.history}: sha256 {old_sum or '(missing)'}")
    print(f"replay   {result.run_dir / 'history.jsonl'}: sha256 {new_sum}")
    print(f"wrote {result.run_dir}/")
    if options.mode != "sim":
        print(f"{options.mode} mode runs in real time: the same configuration, seed and fault schedule were run "
              "again, but the history may differ" + (" (it does)" if old_sum != new_sum else ""))
    elif old_sum is None:
        print("cannot compare: the recorded run has no history.jsonl")
    elif prefix is not None and prefix.identical:
        print(f"the recorded run was interrupted ({stopped_by}; results.json: reason interrupted) at t={prefix.at:.3f} "
              f"s, so there is no whole history to compare; identical up to the interruption: its first "
              f"{prefix.events:,} events are the replay's, byte for byte"
              + (f"; the {prefix.reordered} events of the interruption's own instant are the replay's too, in another "
                 "order (the signal's wake-up ran first in that instant)" if prefix.reordered else "")
              + (f"; only the {prefix.appended} fault stop/heal line(s) the interruption appended differ"
                 if prefix.appended else "")
              + f" (exit {REPLAY_EXIT_UNCONFIRMED}: a run cut short cannot be confirmed whole)")
    elif prefix is not None:
        print(f"the recorded run was interrupted ({stopped_by}) at t={prefix.at:.3f} s, but its history differs "
              f"before the interruption: DIFFERENT at line {prefix.differs_at} (determinism is broken, or the code "
              "changed since it was recorded)")
    elif old_sum == new_sum:
        verdict = {True: "VALID", False: "INVALID"}.get(result.results.get("valid"), "UNKNOWN")  # type: ignore[arg-type]
        print(f"identical: the replay reproduced the recorded history byte for byte (exit 0: the replay matched; "
              f"the run's verdict is {verdict})")
    else:
        print("DIFFERENT: the simulated run did not reproduce its recorded history (determinism is broken, or the "
              "code changed since it was recorded)")
        if only_header_added(recorded.history, result.run_dir / "history.jsonl"):
            print("  (its events are the same: the replay only starts with the header line the harness writes "
                  "since conflict modes came, which the recorded history has none of)")
    return code


def _maelstrom_run(path: str) -> tuple[Path, dict[str, object]] | None:
    """A Maelstrom run's directory and run.json (``mode: maelstrom``), or None for any other run."""
    try:
        run_dir = resolve_run_dir(path)
        metadata = json.loads((run_dir / "run.json").read_text())
    except (OptionError, OSError, ValueError, RecursionError):  # load_recorded_run reports it
        return None
    if isinstance(metadata, dict) and metadata.get("mode") == "maelstrom" and isinstance(metadata.get("options"), dict):
        return run_dir, metadata
    return None


def interrupted_by(run_dir: Path) -> str | None:
    """The signal that stopped the recorded run before its history was whole (results.json ``reason:
    interrupted``), else None (a signal during the check or the report leaves the history whole)."""
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(results, dict) or results.get("reason") != "interrupted":
        return None
    signal = results.get("signal")
    return signal if isinstance(signal, str) and signal else "a signal"


@attrs.frozen
class Prefix:
    """How an interrupted run's history compares with its replay's: ``events`` equal byte for byte from the top,
    then ``reordered`` events of the interruption's own instant that the replay holds at that instant too (the
    signal's wake-up may run first there and change the order of that one instant), then ``appended`` nemesis
    events (the stop of the fault in force and the heal the interruption wrote)."""

    events: int
    reordered: int
    appended: int
    identical: bool
    differs_at: int
    """The first line (1-based) that differs outside the interruption's instant, when not ``identical``."""
    at: float
    """The interruption's instant, in seconds of the run."""


def _event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("time"), int) else None


def _without_index(event: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in event.items() if k != "index"}, sort_keys=True)


def compare_prefix(old: Path, new: Path) -> Prefix:
    """Compare an interrupted run's history ``old`` with its replay ``new`` up to the interruption."""
    original = old.read_bytes().splitlines(keepends=True)
    last = _event(original[-1]) if original else None
    instant = last["time"] if last is not None else 0
    replayed: dict[str, int] = {}
    """The replay's events at the interruption's instant past the lines both share, without their index."""
    with new.open("rb") as after:
        same = 0
        for line in original:
            if line != after.readline():
                break
            same += 1
    with new.open("rb") as after:
        for _ in range(same):
            after.readline()
        for raw in after:
            event = _event(raw)
            if event is None or event["time"] > instant:
                break
            if event["time"] == instant:
                key = _without_index(event)
                replayed[key] = replayed.get(key, 0) + 1
    rest = original[same:]
    events = sum(1 for raw in original[:same] if raw.startswith(b'{"index":'))
    reordered = appended = 0
    differs_at = 0
    for offset, raw in enumerate(rest):
        event = _event(raw)
        if event is None or event["time"] != instant:
            differs_at = same + offset + 1
            break
        if event.get("process") == "nemesis":
            appended += 1
            continue
        key = _without_index(event)
        if not replayed.get(key):
            differs_at = same + offset + 1
            break
        replayed[key] -= 1
        reordered += 1
    return Prefix(events, reordered, appended, differs_at == 0, differs_at, instant / 1e9)


def only_header_added(old: Path, new: Path) -> bool:
    """Whether ``new`` is ``old`` with a header line in front (a run recorded before histories had headers)."""
    with old.open("rb") as before, new.open("rb") as after:
        first = after.readline()
        if not first.startswith(b'{"history":') or before.read(len(first)) == first:
            return False
        before.seek(0)
        while True:
            a, b = before.read(1 << 20), after.read(1 << 20)
            if a != b:
                return False
            if not a:
                return True


def _name_without_stamp(dir_name: str) -> str:
    """``20261123T201500Z-partition-sim`` -> ``partition-sim``."""
    head, _, rest = dir_name.partition("-")
    return rest if rest and head.endswith("Z") and head[:8].isdigit() else dir_name


def _warn_on_version_change(recorded: RecordedRun) -> None:
    then = recorded.metadata.get("versions")
    if not isinstance(then, dict):
        return
    now = versions()
    changed = [f"{k} {then[k]} -> {now[k]}" for k in now if k in then and then[k] != now[k]]
    if changed:
        print(f"note: versions changed since the run was recorded ({', '.join(changed)}); a replay may differ",
              file=sys.stderr)
