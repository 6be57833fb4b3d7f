#!/usr/bin/env python3
"""The smallest correct Maelstrom echo node (standard library only): init_ok, echo_ok."""

import json
import sys

node_id = None
next_id = 0
for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    next_id += 1
    reply = {"in_reply_to": body.get("msg_id"), "msg_id": next_id}
    if body["type"] == "init":
        node_id = body["node_id"]
        reply["type"] = "init_ok"
    elif body["type"] == "echo":
        reply.update(type="echo_ok", echo=body["echo"])
    else:
        reply.update(type="error", code=10, text="not supported")
    print(json.dumps({"src": node_id, "dest": msg["src"], "body": reply}), flush=True)
