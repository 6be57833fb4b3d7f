"""``--init``: the model's initial state as JSON, decoded by one rule for every command that takes it.

`harness.py check`/`report` (checker/cli.py) and `python -m checker.linearizable` both call
`decode_init`, so a value one refuses the other refuses too, with the same one line: not JSON,
NaN/Infinity or a number beyond a float's range (JSON has no such numbers, and a history's values
cannot hold them), or arrays and objects nested past `MAX_INIT_DEPTH` levels (deeper, the results
that carry it could not be written, and past about 1,000 Python's JSON decoder overflows its recursion
limit).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_INIT_DEPTH = 200
"""Arrays and objects ``--init`` may nest. The results carry the init (``stats.init``), and they are written
with orjson, which refuses past 255 levels, and the stdlib's JSON, which recurses a level a frame (past
about 1,000 levels a RecursionError); 200 leaves room for the results around it, as the EDN reader's limit."""
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


class InitError(ValueError):
    """An ``--init`` that is not a JSON value a history could hold; the message is one line."""


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_INIT_DEPTH:
        return False
    depth = 0
    for b in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if b in "[{" else -1
        if depth > MAX_INIT_DEPTH:
            return True
    return False


def _no_constant(name: str) -> Any:
    raise InitError(f"--init: {name} is not a finite number (JSON has no NaN or Infinity)")


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are all different (JSON would keep the last of a name given twice, silently)."""
    value = dict(pairs)
    if len(value) < len(pairs):
        seen: set[str] = set()
        twice = next(name for name, _ in pairs if name in seen or seen.add(name))  # type: ignore[func-returns-value]
        raise InitError(f"--init: an object names {twice!r} twice: which value is meant?")
    return value


def decode_init(text: str, flag: str = "--init") -> Any:
    """The JSON value of ``text``, or `InitError` naming the flag and what is wrong."""
    if _too_deep(text):
        raise InitError(f"{flag}: nested deeper than {MAX_INIT_DEPTH:,} levels of arrays and objects: "
                        "not an initial state")
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_names)
    except InitError as e:
        raise InitError(str(e).replace("--init", flag, 1)) from None
    except json.JSONDecodeError as e:
        stripped = text.strip()
        hint = (" (a JSON string keeps its quotes: --init '\"\"')"
                if not stripped or stripped[0] not in '{["-0123456789tfn' else "")
        raise InitError(f"{flag}: not valid JSON ({e}){hint}") from None
    except RecursionError:  # (the depth check above keeps this from happening; one line all the same)
        raise InitError(f"{flag}: nested too deeply for the JSON decoder") from None
    todo = [value]
    while todo:
        v = todo.pop()
        if type(v) is float and not math.isfinite(v):
            raise InitError(f"{flag}: a number beyond a float's range (read as {v!r}) is not a finite number")
        if type(v) is list:
            todo.extend(v)
        elif type(v) is dict:
            todo.extend(v.values())
    return value


def init_note(unused: list[str]) -> str:
    """The one-line warning for ``--init`` names no key of the history has (`models.unused_init_keys`)."""
    shown = ", ".join(repr(k) for k in unused[:5]) + (f" and {len(unused) - 5:,} more" if len(unused) > 5 else "")
    return (f"--init names {'a key' if len(unused) == 1 else 'keys'} no operation of the history uses: {shown} "
            "(those start nothing; a typo? an integer key is named by its digits, \"1\" for key 1)")


def init_both_note(names: list[str]) -> str:
    """The one-line warning for ``--init`` names that name an integer key and a string key alike (1 and "1")."""
    shown = ", ".join(repr(k) for k in names[:5]) + (f" and {len(names) - 5:,} more" if len(names) > 5 else "")
    return (f"--init {'name' if len(names) == 1 else 'names'} {shown} give the same initial value to an integer key "
            "and a string key of the history (1 and \"1\"): JSON names are strings, so the two cannot be told apart")
