"""A brute-force linearizability oracle for small cas-register histories, independent of the checker.

It enumerates every order of operations that respects real time (an operation can go next only
if no unplaced operation that must take effect completed before it was invoked), lets `info`
and never-completed operations take effect or not, and applies Knossos semantics (failed
operations never happened, a null read matches anything). Exponential, so only for a handful of
operations; it is the reference the fast search is compared with.
"""

from __future__ import annotations

from typing import Any


def _ops(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    pending: dict[int, dict[str, Any]] = {}
    for pos, e in enumerate(history):
        if e["type"] == "invoke":
            op = {"f": e["f"], "value": e["value"], "call": pos, "ret": None, "status": "info"}
            pending[e["process"]] = op
            ops.append(op)
        else:
            op = pending.pop(e["process"])
            op["status"] = e["type"]
            if e["type"] == "ok":
                op["ret"] = pos
                op["value"] = e["value"]
    return [
        op
        for op in ops
        if op["status"] != "fail" and not (op["f"] in ("read", "get") and op["status"] != "ok")
    ]


def _apply(op: dict[str, Any], state: Any, null_absent: bool) -> tuple[bool, Any]:
    if op["f"] in ("read", "get"):
        return ((op["value"] is None and not null_absent) or op["value"] == state), state
    if op["f"] in ("write", "put"):
        return True, op["value"]
    if op["f"] == "delete":
        return True, None
    if op["f"] == "append":
        if state is None:
            return True, op["value"]
        return type(state) is type(op["value"]), (state + op["value"] if type(state) is type(op["value"]) else state)
    expected, new = op["value"]
    return (state == expected), new


def brute_force_linearizable(history: list[dict[str, Any]], init: Any = 0, null_absent: bool = False) -> bool:
    """True when some real-time-respecting order of the history's operations is legal for a cas register.

    Also reads kv histories of one key (get/put/delete/append); `null_absent` makes a null read mean null.
    """
    ops = _ops(history)

    def go(placed: frozenset[int], skipped: frozenset[int], state: Any) -> bool:
        if all(i in placed for i, op in enumerate(ops) if op["status"] == "ok"):
            return True
        for i, op in enumerate(ops):
            if i in placed or i in skipped:
                continue
            blocked = any(
                j not in placed and o["ret"] is not None and o["ret"] < op["call"] for j, o in enumerate(ops)
            )
            if blocked:
                continue
            legal, new = _apply(op, state, null_absent)
            if legal and go(placed | {i}, skipped, new):
                return True
            if op["status"] == "info" and go(placed, skipped | {i}, state):
                return True
        return False

    return go(frozenset(), frozenset(), init)
