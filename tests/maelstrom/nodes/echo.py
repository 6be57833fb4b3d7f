#!/usr/bin/env python3
"""Echo (correct): answers every echo with exactly what it was sent."""

from maelstrom_node import Message, Node

node = Node()


def echo(msg: Message) -> None:
    node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]})


node.on("echo", echo)
node.run()
