#!/usr/bin/env python3
"""Broadcast (correct): forwards each new message to its neighbours from the topology message at
once, and every half second sends each neighbour what it has not acknowledged (everything, every
fourth time: anti-entropy), so
messages cross a healed partition and reach a node restarted empty after a crash."""

from typing import Any

from maelstrom_node import Body, Message, Node

node = Node()
messages: set[Any] = set()
neighbours: list[str] = []
acked: dict[str, set[Any]] = {}  # neighbour -> messages it acknowledged in this incarnation of it


def topology(msg: Message) -> None:
    global neighbours
    neighbours = [n for n in msg["body"]["topology"].get(node.id, []) if n != node.id]
    node.reply(msg, {"type": "topology_ok"})


def broadcast(msg: Message) -> None:
    m = msg["body"]["message"]
    node.reply(msg, {"type": "broadcast_ok"})
    if m not in messages:
        messages.add(m)
        for n in peers():
            if n != msg["src"]:
                push(n, [m])


def read(msg: Message) -> None:
    node.reply(msg, {"type": "read_ok", "messages": sorted(messages)})


def peers() -> list[str]:
    return neighbours or node.others()


def push(peer: str, batch: list[Any]) -> None:
    def done(body: Body) -> None:
        if body.get("type") == "gossip_ok":
            acked.setdefault(peer, set()).update(batch)

    node.rpc(peer, {"type": "gossip", "messages": batch, "incarnation": node.incarnation}, done)


def gossip(msg: Message) -> None:
    new = [m for m in msg["body"]["messages"] if m not in messages]
    messages.update(new)
    node.reply(msg, {"type": "gossip_ok"})
    for n in peers():
        if n != msg["src"] and new:
            push(n, new)


def hello(msg: Message) -> None:
    acked.pop(msg["src"], None)  # a neighbour restarted empty: it has nothing we sent it before


rounds = 0


def anti_entropy() -> None:
    global rounds
    rounds += 1
    for n in peers():
        # every fourth round everything, acknowledged or not: a neighbour whose hello was lost may have
        # restarted empty since it acknowledged
        missing = sorted(messages if rounds % 4 == 0 else messages - acked.get(n, set()))
        if missing:
            push(n, missing)


def announce() -> None:
    for n in node.others():
        node.send(n, {"type": "hello"})


node.on("topology", topology)
node.on("broadcast", broadcast)
node.on("read", read)
node.on("gossip", gossip)
node.on("hello", hello)
node.on_init(announce)
node.every(0.5, anti_entropy)
node.run()
