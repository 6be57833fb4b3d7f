"""Maelstrom's workloads as client generators, each writing a history in our format (docs/HISTORY.md).

A workload says what a client sends (``next_op``: the request body and the history event it
stands for), how a reply becomes the completion (``complete``), what is sent to every node before
the load (``setup``: broadcast's ``topology``) and after it (``final_op``: a read from every node,
for the set and counter workloads), the history header and how the history is checked.

| workload | requests | history |
|---|---|---|
| echo | ``echo {echo}`` | workload ``echo``: f ``echo``, value the string sent; completion value what came back |
| unique-ids | ``generate`` | workload ``unique-ids``: f ``generate``; completion value the ``id`` |
| broadcast | ``broadcast {message}``, ``read`` | workload ``set``: ``add``/``read`` on key ``broadcast`` |
| g-set | ``add {element}``, ``read`` | workload ``set``: ``add``/``read`` on key ``g-set`` |
| g-counter | ``add {delta}``, ``read`` | workload ``counter``: ``incr``/``read`` on key ``g-counter`` |
| pn-counter | ``add {delta}`` (may be negative), ``read`` | workload ``counter``: ``incr``/``decr`` (the amount)/``read`` |
| lin-kv | ``read``/``write``/``cas`` on keys 0..4 | register: ``read``/``write``/``cas`` (``[from, to]``); ``--checker linearizable`` |

Every choice comes from the client's own ``random.Random`` (seeded per client), so the
operations a client issues do not depend on how the clients interleave; elements and broadcast
messages are unique (``client + clients * n``).
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import attrs

from .protocol import KEY_DOES_NOT_EXIST, definite, error_name

WORKLOADS = ("echo", "unique-ids", "broadcast", "g-set", "g-counter", "pn-counter", "lin-kv")
TOPOLOGIES = ("grid", "line", "tree", "tree2", "tree3", "tree4", "total")


@attrs.frozen
class Op:
    """One client operation: the history's ``f``/``key``/``value`` and the request body (no msg_id yet)."""

    f: str
    key: Any
    value: Any
    body: dict[str, Any]


@attrs.frozen
class Completion:
    type: str
    value: Any
    error: str | None = None


class Workload:
    """The interface; see the module docstring."""

    name: str = ""
    history_workload: str = "register"
    key: Any = None

    def __init__(self, clients: int) -> None:
        self.clients = clients

    def next_op(self, rng: random.Random, client: int, n: int) -> Op:
        raise NotImplementedError

    def reply_ok(self, op: Op, reply: dict[str, Any]) -> Any:
        """The completion value of an ``ok`` reply; raise KeyError/TypeError for a malformed one."""
        raise NotImplementedError

    def complete(self, op: Op, reply: dict[str, Any] | None) -> Completion:
        """The history completion for ``reply`` (None: the 5 s timeout)."""
        if reply is None:
            return Completion("info", None if op.f in ("read", "generate") else op.value, "timeout")
        kind = reply.get("type")
        if kind == "error":
            code = reply.get("code")
            name = error_name(code)
            text = reply.get("text")
            error = f"{name}: {text}" if isinstance(text, str) and text else name
            return Completion("fail" if definite(code) else "info",
                              None if op.f in ("read", "generate") else op.value, error)
        if kind != op.body["type"] + "_ok":
            return Completion("info", None if op.f in ("read", "generate") else op.value,
                              f"unexpected reply type {kind!r} to {op.body['type']!r}")
        try:
            return Completion("ok", self.reply_ok(op, reply))
        except (KeyError, TypeError, ValueError) as exc:
            return Completion("info", None if op.f in ("read", "generate") else op.value,
                              f"malformed {kind}: {exc}")

    def setup(self, node_ids: list[str], topology: str) -> dict[str, dict[str, Any]]:
        """Per node, a request to send (and have answered) before the load; none by default."""
        return {}

    def final_op(self) -> Op | None:
        """The read sent to every node after the heal and the quiescence wait (None: no final reads)."""
        return None


class Echo(Workload):
    name = "echo"
    history_workload = "echo"

    def next_op(self, rng: random.Random, client: int, n: int) -> Op:
        text = f"Please echo {rng.randrange(128)}"
        return Op("echo", None, text, {"type": "echo", "echo": text})

    def reply_ok(self, op: Op, reply: dict[str, Any]) -> Any:
        return reply["echo"]


class UniqueIds(Workload):
    name = "unique-ids"
    history_workload = "unique-ids"

    def next_op(self, rng: random.Random, client: int, n: int) -> Op:
        return Op("generate", None, None, {"type": "generate"})

    def reply_ok(self, op: Op, reply: dict[str, Any]) -> Any:
        return reply["id"]


