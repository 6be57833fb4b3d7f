"""The Wing-Gong/Lowe search for a linearization of one independent part of a history.

This is the just-in-time linearization of Lowe ("Testing for linearizability", 2017) as
Porcupine implements it (github.com/anishathalye/porcupine, checker.go):

- Every operation has a *call* entry and, if it must take effect by then, a *return* entry, all
  in one doubly-linked list in real-time order. Walking the list from the head, any call met
  before the first return is a candidate to take effect next; meeting a return means the
  operation it belongs to was not placed in time, so the search backtracks.
- Placing an operation *lifts* its entries out of the list (dancing links); backtracking puts
  them back in reverse order from an undo stack, so neither step copies anything.
- A cache of (set of placed operations as an int bitset, model state) pairs prunes the search:
  reaching a configuration already seen can only fail again.
- `info` and never-completed operations have no return entry (they return at infinity): they
  may be placed whenever legal, and the search succeeds as soon as every operation that must
  take effect is placed, leaving the uncertain rest "never happened". Their calls live in a
  second list that is walked only when the main walk is stuck at a return (and only up to
  that return), so a pile of timed-out operations is neither rescanned on every step nor
  placed speculatively before anything needs it.
- A read-only operation (its step never changes the state) that is legal now is placed
  greedily: any linearization that places it later stays valid with it moved here. So when
  backtracking pops a read-only operation, the configuration below it is dead too, and when a
  read-only placement leads to a configuration already seen, the current one is dead.
- An uncertain (info) operation immediately followed by a blind write (a write whose result
  does not depend on the state) changes nothing anyone can see, so linearizations containing
  that pattern need not be explored: after placing an uncertain state-changing operation the
  next one may not be a blind write. The restriction is part of the cached configuration.
  Uncertain blind writes of a value nothing ever tests for are dropped before the search
  (`drop_unobserved`): without them a timed-out write that nobody read costs nothing.
- Leaving a value nobody can write again while an operation that must still take effect
  needs it is fatal (with unique written values: overwriting a value before all its readers
  are placed). When every state change of the part has a known result (registers, kv without
  append), the search counts, per value, the unplaced operations that must still see it and
  the unplaced ones that could still produce it, and never makes such a move.

- With appends (kv), a string that is no prefix of any string an operation of the part tests
  for can never be read again: appends only extend it and every test fails on it until a put
  or delete replaces it. All such strings have the same future, so the value search caches
  them as one state, and the orders of appends nobody reads before a put collapse into one
  configuration per set of placed operations.

The search is bounded by a deadline and a cap on cached configurations; running out gives
`unknown` with how far it got, never a guess.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import eq, ne
from typing import Any

import checker.linearizable.walk as _walk_source  # (a missing walk.py is named as missing)
from checker.linearizable.compiled import pick
from checker.linearizable.models import BAD, CompiledOp, CompiledPart
from checker.linearizable.operations import R_CALL_POS, R_RET_POS
from checker.linearizable.walk import CAP, CAS, MEMORY, READ, RESTRICT_AFTER_OPTIONAL, TIME, WRITE
from checker.linearizable.walk import rss_bytes as _rss_bytes

#: The search loop (`walk.py`), compiled when a current compiled copy is built (`compiled.py`).
walk = pick("walk", _walk_source).walk

#: `1 << i` for the first operations of a part, made once (small parts are most parts); read only.
_BITS: list[int] = []
_BITS_KEPT = 4096


def _bits(n: int) -> list[int]:
    """A list whose item i is `1 << i`, for i < n (shared for small n: never write to it)."""
    if n > _BITS_KEPT:
        return [1 << i for i in range(n)]
    if len(_BITS) < n:
        _BITS.extend(1 << i for i in range(len(_BITS), n))
    return _BITS


#: Rough bytes one cached configuration costs (set slot, the bitset int); the per-op part is the
#: bitset's size. Used to turn a memory budget into a cap on cached configurations.
BYTES_PER_CONFIGURATION = 100


def configuration_bytes(n_ops: int) -> int:
    """What one cached configuration of a part of `n_ops` operations is taken to cost: the fixed
    part and its bitset of placed operations (one bit each). The cap on cached configurations is a
    memory budget divided by this (`check._max_configurations`), and its reason gives it."""
    return BYTES_PER_CONFIGURATION + n_ops // 8

#: The state `_search_values` caches for every string no operation of the part can see again.
_DEAD: Any = object()


@dataclass(slots=True)
class SearchOutcome:
    """What the search of one part found.

    `prefix` is the longest linearizable prefix found (indices into the compiled operations, in
    linearization order): the configuration that got furthest through the history in real time.
    `blocked` is the operation whose completion that configuration could not get past, with
    `state` the model state after the prefix and `seen` the states `blocked` could have taken
    effect in across the explored configurations.
    """

    valid: bool | str
    configurations: int
    placements: int
    seconds: float
    prefix: list[int] = field(default_factory=list)
    blocked: int | None = None
    state: Any = None
    seen: list[Any] = field(default_factory=list)
    reason: str = ""


def _cap_reason(memory_budget: int | None, cached: int, n_ops: int) -> str:
    """Why a search of a part of `n_ops` operations stopped at its cap on cached configurations
    (which the memory budget sets, at `configuration_bytes(n_ops)` each)."""
    if memory_budget is None:
        return f"the cap on cached configurations ran out ({cached} configurations cached)"
    return (f"memory budget of {_size_text(memory_budget)} ran out ({cached} configurations cached, "
            f"about {configuration_bytes(n_ops)} bytes each)")


def _held_reason(memory_budget: int | None, cached: int, held: int) -> str:
    """Why a search stopped when the states its cache holds outgrew the memory budget."""
    return (f"memory budget of {_size_text(memory_budget or 0)} ran out ({cached} configurations cached, "
            f"holding {_size_text(held)} of states)")


def _size_text(n: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n} bytes"


def search(
    cops: Sequence[CompiledOp],
    init: Any,
    *,
    time_budget: float | None = None,
    max_configurations: int | None = None,
    deadline: float | None = None,
    memory_budget: int | None = None,
) -> SearchOutcome:
    """Decide whether the compiled operations of one part have a linearization from `init`.

    Stops with `unknown` when `time_budget` seconds have passed, at the absolute
    `time.perf_counter()` `deadline`, when more than `max_configurations` are cached, or when this
    process's resident memory grew by more than `memory_budget` bytes. Running out of memory or
    recursion depth inside a model's step is `unknown` too, never an exception.
    """
    started = time.perf_counter()
    time_reason = "the overall time limit ran out"
    if time_budget is not None and (deadline is None or started + time_budget <= deadline):
        deadline = started + time_budget
        time_reason = f"time budget of {time_budget} s ran out"
    # The resident-memory baseline is taken at the first periodic check (after 1024 placements),
    # so that the many small parts never pay for reading /proc.
    rss0 = -1 if memory_budget is not None else None
    try:
        found = _search(cops, init, started, deadline, time_reason, max_configurations, memory_budget, rss0)
        if found is None:  # an operation whose step is no write or equality test
            return _search_values(cops, init, started, deadline, time_reason, max_configurations, memory_budget, rss0)
        return found
    except (MemoryError, RecursionError, SystemError) as exc:
        return SearchOutcome(
            valid="unknown",
            configurations=0,
            placements=0,
            seconds=time.perf_counter() - started,
            state=init,
            reason=f"the search ran out of resources ({type(exc).__name__}: {exc})".replace(": )", ")"),
        )


def _search(
    cops: Sequence[CompiledOp],
    init: Any,
    started: float,
    deadline: float | None,
    time_reason: str,
    max_configurations: int | None,
    memory_budget: int | None,
    rss0: int | None,
) -> SearchOutcome | None:
    """The search over interned states; None, before searching, for a part with an operation whose
    step is neither a blind write nor one equality test (`_search_values` searches those)."""
    if type(cops) is CompiledPart:  # compiled straight into arrays (register-like models)
        call, ret, kinds, va, vb = cops.call, cops.ret, cops.kind, cops.va, cops.vb
    else:
        arrays = _arrays_of(cops)
        if arrays is None:
            return None  # a step no write or equality test: `_search_values` searches this part
        call, ret, kinds, va, vb = arrays
    n = len(call)
    valid, why, cached, code, best_ret, best_prefix, best_state, values, memo = walk(
        call, ret, kinds, va, vb, _bits(n), 1 << n, init, deadline, max_configurations, memory_budget, rss0)
    if why == TIME:
        reason = time_reason
    elif why == CAP:
        reason = _cap_reason(memory_budget, cached, n)
    elif why == MEMORY:
        reason = f"memory budget of {_size_text(memory_budget or 0)} ran out ({cached} configurations cached)"
    else:
        reason = ""
    return _outcome(valid, reason, cached, started, code, best_ret, best_prefix, best_state, values, call, ret, memo)


def _outcome(
    valid: bool | str, reason: str, cached: int, started: float, code: list[int], best_ret: int,
    best_prefix: tuple[int, int, int, Any] | None, best_state: int, values: list[Any], call: list[int], ret: list[int | None],
    memo: list[set[int]],
) -> SearchOutcome:
    """`_search`'s outcome (a function of its locals, not a closure: a closure would make the
    search loop's counters cell variables, slower to read and write)."""
    blocked = None if best_ret == 0 else ~code[best_ret]
    return SearchOutcome(
        valid=valid,
        configurations=cached,
        placements=cached - 1,
        seconds=time.perf_counter() - started,
        prefix=[code[e] for e in _prefix(best_prefix)],
        blocked=blocked,
        state=values[best_state],
        seen=_states_seen(call, ret, blocked, memo, values) if valid is False and blocked is not None else [],
        reason=reason,
    )


