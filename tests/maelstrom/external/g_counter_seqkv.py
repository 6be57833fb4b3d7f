#!/usr/bin/env python3
"""Maelstrom "g-counter" workload node backed by the seq-kv service
(doc/workloads.md#workload-g-counter, doc/services.md#seq-kv,
Gossip Glomers challenge 4).

Layout in seq-kv: one key per node, named after the node id, holding the total
of all deltas ever added *through that node*.  Only the owning node writes its
key, so there is no write contention; the counter value is the sum of all the
per-node keys.

* add: the delta goes into the in-memory total at once; a flusher thread
  pushes the total into seq-kv with `cas` (from the last value known to be
  stored, `create_if_not_exists` for the first write).  The client gets
  `add_ok` once a cas covering its delta succeeded, or error 0 (timeout,
  indefinite) if that takes too long -- the delta is still flushed later.
  Because every cas strictly increases the key, a delayed or duplicated cas
  can never move it backwards.
* read: our own total comes from memory; every peer's key is read from seq-kv
  in parallel (after a throw-away write that nudges seq-kv forward for this
  client), and the per-peer maximum ever observed is kept, since per-node
  totals only grow.  Peers we cannot reach in time contribute their last
  known value.
* restart safety: at start the node reads its own key and continues from the
  stored total.

Structure: an RPC-capable Node class (reader thread, worker pool for handlers,
futures for outstanding requests) and a GCounter subclass.
"""
import concurrent.futures as cf
import json
import os
import sys
import threading
import time

SERVICE = "seq-kv"
KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22


class RPCError(Exception):
    def __init__(self, code, text=""):
        super().__init__(f"rpc error {code}: {text}")
        self.code = code


class Node:
    def __init__(self, workers=64):
        self.node_id = None
        self.node_ids = []
        self.ready = threading.Event()
        self._out = threading.Lock()
        self._ids = 0
        self._pending = {}          # msg_id -> Future
        self._pending_lock = threading.Lock()
        self.pool = cf.ThreadPoolExecutor(max_workers=workers)

    def log(self, *a):
        print(f"[{self.node_id}]", *a, file=sys.stderr, flush=True)

    def _write(self, dest, body):
        with self._out:
            self._ids += 1
            body = dict(body, msg_id=self._ids)
            sys.stdout.write(json.dumps({"src": self.node_id, "dest": dest, "body": body}) + "\n")
            sys.stdout.flush()
            return self._ids

    def reply(self, req, body):
        if "msg_id" in req["body"]:
            body = dict(body, in_reply_to=req["body"]["msg_id"])
        self._write(req["src"], body)

    def rpc(self, dest, body, timeout=1.0):
        """Send a request and block until its reply; raises RPCError/TimeoutError."""
        fut = cf.Future()
        # Register before writing so a fast reply cannot be missed.
        with self._out:
            self._ids += 1
            mid = self._ids
            with self._pending_lock:
                self._pending[mid] = fut
            sys.stdout.write(json.dumps({"src": self.node_id, "dest": dest,
                                         "body": dict(body, msg_id=mid)}) + "\n")
            sys.stdout.flush()
        try:
            resp = fut.result(timeout=timeout)
        except cf.TimeoutError:
            raise TimeoutError(f"{body.get('type')} to {dest} timed out")
        finally:
            with self._pending_lock:
                self._pending.pop(mid, None)
        if resp.get("type") == "error":
            raise RPCError(resp.get("code"), resp.get("text", ""))
        return resp

    def handle_init(self, msg):
        self.node_id = msg["body"]["node_id"]
        self.node_ids = list(msg["body"].get("node_ids", []))
        self.reply(msg, {"type": "init_ok"})
        self.ready.set()

    def _handle(self, msg):
        body = msg["body"]
        kind = body.get("type")
        fn = getattr(self, f"handle_{kind}", None)
        try:
            if fn is None:
                if "msg_id" in body:
                    self.reply(msg, {"type": "error", "code": 10, "text": f"unsupported {kind}"})
                return
            fn(msg)
        except Exception as exc:
            self.log("handler", kind, "crashed:", repr(exc))
            if "msg_id" in body:
                self.reply(msg, {"type": "error", "code": 13, "text": repr(exc)})

    def run(self):
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                self.log("bad json:", line.strip())
                continue
            body = msg.get("body", {})
            irt = body.get("in_reply_to")
            if irt is not None:
                with self._pending_lock:
                    fut = self._pending.pop(irt, None)
                if fut is not None and not fut.done():
                    fut.set_result(body)
                continue
            if body.get("type") == "init":
                self._handle(msg)   # synchronously, so node_id is set before anything else
            else:
                self.pool.submit(self._handle, msg)
        # stdin closed: let in-flight handlers finish (they all have timeouts)
        self.pool.shutdown(wait=True)
        sys.stdout.flush()
        os._exit(0)


