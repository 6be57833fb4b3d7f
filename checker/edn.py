"""Jepsen EDN histories in and out, with a small reader that knows its line numbers.

The ``edn_format`` package parses EDN correctly but slowly (a PLY grammar, tens of microseconds
per token) and cannot say on which line a bad event sits. Histories use a tiny subset of EDN
(maps, vectors, lists, sets, keywords, strings, numbers, nil/true/false, and the
``#jepsen.history.Op{...}`` tag of newer Jepsen), so a regex tokenizer plus a recursive reader
is enough, reports errors by line, and is fast enough to not matter.

Jepsen shapes are mapped onto docs/HISTORY.md events: ``:type :invoke`` becomes ``"invoke"``, ``:f
:put`` becomes ``"put"``, ``:process :nemesis`` becomes ``"nemesis"``, and a keyed operation's
``:value [k v]`` becomes ``key`` and ``value``. Export does the reverse, exactly: its file opens with
the comment line `EXPORT_MARK` and gives each keyed op a ``:key`` besides Jepsen's ``:value [k v]``, and
a file opening with that line is read by ``:key`` alone (an op is keyed when it has one, no value is split
by its shape), so every register or key-value history the checker accepts comes back as it went out.
Any other EDN file is read by Jepsen's conventions (`_looks_keyed`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from checker.history import KV_FS, HistoryError
from checker.timelimit import EVERY


class Keyword(str):
    """An EDN keyword (``:foo``), kept apart from strings so ``:ok`` and ``"ok"`` stay distinct."""

    __slots__ = ()


class Symbol(str):
    """An EDN symbol (a bare word other than nil/true/false)."""

    __slots__ = ()


_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,]+)
  | (?P<comment>;[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<open>\#\{|[\[({])
  | (?P<close>[\])}])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][\w.\-/]*)
  | (?P<char>\\(?:newline|space|tab|return|u[0-9a-fA-F]{4}|\S))
  | (?P<atom>[^\s,\[\](){}"\;]+)
    """,
    re.VERBOSE | re.DOTALL,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f", "/": "/"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
EXPORT_MARK = "; MinikeyDB history (harness.py export --edn): an op with :key is keyed, its :value is [key value]"
"""The first line of an export: a comment to Jepsen's readers, to ours the sign that ``:key`` says which ops are
keyed (a register of pairs, ``:value ["x" 1]`` with no ``:key``, is then not mistaken for a keyed one)."""
MAX_DEPTH = 200
"""Collections nested deeper than this are refused (a history op is a few levels deep; the reader
and the checkers recurse, and a 100,000-deep file must be bad input, not a crash)."""


