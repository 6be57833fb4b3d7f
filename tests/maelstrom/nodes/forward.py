#!/usr/bin/env python3
"""Echo node that forwards to a leader: every node but n0 passes the client's echo to n0, which answers the client
directly (Maelstrom's client accepts a reply from any node). With the argument ``wrong``, n0 garbles forwarded echoes."""
import json
import sys

wrong = sys.argv[1:] == ["wrong"]
node_id = None
n = 0


def send(dest, body):
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    n += 1
    t = body["type"]
    if t == "init":
        node_id = body["node_id"]
        send(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"], "msg_id": n})
    elif t == "echo" and node_id == "n0":
        send(msg["src"], {"type": "echo_ok", "in_reply_to": body["msg_id"], "msg_id": n, "echo": body["echo"]})
    elif t == "echo":
        send("n0", {"type": "fwd", "client": msg["src"], "orig": body["msg_id"], "echo": body["echo"], "msg_id": n})
    elif t == "fwd":
        echo = "garbled" if wrong else body["echo"]
        send(body["client"], {"type": "echo_ok", "in_reply_to": body["orig"], "msg_id": n, "echo": echo})
