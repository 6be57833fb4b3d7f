"""JSON numbers orjson cannot hold, read exactly or refused with the number named.

orjson reads integers beyond 64 bits as floats and refuses any number beyond the range of a double
("number is infinity"): an integer of 310 digits, or ``1e400``. The JSON grammar allows both. Such a
line is read again by the standard library (``loads_exact``), which keeps every integer exact (as a
Python int) up to Python's conversion limit, and refuses with a sentence naming the number
(`NumberError`) a non-integer beyond a 64-bit float's range or an integer past that limit. The
history reader and the Maelstrom runner both use it, so a number a node writes is judged, or
refused for the same reason, on both sides.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

INT_DIGITS = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300
"""The most digits Python converts between an int and its text (4300 by default; 0 means no limit)."""


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A ``\\ud800``-``\\udfff`` escape: half of a UTF-16 pair, which the stdlib reads even alone (orjson refuses)."""


class NumberError(ValueError):
    """A JSON number no reader here can hold; the message names it and says why."""


def _shown(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if INT_DIGITS and digits > INT_DIGITS:
        raise NumberError(f"an integer too large ({digits} digits): more than the {INT_DIGITS} digits Python "
                          "converts")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:
        raise NumberError(f"the number {_shown(text)} is out of range of a 64-bit float: valid JSON, but no "
                          "double holds it (the largest is about 1.8e308)")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_exact(raw: bytes | str) -> Any:
    """``raw`` parsed with every integer exact; `NumberError` for a number that cannot be held,
    ``ValueError`` for what is not JSON (NaN and Infinity included)."""
    value = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start:exc.end].encode("utf-16", "surrogatepass")[2:].hex()
            raise ValueError(f"a lone UTF-16 surrogate escape (\\u{bad[2:]}{bad[:2]} without its pair): not a "
                             "Unicode character") from None
    return value
