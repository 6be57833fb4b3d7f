#!/usr/bin/env python3
"""G-set (correct): a grow-only set CRDT, its whole state gossiped to every other node every half
second and merged by union."""

from typing import Any

from maelstrom_node import Message, Node

node = Node()
elements: set[Any] = set()


def add(msg: Message) -> None:
    elements.add(msg["body"]["element"])
    node.reply(msg, {"type": "add_ok"})


def merge(msg: Message) -> None:
    elements.update(msg["body"]["elements"])


def gossip() -> None:
    state = sorted(elements)
    for n in node.others():
        node.send(n, {"type": "merge", "elements": state})


node.on("add", add)
node.on("merge", merge)
node.on("read", lambda msg: node.reply(msg, {"type": "read_ok", "value": sorted(elements)}))
node.every(0.5, gossip)
node.run()
