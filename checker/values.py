"""Value identity: two history values are the same value only when their JSON type and value agree.

Python says ``True == 1 == 1.0`` (with equal hashes), so a dict keyed by raw values would take a
read of ``true`` for a read of ``1``. Every checker matches values through `vkey`, which keeps
strings and integers as they are (the common case, and they never equal each other) and tags
every other type with its name; lists and objects become hashable tuples of tagged items, so a
``[1, 2, 3]`` value can be matched too instead of crashing a dict look-up.

A value nested deeper than `DEEP` levels (histories allow 10,000) would overflow the recursion
limit there, and its nested tuples could not even be compared or printed: it becomes
``("deep", text)`` instead, one canonical string built without recursion. Whether a value is deep
depends on the value alone, so the same value always gets the same key.
"""

from __future__ import annotations

from typing import Any

#: Values nested deeper than this get a canonical string key (`deep_key`) rather than nested tuples.
DEEP = 64
_CONTAINERS = (list, tuple, dict)


def vkey(v: Any) -> Any:
    """A hashable key equal for two values exactly when they are the same JSON value."""
    t = type(v)
    if t is str or t is int or v is None:
        return v
    if t is bool:
        return ("bool", v)
    if t is float:
        return ("float", v)
    if t is list or t is tuple or t is dict:
        return ("deep", deep_key(v)) if deeper_than(v, DEEP) else _nested_key(v)
    return _scalar_key(v)


def _nested_key(v: Any) -> Any:
    """`vkey` of a list or object at most `DEEP` levels deep."""
    t = type(v)
    if t is list or t is tuple:
        return ("list", tuple(_nested_key(x) if type(x) in _CONTAINERS else vkey(x) for x in v))
    if t is dict:
        return ("object", tuple(sorted(((vkey(k), _nested_key(x) if type(x) in _CONTAINERS else vkey(x))
                                        for k, x in v.items()), key=repr)))
    return vkey(v)


def deeper_than(v: Any, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels in `v` (without recursion)."""
    stack = [(v, 1)]
    while stack:
        x, depth = stack.pop()
        if depth > limit:
            return True
        for y in x.values() if type(x) is dict else x:
            if type(y) in _CONTAINERS:
                stack.append((y, depth + 1))
    return False


_END_LIST = object()
_END_OBJECT = object()


def deep_key(v: Any) -> str:
    """A canonical text for a list or object of any depth, built without recursion: scalars as the
    repr of their `vkey` (escaped, so never containing NUL), brackets for containers, object members
    sorted, tokens separated by NUL."""
    out: list[str] = []
    stack: list[Any] = [v]
    while stack:
        x = stack.pop()
        if x is _END_LIST:
            out.append("]")
            continue
        if x is _END_OBJECT:
            out.append("}")
            continue
        t = type(x)
        if t is list or t is tuple:
            out.append("[")
            stack.append(_END_LIST)
            stack.extend(reversed(x))
        elif t is dict:
            out.append("{")
            stack.append(_END_OBJECT)
            members = sorted(((repr(vkey(k)), y) for k, y in x.items()), key=lambda m: m[0], reverse=True)
            for name, y in members:
                stack.append(y)
                stack.append(_Member(name))
        elif t is _Member:
            out.append(x.name + ":")
        else:
            out.append(repr(vkey(x)))
    return "\0".join(out)


class _Member:
    """An object member's name in `deep_key`'s work stack (told apart from the values there)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _scalar_key(v: Any) -> Any:
    if isinstance(v, str):  # str subclasses (EDN keywords, already plain by now) compare as strings
        return str(v)
    if isinstance(v, int):
        return ("int", int(v))
    return (type(v).__name__, repr(v))


def preview(v: Any, limit: int = 60) -> str:
    """A value as JSON-ish text of at most ``limit`` characters, built without recursion (so a value
    nested thousands of levels deep is shown by its beginning); a deep key's text shows as itself."""
    if type(v) is str and "\0" in v:  # a `deep_key`
        text = v.replace("\0", "")
        return text if len(text) <= limit else text[: limit - 3] + "..."
    out: list[str] = []
    size = 0
    stack: list[Any] = [v]
    while stack and size <= limit:
        x = stack.pop()
        if x is _END_LIST or x is _END_OBJECT:
            token = "]" if x is _END_LIST else "}"
        elif type(x) is _Member:
            token = x.name + ": "
        elif type(x) is list or type(x) is tuple:
            token = "["
            stack.append(_END_LIST)
            stack.extend(reversed(x))
        elif type(x) is dict:
            token = "{"
            stack.append(_END_OBJECT)
            for k, y in reversed(list(x.items())):
                stack.append(y)
                stack.append(_Member(repr(k)))
        else:
            token = repr(x)
        out.append(token)
        size += len(token)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."


BRIEF_CHARS = 40
"""Characters of a long key or value an explanation shows: MinikeyDB's keys reach 1 KiB and its values
32 KiB, and an anomaly names them several times."""


def brief(text: str, limit: int = BRIEF_CHARS) -> str:
    """``text`` (a key or value as an explanation writes it) cut to its first ``limit`` characters with its
    size in bytes after them ("k0000000...(1,024 bytes)"), when longer than ``limit`` + 20; else as it is."""
    if len(text) <= limit + 20:
        return text
    return f"{text[:limit]}... ({len(text.encode('utf-8', 'surrogatepass')):,} bytes)"