class _Tagged:
    """A tagged literal we do not know; its value is kept."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


class EdnSyntaxError(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "u" and i + 5 < len(body) + 1:
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _atom(text: str, line: int) -> Any:
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text.startswith(":"):
        if len(text) == 1:
            raise EdnSyntaxError(line, "empty keyword ':'")
        return Keyword(text[1:])
    if _INT.fullmatch(text):
        try:
            return int(text.rstrip("N"))
        except ValueError:  # longer than sys.get_int_max_str_digits() (4300 by default)
            raise EdnSyntaxError(
                line, f"an integer of {len(text.strip('+-N'))} digits is too long for a history value "
                f"(at most {sys.get_int_max_str_digits() or 'unlimited'})"
            ) from None
    if _FLOAT.fullmatch(text):
        return float(text.rstrip("M"))
    return Symbol(text)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((repr(k), _hashable(x)) for k, x in v.items()))
    return v


def parse_edn(text: str, tick: Callable[[int], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line where it starts, value) for every top-level EDN form in ``text``.

    ``tick(line)`` is called every few thousand tokens (while tokenising and while reading), so
    that a time limit can end a long parse (it raises)."""
    tokens = _TOKEN.finditer(text)
    line = 1
    # Flatten the token stream into (kind, text, line) triples, tracking newlines as we go.
    stream: list[tuple[str, str, int]] = []
    pos = 0
    count = 0
    for m in tokens:
        count += 1
        if tick is not None and not count & EVERY:
            tick(line)
        if m.start() != pos:
            raise EdnSyntaxError(line, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        tok = m.group()
        if kind not in ("ws", "comment"):
            stream.append((kind, tok, line))
        line += tok.count("\n")
        pos = m.end()
    if pos != len(text):
        raise EdnSyntaxError(line, f"unexpected character {text[pos]!r}")

    i = 0
    n = len(stream)
    depth = 0

    def read() -> Any:
        nonlocal i, depth
        if i >= n:
            raise EdnSyntaxError(line, "unexpected end of input (truncated file?)")
        kind, tok, ln = stream[i]
        i += 1
        if tick is not None and not i & EVERY:
            tick(ln)
        if kind == "atom":
            return _atom(tok, ln)
        if kind == "string":
            return _unescape(tok[1:-1])
        if kind in ("open", "tag", "discard"):
            depth += 1
            try:
                if depth > MAX_DEPTH:
                    raise EdnSyntaxError(ln, f"nested deeper than {MAX_DEPTH} levels: not a history")
                return _read_compound(kind, tok, ln)
            finally:
                depth -= 1
        if kind == "char":
            body = tok[1:]
            return {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}.get(
                body, chr(int(body[1:], 16)) if body.startswith("u") and len(body) == 5 else body
            )
        raise EdnSyntaxError(ln, f"unexpected {tok!r}")

    def _read_compound(kind: str, tok: str, ln: int) -> Any:
        nonlocal i
        if kind == "open":
            closer = _CLOSERS[tok]
            items: list[Any] = []
            while True:
                if i >= n:
                    raise EdnSyntaxError(ln, f"{tok!r} opened here is never closed (truncated file?)")
                k2, t2, l2 = stream[i]
                if k2 == "close":
                    if t2 != closer:
                        raise EdnSyntaxError(l2, f"{t2!r} closes {tok!r} opened on line {ln}")
                    i += 1
                    break
                if k2 == "discard":
                    i += 1
                    read()
                    continue
                items.append(read())
            if tok == "{":
                if len(items) % 2:
                    raise EdnSyntaxError(ln, "a map needs an even number of forms")
                return {_hashable(items[j]): items[j + 1] for j in range(0, len(items), 2)}
            if tok == "#{":
                return items  # order kept; sets never matter to a history's op fields
            return items
        if kind == "tag":
            inner = read()
            return inner if isinstance(inner, dict) else _Tagged(tok[1:], inner)
        read()  # discard
        return read()

    while i < n:
        if stream[i][0] == "discard":
            i += 1
            read()
            continue
        start = stream[i][2]
        yield start, read()


def _plain(v: Any) -> Any:
    """EDN value to the plain JSON-like value the checkers see (keywords become strings)."""
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k) if isinstance(k, str) else repr(k): _plain(x) for k, x in v.items()}
    if isinstance(v, _Tagged):
        return _plain(v.value)
    if isinstance(v, Keyword | Symbol):
        return str(v)
    return v


def _to_event(m: dict[Any, Any], keyed_registers: bool, kv: bool = False, exact: bool = False) -> dict[str, Any]:
    """One op map as an event. ``exact`` (an export of ours): an op is keyed when it has ``:key``, and its
    ``:value [key v]`` gives ``v``. Otherwise Jepsen's conventions: a put/get/delete's ``[k v]`` is split
    always, a read/write/cas's when ``keyed_registers`` (`_looks_keyed`), and in a key-value history
    (``kv``: it has put/get/delete) a cas whose value is ``[k [old new]]``."""
    ev: dict[str, Any] = {}
    for k, v in m.items():
        name = str(k) if isinstance(k, str) else repr(k)
        if name == "value":
            continue
        ev[name] = _plain(v)
    if "value" in m:
        raw = m[Keyword("value")]
        f = ev.get("f")
        if exact:
            ev["value"] = _plain(raw)
            if "key" in ev and _is_list(raw) and len(raw) == 2 and _same(_plain(raw[0]), ev["key"]):
                ev["value"] = _plain(raw[1])
        elif (f in KV_FS or (keyed_registers and f in ("read", "write", "cas"))) and _is_pair(raw):
            ev["key"] = _plain(raw[0])
            ev["value"] = _plain(raw[1])
        elif kv and f == "cas" and _is_pair(raw) and _is_list(raw[1]) and len(raw[1]) == 2:
            ev["key"] = _plain(raw[0])
            ev["value"] = _plain(raw[1])
        else:
            ev["value"] = _plain(raw)
    return ev


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _same(a: Any, b: Any) -> bool:
    """Equal as history values (``1`` is not ``true``, ``1`` is not ``1.0``)."""
    return type(a) is type(b) and (a == b if not isinstance(a, list | dict) else _hashable(a) == _hashable(b))


