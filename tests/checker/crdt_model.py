"""A tiny simulated eventually consistent OR-set and PN-counter, writing docs/HISTORY.md histories.

No store is imported: replicas are dicts, each operation takes effect at one random replica at a
random moment between its invoke and its completion, anti-entropy merges random pairs now and
then, and everything is merged before the final reads. Histories it writes are valid by
construction; ``loss=True`` plants one lost acknowledged write that the checker must find.
"""

from __future__ import annotations

import random
from typing import Any

PLANTED_ELEMENT = "planted"
PLANTED_AMOUNT = 1000  # larger than all other increments together: its loss is out of bounds whatever the info ops did


class _Replica:
    def __init__(self) -> None:
        self.adds: dict[Any, set[int]] = {}
        self.removed: set[int] = set()
        self.p: dict[str, int] = {}
        self.n: dict[str, int] = {}

    def elements(self) -> list[Any]:
        return sorted((e for e, tags in self.adds.items() if tags - self.removed), key=repr)

    def value(self) -> int:
        return sum(self.p.values()) - sum(self.n.values())

    def merge(self, other: _Replica) -> None:
        for e, tags in other.adds.items():
            self.adds.setdefault(e, set()).update(tags)
        self.removed |= other.removed
        for mine, theirs in ((self.p, other.p), (self.n, other.n)):
            for k, v in theirs.items():
                mine[k] = max(mine.get(k, 0), v)


def simulate(seed: int, workload: str, replicas: int = 3, processes: int = 4, ops_per_process: int = 15,
             loss: bool = False) -> list[dict[str, Any]]:
    """Header and events of one simulated run of ``workload`` (``set`` or ``counter``) on key ``k``."""
    rng = random.Random(seed)
    nodes = [f"n{i + 1}" for i in range(replicas)]
    planned: list[dict[str, Any]] = []
    next_proc = processes
    for proc0 in range(processes):
        proc, t = proc0, rng.uniform(0.0, 0.1)
        for i in range(ops_per_process):
            inv = t
            comp = inv + rng.uniform(0.001, 0.3)
            outcome = rng.choices(("ok", "fail", "info"), (8, 1, 1))[0]
            r = rng.random()
            value: Any
            if workload == "set":
                f, value = ("add", rng.randrange(6)) if r < 0.5 else (("remove", rng.randrange(6)) if r < 0.7
                                                                        else ("read", None))
            else:
                f, value = ("incr", rng.randrange(6)) if r < 0.5 else (("decr", rng.randrange(6)) if r < 0.7
                                                                         else ("read", None))
            if proc0 == 0 and i == 0:  # the planted write: always acknowledged
                f, value = ("add", PLANTED_ELEMENT) if workload == "set" else ("incr", PLANTED_AMOUNT)
                outcome = "ok"
            planned.append({"proc": proc, "f": f, "value": value, "outcome": outcome, "inv": inv, "comp": comp,
                            "apply": rng.uniform(inv, comp), "node": rng.choice(nodes),
                            "applies": outcome == "ok" or (outcome == "info" and rng.random() < 0.5)})
            t = comp + rng.uniform(0.0, 0.05)
            if outcome == "info":  # its operation may still be in flight: a new process id from now on
                proc, next_proc = next_proc, next_proc + 1
    state = {n: _Replica() for n in nodes}
    moments = sorted([(op["apply"], 1, k) for k, op in enumerate(planned)]
                     + [(rng.uniform(0, max(op["comp"] for op in planned)), 0, -1) for _ in range(40)])
    tag = 0
    for _, kind, k in moments:
        if kind == 0:  # anti-entropy between two replicas
            if len(nodes) < 2:
                continue
            a, b = rng.sample(nodes, 2)
            state[a].merge(state[b])
            state[b].merge(state[a])
            continue
        op = planned[k]
        rep = state[op["node"]]
        if op["f"] == "read":
            op["result"] = rep.elements() if workload == "set" else rep.value()
            continue
        if not op["applies"]:
            continue
        if op["f"] == "add":
            tag += 1
            rep.adds.setdefault(op["value"], set()).add(tag)
        elif op["f"] == "remove":
            rep.removed |= rep.adds.get(op["value"], set())
        elif op["f"] == "incr":
            rep.p[op["node"]] = rep.p.get(op["node"], 0) + op["value"]
        else:
            rep.n[op["node"]] = rep.n.get(op["node"], 0) + op["value"]
    for a in nodes:  # quiescence: everything reaches everyone
        for b in nodes:
            state[a].merge(state[b])
    if loss:  # the planted bug: a merge that drops the planted write everywhere
        for rep in state.values():
            if workload == "set":
                rep.adds.pop(PLANTED_ELEMENT, None)
            else:
                rep.p[planned[0]["node"]] -= PLANTED_AMOUNT
    raw: list[tuple[float, int, dict[str, Any]]] = []
    for op in planned:
        base = {"process": op["proc"], "f": op["f"], "key": "k", "node": op["node"]}
        raw.append((op["inv"], 0, {**base, "type": "invoke", "value": op["value"]}))
        done = op.get("result") if op["f"] == "read" else op["value"]
        if op["outcome"] != "ok" and op["f"] == "read":
            done = None
        raw.append((op["comp"], 1, {**base, "type": op["outcome"], "value": done}))
    raw.sort(key=lambda x: (x[0], x[1]))
    events = [ev for _, _, ev in raw]
    end = max(op["comp"] for op in planned) + 1.0
    for i, node in enumerate(nodes):
        rep = state[node]
        result = rep.elements() if workload == "set" else rep.value()
        base = {"process": 10_000, "f": "read", "key": "k", "node": node, "final": True}
        events.append({**base, "type": "invoke", "value": None, "time": int((end + i) * 1e9)})
        events.append({**base, "type": "ok", "value": result, "time": int((end + i + 0.5) * 1e9)})
    for i, ev in enumerate(events):
        ev["index"] = i
        ev.setdefault("time", int(raw[i][0] * 1e9) if i < len(raw) else None)
    return [{"history": 1, "conflict": "crdt", "workload": workload}, *events]


