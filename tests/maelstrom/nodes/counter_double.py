#!/usr/bin/env python3
"""Counter (broken): a PN-counter CRDT that adds every delta twice."""

from maelstrom_node import Message, Node

node = Node()
incs: dict[str, int] = {}
decs: dict[str, int] = {}


def add(msg: Message) -> None:
    delta = msg["body"]["delta"]
    side = incs if delta >= 0 else decs
    side[node.id] = side.get(node.id, 0) + 2 * abs(delta)
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
