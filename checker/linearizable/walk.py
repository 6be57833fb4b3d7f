"""The search loop over interned states (`search.py`'s `_search`), in a module of its own so that
it can be compiled: with Cython installed at build time, `pip install` compiles this file and
`direct.py` (Cython's pure-Python mode: the `cython.` declarations type the loop's counters as C
integers), and the compiled module is used while this source is unchanged (`compiled.py`).
Without Cython or a C compiler this same file runs as plain Python; the algorithm has one copy.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Sequence
from itertools import repeat
from operator import add, mul
from time import perf_counter
from typing import TYPE_CHECKING, Any

from checker.linearizable.compiled import let_signals_run
from checker.linearizable.models import K_CAS, K_READ, K_WRITE

if TYPE_CHECKING:
    from checker.linearizable import cyshim as cython
else:
    try:
        import cython
    except ImportError:  # not installed: the declarations mean plain Python
        from checker.linearizable import cyshim as cython

#: Whether an uncertain state change may not be followed directly by a blind write (`search.py`).
RESTRICT_AFTER_OPTIONAL = True

# How the search applies an operation to a state id: READ tests equality with one value, WRITE sets
# one regardless of the state, CAS tests one and sets another (a `CompiledPart`'s kinds).
READ, WRITE, CAS = K_READ, K_WRITE, K_CAS
# The same, as C constants in the loops when compiled.
_READ: cython.Py_ssize_t = K_READ
_WRITE: cython.Py_ssize_t = K_WRITE
_CAS: cython.Py_ssize_t = K_CAS

#: Why `walk` stopped: decided, the deadline, the cap on cached configurations, the memory budget.
DONE, TIME, CAP, MEMORY = 0, 1, 2, 3

#: How many list entries `walk` looks at between two looks at the clock and at pending signals:
#: by work done, not by placements, since before one placement the search may pass every pending
#: operation (a few hundred microseconds of work compiled, a few milliseconds as plain Python).
POLL_WORK = 1 << 14

#: What `walk` returns: (valid, why it stopped, configurations cached, code, best_ret,
#: best_prefix, best_state, values, memo), the locals `search._outcome` makes the outcome of.
WalkResult = tuple[bool | str, int, int, Any, int, Any, int, list[Any], list[set[int]]]


try:
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
    _PAGE = 4096


def _ints(n: int, fill: int) -> Any:
    """`n` integers `fill`, for the search's per-entry and per-operation arrays: compiled, an
    `array('q')` the loop reads as a C array (`cython.longlong[:]`, no Python int per access);
    as plain Python, a list (faster to index there). Values fit 64 bits: positions, counts, ids."""
    if cython.compiled:
        return array("q", [fill]) * n
    return [fill] * n


def rss_bytes() -> int | None:
    """This process's resident set size, or None where /proc is not available."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _time_is_up(deadline: float | None) -> bool:
    """Whether the `perf_counter()` `deadline` has passed, after letting Python run the signal
    handlers pending (a Ctrl-C or the harness's SIGTERM raises here, out of `walk`)."""
    let_signals_run()
    return deadline is not None and perf_counter() > deadline