def _arrays_of(
    cops: Sequence[CompiledOp],
) -> tuple[list[int], list[int | None], list[int], list[Any], list[Any]] | None:
    """A `CompiledPart`'s arrays (call, ret, kind, va, vb) for a list of `CompiledOp`s, or None
    when one of them is no read (one equality test), blind write or cas."""
    call: list[int] = []
    ret: list[int | None] = []
    kind: list[int] = []
    va: list[Any] = []
    vb: list[Any] = []
    for cop in cops:
        src = cop.source
        if type(src) is list:  # the record, not yet an `Operation` (see `CompiledOp.op`)
            call_pos, ret_pos = src[R_CALL_POS], src[R_RET_POS]
        else:
            call_pos, ret_pos = src.call_pos, src.ret_pos  # type: ignore[union-attr]
        tests = cop.tests
        one_test = tests is not None and len(tests) == 1
        if cop.blind and cop.produces and not cop.readonly and not (cop.must and one_test):
            kind.append(WRITE)
            va.append(cop.sets)
            vb.append(None)
        elif one_test and cop.readonly:
            kind.append(READ)
            va.append(tests[0])  # type: ignore[index]
            vb.append(None)
        elif one_test and cop.produces:
            kind.append(CAS)
            va.append(tests[0])  # type: ignore[index]
            vb.append(cop.sets)
        else:
            return None
        if cop.must:
            assert ret_pos is not None
        call.append(call_pos)
        ret.append(ret_pos if cop.must else None)
    return call, ret, kind, va, vb


