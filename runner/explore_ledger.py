"""Explore's seed ledger: one JSON line per seed, so that a sweep can be resumed and read as findings.

The first line is a header (``"ledger": "minikeydb-explore"``) with the sweep's options and their
hash; every other line is one seed: ``options_hash``, ``seed``, ``verdict``, the anomaly types
with counts, the ``signature`` (anomaly types and the fault kinds involved), the fault windows
that bit / changed nothing / could not be told, operations, the history's sha256, virtual and
wall seconds, and the commit. Seed lines are appended (and flushed) as results arrive, in sweep
order (a result that arrives before an earlier seed's waits for it; an interruption writes what
waited), so that a ledger does not depend on the number of workers.

``explore --resume LEDGER`` reads it back: the seeds it holds are not run again, and a ledger
whose options hash differs from the flags given is refused, naming the options that differ, as is
one written at another commit (``--resume-other-commit`` takes it, trusting only its valid seeds),
one with two lines of a seed that disagree, a seed outside 0..2**63-1, or a header of another ``version``
(a seed on two lines with the same result is said in one warning line and counted once). A last line cut short (a
killed explore) is dropped from the file. The ledger is locked (``flock``) while an explore uses
it: a second explore of the same ledger is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import attrs
import orjson

from runner import ROOT

from .explore_trial import TrialReport, anomaly_counts
from .options import SEED_MAX, OptionError

LEDGER_KIND = "minikeydb-explore"
LEDGER_VERSION = 1
"""The ledger format this explore writes and reads (the header's ``version``; a header without one is read as 1)."""
HASHED_AWAY = ("out", "name", "seed", "verbose")
"""Options that do not change what a seed does: where it is written, what it is called, log detail (the seed is per line)."""

LATER_DEFAULTS = {"conflict": "lww", "workload": "register"}
"""Options added after ledgers were first written: at their default they are left out of the hash,
so a sweep's hash (and ``--resume`` of a ledger written before them) is what it was."""
SEED_RANGE = (0, SEED_MAX)
"""The seeds explore runs and a ledger may hold."""
UNCOMPARED = ("wall_s",)
MAX_LINE_BYTES = 1 << 20
"""A ledger line longer than this is refused (explore writes lines of some 500 bytes): a ledger is read line by
line within this bound, never whole (``--resume /dev/zero`` read 1.9 GB, then MemoryError)."""
"""Fields two lines of one seed may differ in (the seed ran twice, e.g. resumed across an interruption)."""


class SweepOptions(Protocol):
    """What a ledger hashes: a run's options as JSON (``RunOptions``; Maelstrom explore's own, see
    ``runner.maelstrom.explore``)."""

    def to_json(self) -> dict[str, Any]: ...


def sweep_options(base: SweepOptions, vary_workload: bool) -> dict[str, Any]:
    """What makes two sweeps' seeds the same runs: the run options (but where they go) and --vary-workload."""
    options = {k: v for k, v in base.to_json().items() if k not in HASHED_AWAY}
    for name, default in LATER_DEFAULTS.items():  # a ledger from before these options still resumes
        if options.get(name) == default:
            del options[name]
    return {"options": options, "vary_workload": vary_workload}


def options_hash(base: SweepOptions, vary_workload: bool) -> str:
    return hashlib.sha256(orjson.dumps(sweep_options(base, vary_workload), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def commit() -> str:
    """``git rev-parse HEAD`` of the checkout explore runs from ("+dirty" with uncommitted changes), else "unknown".

    Read once per process (the code that runs is the code loaded at the start: the ledger's header and the
    failure report name the same commit), its two ``git`` commands run side by side: explore's start-up and its
    end, which both ``--workers 1`` and N pay, took 20-40 ms each for them."""
    if not _COMMIT:
        _COMMIT.append(_read_commit())
    return _COMMIT[0]


_COMMIT: list[str] = []


def _read_commit() -> str:
    commands = (["git", "rev-parse", "HEAD"], ["git", "status", "--porcelain", "--untracked-files=no"])
    procs: list[subprocess.Popen[str]] = []
    try:
        for command in commands:
            procs.append(subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True))
        (head, _), (status, _) = (p.communicate(timeout=10) for p in procs)
    except (OSError, subprocess.SubprocessError):
        for p in procs:
            p.kill()
            p.wait()
        return "unknown"
    if procs[0].returncode != 0:
        return "unknown"
    return head.strip() + ("+dirty" if procs[1].returncode == 0 and status.strip() else "")


def seed_line(report: TrialReport, hash_: str, commit_: str) -> dict[str, Any]:
    o = report.outcome
    return {
        "options_hash": hash_, "seed": report.seed, "verdict": report.verdict,
        "anomalies": anomaly_counts(o.anomaly_types), "signature": report.signature,
        "fault_kinds": list(report.fault_kinds), "faults": report.bite,
        "faults_changed_nothing": report.faults_changed_nothing,
        "operations": o.operations, "fault_windows": o.faults, "history_sha256": o.history_sha256,
        "virtual_s": round(report.virtual_seconds, 3), "wall_s": round(report.wall_seconds, 3), "commit": commit_,
    }


class LedgerError(OptionError):
    """A ledger that cannot be resumed (unreadable, another sweep's): one line naming why."""


class LedgerWriteError(LedgerError):
    """A ledger line could not be written (a full disk): one line naming the ledger and the OS error; the
    lines before it are whole, so ``--resume`` continues from them."""

    def __init__(self, path: Path, error: OSError, written: int) -> None:
        self.path = path
        self.written = written
        super().__init__(f"the ledger {path} could not be written: {error.strerror or error}; "
                         + (f"the {written} seed line(s) this explore wrote before are whole" if written
                            else "no seed line was written to it"))


@attrs.define
class LedgerContents:
    header: dict[str, Any]
    seeds: dict[int, dict[str, Any]]
    complete: int = 0
    """Bytes up to the end of the last complete line (a last line cut short lies beyond)."""
    cut: int = 0
    """Bytes of a last line cut short (no newline after it, not JSON): dropped on resume."""
    repeated: list[tuple[int, int, int]] = attrs.Factory(list)
    """Seeds on two lines of one commit with the same result (wall time aside), as (seed, first line, later
    line): each counted once; ``repeats`` says so."""

    def repeats(self) -> str | None:
        """One line saying which seeds the ledger holds more than once (counted once), else None."""
        if not self.repeated:
            return None
        shown = ", ".join(f"seed {seed} on lines {first} and {later}" for seed, first, later in self.repeated[:5])
        more = f" and {len(self.repeated) - 5} more" if len(self.repeated) > 5 else ""
        return (f"{len(self.repeated)} seed line(s) appear more than once with the same result ({shown}{more}; an "
                "edited or concatenated ledger?): each seed counted once")

    @property
    def commits(self) -> list[str]:
        """The commits the ledger was written at: its header's, then its seed lines' (each once)."""
        found = [str(self.header.get("commit"))] + [str(line.get("commit")) for line in self.seeds.values()]
        return list(dict.fromkeys(found))


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is ("a directory", "a FIFO (named pipe)", ...); None for a regular one."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def refuse_special(path: Path, flag: str) -> None:
    """A ledger is a regular file: ``--ledger``/``--resume`` naming anything else (a directory, a FIFO that would
    block the open, a device read forever) is refused before it is opened, naming it (symlinks followed)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # missing (a new ledger) or unreadable: the open says why
    kind = special_kind(mode)
    if kind is not None:
        raise LedgerError(f"{flag} {path}: is {kind}, not a regular file; a ledger is a file (name a new one, or "
                          "the .jsonl ledger explore wrote)")


def _open_regular(path: Path, flags: int, flag: str) -> int:
    """``os.open`` without blocking (a FIFO put there since ``refuse_special``), refused unless a regular file."""
    refuse_special(path, flag)
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    kind = special_kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise LedgerError(f"{flag} {path}: is {kind}, not a regular file; a ledger is a file")
    os.set_blocking(fd, True)
    return fd


def read_ledger(path: Path) -> LedgerContents:
    """The header and seed lines of a ledger; a last line cut short (a killed explore) is left out."""
    try:
        fd = _open_regular(path, os.O_RDONLY, "--resume")
    except OSError as e:
        raise LedgerError(f"--resume {path}: cannot read the ledger ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as file:
        try:
            return parse_ledger(path, file)
        except OSError as e:
            raise LedgerError(f"--resume {path}: cannot read the ledger ({e.strerror or e})") from None


def parse_ledger(path: Path, file: IO[bytes]) -> LedgerContents:
    """Parse a ledger from ``file`` line by line (each at most ``MAX_LINE_BYTES``), from where it stands."""
    header: dict[str, Any] | None = None
    seeds: dict[int, dict[str, Any]] = {}
    where: dict[int, int] = {}
    repeated: list[tuple[int, int, int]] = []
    cut = 0
    total = 0
    number = 0
    while True:
        line = file.readline(MAX_LINE_BYTES + 1)
        if not line:
            break
        number += 1
        total += len(line)
        last = not line.endswith(b"\n")  # no newline after it: the end of the file
        if len(line) > MAX_LINE_BYTES:
            if header is None:
                raise LedgerError(f"--resume {path}: not an explore ledger (its first line is not JSON, and longer "
                                  f"than {MAX_LINE_BYTES} bytes)")
            raise LedgerError(f"--resume {path}: line {number} is longer than {MAX_LINE_BYTES} bytes (explore never "
                              "writes it): not an explore ledger's line")
        line = line.rstrip(b"\n")
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            if header is None:  # a first line that is no JSON (binary, gzip, text): not a cut-short ledger
                raise LedgerError(f"--resume {path}: not an explore ledger (its first line is not JSON)") from None
            if last:  # no newline after it: the write was cut short
                cut = len(line)
                continue
            raise LedgerError(f"--resume {path}: line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise LedgerError(f"--resume {path}: line {number} is not a JSON object")
        if header is None:
            if record.get("ledger") != LEDGER_KIND:
                raise LedgerError(f"--resume {path}: not an explore ledger (its first line has no "
                                  f"\"ledger\": \"{LEDGER_KIND}\")")
            version = record.get("version", LEDGER_VERSION)
            if type(version) is not int or version != LEDGER_VERSION:
                raise LedgerError(f"--resume {path}: the ledger is version {version!r}; this explore reads version "
                                  f"{LEDGER_VERSION} ledgers (written by another harness, or edited?); start a new "
                                  "one (drop --resume)")
            _check_header_hash(path, record)
            header = record
            continue
        seed = record.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or record.get("options_hash") != header.get("options_hash"):
            raise LedgerError(f"--resume {path}: line {number} is not a seed of this ledger's sweep "
                              "(no seed, or another options hash)")
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise LedgerError(f"--resume {path}: line {number} has seed {seed}, outside {SEED_RANGE[0]}..2**63-1 "
                              "(explore never writes it: an edited ledger?)")
        before = seeds.get(seed)
        if before is not None and _compared(before) != _compared(record) and before.get("commit") == record.get("commit"):
            raise LedgerError(f"--resume {path}: line {number} gives seed {seed} another result than line "
                              f"{where[seed]} at the same commit (verdict {before.get('verdict')} there, "
                              f"{record.get('verdict')} here): an edited ledger? start a new one")
        if before is not None and before.get("commit") == record.get("commit"):
            repeated.append((seed, where[seed], number))  # the same result twice: said (``repeats``), counted once
        seeds[seed] = record  # a later line of another commit (--resume-other-commit ran it again) wins
        where[seed] = number
    if header is None:
        raise LedgerError(f"--resume {path}: the ledger is empty")
    return LedgerContents(header, seeds, total - cut, cut, repeated)


def _check_header_hash(path: Path, header: dict[str, Any]) -> None:
    """The header's ``sweep`` (its options) hashed again must give its ``options_hash``: else the options were
    edited and the hash kept, and the header no longer says what the seeds were run with."""
    sweep = header.get("sweep")
    if sweep is None:
        return  # a ledger from before the header recorded its options: only the hash to go by
    try:
        again = hashlib.sha256(orjson.dumps(sweep, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    except TypeError:
        again = None
    if again != header.get("options_hash"):
        raise LedgerError(f"--resume {path}: its first line's options do not give its options_hash "
                          f"{header.get('options_hash')!r} (they hash to {again!r}): an edited ledger? start a new "
                          "one (drop --resume)")


def _compared(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in UNCOMPARED}


def check_commit(path: Path, contents: LedgerContents, current: str, other_commit: bool) -> dict[int, dict[str, Any]]:
    """The seeds of the ledger that need not run again at commit ``current``.

    A ledger written at another commit (``+dirty`` counts as another unless identical) is refused,
    naming both, unless ``other_commit``: then its valid seeds of other commits are kept and the
    others (failures, unknowns) run again, as their verdicts may not hold at this commit.
    """
    others = [c for c in contents.commits if c != current]
    if not others:
        return dict(contents.seeds)
    if not other_commit:
        raise LedgerError(f"--resume {path}: the ledger was written at commit {', '.join(str(c or 'none recorded') for c in others)}, this checkout is "
                          f"at {current}: its verdicts may not hold here; start a new ledger (drop --resume), or "
                          "add --resume-other-commit to keep its valid seeds and run its failures again")
    return {seed: line for seed, line in contents.seeds.items()
            if line.get("commit") == current or line.get("verdict") == "valid"}


def check_resumable(path: Path, contents: LedgerContents, base: SweepOptions, vary_workload: bool) -> None:
    """Refuse a ledger written with other options, naming them."""
    mine = sweep_options(base, vary_workload)
    if contents.header.get("options_hash") == options_hash(base, vary_workload):
        return
    theirs = contents.header.get("sweep") or {}
    differ = []
    for key in sorted(set(mine["options"]) | set(theirs.get("options") or {})):
        a, b = (theirs.get("options") or {}).get(key), mine["options"].get(key)
        if a != b:
            differ.append(f"{key} {a!r} in the ledger, {b!r} now")
    if theirs.get("vary_workload") != mine["vary_workload"]:
        differ.append(f"--vary-workload {theirs.get('vary_workload')} in the ledger, {mine['vary_workload']} now")
    raise LedgerError(f"--resume {path}: the ledger was written with other options (options hash "
                      f"{contents.header.get('options_hash')}, these flags give {options_hash(base, vary_workload)}): "
                      + ("; ".join(differ) or "see its first line") + "; give the flags it was made with")


class LedgerWriter:
    """Appends seed lines to a ledger file, flushing each (writing the header first when the file is new).

    The file is locked (``flock``, exclusive) until ``close``: a second explore on it is refused.
    ``resume=True`` opens an existing ledger, reads it (``contents``) and drops a last line cut short.
    """

    def __init__(self, path: Path, base: SweepOptions, vary_workload: bool, commit_: str, *,
                 resume: bool = False) -> None:
        self.path = path
        self.hash = options_hash(base, vary_workload)
        self.commit = commit_
        self.contents: LedgerContents | None = None
        self.written = 0
        """Seed lines this writer appended."""
        self.failed: LedgerWriteError | None = None
        """Set once a write failed: nothing more is written (the lines before it are whole)."""
        if not resume:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LedgerError(f"--ledger {path}: cannot make its directory ({e.strerror or e})") from None
        created = not resume and not path.exists()
        flag = "--resume" if resume else "--ledger"
        try:  # unbuffered: a failed write leaves no bytes behind to be written again at close
            fd = _open_regular(path, os.O_RDWR if resume else os.O_WRONLY | os.O_APPEND | os.O_CREAT, flag)
            self._file: IO[bytes] = os.fdopen(fd, "r+b" if resume else "ab", buffering=0)
        except OSError as e:
            raise LedgerError(f"{flag} {path}: cannot open the ledger ({e.strerror or e})") from None
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            raise LedgerError(f"{path}: another explore is using this ledger (it holds its lock); wait for it to "
                              "end, or give another --ledger") from None
        try:
            if resume:
                self._continue(path)
            elif self._file.seek(0, 2) == 0:
                self._write({"ledger": LEDGER_KIND, "version": LEDGER_VERSION, "options_hash": self.hash,
                             "sweep": sweep_options(base, vary_workload), "commit": commit_,
                             "started": datetime.now(UTC).isoformat(timespec="seconds")})
        except BaseException:
            self._file.close()
            if created and self.failed is not None:  # no header-only (or empty) ledger left behind
                with contextlib.suppress(OSError):
                    path.unlink()
            raise

    def _continue(self, path: Path) -> None:
        """Read the ledger being resumed, drop a last line cut short and end the last line with its newline."""
        fd = self._file.fileno()
        try:  # read through a buffered reader of its own (line by line, bounded), at the same open file
            with io.BufferedReader(io.FileIO(os.dup(fd), "rb")) as reader:
                self.contents = parse_ledger(path, reader)
        except OSError as e:
            raise LedgerError(f"--resume {path}: cannot read the ledger ({e.strerror or e})") from None
        try:
            if self.contents.cut:  # a killed explore's last write: appending after it would break the file
                self._file.truncate(self.contents.complete)
            end = self._file.seek(0, 2)
            if end and os.pread(fd, 1, end - 1) != b"\n":
                self._file.write(b"\n")  # a complete last line without its newline
        except OSError as e:  # a full disk, or a ledger that can be read but not written
            raise LedgerError(f"--resume {path}: cannot continue the ledger ({e.strerror or e})") from None

    def _write(self, record: dict[str, Any]) -> None:
        """Append one line, whole or not at all: a write that fails (a full disk, ``/dev/full``) is cut back to
        the end of the last whole line and raised as a ``LedgerWriteError``, and nothing is written after it."""
        if self.failed is not None:
            raise self.failed
        data = orjson.dumps(record) + b"\n"
        start = self._file.tell() if self._file.seekable() else 0
        try:
            done = 0
            while done < len(data):
                done += self._file.write(data[done:]) or 0
        except OSError as e:
            with contextlib.suppress(OSError):  # the freed blocks make room for nothing but the cut
                if self._file.seekable():
                    self._file.truncate(start)
                    self._file.seek(start)
            self.failed = LedgerWriteError(self.path, e, self.written)
            raise self.failed from None
        if record.get("ledger") != LEDGER_KIND:
            self.written += 1

    def add(self, report: TrialReport) -> dict[str, Any]:
        line = seed_line(report, self.hash, self.commit)
        self._write(line)
        return line

    def close(self) -> None:
        self._file.close()  # and with it the lock


W = TypeVar("W", bound=LedgerWriter)


def open_ledger(writer: type[W], base: SweepOptions, vary_workload: bool, here: str, *, out: str,
                resume: str | None, ledger: str | None, other_commit: bool, command: str,
                refuse: Callable[[str], Exception]) -> tuple[Path, W | None, dict[int, dict[str, Any]]]:
    """A sweep's ledger path, its writer when resuming (None: the caller creates it once the seeds have
    somewhere to run, so no header-only ledger is left behind) and the seed lines it already holds.

    ``--resume LEDGER`` is locked and read first, so a ledger the sweep cannot continue (other options,
    another commit without ``other_commit``) is refused before anything runs; a last line cut short is
    dropped and said on stderr, after ``command``. ``--ledger PATH`` that exists and is not empty is
    refused with ``refuse``'s error; without either, a new path under ``out`` (`default_ledger_path`).
    """
    known: dict[int, dict[str, Any]] = {}
    if resume is not None:
        path = Path(resume)
        opened = writer(path, base, vary_workload, here, resume=True)
        try:
            assert opened.contents is not None
            check_resumable(path, opened.contents, base, vary_workload)
            known = check_commit(path, opened.contents, here, other_commit)
        except BaseException:
            opened.close()
            raise
        repeats = opened.contents.repeats()
        if repeats:
            print(f"{command}: warning: --resume {path}: {repeats}", file=sys.stderr, flush=True)
        if opened.contents.cut:
            print(f"{command}: the ledger's last line was cut short ({opened.contents.cut} bytes, a killed explore?): "
                  "dropped it from the file; that seed runs again", file=sys.stderr, flush=True)
        return path, opened, known
    if ledger is not None:
        path = Path(ledger)
        refuse_special(path, "--ledger")  # a directory was "the file exists; continue it with --resume DIR"
        if path.exists() and path.stat().st_size:
            raise refuse(f"--ledger {path}: the file exists; continue it with --resume {path}, or name a new file")
        return path, None, known
    return default_ledger_path(Path(out), options_hash(base, vary_workload)), None, known


def default_ledger_path(out: Path, hash_: str) -> Path:
    """``<out>/explore-ledgers/<UTC time>-<options hash>.jsonl``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / "explore-ledgers" / f"{stamp}-{hash_[:8]}.jsonl"
    n = 1
    while path.exists():  # two explores started in the same second
        n += 1
        path = out / "explore-ledgers" / f"{stamp}-{hash_[:8]}-{n}.jsonl"
    return path


# -- findings -----------------------------------------------------------------------------------


@attrs.frozen
class Finding:
    """Failing seeds of one signature: one bug, many witnesses."""

    signature: str
    seeds: tuple[int, ...]
    anomalies: dict[str, int]


def findings(lines: Iterable[dict[str, Any]]) -> list[Finding]:
    """Invalid seeds grouped by signature, the group with the smallest seed first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in sorted(lines, key=lambda x: x["seed"]):
        if line.get("verdict") == "invalid":
            groups.setdefault(str(line.get("signature")), []).append(line)
    out = []
    for sig, members in groups.items():
        total: Counter[str] = Counter()
        for m in members:
            total.update(m.get("anomalies") or {})
        out.append(Finding(sig, tuple(m["seed"] for m in members), dict(total.most_common())))
    return out


def summary_lines(lines: list[dict[str, Any]]) -> list[str]:
    """The sweep's summary: verdicts, findings by signature, whether the faults bit."""
    verdicts = Counter(line.get("verdict") for line in lines)
    rows = [f"explore summary: {len(lines)} seed(s): {verdicts['valid']} valid, {verdicts['invalid']} invalid, "
            f"{verdicts['unknown']} unknown"]
    groups = findings(lines)
    if groups:
        rows.append(f"  {len(groups)} finding(s) by signature (anomaly types | fault kinds involved):")
        for f in groups:
            shown = ", ".join(map(str, f.seeds[:8])) + (" ..." if len(f.seeds) > 8 else "")
            rows.append(f"    {f.signature}: {len(f.seeds)} witness seed(s) ({shown})")
    with_faults = [line for line in lines if (line.get("faults") or {}).get("windows", 0) > 0]
    inert = [line for line in with_faults if line.get("faults_changed_nothing")]
    if not with_faults:
        rows.append("  faults: no seed had a fault window")
    elif len(inert) == len(with_faults):
        rows.append(f"  WARNING: THE FAULTS CHANGED NOTHING in every one of the {len(with_faults)} seed(s) with "
                    "fault windows: this sweep tested the fault-free path only (a longer --fault-interval, "
                    "another --nemesis?)")
    else:
        rows.append(f"  faults changed nothing in {len(inert)} of {len(with_faults)} seed(s) with fault windows")
    return rows
