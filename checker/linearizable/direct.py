"""Events straight to the search's arrays, for the common histories of the register family.

`pair_records` then a model's `split_records` and `compile_part` make a record per operation,
then walk the records again to compile them. For a register, cas-register or kv history of
reads, writes, cas, gets, puts and deletes, `direct_parts` does all three in one pass over the
events: each completion appends its operation's (call, return, kind, values) to its part, and
the records are never made. It covers only well-formed histories: anything it does not
handle (an unknown `type` or `f`, a completion without its invocation, a missing field, an
append, an observed failed cas, a kv operation without a key...) makes it give up (None), and
the caller takes the general path, which reports the error or compiles the part exactly as
before. The arrays it makes are those the general path makes (`_register_arrays` after
`drop_unobserved`): the same operations in the same order with the same values, so a search of
either gives the same outcome and the general path can explain it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from checker.linearizable.models import (
    K_CAS,
    K_READ,
    K_WRITE,
    CasRegisterModel,
    CompiledOp,
    CompiledPart,
    Flags,
    KvModel,
    Model,
    RegisterModel,
)
from checker.linearizable.operations import freeze, own_keys
from checker.timelimit import COMPILING, EVERY, TimeLimit

if TYPE_CHECKING:
    from checker.linearizable import cyshim as cython
else:
    try:
        import cython
    except ImportError:
        from checker.linearizable import cyshim as cython

#: The fields every event must have for this path (a missing one: the general path), then "key".
_NAMES = ("process", "type", "f", "value", "index", "key")


def _fields(events: Sequence[dict]) -> tuple[Any, str]:
    """An itemgetter of the fields every event must have, and the name "key", spelt with the first
    event's own key objects (`own_keys`: the same lookups, cheaper)."""
    *names, key = own_keys(events, _NAMES)
    return itemgetter(*names), key

#: What each model's operations do here: test (read, get), set (write, put), delete or cas (C
#: constants when compiled).
_TEST: cython.Py_ssize_t = 0
_SET: cython.Py_ssize_t = 1
_DELETE: cython.Py_ssize_t = 2
_CAS: cython.Py_ssize_t = 3
_ACTS: dict[type, dict[str, int]] = {
    RegisterModel: {"read": _TEST, "write": _SET},
    CasRegisterModel: {"read": _TEST, "write": _SET, "cas": _CAS},
    KvModel: {"get": _TEST, "read": _TEST, "put": _SET, "write": _SET, "delete": _DELETE, "cas": _CAS},
}


class DirectHistory:
    """What `direct_parts` made of a history: its parts' arrays and the counts the stats report."""

    __slots__ = ("null_reads", "op_counts", "operations", "part_operations", "parts")

    def __init__(self, parts: dict[Any, CompiledPart], part_operations: dict[Any, int],
                 operations: int, op_counts: dict[str, dict[str, int]], null_reads: int = 0) -> None:
        #: part key -> its operations as a `CompiledPart` without records (before `drop_unobserved`)
        self.parts = parts
        #: part key -> how many operations the part has, compiled or not
        self.part_operations = part_operations
        #: how many client operations the history has
        self.operations = operations
        #: f -> {"ok": n, "fail": n, "info": n}, in the order the fs were first invoked
        self.op_counts = op_counts
        #: acknowledged reads that returned null, taken to match anything (`null_read="any"`; else 0)
        self.null_reads = null_reads


def _no_records(recs: list[list[Any]]) -> list[CompiledOp]:
    raise RuntimeError("a part made by direct_parts has no records: compile it with the general path to explain it")


def _well_formed_cas(value: Any) -> bool:
    """Whether a cas value is an [expected, new] pair."""
    return (type(value) is list or type(value) is tuple) and len(value) == 2