def _drop_unobserved_writes(part: CompiledPart) -> CompiledPart:
    """`drop_unobserved` for a part of reads, writes and cas: only an uncertain write can go."""
    if not part.uncertain_writes:
        return part
    kind, ret = part.kind, part.ret
    va = part.va
    observed = set(compress(va, map(ne, kind, repeat(WRITE))))
    if observed.issuperset(compress(va, map(eq, kind, repeat(WRITE)))):
        return part  # every value written is tested for (two passes in C: the common case)
    return part.subset([i for i, k in enumerate(kind) if k != WRITE or ret[i] is not None or va[i] in observed])


def drop_unobserved(cops: Sequence[CompiledOp]) -> Sequence[CompiledOp]:
    """Drop uncertain writes whose effect no operation of the part could ever have seen.

    - An uncertain blind write whose value nothing tests for, when every operation's dependence
      on the state is an equality test (registers, kv without append): if it took effect, every
      operation until the next write saw its value, and none tests for that value, so none was
      there to see it.
    - An uncertain append of a string no tested value contains (kv with append, every other
      operation an equality test or an append): if it took effect, every state until the next
      put or delete contained it, so no read or cas was there; the appends in between are legal
      without it too (they only need a string or nothing). Without this, each such timed-out
      append doubles the configurations the search must refute a violation in.
    Otherwise the list is returned as is.
    """
    if type(cops) is CompiledPart:
        return _drop_unobserved_writes(cops)
    all_tests = [c.tests for c in cops]
    if None not in all_tests:
        # Every operation is an equality test or a blind write (registers, kv without append):
        # only an uncertain blind write can go, and most parts have none.
        if not any([not c.must and c.blind for c in cops]):
            return cops
        observed = set(chain.from_iterable(all_tests))  # type: ignore[arg-type]
        return [c for c in cops if c.must or not c.blind or c.sets in observed]
    observed = set()
    appends = False
    for c in cops:
        if c.tests is None:
            if c.appends is None:
                return cops
            appends = True
            continue
        observed.update(c.tests)
    if not appends:
        return [c for c in cops if c.must or not c.blind or c.sets in observed]
    tested = "\x00".join(v for v in observed if type(v) is str)

    def unseen(c: CompiledOp) -> bool:
        s = c.appends
        return type(s) is str and s != "" and "\x00" not in s and s not in tested

    return [c for c in cops if c.must or not unseen(c)]


