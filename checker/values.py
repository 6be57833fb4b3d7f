"""Value identity: two history values are the same value only when their JSON type and value agree.

Python says ``True == 1 == 1.0`` (with equal hashes), so a dict keyed by raw values would take a
read of ``true`` for a read of ``1``. Every checker matches values through `vkey`, which keeps
strings and integers as they are (the common case, and they never equal each other) and tags
every other type with its name; lists and objects become hashable tuples of tagged items, so a
``[1, 2, 3]`` value can be matched too instead of crashing a dict look-up.
"""

from __future__ import annotations

from typing import Any


def vkey(v: Any) -> Any:
    """A hashable key equal for two values exactly when they are the same JSON value."""
    t = type(v)
    if t is str or t is int or v is None:
        return v
    if t is bool:
        return ("bool", v)
    if t is float:
        return ("float", v)
    if t is list or t is tuple:
        return ("list", tuple(vkey(x) for x in v))
    if t is dict:
        return ("object", tuple(sorted(((vkey(k), vkey(x)) for k, x in v.items()), key=repr)))
    if isinstance(v, str):  # str subclasses (EDN keywords, already plain by now) compare as strings
        return str(v)
    if isinstance(v, int):
        return ("int", int(v))
    return (type(v).__name__, repr(v))
