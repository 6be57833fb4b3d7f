#!/usr/bin/env python3
"""G-counter and PN-counter (correct): a PN-counter CRDT, one increment and one decrement total per
node incarnation (so a node restarted after a crash never counts from an old total again), the
whole state gossiped to every other node every half second and merged by maximum."""

from maelstrom_node import Message, Node

node = Node()
incs: dict[str, int] = {}  # slot (node id and incarnation) -> its increments
decs: dict[str, int] = {}


def slot() -> str:
    return f"{node.id}/{node.incarnation}"


def add(msg: Message) -> None:
    delta = msg["body"]["delta"]
    side = incs if delta >= 0 else decs
    side[slot()] = side.get(slot(), 0) + abs(delta)
    node.reply(msg, {"type": "add_ok"})


def merge(msg: Message) -> None:
    for mine, theirs in ((incs, msg["body"]["incs"]), (decs, msg["body"]["decs"])):
        for k, v in theirs.items():
            mine[k] = max(mine.get(k, 0), v)


def gossip() -> None:
    for n in node.others():
        node.send(n, {"type": "merge", "incs": dict(incs), "decs": dict(decs)})


node.on("add", add)
node.on("merge", merge)
node.on("read", lambda msg: node.reply(msg, {"type": "read_ok", "value": sum(incs.values()) - sum(decs.values())}))
node.every(0.5, gossip)
node.run()
