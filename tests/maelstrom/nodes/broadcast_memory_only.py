#!/usr/bin/env python3
"""Broadcast (broken under crashes): forwards each new message once to every other node and keeps
messages only in memory, with no anti-entropy: a node restarted after a crash comes back empty and
never learns what it had, so messages are lost on it."""

from typing import Any

from maelstrom_node import Message, Node

node = Node()
messages: set[Any] = set()


def broadcast(msg: Message) -> None:
    m = msg["body"]["message"]
    node.reply(msg, {"type": "broadcast_ok"})
    if m not in messages:
        messages.add(m)
        for n in node.others():
            node.send(n, {"type": "forward", "message": m})


def forward(msg: Message) -> None:
    messages.add(msg["body"]["message"])


node.on("topology", lambda msg: node.reply(msg, {"type": "topology_ok"}))
node.on("broadcast", broadcast)
node.on("forward", forward)
node.on("read", lambda msg: node.reply(msg, {"type": "read_ok", "messages": sorted(messages)}))
node.run()
