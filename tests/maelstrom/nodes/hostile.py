#!/usr/bin/env python3
"""A hostile Maelstrom node for the harness's own tests; its behaviour is argv[1] (see MODES)."""
import json
import os
import sys
import time

MODES = {
    "deepmsgid": "after init_ok, a message to n0 whose msg_id is nested 300 deep",
    "deepkey": "after init_ok, a lin-kv write whose key is nested 300 deep",
    "deepecho": "answers echo with a value nested 990 deep",
    "bigid": "unique-ids: correct, ids (node << 100) + counter (integers beyond 64 bits)",
    "silent": "answers init, then never answers a client",
    "stopread": "n0 answers init, then stops reading; the others echo",
    "forkstay": "forks a child that sleeps (same process group), then echoes",
    "fork": "forks a child that sleeps and keeps the pipes, answers init, then exits 0",
    "closeout": "answers init, closes stdout, keeps running",
    "bigline": "after init_ok, one line of 20 MB",
}
mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
node_id = None
nid = 0
ctr = 0


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    nid += 1
    r = {"in_reply_to": body.get("msg_id"), "msg_id": nid}
    t = body["type"]
    if t == "init":
        node_id = body["node_id"]
        if mode in ("forkstay", "fork") and os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        r["type"] = "init_ok"
        send(msg["src"], r)
        if mode == "fork":
            sys.exit(0)
        if mode == "deepmsgid":
            send("n0", {"type": "x", "msg_id": json.loads("[" * 300 + "]" * 300)})
        if mode == "deepkey":
            send("lin-kv", {"type": "write", "msg_id": 1, "value": 1, "key": json.loads("[" * 300 + "]" * 300)})
        if mode == "bigline":
            send("n0", {"type": "x", "pad": "a" * 20_000_000})
        if mode == "closeout":
            os.close(1)
            time.sleep(60)
        if mode == "stopread" and node_id == "n0":
            time.sleep(600)
        continue
    if mode == "silent":
        continue
    if t == "echo":
        r.update(type="echo_ok", echo=json.loads("[" * 990 + "]" * 990) if mode == "deepecho" else body["echo"])
    elif t == "generate":
        ctr += 1
        r.update(type="generate_ok", id=(int(node_id[1:]) << 100) + ctr)
    elif t == "x":
        continue
    else:
        r.update(type="error", code=10, text="not supported")
    send(msg["src"], r)
