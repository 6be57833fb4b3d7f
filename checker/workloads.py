"""The history header and the shapes of the conflict-mode workloads (docs/HISTORY.md, issue 17).

A history may open with one header line, ``{"history": 1, "conflict": ..., "workload": ...}``,
declaring how the run resolved conflicts (``lww``, ``siblings``, ``crdt``) and what its clients did
(``register``, ``set``, ``counter``, and Maelstrom's ``echo`` and ``unique-ids``). A history without one is a last-writer-wins register history,
read exactly as before. This module parses that header and validates, line by line, the event
shapes only the new workloads have (sibling reads and causal contexts, set and counter operations);
`checker.history.validate` calls it, so a malformed line still stops with file, line and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import orjson

CONFLICTS = ("lww", "siblings", "crdt")
WORKLOADS = ("register", "set", "counter", "echo", "unique-ids")
HEADER_FIELDS = ("history", "conflict", "workload", "meta")
FORMAT_VERSION = 1

#: The operations of each workload other than the register's (``get`` is read as ``read``).
SET_FS = ("add", "remove", "read")
COUNTER_FS = ("incr", "decr", "read")
#: The one operation of each keyless workload (Maelstrom's echo and unique-ids).
KEYLESS_FS = {"echo": "echo", "unique-ids": "generate"}


@attrs.frozen
class HistoryHeader:
    """What a history declares about its run; the default is the register history of old."""

    conflict: str = "lww"
    workload: str = "register"
    declared: bool = False
    system: str | None = None  # meta.system: "minikeydb" marks a MinikeyDB run (its words only, never a verdict)

    @property
    def rule(self) -> str | None:
        """The checker rule this history needs beyond the register one (``None``: as before)."""
        if self.workload == "set":
            return "set-full"
        if self.workload == "counter":
            return "counter"
        if self.workload in KEYLESS_FS:
            return self.workload  # "echo" or "unique-ids"
        if self.conflict == "siblings":
            return "siblings"
        return None  # lww, or crdt registers (which keep last-writer-wins)


DEFAULT_HEADER = HistoryHeader()


def is_header(obj: Any) -> bool:
    """A header line: an object with a ``history`` field and no ``process`` (never an event)."""
    return type(obj) is dict and "history" in obj and "process" not in obj


def _error(path: str | Path, line: int | None, field: str, problem: str) -> Exception:
    from checker.history import HistoryError

    return HistoryError(path, line, field, problem)


def parse_header(obj: dict[str, Any], path: str | Path, line: int | None) -> HistoryHeader:
    """The header of a history, or a `HistoryError` naming the field that is wrong."""
    version = obj.get("history")
    if type(version) is not int or version != FORMAT_VERSION:
        raise _error(path, line, "history", f"expected the format version {FORMAT_VERSION}, got {version!r:.60}")
    for name in obj:
        if name not in HEADER_FIELDS:
            raise _error(path, line, str(name)[:60],
                         f"not a header field (the header has {', '.join(HEADER_FIELDS)}; extras go in 'meta')")
    conflict = obj.get("conflict", "lww")
    if conflict not in CONFLICTS:
        raise _error(path, line, "conflict", f"expected one of {'/'.join(CONFLICTS)}, got {conflict!r:.60}")
    workload = obj.get("workload", "register")
    if workload not in WORKLOADS:
        raise _error(path, line, "workload", f"expected one of {'/'.join(WORKLOADS)}, got {workload!r:.60}")
    meta = obj.get("meta")
    if meta is not None and type(meta) is not dict:
        raise _error(path, line, "meta", f"expected an object, got {type(meta).__name__}")
    system = (meta or {}).get("system")
    return HistoryHeader(conflict, workload, True, system.lower() if type(system) is str else None)


def read_header(path: str | Path) -> HistoryHeader:
    """The header of a history file (its first non-blank line), or the default when it has none.

    EDN histories (Jepsen's) have no header: they are register histories.
    """
    from checker.follow import open_input
    from checker.history import BoundedLines, HistoryError, is_edn_path, too_deep

    if is_edn_path(path):
        return DEFAULT_HEADER
    try:
        with open_input(path) as fh:
            lineno = 0
            for raw in BoundedLines(fh, path):
                lineno += 1
                if not raw.strip():
                    continue
                if too_deep(raw):
                    return DEFAULT_HEADER  # the event reader names the line
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return DEFAULT_HEADER  # the event reader names the line
                return parse_header(obj, path, lineno) if is_header(obj) else DEFAULT_HEADER
    except OSError as e:
        raise HistoryError(path, None, None, f"cannot open: {e.strerror or e}") from None
    return DEFAULT_HEADER


def _scalar(v: Any) -> bool:
    return v is not None and type(v) is not list and type(v) is not dict


def _describe(v: Any) -> str:
    text = repr(v)
    return f"{'null' if v is None else type(v).__name__} {text[:60]}"


def _count(v: Any) -> bool:
    return type(v) is int and v >= 0


class ShapeChecker:
    """Validates the events of one history against its header's workload, one line at a time.

    Under ``siblings`` it remembers which events are ``ok`` gets and of which key, so that a
    put's ``context_from`` can be checked to name one (an earlier ok get of the same key).
    """

    def __init__(self, header: HistoryHeader, path: str | Path) -> None:
        self.header = header
        self.path = path
        self.ok_gets: dict[int, Any] = {}  # siblings: index of an ok get -> its key
        self.invoked: dict[tuple[Any, str], Any] = {}  # (process, field) -> the field on its open invoke
        self.final_began: set[Any] = set()  # keys whose final reads have begun (nothing may follow them)

    def event(self, ev: dict[str, Any], line: int, f: str, typ: str) -> None:
        """Raise a `HistoryError` naming the field of ``ev`` that breaks the workload's shapes."""
        h = self.header
        if h.workload == "set":
            self._set_or_counter(ev, line, f, typ, SET_FS)
        elif h.workload == "counter":
            self._set_or_counter(ev, line, f, typ, COUNTER_FS)
        elif h.workload in KEYLESS_FS:
            self._keyless(ev, line, f, typ, h.workload)
            return
        elif h.conflict == "siblings":
            self._siblings(ev, line, f, typ)
        else:
            return
        if typ == "invoke":
            self._after_final(ev, line, f)

    def _after_final(self, ev: dict[str, Any], line: int, f: str) -> None:
        """A final read begins after every other operation of its key was invoked (the rules judge the
        final state by it, docs/HISTORY.md): an operation invoked after one is bad input."""
        key = ev.get("key")
        if ev.get("final"):
            self.final_began.add(vkey_of(key))
        elif vkey_of(key) in self.final_began:
            raise _error(self.path, line, "final",
                         f"{'an' if f[:1] in 'aeiou' else 'a'} {f} of key {key!r:.60} invoked after a final read of it began (final reads come "
                         "after every other operation of their key)")

    def _key(self, ev: dict[str, Any], line: int, f: str) -> Any:
        key = ev.get("key")
        if type(key) is not str and type(key) is not int:
            if "key" not in ev:
                raise _error(self.path, line, "key", f"missing on a {f} operation")
            raise _error(self.path, line, "key", f"expected a string or integer, got {_describe(key)}")
        return key

    def _set_or_counter(self, ev: dict[str, Any], line: int, f: str, typ: str, fs: tuple[str, ...]) -> None:
        workload = self.header.workload
        if f == "get":
            f = "read"
        if f not in fs:
            raise _error(self.path, line, "f",
                         f"{f!r:.60} is not an operation of the {workload} workload ({', '.join(fs)})")
        self._key(ev, line, f)
        _no_context(ev, self.path, line, f"a {workload} history")
        v = ev.get("value")
        if f == "read":
            if typ == "invoke" and v is not None:
                raise _error(self.path, line, "value", f"a read invoke carries null, got {_describe(v)}")
            if typ != "ok" or (v is None and workload == "set"):  # a set read of null: the set is empty
                return
            if workload == "set":
                if type(v) is not list:
                    raise _error(self.path, line, "value", f"a set read returns a list of elements, got {_describe(v)}")
                from checker.values import vkey

                seen = set()
                for x in v:
                    if not _scalar(x):
                        raise _error(self.path, line, "value",
                                     f"a set element is a string, number or boolean, got {_describe(x)}")
                    k = vkey(x)
                    if k in seen:
                        raise _error(self.path, line, "value", f"a set read lists each element once, got "
                                     f"{repr(x)[:60]} twice (a set holds an element or does not)")
                    seen.add(k)
            elif type(v) is not int:
                raise _error(self.path, line, "value", f"a counter read returns an integer, got {_describe(v)}")
            return
        if workload == "set":
            if not _scalar(v) and not (v is None and typ != "invoke"):
                raise _error(self.path, line, "value",
                             f"an {f} carries its element (a string, number or boolean), got {_describe(v)}")
        elif not _count(v) and not (v is None and typ != "invoke"):
            raise _error(self.path, line, "value", f"an {f} carries its amount, an integer >= 0, got {_describe(v)}")
        self._same_as_invoke(ev, line, typ, "value", v)

    def _keyless(self, ev: dict[str, Any], line: int, f: str, typ: str, workload: str) -> None:
        """echo: the invoke carries the value sent (any JSON but null), the ok what came back (any JSON).
        unique-ids: a generate invoke carries null, its ok the id returned (a scalar or a list)."""
        want = KEYLESS_FS[workload]
        if f != want:
            raise _error(self.path, line, "f", f"{f!r:.60} is not an operation of the {workload} workload ({want})")
        _no_context(ev, self.path, line, f"a {workload} history")
        fin = ev.get("final")
        if fin:
            got = "true" if fin is True else _describe(fin)
            raise _error(self.path, line, "final", f"the {workload} workload has no final reads, got final: {got}")
        v = ev.get("value")
        if workload == "echo":
            if typ == "invoke" and v is None:
                raise _error(self.path, line, "value", "an echo invoke carries the value it sends, got null")
            return
        if typ == "invoke" and v is not None:
            raise _error(self.path, line, "value", f"a generate invoke carries null (the id comes with the ok), "
                         f"got {_describe(v)}")
        if typ == "ok" and (v is None or type(v) is dict):
            raise _error(self.path, line, "value",
                         f"a generate ok carries the id returned (a string, number, boolean or list), got {_describe(v)}")

    def _same_as_invoke(self, ev: dict[str, Any], line: int, typ: str, field: str, v: Any) -> None:
        """A completion repeats its invoke's ``field`` (or leaves it null)."""
        from checker.values import vkey

        proc = ev.get("process")
        if typ == "invoke":
            self.invoked[(proc, field)] = v
            return
        was = self.invoked.pop((proc, field), None)
        if v is not None and vkey(v) != vkey(was):
            raise _error(self.path, line, field,
                         f"a completion repeats its invoke's {field} ({_describe(was)}), got {_describe(v)}")

    def _siblings(self, ev: dict[str, Any], line: int, f: str, typ: str) -> None:
        if f not in ("put", "get", "delete"):
            raise _error(self.path, line, "f",
                         f"{f!r:.60} is not an operation of a siblings register history (put, get, delete)")
        key = self._key(ev, line, f)
        v = ev.get("value")
        if f == "get":
            _no_context(ev, self.path, line, "a get")
            if typ == "invoke":
                if v is not None:
                    raise _error(self.path, line, "value", f"a get invoke carries null, got {_describe(v)}")
            elif typ == "ok":
                if v is not None and type(v) is not list:
                    raise _error(self.path, line, "value",
                                 f"under conflict siblings a get returns a list of sibling values, got {_describe(v)}")
                for x in v or ():
                    if not _scalar(x):
                        raise _error(self.path, line, "value",
                                     f"a sibling value is a string, number or boolean, got {_describe(x)}")
                self.ok_gets[ev["index"]] = key
            return
        if f == "put" and not _scalar(v) and not (v is None and typ == "fail"):
            raise _error(self.path, line, "value", f"a put carries the scalar it writes, got {_describe(v)}")
        if f == "delete" and v is not None:
            raise _error(self.path, line, "value", f"a delete carries null, got {_describe(v)}")
        ctx = ev.get("context_from")
        self._same_as_invoke(ev, line, typ, "context_from", ctx)
        if ctx is None:
            return
        if type(ctx) is not int:
            raise _error(self.path, line, "context_from",
                         f"expected the index of the ok get the context came from, or null, got {_describe(ctx)}")
        if self.ok_gets.get(ctx, _MISSING) != key:
            raise _error(self.path, line, "context_from",
                         f"{ctx} is not the index of an earlier ok get of key {key!r:.60}")


_MISSING = object()


def vkey_of(key: Any) -> tuple[type, Any]:
    """A key told apart by type (``1`` and ``"1"`` are different keys)."""
    return (type(key), key)


def _no_context(ev: dict[str, Any], path: str | Path, line: int, where: str) -> None:
    """``context_from`` belongs only to a put or delete under ``conflict: siblings``: anywhere else it
    would be silently ignored, so it is bad input."""
    ctx = ev.get("context_from")
    if ctx is not None:
        raise _error(path, line, "context_from",
                     f"only a put or delete of a siblings register history (conflict: siblings) carries a "
                     f"context, not {where}; got {_describe(ctx)}")


def check_no_context(ev: dict[str, Any], path: str | Path, line: int, conflict: str, workload: str) -> None:
    """`_no_context` for register histories whose rule has no contexts (lww, crdt, or no header)."""
    _no_context(ev, path, line, f"a {conflict} {workload} history")
