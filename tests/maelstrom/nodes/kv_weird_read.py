#!/usr/bin/env python3
"""lin-kv: acknowledges every write and cas, answers every read with the list [1, 2] (never written)."""
import json
import sys

node_id = None
nid = 0
for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    nid += 1
    r = {"in_reply_to": body.get("msg_id"), "msg_id": nid, "type": body["type"] + "_ok"}
    if body["type"] == "init":
        node_id = body["node_id"]
    elif body["type"] == "read":
        r["value"] = [1, 2]
    print(json.dumps({"src": node_id, "dest": msg["src"], "body": r}), flush=True)
