#!/usr/bin/env python3
"""Unique ids (broken): a per-node counter without the node's name, so nodes answering at the same
time hand out the same ids."""

import itertools

from maelstrom_node import Message, Node

node = Node()
counter = itertools.count()


def generate(msg: Message) -> None:
    node.reply(msg, {"type": "generate_ok", "id": next(counter)})


node.on("generate", generate)
node.run()
