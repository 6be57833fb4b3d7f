"""Reading and validating histories: the one door every checker comes in through.

A history is a JSON-lines file (docs/HISTORY.md) or a Jepsen EDN file. Both are turned into the same
plain dicts, validated as they stream past, so a malformed file stops with a `HistoryError` that
names the file, the line and the field instead of a traceback from deep inside a checker.

Validation is strict on what every workload shares (``process``, ``type``, ``f``, ``index``,
``time``) and on the pairing rule (one completion per invocation, by the same process), and only
as strict on ``key`` / ``value`` as the key-value workload needs, so that histories of registers,
locks or list-append from other systems still load. A history without a header whose operations
are a set's or a counter's (``add``, ``remove``, ``incr``, ``decr``, a read of a list nothing wrote)
is refused with the header line it forgot, rather than judged as a register; so is one of Maelstrom's
``echo`` or ``generate`` (unique-ids) operations.

Speed matters: the checker's budget is twice the cost of ``json.loads`` per line, so the JSON-lines
path parses with orjson and validates with a handful of dictionary look-ups per event.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import orjson

from checker.json_numbers import NumberError, loads_exact
from checker.timelimit import EVERY, READING, TimeLimit, TimeLimitExceeded
from checker.values import vkey
from checker.workloads import (
    DEFAULT_HEADER,
    ShapeChecker,
    check_no_context,
    is_header,
    parse_header,
    read_header,
)

TYPES = frozenset(("invoke", "ok", "fail", "info"))
KV_FS = frozenset(("put", "get", "delete"))
#: Operations only a set or counter history has: in a history without a header they mean the header was forgotten.
WORKLOAD_FS = {"add": "set", "remove": "set", "incr": "counter", "decr": "counter", "echo": "echo",
               "generate": "unique-ids"}
_WORKLOAD_OPS = {"set": "add/remove/read are set operations", "counter": "incr/decr/read are counter operations",
                 "echo": "echo is the echo workload's operation",
                 "generate": "generate is the unique-ids workload's operation"}
NEMESIS = "nemesis"
_LONG_DIGITS = re.compile(rb"-?\d{300,}")  # an integer orjson reads as infinity (beyond float range)
#: A digit run that may be an integer orjson cannot hold (beyond [-2**63, 2**64 - 1]: 19 digits or more).
_INEXACT_DIGITS = re.compile(rb"\d{19}")
#: Fields whose values a verdict compares: kept exact when the line is read again by the stdlib.
_EXACT_FIELDS = ("value", "key")
#: The fields of an event docs/HISTORY.md defines; others are allowed (Jepsen histories carry many),
#: but one that is a near miss of these is said once (`field_note`): a typo would be ignored silently.
EVENT_FIELDS = ("index", "time", "process", "type", "f", "key", "value", "node", "error", "final", "meta",
                "context_from")
_EVENT_FIELDS = frozenset(EVENT_FIELDS)
#: A history of at least this many timed events that all fall within the first millisecond is said
#: to look like seconds (or milliseconds), not the nanoseconds docs/HISTORY.md asks for.
SECONDS_LIKE_EVENTS = 20
SECONDS_LIKE_NS = 1_000_000
MAX_JSON_DEPTH = 1_000
"""Arrays and objects a line may nest: orjson 3.10 and later refuse lines nested past 1,024 levels, older
versions read far deeper (and overflow the C stack past about 100,000: a segfault); one limit below both,
checked before orjson sees the line, reads a history the same whatever orjson is installed."""
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def too_deep(raw: bytes) -> bool:
    """Whether a JSON line nests arrays and objects deeper than `MAX_JSON_DEPTH` (only a line that
    long can; brackets inside strings do not count)."""
    if len(raw) <= 2 * MAX_JSON_DEPTH or raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for b in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", raw)):
        depth += 1 if b in (b"[", b"{") else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


class HistoryError(ValueError):
    """A history that cannot be read: says where (file, line, field) and what is wrong."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        if line is None and not field:  # about the file as a whole (missing, empty, ...): nothing more to point at
            super().__init__(f"{self.path}: {problem}")
            return
        where = f"line {line}" if line is not None else "(whole file)"
        what = f"field {field!r}" if field else "(no field)"
        super().__init__(f"{self.path}: {where}: {what}: {problem}")


