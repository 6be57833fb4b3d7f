"""Pair a history's events into operations, the unit a linearizability search works on.

A history is a list of events (invoke, then ok/fail/info by the same process). The search needs
operations instead: what was called, with which value, and the interval in real time during
which it may take effect. Line order is the real-time order (HISTORY.md), so an interval is a
pair of positions in the event list, never a pair of timestamps. An operation that completed
with `info`, or never completed, has no end: it may take effect at any point after its
invocation, or never.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_COMPLETIONS = ("ok", "fail", "info")


class HistoryInputError(ValueError):
    """A history the linearizability checker cannot read; the message names the event and field."""


@dataclass(slots=True)
class Operation:
    """One client operation: its call, its outcome and the interval it may take effect in.

    `value` is the value the model sees: the completion's value for `ok` (a read's result), the
    invocation's value otherwise (an `info` write may have written what it was asked to write).
    `ret_pos` is None when the operation may take effect arbitrarily late (info, never completed).
    """

    process: int
    f: str
    value: Any
    status: str  # "ok" | "fail" | "info" (never-completed operations are "info")
    key: Any
    call_pos: int
    ret_pos: int | None
    call_index: int
    complete_index: int | None
    call_time: int | None
    complete_time: int | None

    def describe_events(self) -> str:
        """Say which events the operation spans, in the history's own `index` numbers."""
        if self.complete_index is None:
            return f"event {self.call_index}, never completed"
        return f"events {self.call_index}-{self.complete_index}"


def _where(event: Any, pos: int) -> str:
    index = event.get("index") if isinstance(event, dict) else None
    return f"event {pos}" + (f" (index {index})" if index is not None and index != pos else "")


def is_client_event(event: dict) -> bool:
    """Tell client events from others: Jepsen gives non-client events (nemesis) a non-int process."""
    process = event.get("process")
    return isinstance(process, int) and not isinstance(process, bool)


def pair_operations(events: list[dict]) -> list[Operation]:
    """Turn events into operations in invocation order, checking the invoke/complete discipline.

    Events of non-client processes are skipped. A completion without a pending invocation, an
    invocation while the process still has one pending, or an unknown `type` is an input error
    naming the event, because guessing would silently change the verdict.
    """
    ops: list[Operation] = []
    pending: dict[int, int] = {}
    for pos, event in enumerate(events):
        if not isinstance(event, dict):
            raise HistoryInputError(
                f"{_where(event, pos)}: expected a JSON object, got {type(event).__name__}"
            )
        if not is_client_event(event):
            continue
        kind = event.get("type")
        f = event.get("f")
        process = event["process"]
        index = event.get("index", pos)
        if not isinstance(index, int):
            raise HistoryInputError(f"{_where(event, pos)}: field 'index' must be an int, got {index!r}")
        time = event.get("time")
        if kind == "invoke":
            if not isinstance(f, str):
                raise HistoryInputError(f"{_where(event, pos)}: field 'f' must be a string, got {f!r}")
            if process in pending:
                earlier = ops[pending[process]]
                raise HistoryInputError(
                    f"{_where(event, pos)}: process {process} invokes {f!r} while its {earlier.f!r} "
                    f"invoked at event {earlier.call_pos} has not completed"
                )
            pending[process] = len(ops)
            ops.append(
                Operation(
                    process=process,
                    f=f,
                    value=event.get("value"),
                    status="info",
                    key=event.get("key"),
                    call_pos=pos,
                    ret_pos=None,
                    call_index=index,
                    complete_index=None,
                    call_time=time if isinstance(time, int) else None,
                    complete_time=None,
                )
            )
        elif kind in _COMPLETIONS:
            slot = pending.pop(process, None)
            if slot is None:
                raise HistoryInputError(
                    f"{_where(event, pos)}: process {process} completes {f!r} with {kind!r} "
                    "but has no pending invocation"
                )
            op = ops[slot]
            if f is not None and f != op.f:
                raise HistoryInputError(
                    f"{_where(event, pos)}: completion f {f!r} does not match the invocation's {op.f!r} "
                    f"(event {op.call_pos})"
                )
            op.status = kind
            op.complete_index = index
            op.complete_time = time if isinstance(time, int) else None
            if kind == "ok":
                op.ret_pos = pos
                op.value = event.get("value")
            elif kind == "fail":
                op.ret_pos = pos
        else:
            raise HistoryInputError(
                f"{_where(event, pos)}: field 'type' must be one of invoke, ok, fail, info; got {kind!r}"
            )
    return ops


def freeze(value: Any) -> Any:
    """Make a JSON value hashable (lists become tuples, objects sorted item tuples) for cache keys."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    return value