def _is_pair(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and not isinstance(v[0], list | dict)


def _looks_keyed(forms: list[tuple[int, dict[Any, Any]]]) -> bool:
    """Is this a jepsen.independent register history, where every value is ``[k v]``?

    A plain register's ``cas`` is ``[old new]`` too, so one pair proves nothing; we call the
    history keyed only when *every* read/write value is a pair (plain register reads and writes
    carry scalars).
    """
    seen = False
    for _, m in forms:
        f = m.get(Keyword("f"))
        if f in ("read", "write"):
            v = m.get(Keyword("value"))
            if m.get(Keyword("type")) == "invoke" and f == "read" and v is None:
                continue
            if not _is_pair(v):
                return False
            seen = True
    return seen


def read_edn_events(
    raw: bytes, path: str | Path, tick: Callable[[int], None] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, event dict) for each op of a Jepsen EDN history (one map a line, or one vector);
    ``tick(line)`` as for `parse_edn` (a time limit)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise HistoryError(path, line, "(edn)", f"not UTF-8 text (byte {e.start}): binary garbage?") from None
    try:
        forms = list(parse_edn(text, tick))
    except EdnSyntaxError as e:
        raise HistoryError(path, e.line, "(edn)", e.problem) from None
    if len(forms) == 1 and isinstance(forms[0][1], list):
        # A whole history printed as one vector: recover each map's line from its position.
        ops = _vector_lines(text, forms[0][0], forms[0][1])
    else:
        ops = forms
    for line, m in ops:
        if not isinstance(m, dict):
            raise HistoryError(path, line, "(event)", f"expected an EDN map, got {type(m).__name__}")
    exact = text.startswith(EXPORT_MARK)
    keyed = not exact and _looks_keyed(ops)
    kv = not exact and any(m.get(Keyword("f")) in KV_FS for _, m in ops)
    for line, m in ops:
        yield line, _to_event(m, keyed, kv, exact)


def _vector_lines(text: str, start: int, items: list[Any]) -> list[tuple[int, Any]]:
    """Attribute line numbers to the elements of one big vector, one element per map opening."""
    lines: list[int] = []
    depth = 0
    line = 1
    in_str = False
    esc = False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "[({":
            depth += 1
            if depth == 2:
                lines.append(line)
        elif ch in "])}":
            depth -= 1
    if len(lines) != len(items):
        return [(start, m) for m in items]
    return list(zip(lines, items, strict=True))


# --- export ------------------------------------------------------------------------------------


def _edn_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _kw_ok(s: str) -> bool:
    return bool(s) and re.fullmatch(r"[A-Za-z*+!_?<>=][\w*+!\-?<>=.]*", s) is not None


def to_edn(v: Any, keyword_strings: bool = False) -> str:
    """Render a JSON-like value as EDN; map keys become keywords when they can."""
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return ":" + v if keyword_strings and _kw_ok(v) else _edn_str(v)
    if isinstance(v, list | tuple):
        return "[" + " ".join(to_edn(x) for x in v) + "]"
    if isinstance(v, dict):
        parts = []
        for k, x in v.items():
            kk = ":" + k if isinstance(k, str) and _kw_ok(k) else to_edn(k)
            parts.append(f"{kk} {to_edn(x)}")
        return "{" + ", ".join(parts) + "}"
    return _edn_str(str(v))


#: The fields `event_to_edn` writes in its own order (every other field follows, as it is).
_OWN_FIELDS = ("type", "f", "value", "key", "process", "time", "index")


def _field_name(name: str) -> str:
    return ":" + name if _kw_ok(name) else _edn_str(name)


def event_to_edn(ev: dict[str, Any]) -> str:
    """One docs/HISTORY.md event as a Jepsen op map: a keyed operation has ``:value [k v]`` (Jepsen's
    ``independent`` tuple) and ``:key k`` (which `read_edn_events` goes by in a file opening with
    `EXPORT_MARK`); every field of the event is written, Jepsen's readers ignoring those they do not know."""
    parts = [f":type :{ev['type']}", f":f {to_edn(ev['f'], keyword_strings=True)}"]
    if "key" in ev:
        parts.append(f":value [{to_edn(ev['key'])} {to_edn(ev.get('value'))}]")
    else:
        parts.append(f":value {to_edn(ev.get('value'))}")
    proc = ev["process"]
    parts.append(":process :nemesis" if proc == "nemesis" else f":process {to_edn(proc)}")
    parts.append(f":time {to_edn(ev.get('time'))}")
    parts.append(f":index {ev['index']}")
    if "key" in ev:
        parts.append(f":key {to_edn(ev['key'])}")
    for name, v in ev.items():
        if name not in _OWN_FIELDS:
            parts.append(f"{_field_name(name)} {to_edn(v, keyword_strings=(name == 'error'))}")
    return "{" + ", ".join(parts) + "}"


def write_edn(events: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Write events as a Jepsen EDN history, one op map a line after the `EXPORT_MARK` comment line;
    returns the count written."""
    out.write(EXPORT_MARK)
    out.write("\n")
    n = 0
    for ev in events:
        out.write(event_to_edn(ev))
        out.write("\n")
        n += 1
    return n
