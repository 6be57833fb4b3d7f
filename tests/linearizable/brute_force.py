"""Random small histories (register, cas-register, kv; info, crashed and failed ops, null reads,
both null-read and fail-cas options) and a brute-force reference that tries every real-time order.

``python tests/linearizable/brute_force.py SEED N`` prints each case check_events and the reference disagree on;
``... SEED N dump`` prints check_events' verdicts, to compare two trees.
"""
from __future__ import annotations

import gc
import json
import random
import sys
from typing import Any

from checker.linearizable import check_events

ABSENT = object()


def gen(rng: random.Random, model: str) -> tuple[list[dict], dict]:
    """A random history of at most 7 operations of `model` and the check options for it."""
    nproc = rng.randint(1, 4)
    nops = rng.randint(1, 7)
    vals = [0, 1, 2]
    keys = ["a", "b"] if model == "kv" else [None]
    events: list[dict] = []
    open_: dict[int, dict] = {}
    started = 0
    crashed: set[int] = set()
    while started < nops or open_:
        choices = []
        free = [p for p in range(nproc) if p not in open_ and p not in crashed]
        if started < nops and free:
            choices.append("inv")
        if open_:
            choices.append("ret")
        if not choices:
            break
        c = rng.choice(choices)
        if c == "inv":
            p = rng.choice(free)
            k = rng.choice(keys)
            if model == "register":
                f = rng.choice(["read", "write"])
            elif model == "cas-register":
                f = rng.choice(["read", "write", "cas"])
            else:
                f = rng.choice(["get", "put", "delete", "cas"])
            if f in ("read", "get", "delete"):
                v: Any = None
            elif f == "cas":
                v = [rng.choice(vals), rng.choice(vals)]
            else:
                v = rng.choice(vals)
            ev = {"process": p, "type": "invoke", "f": f, "value": v}
            if k is not None:
                ev["key"] = k
            events.append(ev)
            open_[p] = ev
            started += 1
        else:
            p = rng.choice(list(open_))
            inv = open_.pop(p)
            t = rng.choices(["ok", "fail", "info", "crash"], [70, 10, 10, 10])[0]
            if t == "crash":
                crashed.add(p)  # never completes
                continue
            v = inv["value"]
            if inv["f"] in ("read", "get"):
                if t == "ok":
                    v = rng.choice(vals + [None])
                else:
                    v = None
            ev = {"process": p, "type": t, "f": inv["f"], "value": v}
            if "key" in inv:
                ev["key"] = inv["key"]
            events.append(ev)
    for i, e in enumerate(events):
        e["index"] = i
    opts = {}
    if model == "kv":
        opts["null_read"] = rng.choice(["any", "absent"])
    else:
        opts["null_read"] = rng.choice(["any", "absent"])
        opts["init"] = rng.choice([None, 0])
    if model in ("cas-register", "kv"):
        opts["fail_cas"] = rng.choice(["not-applied", "observed"])
    return events, opts


def ref(events: list[dict], model: str, opts: dict) -> bool:
    """Whether the history is linearizable, by trying every order that respects real time."""
    null_absent = opts.get("null_read") == "absent"
    fail_obs = opts.get("fail_cas") == "observed"
    ops = []
    pend: dict[int, dict] = {}
    for pos, e in enumerate(events):
        if e["type"] == "invoke":
            op = {"f": e["f"], "value": e["value"], "key": e.get("key"), "call": pos, "ret": float("inf"), "st": "info"}
            pend[e["process"]] = op
            ops.append(op)
        else:
            op = pend.pop(e["process"])
            op["st"] = e["type"]
            if e["type"] in ("ok", "fail"):
                op["ret"] = pos
            if e["type"] == "ok":
                op["value"] = e["value"]
    keep = []
    for op in ops:
        if op["st"] == "fail":
            if op["f"] == "cas" and fail_obs:
                op["f"] = "cas-failed"
                op["st"] = "ok"
            else:
                continue
        if op["f"] in ("read", "get") and op["st"] != "ok":
            continue
        keep.append(op)
    ops = keep
    if model == "kv":
        init = {}
    else:
        init = opts.get("init")

    def step(op, st):
        if model == "kv":
            cur = st.get(op["key"], ABSENT) if isinstance(st, dict) else ABSENT
        else:
            cur = st
        f = op["f"]
        v = op["value"]
        def same(a, b):
            return type(a) is type(b) and a == b
        if f in ("read", "get"):
            if v is None:
                if not null_absent:
                    return True, st
                if model == "kv":
                    return cur is ABSENT, st
                return cur is None, st
            return (cur is not ABSENT and same(cur, v)), st
        if f == "cas-failed":
            e = v[0]
            if model == "kv":
                return (cur is ABSENT or not same(cur, e)), st
            return (not same(cur, e)), st
        if f == "cas":
            e, n = v
            if model == "kv":
                if cur is ABSENT or not same(cur, e):
                    return False, st
            elif not same(cur, e):
                return False, st
            new = n
        elif f in ("write", "put"):
            new = v
        elif f == "delete":
            new = ABSENT
        else:
            raise ValueError(f)
        if model == "kv":
            d = dict(st)
            if new is ABSENT:
                d.pop(op["key"], None)
            else:
                d[op["key"]] = new
            return True, d
        return True, new

    n = len(ops)
    seen = set()

    def key_of(placed, st):
        if isinstance(st, dict):
            return placed, tuple(sorted(st.items()))
        return placed, (type(st).__name__, st)

    def go(placed: frozenset, st) -> bool:
        k = key_of(placed, st)
        if k in seen:
            return False
        seen.add(k)
        rem = [i for i in range(n) if i not in placed]
        if all(ops[i]["st"] == "info" for i in rem):
            return True
        minret = min(ops[i]["ret"] for i in rem)
        for i in rem:
            if ops[i]["call"] > minret:
                continue
            ok, st2 = step(ops[i], st)
            if ok and go(placed | {i}, st2):
                return True
        return False

    return go(frozenset(), init)


def main() -> None:
    """The command line (see the module's docstring)."""
    seed0, count = int(sys.argv[1]), int(sys.argv[2])
    only_dump = len(sys.argv) > 3 and sys.argv[3] == "dump"
    bad = 0
    for s in range(seed0, seed0 + count):
        rng = random.Random(s)
        model = rng.choice(["register", "cas-register", "kv"])
        events, opts = gen(rng, model)
        kw = dict(opts)
        r = check_events([dict(e) for e in events], model, workers=1, **kw)
        if not gc.isenabled():
            print("GC LEFT DISABLED", s)
        v = r["valid"]
        if only_dump:
            print(json.dumps({"s": s, "v": v}))
            continue
        want = ref(events, model, opts)
        if v != want:
            bad += 1
            print(json.dumps({"seed": s, "model": model, "opts": opts, "got": v, "want": want, "events": events}))
    if not only_dump:
        print("mismatches", bad, "of", count, file=sys.stderr)


if __name__ == "__main__":
    main()