def direct_parts(events: Sequence[dict], model: Model, flags: Flags, limit: TimeLimit | None = None) -> DirectHistory | None:
    """The parts of a register, cas-register or kv history straight from its events, or None when
    the history is anything but well-formed reads, writes, cas, gets, puts and deletes (or a
    failed cas is observed): the general path then compiles it or reports its error. Raises
    `TimeLimitExceeded` when `limit` runs out (looked at every few thousand events)."""
    acts = _ACTS.get(type(model))
    if acts is None or flags.fail_cas != "not-applied":
        return None
    kv: cython.bint = type(model) is KvModel
    null_any: cython.bint = flags.null_read == "any"
    # f -> [act, ok, failed, info]; filled in the order the fs are first invoked
    seen: dict = {}
    # part key -> [its (call, return, kind, a, b) tuples in completion order, its operation count]
    parts: dict = {}
    pending: dict = {}
    pop = pending.pop
    setdefault = pending.setdefault
    uncertain: cython.bint = False  # whether any write is uncertain (else `drop_unobserved` has nothing to look at)
    last_key: Any = parts  # (no key is this dict) the key of the last invocation, and its part
    part: list[Any] = [[], 0]
    out_part: list = part[0]  # part[0]
    act: cython.Py_ssize_t
    pos: cython.Py_ssize_t
    start: cython.Py_ssize_t
    fc: list  # (C list operations when compiled)
    out: list
    event: dict
    run: cython.Py_ssize_t = 0  # invocations of `part` not yet counted in it
    done: tuple
    nulls: cython.Py_ssize_t = 0  # acknowledged null reads taken to match anything (counted where they are skipped)
    fields, key_name = _fields(events)
    rows = map(fields, events)
    try:
        # One pass, locals only (this loop is most of the time of checking a small history), in
        # chunks of EVERY + 1 events with a look at the clock between them (not in the loop).
        for start in range(0, len(events), EVERY + 1):
            if start and limit is not None and limit.passed():
                raise limit.exceeded(COMPILING, f"event {start:,} of {len(events):,}")
            for pos, (process, kind, f, value, index) in enumerate(islice(rows, EVERY + 1), start):
                if type(process) is not int:
                    continue  # not a client: the nemesis
                if type(index) is not int:
                    return None
                if kind == "invoke":
                    fc = seen.get(f)  # type: ignore[assignment]
                    if fc is None:
                        new_act = acts.get(f) if type(f) is str else None
                        if new_act is None:
                            return None  # not an operation of the model, or an append
                        fc = seen[f] = [new_act, 0, 0, 0]
                    event = events[pos]  # (an event that is no dict: TypeError, so the general path)
                    key = event.get(key_name)
                    if key is not last_key:
                        part[1] += run
                        run = 0
                        part = parts.get(key)  # type: ignore[assignment]
                        if part is None:
                            if kv and key is None:
                                return None
                            part = parts[key] = [[], 0]
                        out_part = part[0]
                        last_key = key
                    run += 1
                    op = (pos, f, fc, value, out_part)
                    if setdefault(process, op) is not op:
                        return None
                    continue
                done = pop(process)  # (none pending: KeyError, so None below)
                call, f0, fc, ivalue, out = done
                if f != f0 and f is not None:
                    return None
                act = fc[0]
                if kind == "ok":
                    fc[1] += 1
                    if act == _TEST:
                        if value is None:
                            if null_any:
                                nulls += 1
                                continue
                        elif type(value) is not str and type(value) is not int:
                            value = freeze(value)
                        out.append((call, pos, K_READ, value, None))
                    elif act == _SET:
                        if not (value is None or type(value) is str or type(value) is int):
                            value = freeze(value)
                        out.append((call, pos, K_WRITE, value, None))
                    elif act == _DELETE:
                        out.append((call, pos, K_WRITE, None, None))
                    elif (type(value) is list or type(value) is tuple) and len(value) == 2:
                        out.append((call, pos, K_CAS, freeze(value[0]), freeze(value[1])))
                    else:
                        return None  # a malformed cas
                elif kind == "fail":
                    fc[2] += 1
                    if act == _CAS and not ((type(ivalue) is list or type(ivalue) is tuple) and len(ivalue) == 2):
                        return None
                elif kind == "info":
                    fc[3] += 1
                    if act != _TEST:
                        uncertain = _uncertain(call, act, ivalue, out) or uncertain
                else:
                    return None
        part[1] += run
        for call, _f, fc, ivalue, out in pending.values():  # never completed: as info
            fc[3] += 1
            if fc[0] != _TEST:
                uncertain = _uncertain(call, fc[0], ivalue, out) or uncertain
    except (KeyError, TypeError, IndexError, AttributeError):
        return None  # a missing field, an event that is no object, an unhashable key or f, a malformed cas
    compiled: dict[Any, CompiledPart] = {}
    counts: dict[Any, int] = {}
    for n_part, (key, (out, n)) in enumerate(parts.items()):
        if limit is not None and limit.passed():
            raise limit.exceeded(COMPILING, f"part {n_part + 1:,} of {len(parts):,}")
        counts[key] = n
        if out:
            out.sort()  # invocation order, as the records are (calls are distinct positions)
            call_, ret_, kind_, va_, vb_ = map(list, zip(*out, strict=True))
        else:
            call_, ret_, kind_, va_, vb_ = [], [], [], [], []
        compiled[key] = CompiledPart(None, call_, ret_, kind_, va_, vb_, _no_records, uncertain)
    op_counts = {f: {"ok": fc[1], "fail": fc[2], "info": fc[3]} for f, fc in seen.items()}
    return DirectHistory(compiled, counts, sum(fc[1] + fc[2] + fc[3] for fc in seen.values()), op_counts, nulls)


def _uncertain(call: int, act: int, value: Any, out: list[Any]) -> bool:
    """Append an operation that may take effect late or never (info, never completed): True for an
    uncertain write; raises TypeError (so: the general path) for a malformed cas."""
    if act == _SET:
        if not (value is None or type(value) is str or type(value) is int):
            value = freeze(value)
        out.append((call, None, K_WRITE, value, None))
        return True
    if act == _DELETE:
        out.append((call, None, K_WRITE, None, None))
        return True
    if not _well_formed_cas(value):
        raise TypeError("malformed cas")
    out.append((call, None, K_CAS, freeze(value[0]), freeze(value[1])))
    return False