class _SetLike(Workload):
    history_workload = "set"
    add_type = "add"
    add_field = "element"
    read_field = "value"

    def next_op(self, rng: random.Random, client: int, n: int) -> Op:
        if rng.random() < 0.5:
            return Op("read", self.key, None, {"type": "read"})
        element = client + self.clients * n
        return Op("add", self.key, element, {"type": self.add_type, self.add_field: element})

    def reply_ok(self, op: Op, reply: dict[str, Any]) -> Any:
        if op.f == "add":
            return op.value
        values = reply[self.read_field]
        if not isinstance(values, list):
            raise TypeError(f"{self.read_field} is not a list")
        return values

    def final_op(self) -> Op | None:
        return Op("read", self.key, None, {"type": "read"})


class Broadcast(_SetLike):
    name = "broadcast"
    key = "broadcast"
    add_type = "broadcast"
    add_field = "message"
    read_field = "messages"

    def setup(self, node_ids: list[str], topology: str) -> dict[str, dict[str, Any]]:
        graph = make_topology(topology, node_ids)
        return {n: {"type": "topology", "topology": graph} for n in node_ids}


class GSet(_SetLike):
    name = "g-set"
    key = "g-set"


class _Counter(Workload):
    history_workload = "counter"
    negative = False

    def next_op(self, rng: random.Random, client: int, n: int) -> Op:
        if rng.random() < 0.5:
            return Op("read", self.key, None, {"type": "read"})
        delta = rng.randint(-5, 5) if self.negative else rng.randint(0, 5)
        f = "decr" if delta < 0 else "incr"
        return Op(f, self.key, abs(delta), {"type": "add", "delta": delta})

    def reply_ok(self, op: Op, reply: dict[str, Any]) -> Any:
        if op.f != "read":
            return op.value
        value = reply["value"]
        if type(value) is not int:
            raise TypeError("value is not an integer")
        return value

    def final_op(self) -> Op | None:
        return Op("read", self.key, None, {"type": "read"})


class GCounter(_Counter):
    name = "g-counter"
    key = "g-counter"


class PNCounter(_Counter):
    name = "pn-counter"
    key = "pn-counter"
    negative = True


class LinKV(Workload):
    name = "lin-kv"
    history_workload = "register"
    keys = 5
    values = 5

    def next_op(self, rng: random.Random, client: int, n: int) -> Op:
        key = rng.randrange(self.keys)
        roll = rng.random()
        if roll < 1 / 3:
            return Op("read", key, None, {"type": "read", "key": key})
        if roll < 2 / 3:
            value = rng.randrange(self.values)
            return Op("write", key, value, {"type": "write", "key": key, "value": value})
        old, new = rng.randrange(self.values), rng.randrange(self.values)
        return Op("cas", key, [old, new], {"type": "cas", "key": key, "from": old, "to": new})

    def reply_ok(self, op: Op, reply: dict[str, Any]) -> Any:
        if op.f != "read":
            return op.value
        value = reply["value"]
        if isinstance(value, (list, dict)):
            # A register holds scalars and no write wrote this: recorded as its JSON text, a value no
            # write wrote either, so the linearizability checker judges it (it refused the history before).
            return json.dumps(value, separators=(",", ":"))
        return value

    def complete(self, op: Op, reply: dict[str, Any] | None) -> Completion:
        if op.f == "read" and reply is not None and reply.get("type") == "error" and reply.get("code") == KEY_DOES_NOT_EXIST:
            return Completion("ok", None)  # the key is absent: a read of null (checked with null_read=absent)
        return super().complete(op, reply)


def make_workload(name: str, clients: int) -> Workload:
    cls = {"echo": Echo, "unique-ids": UniqueIds, "broadcast": Broadcast, "g-set": GSet,
           "g-counter": GCounter, "pn-counter": PNCounter, "lin-kv": LinKV}[name]
    return cls(clients)


def make_topology(kind: str, nodes: list[str]) -> dict[str, list[str]]:
    """Maelstrom's topologies: each node's neighbours (``tree`` is ``tree2``)."""
    n = len(nodes)
    out: dict[str, list[str]] = {node: [] for node in nodes}
    if kind == "total":
        return {a: [b for b in nodes if b != a] for a in nodes}
    if kind == "line":
        for i, node in enumerate(nodes):
            out[node] = [nodes[j] for j in (i - 1, i + 1) if 0 <= j < n]
        return out
    if kind == "grid":
        width = max(1, math.ceil(math.sqrt(n)))
        for i, node in enumerate(nodes):
            row, col = divmod(i, width)
            around = [(row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)]
            out[node] = [nodes[r * width + c] for r, c in around
                         if 0 <= c < width and 0 <= r and r * width + c < n]
        return out
    branching = 2 if kind == "tree" else int(kind[4:])
    for i, node in enumerate(nodes):
        if i > 0:
            out[node].append(nodes[(i - 1) // branching])
        out[node].extend(nodes[j] for j in range(branching * i + 1, branching * i + branching + 1) if j < n)
    return out
