"""Synthetic histories for the linearizability bars of issue 16, deterministic from a seed.

- `kv_c50(seed)`: shaped like Porcupine's kv `c50-bad` test data: 50 clients over 10 keys doing
  get/put/append on string values (every key starts at ""), about 1,000 operations per key, each
  taking effect at a random point of its interval on a single copy of the data, a few of them
  crashed (`info`, the client replaced by a new process). With `bad=True` one get of one key
  returns a value its key held before an append that completed before the get began: that key
  (and only that key) is not linearizable. Check with `--model kv --init '""' --null-read absent`.
- `register_stress(seed)`: a single register, 20 processes, values from a small domain (so no
  unique-value pruning helps), a share of crashed writes: the kind of history where the search
  may blow up and must end with a verdict or `unknown` within its budget.
"""

from __future__ import annotations

import random
from typing import Any


def _timeline(
    rng: random.Random, clients: int, ops_total: int, crash: float
) -> list[tuple[float, float, float, int, bool]]:
    """(start, effect, end, process, crashed) per operation; each client runs one op at a time."""
    out = []
    clock = [rng.random() for _ in range(clients)]
    process = list(range(clients))
    next_process = clients
    per = ops_total // clients
    for c in range(clients):
        for _ in range(per):
            start = clock[c] + rng.random() * 0.5
            end = start + 0.2 + rng.random() * 2.0
            effect = start + (end - start) * rng.random()
            crashed = rng.random() < crash
            out.append((start, effect, end, process[c], crashed))
            clock[c] = end
            if crashed:  # a crashed client's process id is never used again
                process[c] = next_process
                next_process += 1
    return out


def _events(ops: list[tuple[float, float, float, dict[str, Any], dict[str, Any] | None]]) -> list[dict[str, Any]]:
    timed: list[tuple[float, int, dict[str, Any]]] = []
    for i, (start, _effect, end, invoke, complete) in enumerate(ops):
        timed.append((start, 2 * i, invoke))
        if complete is not None:
            timed.append((end, 2 * i + 1, complete))
    timed.sort(key=lambda t: (t[0], t[1]))
    return [{**ev, "index": n, "time": int(t * 1e9)} for n, (t, _i, ev) in enumerate(timed)]


def kv_c50(seed: int, *, clients: int = 50, keys: int = 10, ops_per_key: int = 1000, bad: bool = True,
           crash: float = 0.002) -> list[dict[str, Any]]:
    """A Porcupine-kv-like history (see the module docstring); deterministic from `seed`."""
    rng = random.Random(f"kv_c50/{seed}")
    timeline = _timeline(rng, clients, keys * ops_per_key, crash)
    plan = []
    for start, effect, end, process, crashed in timeline:
        key = str(rng.randrange(keys))
        r = rng.random()
        f = "get" if r < 0.5 else ("append" if r < 0.9 else "put")
        plan.append((effect, start, end, process, crashed, key, f))
    state: dict[str, str] = {str(k): "" for k in range(keys)}
    history: dict[str, list[tuple[float, str]]] = {k: [(float("-inf"), "")] for k in state}
    done = []
    token = 0
    for effect, start, end, process, crashed, key, f in sorted(plan):
        token += 1
        value: Any = None
        applies = not crashed or rng.random() < 0.5
        if f == "get":
            value = state[key]
        elif f == "append":
            value = f"x {process} {token} y"
            if applies:
                state[key] += value
                history[key].append((end if not crashed else effect, state[key]))
        else:
            value = f"p {process} {token}"
            if applies:
                state[key] = value
                history[key].append((end if not crashed else effect, value))
        invoke = {"process": process, "type": "invoke", "f": f, "key": key, "value": None if f == "get" else value}
        complete = None
        if crashed:
            if f != "get":
                complete = {"process": process, "type": "info", "f": f, "key": key, "value": value}
        else:
            complete = {"process": process, "type": "ok", "f": f, "key": key, "value": value}
        done.append([start, effect, end, invoke, complete])
    if bad:
        # One get in the middle of key 0 returns a value superseded (by an acknowledged write)
        # before the get began.
        target = str(rng.randrange(keys))
        gets = [d for d in done if d[3]["key"] == target and d[3]["f"] == "get" and d[4] is not None]
        for d in gets[len(gets) // 2 :]:
            older = [v for t, v in history[target] if t < d[0]]
            if len(older) >= 2 and older[-2] != d[4]["value"] and older[-1] == d[4]["value"]:
                d[4] = {**d[4], "value": older[-2]}
                break
    return _events([tuple(d) for d in done])  # type: ignore[misc]


def register_stress(seed: int, *, processes: int = 20, ops: int = 1000, values: int = 5,
                    crash: float = 0.05) -> list[dict[str, Any]]:
    """A single-register history with crashed writes and a small value domain; from `seed`."""
    rng = random.Random(f"register_stress/{seed}")
    timeline = _timeline(rng, processes, ops, crash)
    plan = []
    for start, effect, end, process, crashed in timeline:
        f = "read" if rng.random() < 0.5 else "write"
        plan.append((effect, start, end, process, crashed, f))
    state = 0
    done = []
    for effect, start, end, process, crashed, f in sorted(plan):
        if f == "read":
            value = state
            if crashed:
                continue
        else:
            value = rng.randrange(values)
            if not crashed or rng.random() < 0.5:
                state = value
        invoke = {"process": process, "type": "invoke", "f": f, "value": None if f == "read" else value}
        kind = "info" if crashed else "ok"
        done.append((start, effect, end, invoke, {"process": process, "type": kind, "f": f, "value": value}))
    if seed % 2:  # odd seeds: one read sees a value from long ago (likely a violation)
        reads = [i for i, d in enumerate(done) if d[3]["f"] == "read"]
        i = reads[len(reads) // 2]
        start, effect, end, invoke, complete = done[i]
        done[i] = (start, effect, end, invoke, {**complete, "value": values + 1})
    return _events(done)