def is_edn_path(path: str | Path) -> bool:
    """EDN is chosen by file name, because sniffing content would misread a JSON history."""
    return str(path).endswith(".edn")


def resolve_history(path: str | Path) -> tuple[Path, Path | None]:
    """(history file, run directory or None) for a run directory or a history file argument."""
    p = Path(path)
    if p.is_dir():
        for name in ("history.jsonl", "history.edn"):
            if (p / name).is_file():
                return p / name, p
        raise HistoryError(p, None, None, "run directory has no history.jsonl (or history.edn)")
    if not p.exists():
        raise HistoryError(p, None, None, "no such file")
    return p, None


def minikeydb_run(history: str | Path) -> bool:
    """Whether ``history`` is a MinikeyDB harness run's: a header whose ``meta.system`` is
    ``"minikeydb"``, or, when the header names no system, a run.json beside it (a header naming
    another system, ``"maelstrom"`` say, is not MinikeyDB's whatever lies beside it). Only then do summaries and reports speak of MinikeyDB's
    settings, harness and journal; anybody else's history is judged in its own words."""
    p = Path(history)
    try:
        system = read_header(p).system
    except HistoryError:
        system = None
    if system is not None:  # the header says whose run it is (a Maelstrom run has a run.json too)
        return system == "minikeydb"
    return (p.parent / "run.json").is_file()


