"""A tiny Maelstrom node kit for the test nodes (standard library only).

One JSON message per line on stdin/stdout (``{src, dest, body}``), as Maelstrom documents it.
Handlers run one at a time under one lock, in the reading thread; `every` runs a function
periodically (under the same lock) from the moment ``init`` arrives. `rpc` sends a request and
calls back with the reply's body. Diagnostics go to stderr (the harness keeps them as the node's
log); stdout carries messages only.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

Body = dict[str, Any]
Message = dict[str, Any]
Handler = Callable[[Message], None]

#: Maelstrom's definite error "temporarily unavailable": the operation did not happen.
TEMPORARILY_UNAVAILABLE = 11
NOT_SUPPORTED = 10


class Node:
    """One Maelstrom node: its id, the cluster's ids, handlers by message type."""

    def __init__(self) -> None:
        self.id = ""
        self.ids: list[str] = []
        #: Unique to this process: a node restarted after a crash is a new incarnation of its id.
        self.incarnation = f"{time.time_ns():x}{os.getpid():x}"
        self.lock = threading.RLock()
        self._msg_ids = itertools.count(1)
        self._handlers: dict[str, Handler] = {}
        self._callbacks: dict[int, Callable[[Body], None]] = {}
        self._on_init: list[Callable[[], None]] = []
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._out = threading.Lock()

    def on(self, type_: str, handler: Handler) -> None:
        self._handlers[type_] = handler

    def on_init(self, fn: Callable[[], None]) -> None:
        self._on_init.append(fn)

    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` every ``seconds`` once the node is initialised."""
        self._timers.append((seconds, fn))

    def others(self) -> list[str]:
        return [n for n in self.ids if n != self.id]

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def send(self, dest: str, body: Body) -> None:
        line = json.dumps({"src": self.id, "dest": dest, "body": body})
        with self._out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def reply(self, req: Message, body: Body) -> None:
        self.send(req["src"], {**body, "in_reply_to": req["body"].get("msg_id")})

    def error(self, req: Message, code: int, text: str) -> None:
        self.reply(req, {"type": "error", "code": code, "text": text})

    def rpc(self, dest: str, body: Body, callback: Callable[[Body], None] | None = None) -> None:
        """Send a request; ``callback`` gets the reply's body (never called if no reply comes)."""
        msg_id = next(self._msg_ids)
        if callback is not None:
            self._callbacks[msg_id] = callback
        self.send(dest, {**body, "msg_id": msg_id})

    def _init(self, msg: Message) -> None:
        body = msg["body"]
        self.id = body["node_id"]
        self.ids = list(body["node_ids"])
        self.reply(msg, {"type": "init_ok"})
        for fn in self._on_init:
            fn()
        for seconds, fn in self._timers:
            threading.Thread(target=self._tick, args=(seconds, fn), daemon=True).start()

    def _tick(self, seconds: float, fn: Callable[[], None]) -> None:
        while True:
            time.sleep(seconds)
            with self.lock:
                fn()

    def _dispatch(self, msg: Message) -> None:
        body = msg["body"]
        reply_to = body.get("in_reply_to")
        if reply_to is not None:
            callback = self._callbacks.pop(reply_to, None)
            if callback is not None:
                callback(body)
            return
        type_ = body.get("type")
        if type_ == "init":
            self._init(msg)
            return
        handler = self._handlers.get(type_)
        if handler is None:
            if body.get("msg_id") is not None:
                self.error(msg, NOT_SUPPORTED, f"unknown message type {type_!r}")
            return
        handler(msg)

    def run(self) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            msg = json.loads(line)
            with self.lock:
                self._dispatch(msg)
