#!/usr/bin/env python3
"""G-set (broken): every fourth add is applied and then answered with Maelstrom's definite error 11
(temporarily unavailable), which says the add did not happen."""

from typing import Any

from maelstrom_node import TEMPORARILY_UNAVAILABLE, Message, Node

node = Node()
elements: set[Any] = set()
adds = 0


def add(msg: Message) -> None:
    global adds
    adds += 1
    elements.add(msg["body"]["element"])
    if adds % 4 == 0:
        node.error(msg, TEMPORARILY_UNAVAILABLE, "busy (but the add was applied)")
    else:
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