def _search_values(
    cops: Sequence[CompiledOp],
    init: Any,
    started: float,
    deadline: float | None,
    time_reason: str,
    max_configurations: int | None,
    memory_budget: int | None,
    rss0: int | None,
) -> SearchOutcome:
    """The search over the model's own values as states, for parts with GENERIC steps (appends,
    locks, transactions): interning every new state (a longer string after each append) would
    cost more than it saves. Same algorithm as `_search`; the memo is a set of (bitset, state)."""
    n = len(cops)
    entries: list[tuple[int, int]] = []
    for i, cop in enumerate(cops):
        src = cop.source
        if type(src) is list:  # the record, not yet an `Operation` (see `CompiledOp.op`)
            call_pos, ret_pos = src[R_CALL_POS], src[R_RET_POS]
        else:
            call_pos, ret_pos = src.call_pos, src.ret_pos  # type: ignore[union-attr]
        entries.append((call_pos, i))
        if cop.must:
            assert ret_pos is not None
            entries.append((ret_pos, ~i))
    entries.sort()
    m = len(entries)
    # Entries 1..m in real-time order; code[e] is the op index for a call, ~index for a return.
    # Two lists over the same arrays: the main list (head 0, tail m + 1) holds the calls and
    # returns of the operations that must take effect; the optional list (head m + 2, tail
    # m + 3) holds the calls of uncertain ones, tried only when the main walk is stuck at a
    # return. The optional tail's code is a fake optional op n, and its entry number exceeds
    # every return, so reaching it ends the optional walk.
    head, tail, ohead, otail = 0, m + 1, m + 2, m + 3
    code = [0] * (m + 4)
    nxt = [0] * (m + 4)
    prv = [0] * (m + 4)
    ret_entry = [0] * (n + 1)
    last_main, last_opt = head, ohead
    for e, (_pos, c) in enumerate(entries, start=1):
        code[e] = c
        if c < 0:
            ret_entry[~c] = e
        if c >= 0 and not cops[c].must:
            nxt[last_opt] = e
            prv[e] = last_opt
            last_opt = e
        else:
            nxt[last_main] = e
            prv[e] = last_main
            last_main = e
    nxt[last_main], prv[tail] = tail, last_main
    nxt[last_opt], prv[otail] = otail, last_opt
    code[otail] = n
    # The fake optional op n has no step; it is never placed (reaching its entry ends the walk).
    steps: list[Any] = [c.step for c in cops] + [None]
    readonly = [c.readonly for c in cops] + [False]
    optional = [not c.must for c in cops] + [True]
    blind = [c.blind for c in cops] + [False]
    restricts = [(not c.must and not c.readonly) and RESTRICT_AFTER_OPTIONAL for c in cops] + [False]
    # Counts per value: unplaced must-ops that test for it, unplaced ops that can produce it.
    prune = all(c.readonly or c.produces for c in cops)
    value_id: dict[Any, int] = {}
    reader_of = [-1] * (n + 1)
    writer_of = [-1] * (n + 1)
    if prune:
        for i, cop in enumerate(cops):
            if cop.must and cop.tests is not None and len(cop.tests) == 1:
                reader_of[i] = value_id.setdefault(cop.tests[0], len(value_id))
            if cop.produces and not cop.readonly:
                writer_of[i] = value_id.setdefault(cop.sets, len(value_id))
    readers = [0] * len(value_id)
    writers = [0] * len(value_id)
    for i in range(n):
        if reader_of[i] >= 0:
            readers[reader_of[i]] += 1
        if writer_of[i] >= 0:
            writers[writer_of[i]] += 1
    id_of = value_id.get
    bit = _bits(n)
    flag = 1 << n  # marks cached configurations whose last operation was an uncertain state change
    after_optional = False
    remaining = sum(1 for c in cops if c.must)

    # Appends only extend a string: once an append leaves a string T, the operation whose return
    # comes first can see only T extended, unless a put/delete/cas invoked before that return is
    # still unplaced. So an append whose result is no prefix of what that get read is a dead end
    # at once, instead of after every order of the operations invoked meanwhile (`grows`).
    grows = any(c.appends is not None for c in cops) and all(
        c.appends is None or type(c.appends) is str for c in cops
    )
    expect: list[Any] = [None] * (n + 1)
    call_entry = [0] * (n + 1)
    is_reset = bytearray(n + 1)
    placed = bytearray(n + 1)
    resets: list[int] = []
    rank = [0] * (n + 1)
    if grows:
        for e_i in range(1, m + 1):
            if code[e_i] >= 0:
                call_entry[code[e_i]] = e_i
        for i, cop in enumerate(cops):
            if cop.readonly and cop.must and cop.tests is not None and len(cop.tests) == 1:
                if type(cop.tests[0]) is str:
                    expect[i] = cop.tests[0]
            elif cop.appends is None and not cop.readonly:
                is_reset[i] = 1
        resets = sorted((i for i in range(n) if is_reset[i]), key=call_entry.__getitem__)
        for k_i, i in enumerate(resets):
            rank[i] = k_i
    n_resets = len(resets)
    first_reset = 0  # resets[first_reset] is the unplaced reset invoked first
    # A string that is no prefix of any string an operation of the part tests for can never be
    # seen again: appends only extend it and every test fails on it, until a put or delete
    # replaces it. All such strings have the same future, so the cache keeps them as one state
    # (`_DEAD`): the orders of appends nobody reads collapse into one configuration. Only where
    # every operation is an equality test, a blind write or a string append (`dead_ok`).
    dead_ok = grows and all(c.tests is not None or type(c.appends) is str for c in cops)
    tested = sorted({v for c in cops if c.tests is not None for v in c.tests if type(v) is str}) if dead_ok else []
    n_tested = len(tested)
    dead_rep: list[Any] = []  # the first string the cache keeps as `_DEAD` (for `seen`)
    no_reset = m + 10

    check_every = 1023 if (deadline is not None or max_configurations is not None or rss0 is not None) else -1
    # The string states the cache holds (appends make each one longer): counted against the memory
    # budget as they are cached, since a thousand configurations of megabyte strings outgrow the
    # budget long before the periodic resident-memory check would see it.
    held = 0
    held_cap = memory_budget if grows else None
    cache: set[tuple[int, Any]] = {(0, init)}
    cache_add = cache.add
    stack_e: list[int] = []
    stack_s: list[Any] = []
    stack_l: list[int] = []
    push_e = stack_e.append
    push_s = stack_s.append
    push_l = stack_l.append
    pop_e = stack_e.pop
    pop_s = stack_s.pop
    pop_l = stack_l.pop
    bits = 0
    state = init
    limit = 0  # during the optional walk: the return the main walk is stuck at
    placements = 0
    best_ret = 0
    best_prefix: list[int] = []
    best_state = init

    def outcome(valid: bool | str, reason: str = "") -> SearchOutcome:
        blocked = None if best_ret == 0 else ~code[best_ret]
        return SearchOutcome(
            valid=valid,
            configurations=len(cache),
            placements=placements,
            seconds=time.perf_counter() - started,
            prefix=[code[e] for e in best_prefix],
            blocked=blocked,
            state=best_state,
            seen=_values_seen(cops, blocked, cache, dead_rep) if valid is False and blocked is not None else [],
            reason=reason,
        )

    if remaining == 0:
        return outcome(True)
    e = nxt[head]
    while True:
        c = code[e]
        if c >= 0:
            if optional[c] and e > limit:
                pass  # the optional walk passed the stuck return: no candidate left here
            elif after_optional and blind[c]:
                e = nxt[e]
                continue
            else:
                ns = steps[c](state)
                if ns is BAD:
                    e = nxt[e]
                    continue
                if grows and ns is not state and type(ns) is str:
                    kr = first_reset
                    while kr < n_resets and (placed[resets[kr]] or resets[kr] == c):
                        kr += 1  # (c, a put, is no reset still to come)
                    reset_e = call_entry[resets[kr]] if kr < n_resets else no_reset
                    # Every unplaced get from the head to the first get's return: one whose return
                    # comes before any reset can still be invoked reads ns extended, or nothing.
                    stranded = False
                    r = nxt[head]
                    while r != tail:
                        cr = code[r]
                        if cr >= 0:
                            want = expect[cr]
                            if want is not None and reset_e > ret_entry[cr] and not want.startswith(ns):
                                stranded = True
                                break
                        else:
                            want = expect[~cr]
                            if want is not None:
                                stranded = reset_e > r and not want.startswith(ns)
                                break
                        r = nxt[r]
                    if stranded:
                        e = nxt[e]
                        continue  # a pending get can no longer read what it read
                if prune and writer_of[c] >= 0 and ns != state:
                    v = id_of(state)
                    # (c itself may be one of the readers: a cas consuming the value it tests)
                    if v is not None and readers[v] > (reader_of[c] == v) and not writers[v]:
                        e = nxt[e]
                        continue  # would strand operations that still need the current value
                nb = bits | bit[c]
                kns = ns
                if dead_ok and type(ns) is str:
                    t = bisect_left(tested, ns)
                    if t == n_tested or not tested[t].startswith(ns):
                        kns = _DEAD
                        if not dead_rep:
                            dead_rep.append(ns)
                k = (nb | flag, kns) if restricts[c] else (nb, kns)
                if k not in cache:
                    cache_add(k)
                    if held_cap is not None and kns is ns and type(ns) is str:
                        held += len(ns)
                        if held + len(cache) * BYTES_PER_CONFIGURATION > held_cap:
                            return outcome("unknown", _held_reason(memory_budget, len(cache), held))
                    push_e(e)
                    push_s(state)
                    push_l(limit)
                    bits = nb
                    if grows:
                        placed[c] = 1
                        if is_reset[c]:
                            while first_reset < n_resets and placed[resets[first_reset]]:
                                first_reset += 1
                    state = ns
                    after_optional = restricts[c]
                    if prune:
                        v = reader_of[c]
                        if v >= 0:
                            readers[v] -= 1
                        v = writer_of[c]
                        if v >= 0:
                            writers[v] -= 1
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
                            placements += 1
                            return outcome(True)
                    placements += 1
                    if placements & check_every == 0:
                        if deadline is not None and time.perf_counter() > deadline:
                            return outcome("unknown", time_reason)
                        if max_configurations is not None and len(cache) > max_configurations:
                            return outcome("unknown", _cap_reason(memory_budget, len(cache), n))
                        if rss0 is not None and memory_budget is not None:
                            rss = _rss_bytes()
                            if rss0 < 0:
                                rss0 = rss
                            elif rss is not None and rss - rss0 > memory_budget:
                                return outcome(
                                    "unknown",
                                    f"memory budget of {_size_text(memory_budget)} ran out "
                                    f"({len(cache)} configurations cached)",
                                )
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
                best_prefix = stack_e[:]
                best_state = state
            # Stuck: before giving up on this configuration, try the uncertain operations invoked before it.
            limit = e
            e = nxt[ohead]
            continue
        # Backtrack: undo placements until one that was a real choice (not a greedy read-only one).
        while True:
            if not stack_e:
                return outcome(False)
            e = pop_e()
            state = pop_s()
            limit = pop_l()
            c = code[e]
            bits ^= bit[c]
            if grows:
                placed[c] = 0
                if is_reset[c] and rank[c] < first_reset:
                    first_reset = rank[c]
            if prune:
                v = reader_of[c]
                if v >= 0:
                    readers[v] += 1
                v = writer_of[c]
                if v >= 0:
                    writers[v] += 1
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
        after_optional = restricts[code[stack_e[-1]]] if stack_e else False
        e = nxt[e]