PLANTED_VALUE = "planted"


class _SiblingReplica:
    """A dotted causal container: the siblings (dot -> value) and every dot this replica has seen."""

    def __init__(self) -> None:
        self.siblings: dict[tuple[str, int], str] = {}
        self.seen: set[tuple[str, int]] = set()

    def write(self, dot: tuple[str, int], value: str | None, context: set[tuple[str, int]]) -> None:
        """A put (or, with ``value`` None, a delete) that supersedes exactly the dots of its context."""
        self.siblings = {d: v for d, v in self.siblings.items() if d not in context}
        self.seen |= context | {dot}
        if value is not None:
            self.siblings[dot] = value

    def merge(self, other: _SiblingReplica) -> None:
        """The join: a dot survives when both hold it, or one holds it and the other never saw it."""
        keep = {d: v for d, v in self.siblings.items() if d in other.siblings or d not in other.seen}
        keep.update({d: v for d, v in other.siblings.items() if d not in self.seen})
        self.siblings = keep
        self.seen |= other.seen


def simulate_siblings(seed: int, replicas: int = 3, processes: int = 4, ops_per_process: int = 15,
                      loss: bool = False, ignore_contexts: bool = False,
                      repeat: bool = False) -> list[dict[str, Any]]:
    """Header and events of a simulated siblings run on key ``k``: gets, puts without a context, and
    puts or deletes carrying the context of the process's last get. ``loss`` drops a final put;
    ``ignore_contexts`` is a store bug that supersedes nothing (every value ever written stays);
    ``repeat`` draws the values from a pool of three (so values repeat, as retried puts make them)."""
    rng = random.Random(seed)
    nodes = [f"n{i + 1}" for i in range(replicas)]
    planned: list[dict[str, Any]] = []
    next_proc = processes
    for proc0 in range(processes):
        proc, t = proc0, rng.uniform(0.0, 0.1)
        for i in range(ops_per_process):
            inv = t
            comp = inv + rng.uniform(0.001, 0.3)
            outcome = rng.choices(("ok", "fail", "info"), (8, 1, 1))[0]
            r = rng.random()
            f = "get" if r < 0.4 else ("put" if r < 0.9 else "delete")
            value = (rng.choice("abc") if repeat else f"p{proc0}-{i}") if f == "put" else None
            planned.append({"proc": proc, "proc0": proc0, "f": f, "value": value, "outcome": outcome, "inv": inv,
                            "comp": comp, "apply": rng.uniform(inv, comp), "node": rng.choice(nodes),
                            "applies": outcome == "ok" or (outcome == "info" and rng.random() < 0.5),
                            "with_context": f == "delete" or rng.random() < 0.6})
            t = comp + rng.uniform(0.0, 0.05)
            if outcome == "info":
                proc, next_proc = next_proc, next_proc + 1
    end_ops = max(op["comp"] for op in planned)
    planned.append({"proc": next_proc, "proc0": -1, "f": "put", "value": PLANTED_VALUE, "outcome": "ok",
                    "inv": end_ops + 0.1, "comp": end_ops + 0.2, "apply": end_ops + 0.15, "node": nodes[0],
                    "applies": True, "with_context": False})
    state = {n: _SiblingReplica() for n in nodes}
    counters = dict.fromkeys(nodes, 0)
    last_get: dict[int, dict[str, Any]] = {}  # proc0 -> its last ok get's plan, for its context
    moments = sorted([(op["apply"], 1, k) for k, op in enumerate(planned)]
                     + [(rng.uniform(0, end_ops), 0, -1) for _ in range(40)])
    for _, kind, k in moments:
        if kind == 0:
            if len(nodes) > 1:
                a, b = rng.sample(nodes, 2)
                state[a].merge(state[b])
                state[b].merge(state[a])
            continue
        op = planned[k]
        rep = state[op["node"]]
        if op["f"] == "get":
            op["result"] = sorted(rep.siblings.values())
            op["context"] = set(rep.siblings)
            if op["outcome"] == "ok":
                last_get[op["proc0"]] = op
            continue
        src = last_get.get(op["proc0"]) if op["with_context"] else None
        if src is not None and src["comp"] < op["inv"]:
            op["context_from"] = src
        if not op["applies"]:
            continue
        counters[op["node"]] += 1
        ctx = op["context_from"]["context"] if "context_from" in op and not ignore_contexts else set()
        rep.write((op["node"], counters[op["node"]]), op["value"], ctx)
    for a in nodes:
        for b in nodes:
            state[a].merge(state[b])
    if loss:  # the planted bug: the last put vanishes everywhere
        for rep in state.values():
            rep.siblings = {d: v for d, v in rep.siblings.items() if v != PLANTED_VALUE}
    raw: list[tuple[float, int, int, dict[str, Any]]] = []
    for k, op in enumerate(planned):
        base = {"process": op["proc"], "f": op["f"], "key": "k", "node": op["node"]}
        raw.append((op["inv"], 0, k, {**base, "type": "invoke", "value": op["value"]}))
        done = op.get("result") if op["f"] == "get" else op["value"]
        if op["f"] == "get" and op["outcome"] != "ok":
            done = None
        raw.append((op["comp"], 1, k, {**base, "type": op["outcome"], "value": done}))
    raw.sort(key=lambda x: (x[0], x[1]))
    events = []
    ok_index: dict[int, int] = {}  # plan number of a get -> the index of its ok event
    for i, (t, edge, k, ev) in enumerate(raw):
        ev["index"], ev["time"] = i, int(t * 1e9)
        op = planned[k]
        if op["f"] == "get" and edge == 1 and op["outcome"] == "ok":
            ok_index[id(op)] = i
        if edge == 0 and "context_from" in op:
            ev["context_from"] = ok_index[id(op["context_from"])]
        events.append(ev)
    end = end_ops + 1.0
    for i, node in enumerate(nodes):
        base = {"process": 10_000, "f": "get", "key": "k", "node": node, "final": True}
        events.append({**base, "type": "invoke", "value": None, "time": int((end + i) * 1e9), "index": len(events)})
        events.append({**base, "type": "ok", "value": sorted(state[node].siblings.values()),
                       "time": int((end + i + 0.5) * 1e9), "index": len(events)})
    return [{"history": 1, "conflict": "siblings", "workload": "register"}, *events]
