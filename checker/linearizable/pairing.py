"""Pair a history's events into operation records (`pair_records`), in a module of its own so that
it can be compiled: with Cython installed at build time, `pip install` compiles this file as it
does `direct.py` and `walk.py` (Cython's pure-Python mode), and the compiled module is used while
this source is unchanged (`compiled.py`). Without Cython or a C compiler this same file runs as
plain Python. The records and the errors are `operations.py`'s (`pair_operations` makes its
`Operation`s from them).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from checker.linearizable.operations import (
    R_CALL_INDEX,
    R_F,
    R_RET_POS,
    R_STATUS,
    R_VALUE,
    HistoryInputError,
    _where,
    own_keys,
)
from checker.timelimit import COMPILING, EVERY, TimeLimit

if TYPE_CHECKING:
    from checker.linearizable import cyshim as cython
else:
    try:
        import cython
    except ImportError:  # not installed: the declarations mean plain Python
        from checker.linearizable import cyshim as cython

#: The fields `pair_records` reads from each event, then the optional ones it reads with `get`.
_NAMES = ("process", "type", "f", "index", "time", "value", "key")
# Where the record keeps what a completion sets (`Operation`'s fields), as C constants when compiled.
_F: cython.Py_ssize_t = R_F
_VALUE: cython.Py_ssize_t = R_VALUE
_STATUS: cython.Py_ssize_t = R_STATUS
_RET_POS: cython.Py_ssize_t = R_RET_POS
_COMPLETE_INDEX: cython.Py_ssize_t = 8
_COMPLETE_TIME: cython.Py_ssize_t = 10


def pair_records(events: Sequence[dict], limit: TimeLimit | None = None) -> list[list[Any]]:
    """`pair_operations` as plain lists in `Operation`'s field order (same checks, same errors;
    `TimeLimitExceeded` when `limit` runs out, looked at every few thousand events).

    A list costs a fifth of an `Operation` to make; the checker makes `Operation`s only for the
    operations it searches and for the parts it explains.
    """
    recs: list[list[Any]] = []
    pending: dict[int, list[Any]] = {}
    pos: cython.Py_ssize_t
    every: cython.Py_ssize_t = EVERY
    done: list
    new = recs.append
    get_pending = pending.pop
    *names, value_name, key_name = own_keys(events, _NAMES)
    fields = itemgetter(*names)
    # One pass, locals only: this loop is a third of the time of checking the Knossos corpus.
    for pos, event in enumerate(events):
        if not pos & every and limit is not None and pos and limit.passed():
            raise limit.exceeded(COMPILING, f"event {pos:,} of {len(events):,}")
        try:
            # One C call for the fields a history read from a file always has.
            process, kind, f, index, time = fields(event)
        except (KeyError, TypeError, IndexError):
            if type(event) is not dict and not isinstance(event, dict):
                raise HistoryInputError(
                    f"{_where(event, pos)}: expected a JSON object, got {type(event).__name__}"
                ) from None
            process = event.get("process")
            kind = event.get("type")
            f = event.get("f")
            index = event.get("index", pos)
            time = event.get("time")
        # (itemgetter succeeded: a mapping with the fields; anything else took the except path)
        if type(process) is not int:
            continue  # not a client: the nemesis, or another non-int process
        if type(index) is not int:
            raise HistoryInputError(f"{_where(event, pos)}: field 'index' must be an int, got {index!r}")
        if type(time) is not int:
            time = None
        if kind == "invoke":
            if type(f) is not str:
                raise HistoryInputError(f"{_where(event, pos)}: field 'f' must be a string, got {f!r}")
            if process in pending:
                earlier = pending[process]
                raise HistoryInputError(
                    f"{_where(event, pos)}: process {process} invokes {f!r} while its {earlier[R_F]!r} "
                    f"invoked at event {earlier[R_CALL_INDEX]} has not completed"
                )
            get = event.get
            pending[process] = rec = [process, f, get(value_name), "info", get(key_name), pos, None, index, None, time, None]
            new(rec)
            continue
        if kind != "ok" and kind != "fail" and kind != "info":
            raise HistoryInputError(
                f"{_where(event, pos)}: field 'type' must be one of invoke, ok, fail, info; got {kind!r}"
            )
        done = get_pending(process, None)  # type: ignore[arg-type]
        if done is None:
            raise HistoryInputError(
                f"{_where(event, pos)}: process {process} completes {f!r} with {kind!r} "
                "but has no pending invocation"
            )
        if f != done[_F] and f is not None:
            raise HistoryInputError(
                f"{_where(event, pos)}: completion f {f!r} does not match the invocation's {done[R_F]!r} "
                f"(event {done[R_CALL_INDEX]})"
            )
        done[_STATUS] = kind
        done[_COMPLETE_INDEX] = index
        done[_COMPLETE_TIME] = time
        if kind == "ok":
            done[_RET_POS] = pos
            done[_VALUE] = event.get(value_name)
        elif kind == "fail":
            done[_RET_POS] = pos
    return recs