def iter_events(
    path: str | Path, lines: list[int] | None = None, limit: TimeLimit | None = None,
    notes: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream the validated events of a history file, one dict at a time, in file order.

    With ``lines``, the line number of each event is appended to it as the event is yielded, so
    that a later error about an event can name its line; with ``notes``, what `validate` has to say
    about a field name that looks misspelt is appended to it.

    Memory stays flat for JSON-lines files however long the run was; EDN files are parsed
    whole (they are small in practice and their values may need a file-wide look to decode).
    With ``limit``, a file (JSON lines or EDN) is read only until it runs out: `TimeLimitExceeded`
    then names the line reached.
    """
    from checker.follow import open_input

    p = Path(path)
    try:
        fh = open_input(p)  # closed in the finally below, generator-friendly (a growing file: checker.follow)
    except OSError as e:
        raise HistoryError(p, None, None, f"cannot open: {e.strerror or e}") from None
    try:
        if is_edn_path(p):
            from checker.edn import read_edn_events

            try:
                raw = fh.read()
            except OSError as e:
                raise HistoryError(p, None, None, f"cannot read: {e.strerror or e}") from None
            tick = None if limit is None else _edn_tick(p, limit)
            events = validate(read_edn_events(raw, p, tick), p, lines, notes)
        else:
            events = validate(_jsonl_lines(fh, p, limit), p, lines, notes)
        count = 0
        for event in events:
            count += 1
            yield event
        if count == 0:
            raise HistoryError(p, None, None, "the history is empty: no events")
    finally:
        fh.close()


def read_events(
    path: str | Path, lines: list[int] | None = None, limit: TimeLimit | None = None,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """All validated events of a history file, in file order, with ``index`` filled in
    (and, with ``lines``, each event's line number appended to it; `iter_events` for ``limit``)."""
    return list(iter_events(path, lines, limit, notes))


def _edn_tick(path: Path, limit: TimeLimit) -> Callable[[int], None]:
    """What the EDN parser calls every few thousand tokens: raise once ``limit`` has run out."""

    def tick(line: int) -> None:
        if limit.passed():
            raise limit.exceeded(READING, f"line {line:,} of {path} (EDN, parsed whole)")

    return tick


def _out_of_time(fh: Any, path: Path, lineno: int, limit: TimeLimit) -> TimeLimitExceeded:
    """The error for a limit that ran out at line `lineno`: how far into the file the reading got."""
    try:
        done, size = fh.tell(), Path(path).stat().st_size
        where = f"line {lineno:,}, {done / 1e6:.1f} of {size / 1e6:.1f} MB of {path}"
    except (OSError, ValueError):
        where = f"line {lineno:,} of {path}"
    return limit.exceeded(READING, where)


MAX_LINE_BYTES = 8 << 20
"""The longest line a JSON-lines history may hold (8 MiB, as a journal's): MinikeyDB's keys are at most
1 KiB and its values 32 KiB, and a set read of 100,000 elements is a few MiB. A longer line is refused
(file and line named) as soon as the reading passes the limit, never held whole: an endless line
(``check /dev/zero``) must not take the machine's memory."""
PIECE_BYTES = 1 << 20
"""Bytes read at a time: a line is held at most this much beyond the limit."""


class BoundedLines:
    """The lines of a binary file, without their ``\n``, read ``PIECE_BYTES`` at a time; a line longer than
    ``max_line`` raises `HistoryError` (file, line) before it is held whole. ``unterminated`` is true once
    the last line, which has no ``\n``, has been handed out. Works on anything with ``read(n)`` (a file,
    a device, a pipe, `checker.follow.GrowingFile`)."""

    def __init__(self, fh: Any, path: str | Path, max_line: int = MAX_LINE_BYTES) -> None:
        self.fh = fh
        self.path = path
        self.max_line = max_line
        self.unterminated = False

    def __iter__(self) -> Iterator[bytes]:
        return itertools.chain.from_iterable(self._pieces())  # lines handed out in C, a piece's list at a time

    def _pieces(self) -> Iterator[list[bytes]]:
        """Lists of whole lines, a piece read at a time."""
        read, max_line = self.fh.read, self.max_line
        rest: list[bytes] = []  # the pieces of a line not yet ended
        held = 0
        lineno = 0
        while data := read(PIECE_BYTES):
            if rest:
                nl = data.find(b"\n")
                if nl < 0:
                    rest.append(data)
                    held += len(data)
                    if held > max_line:
                        raise self._too_long(lineno + 1, b"".join(rest))
                    continue
                rest.append(data[:nl])
                line = b"".join(rest)
                rest, held = [], 0
                if len(line) > max_line:
                    raise self._too_long(lineno + 1, line)
                lineno += 1
                yield [line]
                data = data[nl + 1:]
            lines = data.split(b"\n")
            last = lines.pop()
            if len(data) > max_line:  # (a piece is at most PIECE_BYTES: only a smaller limit gets here)
                for line in lines:
                    if len(line) > max_line:
                        raise self._too_long(lineno + 1, line)
                    lineno += 1
            else:
                lineno += len(lines)
            yield lines
            if last:
                if len(last) > max_line:
                    raise self._too_long(lineno + 1, last)
                rest, held = [last], len(last)
        if rest:
            self.unterminated = True
            yield [b"".join(rest)]

    def _too_long(self, lineno: int, head: bytes) -> HistoryError:
        cr = _CR_ENDINGS if b"\r" in head[:PIECE_BYTES].rstrip(b"\r") else ""
        return HistoryError(self.path, lineno, "(json)", f"the line is longer than {self.max_line:,} bytes "
                            f"({self.max_line >> 20} MiB, the limit of a history line){cr}; it was not read further")


_CR_ENDINGS = (" (the file uses CR line endings, as classic Mac OS did: a JSON-lines history's lines end in LF "
               "or CR LF)")


def _jsonl_lines(fh: Any, path: Path, limit: TimeLimit | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line of a JSON-lines file (until
    ``limit`` runs out: `TimeLimitExceeded`, looked at every few thousand lines). Lines are read in
    bounded pieces (`BoundedLines`): one longer than `MAX_LINE_BYTES` is refused."""
    loads = orjson.loads
    lineno = 0
    source = BoundedLines(fh, path)
    try:
        for raw in source:
            lineno += 1
            if not lineno & EVERY and limit is not None and limit.passed():
                raise _out_of_time(fh, path, lineno, limit)
            if not raw.strip():
                continue
            if len(raw) > 2 * MAX_JSON_DEPTH and too_deep(raw):
                raise HistoryError(path, lineno, "(json)", f"nested deeper than {MAX_JSON_DEPTH} levels")
            exact = False
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError as e:
                why: ValueError = e
                if "infinity" in str(e):  # a number beyond a double's range: an integer is read exactly
                    try:
                        obj = loads_exact(raw)
                    except NumberError as n:
                        big = _LONG_DIGITS.search(raw)
                        at = f" at column {big.start() + 1}" if big is not None and "integer" in str(n) else ""
                        raise HistoryError(path, lineno, "(json)", f"{n}{at}") from None
                    except ValueError as other:  # not JSON for another reason (a lone surrogate): said below
                        why = other
                    else:
                        exact = True
                        _fits_64_bits(path, lineno, obj)
                if not exact:
                    _refuse(path, lineno, raw, why, source.unterminated)
            if type(obj) is dict and not exact:
                # orjson reads an integer outside [-2**63, 2**64 - 1] as a float, top level or nested: such a
                # line is read again, exactly. Ordinary lines (a string, int or null value) pay two look-ups.
                v = obj.get("value")
                tv = type(v)
                if tv is not str and v is not None and tv is not int:
                    if (tv is float and _big_integer(v)) or (
                        (tv is list or tv is dict) and _INEXACT_DIGITS.search(raw) is not None
                    ):
                        obj = _exact_integers(raw, obj)
                k = obj.get("key")
                if type(k) is float and _big_integer(k):
                    obj = _exact_integers(raw, obj)
            yield lineno, obj
    except OSError as e:
        raise HistoryError(path, lineno + 1, None, f"cannot read: {e.strerror or e}") from None


def _fits_64_bits(path: Path, lineno: int, obj: Any) -> None:
    """``time``, ``index`` and ``process`` of an exactly read line must fit in 64 bits, as orjson's reading
    requires of every other line (only the compared fields, value and key, may be any integer)."""
    if type(obj) is not dict:
        return
    for name in ("time", "index", "process"):
        v = obj.get(name)
        if type(v) is int and not -(2**63) <= v < 2**64:
            raise HistoryError(path, lineno, name, f"expected a 64-bit integer, got {_describe(v)}")


def _refuse(path: Path, lineno: int, raw: bytes, e: ValueError, last: bool = False) -> NoReturn:
    """The `HistoryError` for a line (without its newline; ``last``: the file's last, unterminated) that is
    not JSON, saying where and why."""
    bad_byte = _invalid_utf8(raw) if "UTF-8" in str(e) else None
    if bad_byte is not None:
        problem = bad_byte
    elif b"\r" in raw.rstrip(b"\r"):  # a CR between two JSON values: the lines end in CR alone
        problem = f"not valid JSON ({_json_reason(e)}){_CR_ENDINGS}"
    elif last:
        problem = f"truncated or malformed JSON on the last line ({_json_reason(e)})"
    else:
        problem = f"not valid JSON ({_json_reason(e)})"
    raise HistoryError(path, lineno, "(json)", problem) from None


def _json_reason(e: ValueError) -> str:
    """The parser's complaint with its column: its own "line 1 column 102 (char 101)" is about the one
    line it was given, and beside the file's line number it read as a second, contradicting line."""
    if isinstance(e, json.JSONDecodeError) and e.lineno == 1:
        return f"{e.msg} at column {e.colno}"
    return str(e)


def _invalid_utf8(raw: bytes) -> str | None:
    """Where a line is not UTF-8, by byte column (orjson's message says column 1 and speaks of surrogates)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as u:
        return f"not valid UTF-8: byte 0x{raw[u.start]:02x} at column {u.start + 1} ({u.reason})"
    return None


#: The operations that may be final reads (``final: true``): a register's get/read, a set's or counter's read.
_READ_FS = frozenset(("get", "read"))
#: Register operations of a key, none of which may be invoked after a final read of the key began.
_KEYED_FS = frozenset(("put", "get", "delete", "read", "write", "cas"))


def _a(word: str) -> str:
    """The article for ``word``: "an add", "a put"."""
    return "an" if word[:1] in "aeiou" else "a"


def _short(key: Any) -> str:
    """A key for a message: its repr, at most 60 characters."""
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(v: object) -> str:
    return "null" if v is None else type(v).__name__


def _finite(x: float) -> bool:
    return x - x == 0.0  # false for inf and nan


def _big_integer(x: float) -> bool:
    """A float that is most likely a JSON integer beyond 64 bits (orjson reads those, and those below
    -2**63, as floats)."""
    return x.is_integer() and abs(x) >= 2.0**63


def _exact_integers(raw: bytes, obj: dict[str, Any]) -> dict[str, Any]:
    """The line parsed again by the standard library, which keeps integers beyond 64 bits exact.

    orjson reads such an integer as a float, so two different 24-digit values could compare equal;
    only lines whose value or key looks like one pay for the second parse. Only the compared fields
    (`_EXACT_FIELDS`) are taken from it: ``time``, ``index`` and ``process`` must fit in 64 bits
    and keep orjson's reading, which validation refuses when they do not.
    """
    try:
        exact = json.loads(raw)
    except ValueError:
        return obj
    if type(exact) is not dict:
        return obj
    for name in _EXACT_FIELDS:
        if name in exact:
            obj[name] = exact[name]
    return obj


def _describe(v: object) -> str:
    """A field's value for a message, saying the truth about numbers the JSON reader had to approximate."""
    if type(v) is float:
        if not _finite(v):
            return f"{v!r} (not a finite number)"
        if _big_integer(v):
            return f"a number too large for a 64-bit integer ({v!r}: {len(str(int(abs(v))))} digits)"
    if type(v) is int and abs(v) >= 2**64:
        return f"an integer too large ({len(str(abs(v)))} digits)"
    text = repr(v)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{_type_name(v)} {text}"


def _workload_hint(path: str | Path, workload: str) -> str:
    """How to say a history is a set or counter history: its header line (JSON lines only)."""
    ops = _WORKLOAD_OPS["generate" if workload == "unique-ids" else workload]
    header = f'{{"history": 1, "workload": "{workload}"}}'
    if is_edn_path(path):
        return (f"{ops}, which an EDN history (read as a register history: it has no header) cannot declare: "
                f"write it as JSON lines starting with the header line {header} (docs/HISTORY.md)")
    return f"{ops}: start the file with the header line {header} (docs/HISTORY.md)"


def _sibling_hint(path: str | Path) -> str:
    if is_edn_path(path):
        return " (a get of a list of siblings needs a JSON-lines history with a header line, docs/HISTORY.md)"
    return (' (a get returning a list of siblings: start the file with the header line '
            '{"history": 1, "conflict": "siblings"}, docs/HISTORY.md)')


def near_miss(name: Any) -> str | None:
    """The known event field that ``name`` (not one) looks like a misspelling of, or None."""
    if type(name) is not str or name in _EVENT_FIELDS:
        return None
    match = difflib.get_close_matches(name.lower(), EVENT_FIELDS, n=1, cutoff=0.75)
    if not match or name.lower() in (match[0] + "s", match[0] + "es"):
        return None  # a plural of a field ('nodes' of a nemesis event) is a field of its own, not a typo
    return match[0]


def validate(
    items: Iterable[tuple[int, Any]], path: str | Path, lines: list[int] | None = None,
    notes: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """`_validate`, and two things said about misspelt field names: each unknown field that is a
    near miss of a known one (`near_miss`, absent from that event), once per name, as a note in
    ``notes`` (the verdict does not change); and a required field reported missing while the event
    has a near miss of it is named in the error ("line 3 has 'vaule'")."""
    last: list[Any] = [None, None]
    seen: set[str] = set()

    def tap() -> Iterator[tuple[int, Any]]:
        for line, ev in items:
            last[0], last[1] = line, ev
            if type(ev) is not dict:
                yield line, ev
                continue
            if not _EVENT_FIELDS.issuperset(ev):
                for name in ev:
                    if name in seen or name in _EVENT_FIELDS:
                        continue
                    seen.add(name)
                    known = near_miss(name)
                    if known is not None and known not in ev:
                        say(f"{path}: line {line}: field {name!r} is not a field of the history "
                            f"format; did you mean {known!r}?")
            t = ev.get("time")
            if type(t) is float and _finite(t) and t == int(t):
                t = int(t)  # a whole float (0.0, 1.0, ...) counts as its integer for the below-1-ms rule
            if type(t) is int:
                if t > 0:
                    times[0] += 1
                    times[1] = max(times[1], t)
            elif type(t) is float and not times[2] and _finite(t) and t != int(t):
                times[2] = True
                say(f"{path}: line {line}: 'time' {t!r} is not a whole number: times are integer "
                    "nanoseconds (docs/HISTORY.md) and a fraction is cut off; these times look like seconds "
                    "rather than nanoseconds")
            yield line, ev

    def say(note: str) -> None:
        if notes is not None:
            notes.append(note)

    times = [0, 0, False]  # events with an integer time, the largest, whether a fraction was said
    try:
        yield from _validate(tap(), path, lines)
        if times[0] >= SECONDS_LIKE_EVENTS and 0 < times[1] < SECONDS_LIKE_NS and not times[2]:
            say(f"{path}: every time is below {SECONDS_LIKE_NS:,} ns (1 ms) across {times[0]:,} events: times are "
                "integer nanoseconds (docs/HISTORY.md), and these look like seconds or milliseconds rather than "
                "nanoseconds")
    except HistoryError as e:
        ev = last[1]
        if e.field and type(ev) is dict and e.field not in ev and e.line == last[0]:
            near = [k for k in ev if near_miss(k) == e.field]
            if near:
                raise HistoryError(e.path, e.line, e.field, f"{e.problem} (field {e.field!r} missing; "
                                   f"line {e.line} has {near[0]!r})") from None
        raise


def _validate(
    items: Iterable[tuple[int, Any]], path: str | Path, lines: list[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Check each (line, object) pair and yield it as an event dict with ``index`` set.

    Enforces the pairing rule of docs/HISTORY.md: a client process completes exactly the operation it
    invoked (same ``f``, same ``key``) before invoking again. Nemesis events are not paired,
    because MinikeyDB's nemesis writes only ``info`` edges and Jepsen's writes invoke/info pairs.

    A header line (``{"history": 1, ...}``, docs/HISTORY.md) may come first: it is not an event
    and is not yielded; when it declares a workload or conflict mode with shapes of its own, each
    event is validated against them (`checker.workloads`) instead of the register's.
    """
    shapes: ShapeChecker | None = None
    declared = DEFAULT_HEADER
    first = True
    pending: dict[Any, tuple[str, Any, int, Any]] = {}
    position = 0
    last_index = -1
    types = TYPES
    kv_fs = KV_FS
    lists_written = False  # a register history: has a write or append put a list into some key?
    indexed = 0  # the line of the first event with an index (0: none yet)
    unindexed: int | None = None  # the line of the first event without one
    final_began: set[Any] = set()  # register histories: keys (`vkey`) whose final reads have begun
    for line, ev in items:
        if type(ev) is not dict:
            raise HistoryError(path, line, "(event)", f"expected a JSON object, got {_type_name(ev)}")
        if first and "history" in ev and "process" in ev:
            raise HistoryError(path, line, "process", "a header line (it has 'history') has no 'process'; "
                               "an event has no 'history'")
        if is_header(ev):
            if not first:
                raise HistoryError(path, line, "history", "a header line is allowed only as the first line")
            first = False
            header = parse_header(ev, path, line)
            shapes = ShapeChecker(header, path) if header.rule is not None else None
            declared = header
            continue
        first = False
        # --- fields every workload shares -------------------------------------------------
        idx = ev.get("index")
        if idx is None:
            if indexed:
                raise HistoryError(path, line, "index", f"line {line} has no 'index' but line {indexed} has one: "
                                   "give every event an index, or none (the checker then numbers them)")
            if unindexed is None:
                unindexed = line
            ev["index"] = idx = position
        elif type(idx) is not int or idx < 0:
            raise HistoryError(path, line, "index", f"expected a non-negative integer, got {_describe(idx)}")
        elif not indexed:
            if unindexed is not None:
                raise HistoryError(path, line, "index", f"line {line} has an 'index' but line {unindexed} has none: "
                                   "give every event an index, or none (the checker then numbers them)")
            indexed = line
        if idx <= last_index:
            raise HistoryError(
                path, line, "index", f"index {idx} does not increase (previous event had {last_index})"
            )
        last_index = idx
        position += 1
        t = ev.get("time")
        if t is not None and type(t) is not int:
            if type(t) is float and _finite(t) and not _big_integer(t):
                ev["time"] = int(t)
            else:
                raise HistoryError(path, line, "time", f"expected integer nanoseconds or null, got {_describe(t)}")
        if "process" not in ev:
            raise HistoryError(path, line, "process", "missing")
        proc = ev["process"]
        typ = ev.get("type")
        if type(typ) is not str or typ not in types:  # (a list or object is unhashable: no set look-up)
            if typ is None and "type" not in ev:
                raise HistoryError(path, line, "type", "missing")
            raise HistoryError(path, line, "type", "expected one of invoke/ok/fail/info, got "
                               + (repr(typ) if type(typ) is str else _describe(typ)))
        f = ev.get("f")
        if type(f) is not str:
            if f is None and "f" not in ev:
                raise HistoryError(path, line, "f", "missing")
            raise HistoryError(path, line, "f", f"expected a string, got {_describe(f)}")
        if proc == NEMESIS:
            if typ == "ok" or typ == "fail":
                raise HistoryError(
                    path, line, "type", f"a nemesis event is an info (or an invoke, which is ignored), got {typ!r}"
                )
            if lines is not None:
                lines.append(line)
            yield ev
            continue
        if type(proc) is not int:
            raise HistoryError(
                path, line, "process", f'expected an integer or "nemesis", got {_describe(proc)}'
            )
        node = ev.get("node")
        if node is not None and type(node) is not str:
            raise HistoryError(path, line, "node",
                               f"expected the node's name (a string) or null, got {_describe(node)}")
        # --- key-value workload fields ----------------------------------------------------
        key = ev.get("key")
        if shapes is None and "context_from" in ev:
            check_no_context(ev, path, line, declared.conflict, declared.workload)
        if shapes is not None:
            shapes.event(ev, line, f, typ)
        elif f in kv_fs:
            kt = type(key)
            if kt is not str and kt is not int:
                if key is None and "key" not in ev:
                    raise HistoryError(path, line, "key", f"missing on a {f} operation")
                raise HistoryError(path, line, "key", f"expected a string or integer, got {_describe(key)}")
            v = ev.get("value")
            if v is not None:
                vt = type(v)
                if vt is list or vt is dict:
                    hint = _sibling_hint(path) if vt is list and f == "get" and typ == "ok" else ""
                    raise HistoryError(
                        path, line, "value", f"expected a scalar or null on a {f}, got {_type_name(v)}{hint}"
                    )
            elif f == "put" and typ != "fail":
                raise HistoryError(path, line, "value", "a put must carry the value it writes")
            if f == "get" and typ == "invoke" and v is not None:
                raise HistoryError(
                    path, line, "value", f"a get invoke carries null (its value comes with the ok), got {_describe(v)}"
                )
        elif f == "cas" or f == "read" or f == "write":
            if key is not None and type(key) is not str and type(key) is not int:
                raise HistoryError(path, line, "key", f"expected a string or integer, got {_describe(key)}")
            v = ev.get("value")
            if type(v) is list:
                if f == "read":
                    if typ == "ok" and not lists_written:
                        raise HistoryError(path, line, "value", "a read returned a list, which no write or append "
                                           "of this history could have written; " + _workload_hint(path, "set"))
                elif f == "write" or (len(v) == 2 and type(v[1]) is list):
                    lists_written = True  # a register of lists (or a cas to one): list reads are its values
        elif f == "append":
            lists_written = True  # the kv model's append: reads return the appended list
        elif f in WORKLOAD_FS:
            counter_add = f == "add" and type(ev.get("value")) is int  # Jepsen's counter adds amounts
            raise HistoryError(path, line, "f", f"{f!r} is not an operation of a register history (the history has "
                               f"no header line); " + _workload_hint(path, WORKLOAD_FS[f])
                               + ('; an add of an amount to a counter is an incr: {"history": 1, "workload": '
                                  '"counter"}' if counter_add else ""))
        if f == "cas":
            v = ev.get("value")
            if v is not None and (type(v) is not list or len(v) != 2):
                raise HistoryError(
                    path, line, "value", f"a cas value must be [expected, new], got {_describe(v)}"
                )
        fin = ev.get("final")
        if fin is not None:
            if type(fin) is not bool:
                raise HistoryError(path, line, "final", f"expected true/false, got {_describe(fin)}")
            if fin and f not in _READ_FS:
                raise HistoryError(path, line, "final", f"only reads can be final, not {_a(f)} {f[:60]} "
                                   "(final: true marks the reads of the final phase)")
        if shapes is None and typ == "invoke" and key is not None and (final_began or fin) and f in _KEYED_FS:
            kk = vkey(key)
            if fin:
                final_began.add(kk)
            elif kk in final_began:
                raise HistoryError(path, line, "final", f"{_a(f)} {f} of key {_short(key)} invoked after a final "
                                   "read of it began (final reads come after every other operation of their key)")
        # --- pairing ------------------------------------------------------------------------
        if typ == "invoke":
            open_ = pending.get(proc)
            if open_ is not None:
                raise HistoryError(
                    path,
                    line,
                    "process",
                    f"process {proc} invokes again while its {open_[0]} from line {open_[2]} "
                    "has no completion",
                )
            pending[proc] = (f, key, line, ev.get("value"))
        else:
            open_ = pending.pop(proc, None)
            if open_ is None:
                raise HistoryError(
                    path, line, "type", f"{typ} completion by process {proc} without a matching invoke"
                )
            if open_[0] != f:
                raise HistoryError(
                    path,
                    line,
                    "f",
                    f"completion f {f!r} does not match the invoke on line {open_[2]} ({open_[0]!r})",
                )
            if open_[1] != key:
                raise HistoryError(
                    path,
                    line,
                    "key",
                    f"completion key {key!r} does not match the invoke on line {open_[2]} ({open_[1]!r})",
                )
            if f == "put" or f == "cas" or f == "write":
                v = ev.get("value")
                if v is not None and vkey(v) != vkey(open_[3]):
                    raise HistoryError(
                        path,
                        line,
                        "value",
                        f"{_a(f)} {f} completes with the value it was invoked with ({_describe(open_[3])} on line "
                        f"{open_[2]}), got {_describe(v)}",
                    )
        if lines is not None:
            lines.append(line)
        yield ev
