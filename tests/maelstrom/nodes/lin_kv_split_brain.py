#!/usr/bin/env python3
"""Lin-kv (broken): every node keeps its own map and never consults the others or the lin-kv
service, so each node alone is linearizable and the cluster is not (a write on one node is never
seen on another)."""

from typing import Any

from maelstrom_node import Message, Node

KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22

node = Node()
data: dict[Any, Any] = {}


def read(msg: Message) -> None:
    key = msg["body"]["key"]
    if key not in data:
        node.error(msg, KEY_DOES_NOT_EXIST, "not found")
    else:
        node.reply(msg, {"type": "read_ok", "value": data[key]})


def write(msg: Message) -> None:
    data[msg["body"]["key"]] = msg["body"]["value"]
    node.reply(msg, {"type": "write_ok"})


def cas(msg: Message) -> None:
    body = msg["body"]
    if body["key"] not in data:
        node.error(msg, KEY_DOES_NOT_EXIST, "not found")
    elif data[body["key"]] != body["from"]:
        node.error(msg, PRECONDITION_FAILED, f"expected {body['from']}, had {data[body['key']]}")
    else:
        data[body["key"]] = body["to"]
        node.reply(msg, {"type": "cas_ok"})


node.on("read", read)
node.on("write", write)
node.on("cas", cas)
node.run()
