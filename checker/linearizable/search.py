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
  take effect is placed, leaving the uncertain rest "never happened".
- A read-only operation (its step never changes the state) that is legal now is placed
  greedily: any linearization that places it later stays valid with it moved here. So when
  backtracking pops a read-only operation, the configuration below it is dead too, and when a
  read-only placement leads to a configuration already seen, the current one is dead.

The search is bounded by a deadline and a cap on cached configurations; running out gives
`unknown` with how far it got, never a guess.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from checker.linearizable.models import BAD, CompiledOp

#: Rough bytes one cached configuration costs (tuple, set slot, the bitset int); the per-op part
#: is the bitset's size. Used to turn a memory budget into a cap on cached configurations.
BYTES_PER_CONFIGURATION = 150


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


def search(
    cops: list[CompiledOp],
    init: Any,
    *,
    time_budget: float | None = None,
    max_configurations: int | None = None,
) -> SearchOutcome:
    """Decide whether the compiled operations of one part have a linearization from `init`."""
    started = time.perf_counter()
    deadline = None if time_budget is None else started + time_budget
    n = len(cops)
    entries: list[tuple[int, int]] = []
    for i, c in enumerate(cops):
        entries.append((c.op.call_pos, i))
        if c.must:
            assert c.op.ret_pos is not None
            entries.append((c.op.ret_pos, ~i))
    entries.sort()
    m = len(entries)
    # Entry 0 is the head sentinel, m + 1 the tail; code[e] is the op index for a call, ~index for a return.
    code = [0] * (m + 2)
    nxt = list(range(1, m + 3))
    prv = list(range(-1, m + 1))
    ret_entry = [0] * n
    for e, (_pos, c) in enumerate(entries, start=1):
        code[e] = c
        if c < 0:
            ret_entry[~c] = e
    steps = [c.step for c in cops]
    readonly = [c.readonly for c in cops]
    bit = [1 << i for i in range(n)]
    remaining = sum(1 for c in cops if c.must)

    cache: set[tuple[int, Any]] = {(0, init)}
    cache_add = cache.add
    stack_e: list[int] = []
    stack_s: list[Any] = []
    push_e = stack_e.append
    push_s = stack_s.append
    pop_e = stack_e.pop
    pop_s = stack_s.pop
    bits = 0
    state = init
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
            seen=states_seen(cops, blocked, cache) if valid is False and blocked is not None else [],
            reason=reason,
        )

    if remaining == 0:
        return outcome(True)
    e = nxt[0]
    while True:
        c = code[e]
        if c >= 0:
            ns = steps[c](state)
            if ns is BAD:
                e = nxt[e]
                continue
            nb = bits | bit[c]
            k = (nb, ns)
            if k not in cache:
                cache_add(k)
                push_e(e)
                push_s(state)
                bits = nb
                state = ns
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
                if not placements & 1023 and (deadline is not None or max_configurations is not None):
                    if deadline is not None and time.perf_counter() > deadline:
                        return outcome("unknown", f"time budget of {time_budget} s ran out")
                    if max_configurations is not None and len(cache) > max_configurations:
                        return outcome(
                            "unknown", f"memory budget ran out ({len(cache)} configurations cached)"
                        )
                e = nxt[0]
                continue
            if not readonly[c]:
                e = nxt[e]
                continue
            # A read-only op leads to a configuration already seen (and failed): this one is dead.
        elif e > best_ret:
            # The first return not yet placed: how far this configuration got through the history.
            best_ret = e
            best_prefix = stack_e[:]
            best_state = state
        # Backtrack: undo placements until one that was a real choice (not a greedy read-only one).
        while True:
            if not stack_e:
                return outcome(False)
            e = pop_e()
            state = pop_s()
            c = code[e]
            bits ^= bit[c]
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
        e = nxt[e]


def states_seen(cops: list[CompiledOp], blocked: int, cache_states: set[tuple[int, Any]]) -> list[Any]:
    """The states in which `blocked` was a candidate, over a set of explored configurations.

    `blocked` is a candidate in a configuration when every operation that must complete before
    it was invoked is placed and it is not.
    """
    call = cops[blocked].op.call_pos
    mask = 0
    for i, c in enumerate(cops):
        if c.must and c.op.ret_pos is not None and c.op.ret_pos < call:
            mask |= 1 << i
    own = 1 << blocked
    seen = {s for b, s in cache_states if b & mask == mask and not b & own}
    return sorted(seen, key=repr)
