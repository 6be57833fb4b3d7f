#!/usr/bin/env python3
"""G-set (broken under crashes): sends each add once to every other node and keeps the set only in
memory, with no re-sync: after a crash the node comes back empty and stays without what it had."""

from typing import Any

from maelstrom_node import Message, Node

node = Node()
elements: set[Any] = set()


def add(msg: Message) -> None:
    e = msg["body"]["element"]
    elements.add(e)
    node.reply(msg, {"type": "add_ok"})
    for n in node.others():
        node.send(n, {"type": "merge", "elements": [e]})


def merge(msg: Message) -> None:
    elements.update(msg["body"]["elements"])


node.on("add", add)
node.on("merge", merge)
node.on("read", lambda msg: node.reply(msg, {"type": "read_ok", "value": sorted(elements)}))
node.run()
