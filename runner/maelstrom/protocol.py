"""Maelstrom's wire protocol: one JSON message per line, ``{"src", "dest", "body"}``.

What a node may write on stdout and what the harness writes on its stdin (Maelstrom's
``doc/protocol.md``): a body has a ``type``, an optional ``msg_id`` (an integer the sender picks)
and, in a reply, ``in_reply_to`` (the request's ``msg_id``). Node ids are ``n0``, ``n1``, ...;
clients are ``c<k>``; services are named (``lin-kv``, ``seq-kv``, ``lww-kv``, ``lin-tso``).

Errors are bodies of type ``error`` with a numeric ``code`` and a ``text``. Each code is either
*definite* (the operation certainly did not happen: the history records ``fail``) or not (it may
have happened: ``info``), as Maelstrom's error table says (``ERRORS``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from checker.json_numbers import NumberError, loads_exact

MAX_DEPTH = 100
"""A message nested deeper than this (objects and arrays, the envelope included) is refused: the
harness re-encodes parts of it (journal, services, history), and orjson encodes at most 254 levels."""
_LONG_DIGITS = re.compile(rb"\d{19}")
"""A digit run this long may be an integer beyond 64 bits, which orjson would read as a float."""

ERRORS: dict[int, tuple[str, bool]] = {
    0: ("timeout", False),
    1: ("node-not-found", True),
    10: ("not-supported", True),
    11: ("temporarily-unavailable", True),
    12: ("malformed-request", True),
    13: ("crash", False),
    14: ("abort", True),
    20: ("key-does-not-exist", True),
    21: ("key-already-exists", True),
    22: ("precondition-failed", True),
    30: ("txn-conflict", True),
}
"""Maelstrom's error codes: code -> (name, definite). Codes not listed are taken as indefinite
(Maelstrom: a custom error is not known to be definite); codes >= 1000 are the node's own."""

TIMEOUT = 0
KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22
NOT_SUPPORTED = 10
MALFORMED = 12
TEMPORARILY_UNAVAILABLE = 11

SERVICES = ("lin-kv", "seq-kv", "lww-kv", "lin-tso")
"""The services the harness serves to nodes, by their Maelstrom names."""


class ProtocolError(ValueError):
    """A line on a node's stdout that is not a Maelstrom message; the message says why."""


def error_name(code: object) -> str:
    """``key-does-not-exist`` for 20; ``error-<code>`` for a code Maelstrom does not name."""
    if isinstance(code, int) and code in ERRORS:
        return ERRORS[code][0]
    return f"error-{code}"


def definite(code: object) -> bool:
    """Did the operation certainly not happen? Only for the codes Maelstrom calls definite."""
    return isinstance(code, int) and code in ERRORS and ERRORS[code][1]


def parse_line(line: bytes) -> dict[str, Any]:
    """One stdout line as a message; ``ProtocolError`` for anything else (not JSON, fields missing)."""
    try:
        if _LONG_DIGITS.search(line):  # integers beyond 64 bits stay exact (the stdlib parser keeps them)
            msg = loads_exact(line)
        else:
            try:
                msg = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if "infinity" not in str(exc):
                    raise
                msg = loads_exact(line)  # a number beyond a double's range (1e400): named, as the checker does
    except NumberError as exc:
        raise ProtocolError(str(exc)) from None
    except (orjson.JSONDecodeError, ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(_not_json(line, exc)) from None
    except RecursionError:
        raise ProtocolError(f"nested more than {MAX_DEPTH} levels deep") from None
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and depth(msg) > MAX_DEPTH:
        raise ProtocolError(f"nested more than {MAX_DEPTH} levels deep")
    if type(msg) is not dict:
        raise ProtocolError("not a JSON object")
    src, dest, body = msg.get("src"), msg.get("dest"), msg.get("body")
    if type(src) is not str or not src:
        raise ProtocolError("field 'src' must be a non-empty string")
    if type(dest) is not str or not dest:
        raise ProtocolError("field 'dest' must be a non-empty string")
    if type(body) is not dict:
        raise ProtocolError("field 'body' must be an object")
    if type(body.get("type")) is not str:
        raise ProtocolError("field 'body.type' must be a string")
    return msg


def _not_json(line: bytes, exc: Exception) -> str:
    """Why ``line`` is not JSON: a byte that is not UTF-8 or a raw control byte, by column, else the parser's words."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not JSON: byte 0x{line[bad.start]:02x} at column {bad.start + 1} is not UTF-8"
    if line.startswith(b"\xef\xbb\xbf"):
        return "not JSON: it starts with a UTF-8 byte order mark (EF BB BF); write UTF-8 without one"
    control = re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", line)
    if control is not None:
        return (f"not JSON: control byte 0x{line[control.start()]:02x} at column {control.start() + 1} "
                "(JSON strings escape them, e.g. \\u0000)")
    words = re.sub(r":? line 1 column (\d+) \(char \d+\)$", r" at column \1", str(exc))
    return f"not JSON: {words[:160]}" if words else "not JSON"


def depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects (a scalar: 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest
        stack.extend((v, level) for v in item if isinstance(v, (dict, list)))
    return deepest


def dumps(value: Any, newline: bool = False) -> bytes:
    """JSON bytes of ``value``: orjson, or the stdlib for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE if newline else None)
    except TypeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return (text + "\n" if newline else text).encode()


def encode(src: str, dest: str, body: dict[str, Any]) -> bytes:
    """One message as the line the harness writes to a node's stdin (newline included)."""
    return dumps({"src": src, "dest": dest, "body": body}, newline=True)


def error_body(in_reply_to: object, code: int, text: str) -> dict[str, Any]:
    """An ``error`` reply to the request whose ``msg_id`` was ``in_reply_to``."""
    return {"type": "error", "in_reply_to": in_reply_to, "code": code, "text": text}


def short(line: bytes, limit: int = 120) -> str:
    """A stdout line as it can be quoted in a one-line error."""
    text = line.decode("utf-8", "replace").rstrip("\n")
    return repr(text if len(text) <= limit else text[:limit] + "...")