# The per-entry and per-operation arrays are C arrays when compiled (see `_ints`).
@cython.locals(
    code=cython.longlong[:], nxt=cython.longlong[:],
    prv=cython.longlong[:], ret_entry=cython.longlong[:],
    kind=cython.longlong[:], arg_a=cython.longlong[:],
    arg_b=cython.longlong[:], readonly=cython.longlong[:],
    blind=cython.longlong[:], optional=cython.longlong[:],
    restricts=cython.longlong[:], reader_of=cython.longlong[:],
    writer_of=cython.longlong[:], readers=cython.longlong[:],
    writers=cython.longlong[:],
)
def walk(
    call: Sequence[int],
    ret: Sequence[int | None],
    kinds: Sequence[int],
    va: Sequence[Any],
    vb: Sequence[Any],
    bit: Sequence[int],
    flag: int,
    init: Any,
    deadline: float | None,
    max_configurations: int | None,
    memory_budget: int | None,
    rss0: int | None,
) -> WalkResult:
    """Search one part of reads, writes and cas (`CompiledPart` arrays) from `init`, with `bit` and
    `flag` the bitsets of its operations (`search._bits(n)`, `1 << n`); stops with
    "unknown" at the `time.perf_counter()` `deadline`, past `max_configurations`, or when the
    resident memory grew by more than `memory_budget` bytes over `rss0` (-1: taken at the first
    look). The arrays may be any sequences (a `list` annotation would make the compiled copy refuse
    a tuple). It looks at the clock, and lets pending signal handlers run, every `POLL_WORK` entries
    looked at; at the cap and the memory every 1024 placements."""
    # C integers when compiled (plain ints otherwise); the bitsets stay Python ints (any size).
    n: cython.Py_ssize_t = len(call)
    i: cython.Py_ssize_t
    m: cython.Py_ssize_t
    span: cython.Py_ssize_t
    head: cython.Py_ssize_t
    tail: cython.Py_ssize_t
    ohead: cython.Py_ssize_t
    otail: cython.Py_ssize_t
    e: cython.Py_ssize_t
    c: cython.Py_ssize_t
    k: cython.Py_ssize_t
    key: cython.Py_ssize_t
    ns: cython.Py_ssize_t
    p: cython.Py_ssize_t
    q: cython.Py_ssize_t
    r: cython.Py_ssize_t
    sid: cython.Py_ssize_t
    after: cython.Py_ssize_t
    last_main: cython.Py_ssize_t
    last_opt: cython.Py_ssize_t
    state: cython.Py_ssize_t
    cached: cython.Py_ssize_t
    remaining: cython.Py_ssize_t
    limit: cython.Py_ssize_t
    best_ret: cython.Py_ssize_t
    best_state: cython.Py_ssize_t
    check_every: cython.Py_ssize_t
    scanned: cython.Py_ssize_t
    next_poll: cython.Py_ssize_t
    after_optional: cython.bint
    seen: set
    # One pass over the operations builds the per-operation arrays the search reads (a pass each
    # cost twice the search itself on small parts), and counts the readers and writers of each
    # value. States are small integers (`ids[value]`, `values[id]`), interned in the order init,
    # then per operation its value(s). Entries are encoded as `pos * span + code + n` to sort
    # plain ints.
    state = 0
    ids: dict = {init: 0}
    values: list = [init]
    span = 2 * n + 1
    keys: list = list(map(add, map(mul, call, repeat(span)), range(n, 2 * n)))
    add_key = keys.append
    kind_a = _ints(n + 1, READ)  # the fake optional op n is never placed (reaching its entry ends the walk)
    kind = kind_a
    arg_a = _ints(n + 1, -1)
    arg_b = _ints(n + 1, -1)
    readonly = _ints(n + 1, 0)
    blind = _ints(n + 1, 0)
    optional = _ints(n + 1, 1)
    restricts = _ints(n + 1, 0)
    reader_of = _ints(n + 1, -1)
    writer_of = _ints(n + 1, -1)
    # Counts per value (state id): unplaced must-ops that test for it, unplaced ops that produce it;
    # at most two values per operation and the init, plus the dummy slot (-1, the last) counted by
    # operations that read or produce no value.
    readers = _ints(2 * n + 2, 0)
    writers = _ints(2 * n + 2, 0)
    remaining = 0
    for i, k, v, rp in zip(range(n), kinds, va, ret, strict=True):
        kind[i] = k
        readonly[i] = k == _READ
        blind[i] = k == _WRITE
        got = ids.get(v)
        if got is None:
            sid = ids[v] = len(values)
            values.append(v)
        else:
            sid = got
        arg_a[i] = sid
        if rp is not None:
            add_key(rp * span + ~i + n)
            optional[i] = False
            remaining += 1
            if k != _WRITE:
                reader_of[i] = sid
                readers[sid] += 1
        elif k != _READ:
            restricts[i] = RESTRICT_AFTER_OPTIONAL
        if k == _WRITE:
            writer_of[i] = sid
            writers[sid] += 1
        elif k == _CAS:
            v = vb[i]
            got = ids.get(v)
            if got is None:
                sid = ids[v] = len(values)
                values.append(v)
            else:
                sid = got
            arg_b[i] = writer_of[i] = sid
            writers[sid] += 1
    keys.sort()
    m = len(keys)
    # Entries 1..m in real-time order; code[e] is the op index for a call, ~index for a return.
    # Two lists over the same arrays: the main list (head 0, tail m + 1) holds the calls and
    # returns of the operations that must take effect; the optional list (head m + 2, tail
    # m + 3) holds the calls of uncertain ones, tried only when the main walk is stuck at a
    # return. The optional tail's code is a fake optional op n, and its entry number exceeds
    # every return, so reaching it ends the optional walk.
    head, tail, ohead, otail = 0, m + 1, m + 2, m + 3
    code_a = _ints(m + 4, 0)
    code = code_a
    nxt = _ints(m + 4, 0)
    prv = _ints(m + 4, 0)
    ret_entry = _ints(n + 1, 0)
    if remaining == n:
        # No uncertain operation (most parts): the main list is every entry in order.
        for e in range(tail):
            nxt[e] = e + 1
            prv[e + 1] = e
        nxt[ohead], prv[otail] = otail, ohead
        e = 0
        for key in keys:
            e += 1
            k = key % span - n
            code[e] = k
            if k < 0:
                ret_entry[~k] = e
    else:
        last_main, last_opt = head, ohead
        e = 0
        for key in keys:
            e += 1
            k = key % span - n
            code[e] = k
            if k < 0:
                ret_entry[~k] = e
            elif optional[k]:
                nxt[last_opt] = e
                prv[e] = last_opt
                last_opt = e
                continue
            nxt[last_main] = e
            prv[e] = last_main
            last_main = e
        nxt[last_main], prv[tail] = tail, last_main
        nxt[last_opt], prv[otail] = otail, last_opt
    code[otail] = n
    # `bit[i]` is `1 << i` and `flag` is `1 << n` (marks cached configurations whose last operation
    # was an uncertain state change): Python ints made by the caller, never C shifts (which would
    # overflow past 63 operations).
    after_optional = False

    # The memo: memo[state id] is the set of placed-operation bitsets seen with that state.
    memo: list = [set() for _ in values]
    memo[state].add(0)
    cached = 1
    # The placements made, newest first, as nested (entry, state before, limit before, below)
    # tuples: one tuple per placement instead of three list appends, and the stack at the
    # furthest point so far is kept as it is (no copy). Every placement caches one new
    # configuration, so the placements made are `cached - 1` (the empty start is cached too).
    stack: tuple[int, int, int, Any] | None = None
    bits = 0
    limit = 0  # during the optional walk: the return the main walk is stuck at
    best_ret = 0
    best_prefix: tuple[int, int, int, Any] | None = None
    best_state = state
    check_every = 1023 if (max_configurations is not None or rss0 is not None) else -1
    scanned = 0  # list entries looked at, for the clock and the signals (`POLL_WORK`)
    next_poll = POLL_WORK

    if remaining == 0:
        return True, DONE, cached, code_a, best_ret, best_prefix, best_state, values, memo
    e = nxt[head]
    # Until the search first backtracks, every configuration it reaches is new (the set of placed
    # operations only grows), so this first loop neither looks the memo up nor adds to it: most
    # parts of the Knossos corpus are decided without a single backtrack. When no candidate is
    # left, the memo is filled with the configurations on the stack (all it would hold by then)
    # and the loop below goes on from the same entry, exactly as if it had run from the start.
    while True:
        scanned += 1
        c = code[e]
        if c >= 0:
            if optional[c] and e > limit:
                break  # no candidate left: backtrack, below
            if after_optional and blind[c]:
                e = nxt[e]
                continue
            k = kind[c]
            if k == _READ:
                if state != arg_a[c]:
                    e = nxt[e]
                    continue
                ns = state
            elif k == _WRITE:
                ns = arg_a[c]
            else:  # CAS
                if state != arg_a[c]:
                    e = nxt[e]
                    continue
                ns = arg_b[c]
            if ns != state and writer_of[c] >= 0:
                if readers[state] > (reader_of[c] == state) and not writers[state]:
                    e = nxt[e]
                    continue  # would strand operations that still need the current value
            cached += 1
            stack = (e, state, limit, stack)
            bits |= bit[c]
            state = ns
            after_optional = restricts[c]
            readers[reader_of[c]] -= 1  # (-1: the dummy slot)
            writers[writer_of[c]] -= 1
            p = prv[e]
            q = nxt[e]
            nxt[p] = q
            prv[q] = p
            r = ret_entry[c]
            if r:
                p = prv[r]
                q = nxt[r]
                nxt[p] = q
                prv[q] = p
                remaining -= 1
                if not remaining:
                    return True, DONE, cached, code_a, best_ret, best_prefix, best_state, values, memo
            if scanned >= next_poll:
                next_poll = scanned + POLL_WORK
                if _time_is_up(deadline):
                    return "unknown", TIME, cached, code_a, best_ret, best_prefix, best_state, values, memo
            if cached & check_every == 1:  # (every 1024 placements, when there are limits)
                if max_configurations is not None and cached > max_configurations:
                    return "unknown", CAP, cached, code_a, best_ret, best_prefix, best_state, values, memo
                if rss0 is not None and memory_budget is not None:
                    rss = rss_bytes()
                    if rss0 < 0:
                        rss0 = rss
                    elif rss is not None and rss - rss0 > memory_budget:
                        return "unknown", MEMORY, cached, code_a, best_ret, best_prefix, best_state, values, memo
            e = nxt[head]
            continue
        if e > best_ret:
            best_ret = e
            best_prefix = stack
            best_state = state
        limit = e
        e = nxt[ohead]
    # The configurations the memo would hold: one per placement on the stack (newest first: the
    # placed set and the state after each placement).
    placed_bits, after, node = bits, state, stack
    while node is not None:
        c = code[node[0]]
        memo[after].add(placed_bits | flag if restricts[c] else placed_bits)
        placed_bits ^= bit[c]
        after = node[1]
        node = node[3]
    while True:
        scanned += 1
        c = code[e]
        if c >= 0:
            if optional[c] and e > limit:
                pass  # the optional walk passed the stuck return: no candidate left here
            elif after_optional and blind[c]:
                e = nxt[e]
                continue
            else:
                k = kind[c]
                if k == _READ:
                    if state != arg_a[c]:
                        e = nxt[e]
                        continue
                    ns = state
                elif k == _WRITE:
                    ns = arg_a[c]
                else:  # CAS
                    if state != arg_a[c]:
                        e = nxt[e]
                        continue
                    ns = arg_b[c]
                if ns != state and writer_of[c] >= 0:
                    # (c itself may be one of the readers: a cas consuming the value it tests)
                    if readers[state] > (reader_of[c] == state) and not writers[state]:
                        e = nxt[e]
                        continue  # would strand operations that still need the current value
                nb = bits | bit[c]
                placed = nb | flag if restricts[c] else nb
                seen = memo[ns]
                if placed not in seen:
                    seen.add(placed)
                    cached += 1
                    stack = (e, state, limit, stack)
                    bits = nb
                    state = ns
                    after_optional = restricts[c]
                    readers[reader_of[c]] -= 1  # (-1: the dummy slot)
                    writers[writer_of[c]] -= 1
                    p = prv[e]
                    q = nxt[e]
                    nxt[p] = q
                    prv[q] = p
                    r = ret_entry[c]
                    if r:
                        p = prv[r]
                        q = nxt[r]
                        nxt[p] = q
                        prv[q] = p
                        remaining -= 1
                        if not remaining:
                            return True, DONE, cached, code_a, best_ret, best_prefix, best_state, values, memo
                    if scanned >= next_poll:
                        next_poll = scanned + POLL_WORK
                        if _time_is_up(deadline):
                            return "unknown", TIME, cached, code_a, best_ret, best_prefix, best_state, values, memo
                    if cached & check_every == 1:  # (every 1024 placements, when there are limits)
                        if max_configurations is not None and cached > max_configurations:
                            return "unknown", CAP, cached, code_a, best_ret, best_prefix, best_state, values, memo
                        if rss0 is not None and memory_budget is not None:
                            rss = rss_bytes()
                            if rss0 < 0:
                                rss0 = rss
                            elif rss is not None and rss - rss0 > memory_budget:
                                return "unknown", MEMORY, cached, code_a, best_ret, best_prefix, best_state, values, memo
                    e = nxt[head]
                    continue
                if not readonly[c]:
                    e = nxt[e]
                    continue
                # A read-only op leads to a configuration already seen (and failed): this one is dead.
        else:
            # The first return not yet placed: how far this configuration got through the history.
            if e > best_ret:
                best_ret = e
                best_prefix = stack
                best_state = state
            # Stuck: before giving up on this configuration, try the uncertain operations invoked before it.
            limit = e
            e = nxt[ohead]
            continue
        # Backtrack: undo placements until one that was a real choice (not a greedy read-only one).
        # (Every run of entries looked at ends in a placement or here: the clock is looked at in both.)
        if scanned >= next_poll:
            next_poll = scanned + POLL_WORK
            if _time_is_up(deadline):
                return "unknown", TIME, cached, code_a, best_ret, best_prefix, best_state, values, memo
        while True:
            if stack is None:
                return False, DONE, cached, code_a, best_ret, best_prefix, best_state, values, memo
            e, state, limit, stack = stack
            c = code[e]
            bits ^= bit[c]
            readers[reader_of[c]] += 1
            writers[writer_of[c]] += 1
            r = ret_entry[c]
            if r:
                p = prv[r]
                q = nxt[r]
                nxt[p] = r
                prv[q] = r
                remaining += 1
            p = prv[e]
            q = nxt[e]
            nxt[p] = e
            prv[q] = e
            if not readonly[c]:
                break
        after_optional = restricts[code[stack[0]]] if stack is not None else False
        e = nxt[e]
