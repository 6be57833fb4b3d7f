#!/usr/bin/env python3
"""Unique ids (broken): the node's id and the wall clock's whole second, so two requests that reach
one node within the same second (any real load) get the same id."""

import time

from maelstrom_node import Message, Node

node = Node()


def generate(msg: Message) -> None:
    node.reply(msg, {"type": "generate_ok", "id": f"{node.id}-{int(time.time())}"})


node.on("generate", generate)
node.run()