class GCounter(Node):
    ADD_ACK_TIMEOUT = 2.0
    KV_TIMEOUT = float(os.environ.get("KV_TIMEOUT", "0.5"))
    POLL_INTERVAL = float(os.environ.get("POLL_INTERVAL", "1.0"))

    def __init__(self):
        super().__init__()
        self.cond = threading.Condition()
        self.local = 0        # total of deltas added here (including recovered base)
        self.stored = None    # last total known to be in seq-kv under our key; None = unknown
        self.known = {}       # peer -> highest total observed for that peer
        # separate pool for fan-out reads so handlers waiting on them can't starve it
        self.io_pool = cf.ThreadPoolExecutor(max_workers=8)
        threading.Thread(target=self._flusher, daemon=True).start()
        threading.Thread(target=self._poller, daemon=True).start()

    @property
    def peers(self):
        return [n for n in self.node_ids if n != self.node_id]

    # ---- seq-kv helpers ----
    def kv_read(self, key):
        try:
            return int(self.rpc(SERVICE, {"type": "read", "key": key}, self.KV_TIMEOUT)["value"])
        except RPCError as e:
            if e.code == KEY_DOES_NOT_EXIST:
                return 0
            raise

    def _flusher(self):
        self.ready.wait()
        # Recover our own total (0 unless this process is a restart).
        while self.stored is None:
            try:
                base = self.kv_read(self.node_id)
                with self.cond:
                    self.stored = base
                    self.local += base
                    self.cond.notify_all()
                if base:
                    self.log("recovered stored total", base)
            except Exception as exc:
                self.log("recovery read failed:", exc)
                time.sleep(0.2)
        while True:
            with self.cond:
                while self.local <= self.stored:
                    self.cond.wait()
                frm, to = self.stored, self.local
            try:
                self.rpc(SERVICE, {"type": "cas", "key": self.node_id, "from": frm, "to": to,
                                   "create_if_not_exists": True}, self.KV_TIMEOUT)
                with self.cond:
                    self.stored = max(self.stored, to)
                    self.cond.notify_all()
            except RPCError as e:
                if e.code == KEY_DOES_NOT_EXIST:
                    # Service ignored create_if_not_exists: create the key with
                    # a plain write (we are its only writer).
                    try:
                        self.rpc(SERVICE, {"type": "write", "key": self.node_id, "value": to},
                                 self.KV_TIMEOUT)
                        with self.cond:
                            self.stored = max(self.stored, to)
                            self.cond.notify_all()
                    except Exception as exc:
                        self.log("initial write failed:", exc)
                        time.sleep(0.1)
                elif e.code == PRECONDITION_FAILED:
                    # An earlier cas may have landed after we gave up on it:
                    # learn what is really stored and try again from there.
                    try:
                        actual = self.kv_read(self.node_id)
                        with self.cond:
                            if actual > self.local:
                                self.local = actual  # should not happen; never go backwards
                            self.stored = actual
                            self.cond.notify_all()
                    except Exception as exc:
                        self.log("re-read failed:", exc)
                        time.sleep(0.1)
                else:
                    self.log("cas failed:", e)
                    time.sleep(0.1)
            except TimeoutError as exc:
                self.log(exc)

    def _refresh(self, peer):
        try:
            v = self.kv_read(peer)
        except Exception as exc:
            self.log("read of", peer, "failed:", exc)
            return
        with self.cond:
            if v > self.known.get(peer, 0):
                self.known[peer] = v

    def _refresh_all(self):
        try:
            # Throw-away write: our later reads must come after it in seq-kv's
            # per-client order, which pushes them past older snapshots.
            self.rpc(SERVICE, {"type": "write", "key": f"nudge-{self.node_id}",
                               "value": time.time_ns()}, self.KV_TIMEOUT)
        except Exception as exc:
            self.log("nudge failed:", exc)
        futs = [self.io_pool.submit(self._refresh, p) for p in self.peers]
        cf.wait(futs, timeout=self.KV_TIMEOUT * 3)

    def _poller(self):
        self.ready.wait()
        while True:
            time.sleep(self.POLL_INTERVAL)
            self._refresh_all()

    # ---- client handlers ----
    def handle_add(self, msg):
        delta = int(msg["body"]["delta"])
        with self.cond:
            self.local += delta
            target = self.local
            self.cond.notify_all()
            deadline = time.monotonic() + self.ADD_ACK_TIMEOUT
            while self.stored is None or self.stored < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            ok = self.stored is not None and self.stored >= target
        if ok:
            self.reply(msg, {"type": "add_ok"})
        else:
            self.reply(msg, {"type": "error", "code": 0,
                             "text": "not yet persisted to seq-kv; will be retried"})

    def handle_read(self, msg):
        self._refresh_all()
        with self.cond:
            total = self.local + sum(self.known.get(p, 0) for p in self.peers)
        self.reply(msg, {"type": "read_ok", "value": total})


if __name__ == "__main__":
    GCounter().run()
