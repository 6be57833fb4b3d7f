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
    "hugeid": "unique-ids: correct, ids (node + 1) * 10**320 + counter (beyond a double's range)",
    "inf": "answers echo with the number 1e400 (valid JSON, beyond a double's range)",
    "setsid": "starts `setsid sleep 1000` (a new session) at each init, its pid appended to argv[2], then echoes",
    "nul": "answers echo with a line holding a raw NUL byte in a string",
    "badutf8": "answers echo with a line holding the byte 0xff",
    "lyingsrc": "answers echo with src n7",
    "strayreply": "before each echo_ok, a reply to a msg_id nobody sent (to the client, to n0 and to lin-kv)",
    "initok2": "answers init with init_ok twice",
    "hugemsgid": "replies and gossips with msg_id 10**30 and -5; echoes correctly",
    "nonewline": "after init_ok, writes half a message without a newline and exits",
    "surrogate": "answers echo with a lone surrogate escape \\udc01 beside a 25-digit number",
    "bom": "starts its init_ok line with a UTF-8 byte-order mark",
    "segv": "after init_ok, kills itself with SIGSEGV",
    "chatty": "at init writes 'hello from <id>' and a terminal escape on stderr, then echoes",
}
mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
node_id = None
nid = 0
ctr = 0


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def send_raw(data):
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


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
        if mode == "setsid":
            import subprocess

            child = subprocess.Popen(["setsid", "sleep", "1000"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(sys.argv[2], "a") as f:
                f.write(f"{child.pid}\n")
        if mode == "chatty":
            sys.stderr.write(f"hello from {node_id} \x1b[31mred\n")
            sys.stderr.flush()
        r["type"] = "init_ok"
        if mode == "bom":
            send_raw(b"\xef\xbb\xbf")
        send(msg["src"], r)
        if mode == "initok2":
            send(msg["src"], r)
        if mode == "nonewline":
            send_raw(b'{"src": "' + node_id.encode() + b'", "dest": "c1", "bo')
            sys.exit(0)
        if mode == "fork":
            sys.exit(0)
        if mode == "segv":
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
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
    if t == "echo" and mode in ("inf", "nul", "badutf8", "surrogate"):
        raw = {"inf": b"1e400", "nul": b'"a\x00b"', "badutf8": b'"a\xffb"',
               "surrogate": b'"\\udc01", "n": 1234567890123456789012345'}[mode]
        send_raw(b'{"src": "%s", "dest": "%s", "body": {"type": "echo_ok", "in_reply_to": %d, "echo": %s}}\n'
                 % (node_id.encode(), msg["src"].encode(), body["msg_id"], raw))
        continue
    if t == "echo" and mode == "lyingsrc":
        sys.stdout.write(json.dumps({"src": "n7", "dest": msg["src"], "body": dict(r, type="echo_ok",
                                                                                  echo=body["echo"])}) + "\n")
        sys.stdout.flush()
        continue
    if t == "echo" and mode == "strayreply":
        for dest in (msg["src"], "n0", "lin-kv"):
            send(dest, {"type": "echo_ok", "in_reply_to": 987654321, "msg_id": -1, "echo": "stray"})
    if mode == "hugemsgid":
        r["msg_id"] = 10**30 if nid % 2 else -5
        if t == "echo":
            send("n0", {"type": "x", "msg_id": 10**30})
            send("n0", {"type": "x", "msg_id": -5})
    if t == "echo":
        r.update(type="echo_ok", echo=json.loads("[" * 990 + "]" * 990) if mode == "deepecho" else body["echo"])
    elif t == "generate":
        ctr += 1
        big = (int(node_id[1:]) + 1) * 10**320 + ctr if mode == "hugeid" else (int(node_id[1:]) << 100) + ctr
        r.update(type="generate_ok", id=big)
    elif t == "x":
        continue
    else:
        r.update(type="error", code=10, text="not supported")
    send(msg["src"], r)
