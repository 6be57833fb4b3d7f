#!/usr/bin/env python3
"""Broadcast (broken): keeps each message to itself and never forwards it."""

from typing import Any

from maelstrom_node import Message, Node

node = Node()
messages: set[Any] = set()


def broadcast(msg: Message) -> None:
    messages.add(msg["body"]["message"])
    node.reply(msg, {"type": "broadcast_ok"})


node.on("topology", lambda msg: node.reply(msg, {"type": "topology_ok"}))
node.on("broadcast", broadcast)
node.on("read", lambda msg: node.reply(msg, {"type": "read_ok", "messages": sorted(messages)}))
node.run()
