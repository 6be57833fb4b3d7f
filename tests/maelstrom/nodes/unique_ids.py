#!/usr/bin/env python3
"""Unique ids (correct, totally available): node id, this process's incarnation, a counter."""

import itertools

from maelstrom_node import Message, Node

node = Node()
counter = itertools.count()


def generate(msg: Message) -> None:
    node.reply(msg, {"type": "generate_ok", "id": f"{node.id}-{node.incarnation}-{next(counter)}"})


node.on("generate", generate)
node.run()
