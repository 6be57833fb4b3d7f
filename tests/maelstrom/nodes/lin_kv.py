#!/usr/bin/env python3
"""Lin-kv (correct): proxies every read, write and cas to the harness's lin-kv service and passes
its answer (errors included) back to the client."""

from maelstrom_node import Body, Message, Node

node = Node()


def proxy(msg: Message) -> None:
    body = {k: v for k, v in msg["body"].items() if k != "msg_id"}

    def answer(reply: Body) -> None:
        node.reply(msg, {k: v for k, v in reply.items() if k not in ("msg_id", "in_reply_to")})

    node.rpc("lin-kv", body, answer)


for type_ in ("read", "write", "cas"):
    node.on(type_, proxy)
node.run()
