#!/usr/bin/env python3
"""Maelstrom "unique-ids" workload node (doc/workloads.md#workload-unique-ids,
Gossip Glomers challenge 2).

Needs no coordination: an ID is the string "<node id>-<boot stamp>-<counter>".
The node id makes IDs from different nodes distinct, the per-process counter
makes IDs from one process distinct, and the boot stamp (nanoseconds at start)
keeps a restarted process from reissuing IDs of its previous life.  This stays
available during network partitions because no messages are exchanged.

Style: handlers are registered with a decorator on a small dispatcher object;
the generator is an itertools.count guarded by a lock.
"""
import itertools
import json
import sys
import threading
import time


class Dispatcher:
    def __init__(self):
        self.routes = {}

    def on(self, kind):
        def register(fn):
            self.routes[kind] = fn
            return fn
        return register


app = Dispatcher()


class Server:
    def __init__(self, out=sys.stdout):
        self.out = out
        self.me = None
        self.boot = time.time_ns()
        self._ids = itertools.count(1)
        self._outgoing = itertools.count(1)
        self._lock = threading.Lock()

    def emit(self, dest, body):
        with self._lock:
            body["msg_id"] = next(self._outgoing)
            self.out.write(json.dumps({"src": self.me, "dest": dest, "body": body},
                                      separators=(",", ":")) + "\n")
            self.out.flush()

    def answer(self, req, body):
        if "msg_id" in req["body"]:
            body["in_reply_to"] = req["body"]["msg_id"]
        self.emit(req["src"], body)

    def new_id(self):
        with self._lock:
            n = next(self._ids)
        return f"{self.me}-{self.boot}-{n}"

    def serve(self, stream=sys.stdin):
        for raw in stream:
            if not raw.strip():
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                print("bad input:", raw, file=sys.stderr)
                continue
            kind = msg.get("body", {}).get("type")
            route = app.routes.get(kind)
            if route:
                route(self, msg)
            elif "msg_id" in msg.get("body", {}) and "in_reply_to" not in msg["body"]:
                self.answer(msg, {"type": "error", "code": 10,
                                  "text": f"don't know how to {kind}"})


@app.on("init")
def init(server, msg):
    server.me = msg["body"]["node_id"]
    print(f"{server.me}: ready, boot stamp {server.boot}", file=sys.stderr, flush=True)
    server.answer(msg, {"type": "init_ok"})


@app.on("generate")
def generate(server, msg):
    server.answer(msg, {"type": "generate_ok", "id": server.new_id()})


if __name__ == "__main__":
    Server().serve()