def _prefix(stack: tuple[Any, ...] | None) -> list[int]:
    """The entries placed on a search stack (nested (entry, state, limit, below) tuples), bottom first."""
    entries = []
    while stack is not None:
        entries.append(stack[0])
        stack = stack[3]
    entries.reverse()
    return entries


def _states_seen(
    calls: list[int], rets: list[int | None], blocked: int, memo: list[set[int]], values: list[Any]
) -> list[Any]:
    """The states in which `blocked` was a candidate, over the explored configurations.

    `blocked` is a candidate in a configuration when every operation that must complete before
    it was invoked is placed and it is not.
    """
    call = calls[blocked]
    mask = 0
    for i, r in enumerate(rets):
        if r is not None and r < call:
            mask |= 1 << i
    own = 1 << blocked
    seen = [values[sid] for sid, bitsets in enumerate(memo) if any(b & mask == mask and not b & own for b in bitsets)]
    return sorted(seen, key=repr)


def _values_seen(
    cops: Sequence[CompiledOp], blocked: int, cache: set[tuple[int, Any]], dead_rep: list[Any] | None = None
) -> list[Any]:
    """`_states_seen` over `_search_values`'s memo of (bitset, state value); the strings cached as
    `_DEAD` are shown by the first of them (`dead_rep`)."""
    call = cops[blocked].op.call_pos
    mask = 0
    for i, c in enumerate(cops):
        if c.must and c.op.ret_pos is not None and c.op.ret_pos < call:
            mask |= 1 << i
    own = 1 << blocked
    seen = {s for b, s in cache if b & mask == mask and not b & own}
    if _DEAD in seen:
        seen.discard(_DEAD)
        if dead_rep:
            seen.add(dead_rep[0])
    return sorted(seen, key=repr)
