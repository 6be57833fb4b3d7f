"""Pair a history's events into operations, the unit a linearizability search works on.

A history is a list of events (invoke, then ok/fail/info by the same process). The search needs
operations instead: what was called, with which value, and the interval in real time during
which it may take effect. Line order is the real-time order (docs/HISTORY.md), so an interval is a
pair of positions in the event list, never a pair of timestamps. An operation that completed
with `info`, or never completed, has no end: it may take effect at any point after its
invocation, or never.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checker.values import DEEP, deep_key, deeper_than, preview


class HistoryInputError(ValueError):
    """A history the linearizability checker cannot read; the message names the event and field.

    When raised about one operation, `index` (the history's `index` of its invocation), `field`
    and `problem` are set too, so that a caller that knows the file can name the line instead.
    """

    def __init__(
        self, message: str, *, index: int | None = None, field: str | None = None, problem: str | None = None
    ) -> None:
        super().__init__(message)
        self.index = index
        self.field = field
        self.problem = problem


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


def pair_operations(events: list[dict]) -> list[Operation]:
    """Turn events into operations in invocation order, checking the invoke/complete discipline.

    Events of non-client processes are skipped. A completion without a pending invocation, an
    invocation while the process still has one pending, or an unknown `type` is an input error
    naming the event, because guessing would silently change the verdict.
    """
    from checker.linearizable.pairing import pair_records  # (pairing.py imports this module)

    return [Operation(*rec) for rec in pair_records(events)]


def own_keys(events: Sequence[Any], names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` spelt with the first event's own key objects where it has them. A history read
    from a file uses the same key objects in every event (the JSON reader caches them), and a
    dict finds the very object it holds without comparing the characters: a loop that looks up
    every event's fields is about 15 % cheaper so. The same lookups, the same results, either way."""
    first = events[0] if len(events) else None
    if type(first) is not dict:
        return names
    own = {k: k for k in first if type(k) is str}
    return tuple([own.get(name, name) for name in names])


#: Where `pair_records` keeps each field of an operation: the order of `Operation`'s fields, so
#: that `Operation(*record)` makes the operation.
R_PROCESS, R_F, R_VALUE, R_STATUS, R_KEY, R_CALL_POS, R_RET_POS, R_CALL_INDEX = range(8)


class Typed:
    """A boolean or float value that compares equal only to the same JSON type and value.

    Python's ``True == 1 == 1.0`` (with equal hashes) would let a read of ``true`` match a write
    of ``1``; wrapping the types that collide with integers keeps them apart in states, step
    tests and the search's caches. Shown as JSON (``true``, ``1.0``).
    """

    __slots__ = ("v",)

    def __init__(self, v: bool | float) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return type(other) is Typed and type(other.v) is type(self.v) and other.v == self.v

    def __hash__(self) -> int:
        return hash((type(self.v), self.v))

    def __repr__(self) -> str:
        if type(self.v) is bool:
            return "true" if self.v else "false"
        return repr(self.v)


class Deep:
    """A list or object nested deeper than `DEEP` levels, frozen as its canonical text
    (`checker.values.deep_key`): equal exactly when the values are."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return type(other) is Deep and other.text == self.text

    def __hash__(self) -> int:
        return hash(("deep", self.text))

    def __repr__(self) -> str:
        return preview(self.text)


def freeze(value: Any) -> Any:
    """Make a JSON value hashable and typed: lists become tuples, objects sorted item tuples,
    booleans and floats `Typed` (so that ``true``, ``1`` and ``1.0`` are three values)."""
    t = type(value)
    if t is str or t is int or value is None:
        return value
    if t is bool or t is float:
        return Typed(value)
    if isinstance(value, list | tuple | dict) and deeper_than(value, DEEP):
        return Deep(deep_key(value))  # nested tuples that deep could not be compared or printed
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((k, freeze(v)) for k, v in value.items()), key=repr))
    return value


def op_error(op: Operation, field: str, problem: str) -> HistoryInputError:
    """The error for one operation's field: "event N: field 'f': problem", with the parts kept."""
    return HistoryInputError(
        f"event {op.call_index}: field {field!r}: {problem}", index=op.call_index, field=field, problem=problem
    )
