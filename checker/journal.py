"""Reading a run's journal (journal.jsonl.gz): every datagram and every apply, streamed and checked.

The journal is written by the harness beside history.jsonl (format: docs/HISTORY.md, "The
journal"): gzip of JSON lines, line 1 a header object, then one JSON array per record. Times are
nanoseconds on the history's own clock, so journal and history line up without conversion.

    from checker.journal import load_journal

    j = load_journal("histories/latest/journal.jsonl.gz")   # reads and checks the header only
    j.header.nodes, j.header.level
    for rec in j.records():          # typed records (`Send`, `Deliver`, `Queue`, `Apply`, `Replicas`,
        ...                          # `Lifecycle`, `End`), streamed: memory stays flat
    j.replicas("k3")                 # ("n1", "n2", "n4"): from the K records
    j.applies_for("k3")              # [Apply, ...] of that key, in journal order
    j.sends_for("k3")                # [Send, ...] of datagrams naming that key
    j.deliveries_for("k3")           # [Deliver, ...] of those datagrams
    j.queued_for("k3")               # [Queue, ...]
    j.end                            # the END record, or None when the journal has none (cut short)

A journal may hold millions of records, so nothing is kept per record: `records` re-reads the
file each time, the per-key look-ups read it once for the keys asked (`for_keys` fetches several
keys in one pass), and only the K records (one per key) and the END record are remembered after
a pass. A malformed line raises `JournalError` (a `HistoryError`: file, line, field), so callers
report it as they report a bad history. A missing journal is not an error: `find_journal` returns
None and the checks run from the history alone.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import orjson

from checker.follow import open_input, take_prefetched
from checker.history import HistoryError

JOURNAL_NAME = "journal.jsonl.gz"
CHUNK = 1 << 20
FORMAT_VERSION = 1
LEVELS = ("full", "applies")
FAULTS = ("partition", "drop", "delay", "duplicate", "reorder")
QUEUE_REASONS = ("replication", "hint", "read-repair", "anti-entropy", "pull")
LIFECYCLE = ("crash", "restart", "pause", "resume")
END_REASONS = ("done", "size-limit", "interrupted")

Key = str | int
Stamp = tuple[int, int, str]  # (physical µs, logical, writer id): ordered as the store orders versions


class JournalError(HistoryError):
    """A journal that cannot be read: says where (file, line, field) and what is wrong."""


@attrs.frozen
class JournalHeader:
    """Line 1 of the journal."""

    version: int
    level: str  # "full" | "applies"
    mode: str  # "sim" | "udp" | "processes"
    nodes: tuple[str, ...]
    replication: int
    max_bytes: int | None
    raw: dict[str, Any] = attrs.field(eq=False, repr=False)
    run: str | None = None  # the run's id (its directory's name, run.json's run_id); None in older journals
    seed: int | None = None


class Send(NamedTuple):
    """["S", t, d, src, dst, kind, fault, copies, items]: a datagram sent from src to dst at t."""

    t: int
    d: int
    src: str
    dst: str
    kind: str
    fault: str | None  # None: delivered normally; else the fault that decided its fate
    copies: int  # deliveries scheduled (0 = lost)
    items: tuple[tuple[Key, Stamp | None], ...]  # (key, stamp), or (key, None) for the keys of get/read/pull
    more: int  # items left out by the producer (the "...", n_more tail), 0 when none


class Deliver(NamedTuple):
    """["D", t, d, dst]: one copy of datagram d delivered to dst at t."""

    t: int
    d: int
    dst: str


class Queue(NamedTuple):
    """["Q", t, node, peer, key, stamp, reason]: node queued a version of key for peer."""

    t: int
    node: str
    peer: str
    key: Key
    stamp: Stamp
    reason: str


class Apply(NamedTuple):
    """["A", t, node, key, stamp, via, won, deleted]: node applied a version of key."""

    t: int
    node: str
    key: Key
    stamp: Stamp
    via: str  # "client" or the node it came from
    won: bool  # it became the node's current version
    deleted: bool  # a tombstone


class Replicas(NamedTuple):
    """["K", key, [node, ...]]: the replicas of key."""

    key: Key
    nodes: tuple[str, ...]


class Lifecycle(NamedTuple):
    """["C", t, node, what]: crash, restart, pause or resume of a node."""

    t: int
    node: str
    what: str


class Recovered(NamedTuple):
    """["R", t, node, [[key, stamp, deleted], ...]]: node started holding exactly these versions.

    Written each time a node starts, before it serves: after a crash, what its storage kept; every
    version it had applied and that is not here (or is newer than what is here) the crash lost.
    """

    t: int
    node: str
    versions: tuple[tuple[Key, Stamp, bool], ...]


class End(NamedTuple):
    """["END", t, reason, bytes]: the last record."""

    t: int
    reason: str  # "done" | "size-limit" | "interrupted"
    bytes: int

    @property
    def complete(self) -> bool:
        """True when the journal saw the whole run (reason "done")."""
        return self.reason == "done"


Record = Send | Deliver | Queue | Apply | Replicas | Lifecycle | Recovered | End


@attrs.frozen
class KeyJournal:
    """Everything the journal says about one key, in journal order (from `Journal.for_keys`)."""

    key: Key
    replicas: tuple[str, ...] | None
    sends: list[Send]
    deliveries: list[Deliver]
    queued: list[Queue]
    applies: list[Apply]


class JournalMismatch(JournalError):
    """A readable journal that belongs to another run than the history it sits beside."""


def check_belongs(journal: Journal, run_dir: Path | None) -> str | None:
    """Raise `JournalMismatch` when ``journal``'s header names another run than the run.json in
    ``run_dir`` (its run_id, else its seed); return a note when nothing can tie them (a journal
    or run.json from before run ids), else None. The journal's content is checked against the
    history's writes by the figures (`checker.journal_figures`)."""
    meta: Any = None
    if run_dir is not None:
        try:
            meta = orjson.loads((run_dir / "run.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            meta = None
    if not isinstance(meta, dict):
        meta = {}
    h = journal.header
    run_id, seed = meta.get("run_id"), meta.get("seed")
    if h.run is not None and isinstance(run_id, str) and h.run != run_id:
        raise JournalMismatch(journal.path, 1, "run", f"the journal is of run {h.run!r}, the history beside it of "
                              f"run {run_id!r} (run.json): another run's journal")
    if h.seed is not None and _is_int(seed) and h.seed != seed:
        raise JournalMismatch(journal.path, 1, "seed", f"the journal is of a run with seed {h.seed}, the history "
                              f"beside it of seed {seed} (run.json): another run's journal")
    config = meta.get("config")
    run_nodes = config.get("nodes") if isinstance(config, dict) else None
    if isinstance(run_nodes, list) and run_nodes and all(isinstance(n, dict) and isinstance(n.get("id"), str)
                                                         for n in run_nodes):
        ids = [n["id"] for n in run_nodes]
        if sorted(ids) != sorted(h.nodes):
            raise JournalError(journal.path, 1, "nodes", f"the journal's header names nodes {sorted(h.nodes)}, the "
                               f"run (run.json) has {sorted(ids)}: its node names cannot be trusted")
    if h.run is None:
        return ("the journal's header has no run id (written before run ids existed): it is taken as this "
                "history's on its content only")
    if not isinstance(run_id, str):
        return "no run.json with a run_id beside the history: the journal is taken as its history's on its content only"
    return None


MAX_LINE_BYTES = 8 << 20
"""The longest line a journal may hold, beyond R records (which list every key a node holds): an S
record carries at most 64 keys of at most 1 KiB (runner/options.py MAX_KEY_BYTES; no record carries
a value), a few hundred KiB even with every byte JSON-escaped. A longer line is damage, refused
without being read whole."""
R_LINE_BYTES_PER_KEY = 6 * 1024 + 128
"""What each key placed so far (its K record) may add to an R record's line: the key, escaped, and its stamp."""
INFLATE_PIECE = 1 << 20
"""Decompressed bytes taken at a time: a line is held at most this much beyond its limit."""


class JournalLines:
    """A journal's lines (the header is line 1), numbered, decompressed a megabyte at a time.

    Splitting here is cheaper than gzip's own readline; concatenated gzip members are read one
    after the other. A stream cut short (a harness killed while writing, or a journal writer process given up) or damaged part-way ends
    the lines at the last whole line before it, raising nothing: ``stopped`` then says why, and the
    journal has no END record, so every figure from it is marked incomplete. What was written
    before the damage is kept (the rule: bad input loses nothing). Only a file that cannot be
    opened at all raises `JournalError`.

    A line longer than ``max_line`` bytes ends the lines the same way, counted and named as it comes
    in, never held whole; its reader raises ``max_line`` as keys are placed (R records grow with them).
    """

    def __init__(self, path: Path, max_line: int = MAX_LINE_BYTES, recorded: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.stopped: str | None = None
        self.max_line = max_line
        self.recorded = recorded
        """results.json's ``journal`` block as the run wrote it (`cut_short_cause`), when the caller has it."""

    def _too_long(self, n: int) -> None:
        self.stopped = (f"line {n} is longer than {self.max_line:,} bytes, more than any journal record can be: "
                        "the file is damaged from there")

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        n = 0
        rest = b""
        d = zlib.decompressobj(wbits=31)
        try:
            f = open_input(self.path)
        except OSError as e:
            raise JournalError(self.path, None, None, f"cannot open: {e.strerror or e}") from None
        with f:
            try:
                while True:
                    # Compressed input in small pieces, so that damage loses little of what precedes it.
                    chunk = f.read(1 << 16)
                    if not chunk:
                        break
                    pending = chunk
                    while True:  # at most INFLATE_PIECE bytes at a time: a huge line is refused as it grows
                        data = d.decompress(pending, INFLATE_PIECE)
                        if d.eof:
                            pending = d.unused_data
                            if pending:  # the next gzip member
                                d = zlib.decompressobj(wbits=31)
                        else:
                            pending = d.unconsumed_tail
                        lines = (rest + data).split(b"\n")
                        rest = lines.pop()
                        for line in lines:
                            n += 1
                            if len(line) > self.max_line:
                                self._too_long(n)
                                return
                            yield n, line
                        if len(rest) > self.max_line:
                            self._too_long(n + 1)
                            return
                        if not pending and len(data) < INFLATE_PIECE:
                            break
                if not d.eof:
                    self.stopped = (f"the gzip stream is cut short after line {n} "
                                    f"({cut_short_cause(self.path.parent, self.recorded)})")
                    return
            except (OSError, zlib.error) as e:
                self.stopped = f"the file is damaged after line {n}: {e}"
                return
        if rest.strip():
            yield n + 1, rest


def cut_short_cause(run_dir: Path, recorded: Mapping[str, Any] | None = None) -> str:
    """Why a journal's gzip stream stops part-way, from what the run recorded: results.json's ``journal`` block
    (``recorded``: the run's own check has it before results.json is written; else read from ``run_dir``).

    A journal writer process that died or stalled was given up while the run went on (``writer``); a run
    killed while writing leaves no results.json; otherwise nothing recorded says why the file is cut.
    """
    block: Any = recorded
    if block is None:
        try:
            results = orjson.loads((run_dir / "results.json").read_bytes())
        except FileNotFoundError:
            return "the run was killed while writing it: it left no results.json"
        except (OSError, orjson.JSONDecodeError) as e:
            return f"results.json, which would say why, cannot be read: {getattr(e, 'strerror', None) or e}"
        block = results.get("journal") if isinstance(results, dict) else None
    writer = block.get("writer") if isinstance(block, dict) else None
    if isinstance(writer, str) and writer:
        return f"{writer}; the run went on and kept its verdict"
    return ("the run finished and recorded no failure of the journal's writer, so the file was cut short after it "
            "was written")


def find_journal(run_dir: str | Path | None) -> Path | None:
    """The journal beside a run's history, or None when the run has none (not an error)."""
    if run_dir is None:
        return None
    p = Path(run_dir) / JOURNAL_NAME
    return p if p.is_file() else None


def load_journal(path: str | Path, recorded: Mapping[str, Any] | None = None) -> Journal:
    """Open a journal and check its header; records are read when asked for (see `Journal`). ``recorded``:
    results.json's ``journal`` block, when the caller has it before results.json is written (`cut_short_cause`)."""
    return Journal(Path(path), recorded)


class Journal:
    """A journal file: its header, and its records streamed on demand."""

    def __init__(self, path: Path, recorded: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.recorded = recorded
        self._reader = JournalLines(path, recorded=recorded)  # the reader of the current pass (`_lines`)
        self.header = self._read_header()
        self._replicas: dict[Key, tuple[str, ...]] | None = None
        self._end: End | None = None
        self._scanned = False
        self._records = 0
        self.damage: str | None = None
        """Why reading stopped before the end of the file (a torn gzip tail, damage), or None."""

    # -- reading ---------------------------------------------------------------------------

    def _open(self) -> Any:
        try:
            return gzip.open(self.path, "rb")
        except OSError as e:
            raise JournalError(self.path, None, None, f"cannot open: {e.strerror or e}") from None

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        reader = self._reader = JournalLines(self.path, recorded=self.recorded)
        yield from reader
        self.damage = reader.stopped

    def _read_header(self) -> JournalHeader:
        for lineno, raw in self._lines():
            try:
                h = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise JournalError(self.path, lineno, "(json)", f"not valid JSON: {e}") from None
            return _header(self.path, h)
        try:
            with self.path.open("rb") as f:
                magic = f.read(2)
        except OSError as e:
            raise JournalError(self.path, None, None, f"cannot open: {e.strerror or e}") from None
        if not magic:
            raise JournalError(self.path, None, None, "the file is empty: no header")
        if magic != b"\x1f\x8b":
            raise JournalError(self.path, None, None, "the file is not gzip (it does not begin with gzip's magic "
                               "bytes 1f 8b): not a journal (an uncompressed JSON-lines file would be refused too)")
        raise JournalError(self.path, None, None, f"no header: {self.damage}" if self.damage
                           else "the journal is empty: no header")

    def records(self, kinds: Iterable[str] | None = None, *, ahead: bool = True) -> Iterator[Record]:
        """Every record after the header, typed and checked, in journal order (re-reads the file).

        With ``kinds`` (record type letters, e.g. ``("A", "K")``), only those are parsed and
        yielded; lines of other types are skipped by their first bytes, unparsed and so unchecked.
        K and END records are always read (the pass remembers them).

        ``ahead``: the records a thread read ahead as the file grew (``checker.follow.prefetch_journal``)
        are taken from there when there are some (the reading thread itself passes False).
        """
        kinds = None if kinds is None else tuple(kinds)
        prefetched = take_prefetched(self.path, kinds) if ahead else None
        if prefetched is not None:  # read ahead as the file grew (checker.follow): the same records
            yield from prefetched.records()
            reader = prefetched.journal
            self._replicas, self._end, self._scanned, self._records = (
                reader._replicas, reader._end, reader._scanned, reader._records)
            self.damage = reader.damage
            return
        wanted = None if kinds is None else {k.encode() for k in kinds} | {b"K", b"END"}
        replicas: dict[Key, tuple[str, ...]] = {}
        end: End | None = None
        n = 0
        nodes = set(self.header.nodes)
        lines = self._lines()
        next(lines, None)  # the header, checked when the journal was loaded
        path = self.path
        # The first bytes of a line whose type is one letter, ``["X"``, say at once whether it is wanted.
        letters = {b'["' + k.encode() + b'"': k.encode() in wanted for k in _ARITY if len(k) == 1} if wanted else {}
        for lineno, raw in lines:
            if not raw or raw.isspace():
                continue
            if end is not None:
                raise JournalError(path, lineno, "(record)", "a record after the END record")
            n += 1
            if wanted is not None:
                keep = letters.get(raw[:4])
                if keep is None:
                    if raw.startswith(b'["'):
                        q = raw.find(b'"', 2)
                        if q > 0 and raw[2:q] not in wanted:
                            continue
                elif not keep:
                    continue
            rec = _record(path, lineno, raw)
            if isinstance(rec, Send) or isinstance(rec, Apply) and rec.node in nodes:
                pass  # the common records, nothing more to check (a Send's nodes are not the header's to judge)
            elif isinstance(rec, Replicas):
                if not set(rec.nodes) <= nodes:
                    raise JournalError(path, lineno, "nodes", f"replicas {list(rec.nodes)} of key {rec.key!r} are not "
                                       f"all among the header's nodes {sorted(nodes)}")
                if replicas.get(rec.key, rec.nodes) != rec.nodes:
                    raise JournalError(path, lineno, "nodes", f"key {rec.key!r} already has replicas "
                                       f"{list(replicas[rec.key])} (a key's K record comes once)")
                replicas[rec.key] = rec.nodes
                self._reader.max_line += R_LINE_BYTES_PER_KEY  # a node's R record may list this key too
            elif isinstance(rec, (Apply, Lifecycle, Recovered)) and rec.node not in nodes:
                raise JournalError(path, lineno, "node", f"{rec.node!r} is not among the header's nodes {sorted(nodes)}")
            elif isinstance(rec, End):
                end = rec
            yield rec
        self._replicas, self._end, self._scanned, self._records = replicas, end, True, n

    def _scan(self) -> None:
        if not self._scanned:
            for _ in self.records():
                pass

    # -- what a pass remembers ---------------------------------------------------------------

    @property
    def end(self) -> End | None:
        """The END record; None when the journal stops without one (the run was killed mid-write, its writer process was given up, or the file is damaged)."""
        self._scan()
        return self._end

    @property
    def complete(self) -> bool:
        """True when the journal ends with END "done": every figure from it covers the whole run."""
        end = self.end
        return end is not None and end.complete

    @property
    def record_count(self) -> int:
        """Records after the header (read in a pass)."""
        self._scan()
        return self._records

    def replicas(self, key: Key) -> tuple[str, ...] | None:
        """The replicas of ``key`` (its K record), or None when the journal never named the key."""
        self._scan()
        assert self._replicas is not None
        return self._replicas.get(key)

    def keys(self) -> list[Key]:
        """Every key the journal has a K record for, in the order they appeared."""
        self._scan()
        assert self._replicas is not None
        return list(self._replicas)

    # -- per-key look-ups (one pass for the keys asked) ------------------------------------------

    def for_keys(self, keys: Iterable[Key]) -> dict[Key, KeyJournal]:
        """Sends, deliveries, queued versions and applies of each key in ``keys``, in one pass.

        A datagram carrying several of the keys is listed under each; its deliveries too.
        """
        wanted = set(keys)
        out = {k: KeyJournal(k, None, [], [], [], []) for k in wanted}
        by_datagram: dict[int, list[KeyJournal]] = {}
        for rec in self.records():
            if isinstance(rec, Apply):
                if rec.key in wanted:
                    out[rec.key].applies.append(rec)
            elif isinstance(rec, Send):
                hit = {k for k, _ in rec.items if k in wanted}
                if hit:
                    kjs = [out[k] for k in hit]
                    by_datagram[rec.d] = kjs
                    for kj in kjs:
                        kj.sends.append(rec)
            elif isinstance(rec, Deliver):
                for kj in by_datagram.get(rec.d, ()):
                    kj.deliveries.append(rec)
            elif isinstance(rec, Queue):
                if rec.key in wanted:
                    out[rec.key].queued.append(rec)
        return {k: attrs.evolve(kj, replicas=self.replicas(k)) for k, kj in out.items()}

    def sends_for(self, key: Key) -> list[Send]:
        """The datagrams naming ``key`` (a datagram carries at most 64 items: see `Send.more`)."""
        return self.for_keys([key])[key].sends

    def deliveries_for(self, key: Key) -> list[Deliver]:
        """The deliveries of the datagrams naming ``key``."""
        return self.for_keys([key])[key].deliveries

    def queued_for(self, key: Key) -> list[Queue]:
        """The versions of ``key`` queued by a node for a peer."""
        return self.for_keys([key])[key].queued

    def applies_for(self, key: Key) -> list[Apply]:
        """Every apply of ``key`` on every node, in journal order."""
        return self.for_keys([key])[key].applies


# -- validation ------------------------------------------------------------------------------


def _describe(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _header(path: Path, h: Any) -> JournalHeader:
    def bad(field: str, problem: str) -> JournalError:
        return JournalError(path, 1, field, problem)

    if not isinstance(h, dict):
        raise bad("(header)", f"line 1 must be the header object, got {_describe(h)}")
    if h.get("journal") != FORMAT_VERSION:
        raise bad("journal", f"expected format version {FORMAT_VERSION}, got {_describe(h.get('journal'))}")
    level = h.get("level")
    if level not in LEVELS:
        raise bad("level", f"expected one of {'/'.join(LEVELS)}, got {_describe(level)}")
    mode = h.get("mode")
    if not isinstance(mode, str):
        raise bad("mode", f"expected a string, got {_describe(mode)}")
    nodes = h.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
        raise bad("nodes", f"expected a list of node ids, got {_describe(nodes)}")
    rf = h.get("replication")
    if not isinstance(rf, int) or isinstance(rf, bool) or rf < 1:
        raise bad("replication", f"expected a positive integer, got {_describe(rf)}")
    mb = h.get("max_bytes")
    if mb is not None and (not _is_int(mb) or mb < 0):
        raise bad("max_bytes", f"expected a non-negative integer or null, got {_describe(mb)}")
    run = h.get("run")
    if run is not None and not isinstance(run, str):
        raise bad("run", f"expected the run's id (a string) or null, got {_describe(run)}")
    seed = h.get("seed")
    if seed is not None and not _is_int(seed):
        raise bad("seed", f"expected an integer or null, got {_describe(seed)}")
    return JournalHeader(FORMAT_VERSION, level, mode, tuple(nodes), rf, mb, h, run, seed)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_ARITY = {"S": 9, "D": 4, "Q": 7, "A": 8, "K": 3, "C": 4, "R": 4, "END": 4}
_FIELDS = {
    "S": ("type", "t", "d", "src", "dst", "kind", "fault", "copies", "items"),
    "D": ("type", "t", "d", "dst"),
    "Q": ("type", "t", "node", "peer", "key", "stamp", "reason"),
    "A": ("type", "t", "node", "key", "stamp", "via", "won", "deleted"),
    "K": ("type", "key", "nodes"),
    "C": ("type", "t", "node", "what"),
    "R": ("type", "t", "node", "versions"),
    "END": ("type", "t", "reason", "bytes"),
}


class _Bad(Exception):
    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem


def _int(v: Any, field: str) -> int:
    if not _is_int(v) or v < 0:
        raise _Bad(field, f"expected a non-negative integer, got {_describe(v)}")
    return int(v)


def _str(v: Any, field: str) -> str:
    if not isinstance(v, str):
        raise _Bad(field, f"expected a string, got {_describe(v)}")
    return v


def _bool(v: Any, field: str) -> bool:
    if not isinstance(v, bool):
        raise _Bad(field, f"expected true or false, got {_describe(v)}")
    return v


def _key(v: Any, field: str) -> Key:
    if isinstance(v, str) or _is_int(v):
        return v
    raise _Bad(field, f"expected a string or integer key, got {_describe(v)}")


def _stamp(v: Any, field: str) -> Stamp:
    if (
        isinstance(v, list)
        and len(v) == 3
        and _is_int(v[0])
        and _is_int(v[1])
        and isinstance(v[2], str)
    ):
        return (v[0], v[1], v[2])
    raise _Bad(field, f"expected a stamp [physical_us, logical, writer_id], got {_describe(v)}")


def _one_of(v: Any, choices: tuple[str, ...], field: str) -> str:
    if v not in choices:
        raise _Bad(field, f"expected one of {'/'.join(choices)}, got {_describe(v)}")
    return v


def _items(v: Any) -> tuple[tuple[tuple[Key, Stamp | None], ...], int]:
    if not isinstance(v, list):
        raise _Bad("items", f"expected a list, got {_describe(v)}")
    out: list[tuple[Key, Stamp | None]] = []
    more = 0
    for i, it in enumerate(v):
        if type(it) is list and len(it) == 2:  # the common [key, stamp], checked with exact type tests
            k, st = it
            if (
                ((type(k) is str and k != "...") or type(k) is int)
                and type(st) is list and len(st) == 3 and type(st[0]) is int and type(st[1]) is int
                and type(st[2]) is str
            ):
                out.append((k, (st[0], st[1], st[2])))
                continue
        if isinstance(it, str | int) and not isinstance(it, bool) and it != "...":
            out.append((it, None))  # a key alone (get, read, pull)
            continue
        if not isinstance(it, list) or not 1 <= len(it) <= 2:
            raise _Bad(f"items[{i}]", f"expected [key, stamp] or a key, got {_describe(it)}")
        if it[0] == "..." and len(it) == 2 and i == len(v) - 1 and _is_int(it[1]):
            more = it[1]
            continue
        key = _key(it[0], f"items[{i}]")
        out.append((key, _stamp(it[1], f"items[{i}]") if len(it) == 2 else None))
    return tuple(out), more


def _versions(v: Any) -> tuple[tuple[Key, Stamp, bool], ...]:
    if not isinstance(v, list):
        raise _Bad("versions", f"expected a list of [key, stamp, deleted], got {_describe(v)}")
    out = []
    for i, it in enumerate(v):
        if not isinstance(it, list) or len(it) != 3:
            raise _Bad(f"versions[{i}]", f"expected [key, stamp, deleted], got {_describe(it)}")
        out.append((_key(it[0], f"versions[{i}]"), _stamp(it[1], f"versions[{i}]"), _bool(it[2], f"versions[{i}]")))
    return tuple(out)


def _fast(r: Any) -> Record | None:
    """The common records, checked with a few type tests; None sends anything else (or anything
    wrong) to the slow path of `_record`, which names the field at fault."""
    if type(r) is not list or not r:
        return None
    typ = r[0]
    n = len(r)
    if typ == "D" and n == 4:
        t, d, dst = r[1], r[2], r[3]
        if type(t) is int and t >= 0 and type(d) is int and d >= 0 and type(dst) is str:
            return Deliver(t, d, dst)
    elif typ == "S" and n == 9:
        t, d, src, dst, kind, fault, copies, items = r[1:]
        if (
            type(t) is int and t >= 0 and type(d) is int and d >= 0 and type(src) is str and type(dst) is str
            and type(kind) is str and (fault is None or fault in FAULTS) and type(copies) is int and copies >= 0
            and type(items) is list
        ):
            if not items:
                return Send(t, d, src, dst, kind, fault, copies, (), 0)
            try:
                its, more = _items(items)
            except _Bad:
                return None
            return Send(t, d, src, dst, kind, fault, copies, its, more)
    elif typ == "A" and n == 8:
        t, node, key, st, via, won, deleted = r[1:]
        if (
            type(t) is int and t >= 0 and type(node) is str and (type(key) is str or type(key) is int)
            and type(st) is list and len(st) == 3 and type(st[0]) is int and type(st[1]) is int
            and type(st[2]) is str and type(via) is str and type(won) is bool and type(deleted) is bool
        ):
            return Apply(t, node, key, (st[0], st[1], st[2]), via, won, deleted)
    elif typ == "Q" and n == 7:
        t, node, peer, key, st, reason = r[1:]
        if (
            type(t) is int and t >= 0 and type(node) is str and type(peer) is str
            and (type(key) is str or type(key) is int) and type(st) is list and len(st) == 3
            and type(st[0]) is int and type(st[1]) is int and type(st[2]) is str and reason in QUEUE_REASONS
        ):
            return Queue(t, node, peer, key, (st[0], st[1], st[2]), reason)
    return None


def _record(path: Path, lineno: int, raw: bytes) -> Record:
    try:
        r = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise JournalError(path, lineno, "(json)", f"not valid JSON: {e}") from None
    if not isinstance(r, list) or not r:
        raise JournalError(path, lineno, "(record)", f"expected a JSON array record, got {_describe(r)}")
    fast = _fast(r)
    if fast is not None:
        return fast
    typ = r[0]
    n = _ARITY.get(typ) if isinstance(typ, str) else None
    if n is None:
        raise JournalError(path, lineno, "type", f"expected one of {'/'.join(_ARITY)}, got {_describe(typ)}")
    if len(r) != n:
        raise JournalError(
            path, lineno, "(record)", f"a {typ} record has {n} fields ({', '.join(_FIELDS[typ])}), got {len(r)}"
        )
    try:
        if typ == "A":
            return Apply(
                _int(r[1], "t"), _str(r[2], "node"), _key(r[3], "key"), _stamp(r[4], "stamp"),
                _str(r[5], "via"), _bool(r[6], "won"), _bool(r[7], "deleted"),
            )
        if typ == "S":
            fault = r[6]
            if fault is not None:
                _one_of(fault, FAULTS, "fault")
            items, more = _items(r[8])
            return Send(
                _int(r[1], "t"), _int(r[2], "d"), _str(r[3], "src"), _str(r[4], "dst"), _str(r[5], "kind"),
                fault, _int(r[7], "copies"), items, more,
            )
        if typ == "D":
            return Deliver(_int(r[1], "t"), _int(r[2], "d"), _str(r[3], "dst"))
        if typ == "Q":
            return Queue(
                _int(r[1], "t"), _str(r[2], "node"), _str(r[3], "peer"), _key(r[4], "key"),
                _stamp(r[5], "stamp"), _one_of(r[6], QUEUE_REASONS, "reason"),
            )
        if typ == "K":
            nodes = r[2]
            if not isinstance(nodes, list) or not nodes or not all(isinstance(x, str) for x in nodes):
                raise _Bad("nodes", f"expected a non-empty list of node ids, got {_describe(nodes)}")
            return Replicas(_key(r[1], "key"), tuple(nodes))
        if typ == "R":
            return Recovered(_int(r[1], "t"), _str(r[2], "node"), _versions(r[3]))
        if typ == "C":
            return Lifecycle(_int(r[1], "t"), _str(r[2], "node"), _one_of(r[3], LIFECYCLE, "what"))
        return End(_int(r[1], "t"), _one_of(r[2], END_REASONS, "reason"), _int(r[3], "bytes"))
    except _Bad as e:
        raise JournalError(path, lineno, e.field, e.problem) from None
