#!/usr/bin/env python3
"""Echo (broken): every third echo comes back with a character added."""

from maelstrom_node import Message, Node

node = Node()
count = 0


def echo(msg: Message) -> None:
    global count
    count += 1
    sent = msg["body"]["echo"]
    back = f"{sent}!" if count % 3 == 0 and isinstance(sent, str) else sent
    node.reply(msg, {"type": "echo_ok", "echo": back})


node.on("echo", echo)
node.run()
