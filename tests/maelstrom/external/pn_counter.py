#!/usr/bin/env python3
"""Maelstrom "pn-counter" workload node (doc/workloads.md#workload-pn-counter).

State-based PN-counter CRDT: every node owns one slot in a P map (sum of its
positive deltas) and one slot in an N map (sum of the magnitudes of its
negative deltas).  A background thread periodically ships both maps to every
peer; merging takes the per-slot maximum, which is idempotent, commutative and
associative, so lost or duplicated gossip only delays convergence.
Value = sum(P) - sum(N).

Structure: a small `Node` base class (reader thread + handler table +
locked stdout writer) and a `PNCounter` subclass whose methods named
`handle_<type>` are the message handlers.
"""
import json
import os
import sys
import threading
import time


class Node:
    """Minimal Maelstrom runtime: dispatches stdin messages to handle_* methods."""

    def __init__(self):
        self.node_id = None
        self.node_ids = []
        self._out_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._next_msg_id = 0
        self.initialised = threading.Event()

    # -- output ---------------------------------------------------------
    def log(self, *parts):
        print(f"[{self.node_id}]", *parts, file=sys.stderr, flush=True)

    def send(self, dest, body):
        with self._out_lock:
            self._next_msg_id += 1
            body = dict(body)
            body.setdefault("msg_id", self._next_msg_id)
            line = json.dumps({"src": self.node_id, "dest": dest, "body": body})
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def reply(self, request, body):
        body = dict(body)
        if "msg_id" in request["body"]:
            body["in_reply_to"] = request["body"]["msg_id"]
        self.send(request["src"], body)

    @property
    def peers(self):
        return [n for n in self.node_ids if n != self.node_id]

    # -- input ----------------------------------------------------------
    def handle_init(self, msg):
        self.node_id = msg["body"]["node_id"]
        self.node_ids = list(msg["body"].get("node_ids", []))
        self.reply(msg, {"type": "init_ok"})
        self.initialised.set()
        self.log("initialised; peers", self.peers)

    def dispatch(self, msg):
        body = msg.get("body", {})
        kind = body.get("type")
        handler = getattr(self, f"handle_{kind}", None)
        if handler is not None:
            handler(msg)
        elif "msg_id" in body and "in_reply_to" not in body:
            self.reply(msg, {"type": "error", "code": 10,
                             "text": f"unsupported message type {kind!r}"})

    def run(self):
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                self.dispatch(json.loads(line))
            except Exception as exc:  # keep serving after a bad message
                self.log("failed on", line, repr(exc))


class PNCounter(Node):
    GOSSIP_INTERVAL = float(os.environ.get("GOSSIP_INTERVAL", "0.3"))

    def __init__(self):
        super().__init__()
        self.p = {}  # node id -> total of positive deltas added there
        self.n = {}  # node id -> total magnitude of negative deltas added there
        threading.Thread(target=self._gossip_loop, daemon=True).start()

    def value(self):
        with self._state_lock:
            return sum(self.p.values()) - sum(self.n.values())

    def handle_add(self, msg):
        delta = int(msg["body"]["delta"])
        with self._state_lock:
            if delta >= 0:
                self.p[self.node_id] = self.p.get(self.node_id, 0) + delta
            else:
                self.n[self.node_id] = self.n.get(self.node_id, 0) - delta
        self.reply(msg, {"type": "add_ok"})

    def handle_read(self, msg):
        self.reply(msg, {"type": "read_ok", "value": self.value()})

    def handle_pn_state(self, msg):
        body = msg["body"]
        with self._state_lock:
            for mine, theirs in ((self.p, body.get("p", {})), (self.n, body.get("n", {}))):
                for node, count in theirs.items():
                    if count > mine.get(node, 0):
                        mine[node] = count

    def _gossip_loop(self):
        self.initialised.wait()
        while True:
            time.sleep(self.GOSSIP_INTERVAL)
            with self._state_lock:
                snapshot = {"type": "pn_state", "p": dict(self.p), "n": dict(self.n)}
            if not snapshot["p"] and not snapshot["n"]:
                continue
            for peer in self.peers:
                self.send(peer, snapshot)


if __name__ == "__main__":
    PNCounter().run()
