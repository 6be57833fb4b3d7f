"""Turn a failed search into an anomaly a person can follow without reading code.

The explanation names the part (key), the longest linearizable prefix the search found, the
operation that cannot be placed after it, the state that operation needed and the states it
could have seen. It also carries the operations around the failure (`timeline`) so the report
can draw them on a time axis with the partial linearization marked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from checker.linearizable.models import BAD, CompiledOp, Model
from checker.linearizable.operations import Operation
from checker.linearizable.search import SearchOutcome

#: How many operations of a violating part the timeline picture shows at most.
TIMELINE_LIMIT = 60
#: How many of the prefix's last operations the words mention.
PREFIX_WORDS = 3
#: How many seen states the words list.
STATES_WORDS = 8


def _generic_label(op: Operation) -> str:
    value = op.value
    if value is None:
        return op.f
    return f"{op.f} {json.dumps(value, default=str)}"


#: The kv model reads Jepsen's register names as its own (docs/HISTORY.md); an explanation keeps the history's.
_HISTORY_NAMES = {"put": "write", "get": "read"}


def _label(c: CompiledOp) -> str:
    """What the operation did, in the history's own words: a ``write`` stays a write, not the model's put."""
    label = c.label
    head, sep, rest = label.partition(" ")
    f = c.op.f
    if f != head and _HISTORY_NAMES.get(head) == f:
        return f + sep + rest
    return label


def _who(op: Operation, label: str) -> str:
    return f"process {op.process}'s {label} ({op.describe_events()})"


def _indexes(op: Operation) -> list[int]:
    return [op.call_index] if op.complete_index is None else [op.call_index, op.complete_index]


def _shorten(states: list[str]) -> list[str]:
    if len(states) <= STATES_WORDS:
        return states
    return [*states[:STATES_WORDS], f"{len(states) - STATES_WORDS} more"]


def _list_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def nonlinearizable_anomaly(
    model: Model, part: Any, cops: list[CompiledOp], part_ops: Sequence[Operation], outcome: SearchOutcome
) -> dict[str, Any]:
    """The anomaly for a part the search proved not linearizable."""
    name = model.part_name(part)
    subject = model.part_subject(part)
    must = sum(1 for c in cops if c.must)
    prefix = [cops[i] for i in outcome.prefix]
    if part is None:
        words = [f"The history is not linearizable under the {model.name} model."]
    else:
        words = [f"{subject[0].upper()}{subject[1:]} is not linearizable under the {model.name} model."]
    if prefix:
        tail = "; ".join(_who(c.op, _label(c)) for c in prefix[-PREFIX_WORDS:])
        words.append(
            f"The longest linearizable prefix the search found places {len(prefix)} operation{'' if len(prefix) == 1 else 's'} "
            f"({sum(1 for c in prefix if c.must)} of the {must} that must take effect), ending with "
            f"{tail}; after it {subject} "
            f"is {model.show(outcome.state, part)}."
        )
    else:
        words.append(
            f"The longest linearizable prefix is empty: no operation can be placed first, "
            f"from the initial state {model.show(outcome.state, part)}."
        )
    indexes: list[int] = []
    blocked_info: dict[str, Any] | None = None
    seen_states: list[str] = []
    if outcome.blocked is not None:
        b = cops[outcome.blocked]
        indexes.extend(_indexes(b.op))
        seen_states = [model.show(s, part) for s in outcome.seen]
        accepting = [model.show(s, part) for s in outcome.seen if b.step(s) is not BAD]
        if b.blind:
            words.append(
                f"Then {_who(b.op, _label(b))} cannot be placed before its completion; in the explored "
                f"partial linearizations where it could take effect {subject} was "
                f"{_list_words(_shorten(seen_states)) or 'never reachable'}."
            )
        elif accepting:
            # It could take effect (the state it needs was there): what stops it is what placing it does, and the
            # first sentence says that, not "it needs 1 ... and the register was 1".
            stranded = _stranded_readers(cops, outcome, outcome.blocked)
            held = f"{subject} held {_list_words(_shorten(accepting))}, as it needs"
            if stranded:
                words.append(
                    f"Then {_who(b.op, _label(b))} cannot be placed: placing it after the prefix would replace "
                    f"{model.show(outcome.state, part)}, which "
                    f"{_list_words([_who(c.op, _label(c)) for c in stranded[:3]])} still has to see and "
                    f"which no remaining operation can produce again (where it could take effect {held})."
                )
                for c in stranded[:3]:
                    indexes.extend(i for i in _indexes(c.op) if i not in indexes)
            else:
                words.append(f"Then {_who(b.op, _label(b))} cannot be placed: where it could take effect {held}, "
                             f"but every such placement left no way to place every operation that completed "
                             f"before event {b.op.complete_index}.")
        else:
            words.append(
                f"Then {_who(b.op, _label(b))} cannot be placed: it needs {subject} {b.needs}, and in the "
                f"explored partial linearizations where it could take effect {subject} was "
                f"{_list_words(_shorten(seen_states)) or 'never reachable'}."
            )
        stranded = [] if accepting and not b.blind else _stranded_readers(cops, outcome, outcome.blocked)
        if accepting and not b.blind:
            pass  # said in the sentence above
        elif stranded:
            value = model.show(outcome.state, part)
            words.append(
                f"Placing it after the prefix would replace {value}, which "
                f"{_list_words([_who(c.op, _label(c)) for c in stranded[:3]])} still has to see and "
                f"which no remaining operation can produce again."
            )
            for c in stranded[:3]:
                indexes.extend(i for i in _indexes(c.op) if i not in indexes)
        elif producers := _producers_of_need(cops, outcome):
            p = cops[producers[0]]
            replaced = _stranded_readers(cops, outcome, producers[0])
            if replaced:
                why = (
                    f"placing it after the prefix would replace {model.show(outcome.state, part)}, which "
                    f"{_list_words([_who(c.op, _label(c)) for c in replaced[:3]])} still has to see and "
                    f"which no remaining operation can produce again"
                )
                for c in replaced[:3]:
                    indexes.extend(i for i in _indexes(c.op) if i not in indexes)
            else:
                why = "no explored placement of it let the prefix continue to this operation's completion"
            indexes.extend(i for i in _indexes(p.op) if i not in indexes)
            who = _who(p.op, _label(p))
            words.append(f"{who[0].upper()}{who[1:]} could have produced that value, but {why}.")
        elif accepting:
            words.append(
                f"Where it was possible ({_list_words(_shorten(accepting))}), placing it left no way "
                f"to place every operation that completed before event {b.op.complete_index}."
            )
        else:
            words.append(
                f"So no order consistent with real time explains what it observed by its "
                f"completion (event {b.op.complete_index})."
            )
        blocked_info = {
            "process": b.op.process,
            "f": b.op.f,
            "label": _label(b),
            "indexes": _indexes(b.op),
            "needs": b.needs,
        }
    for c in reversed(prefix[-PREFIX_WORDS:]):
        indexes.extend(i for i in _indexes(c.op) if i not in indexes)
    return {
        "type": "nonlinearizable",
        "key": name,
        "indexes": indexes,
        "explanation": " ".join(words),
        "model": model.name,
        "prefix": [c.call_index for c in prefix],
        "blocked": blocked_info,
        "state_after_prefix": model.show(outcome.state, part),
        "states_seen": seen_states,
        "timeline": _timeline(cops, part_ops, outcome, set(indexes)),
    }


def _stranded_readers(cops: list[CompiledOp], outcome: SearchOutcome, mover: int | None) -> list[CompiledOp]:
    """Unplaced operations that must still see the prefix's final value if `mover` replaced it, when
    nothing left could write that value again."""
    if mover is None or not cops[mover].produces or cops[mover].readonly:
        return []
    if cops[mover].sets == outcome.state or cops[mover].step(outcome.state) is BAD:
        return []
    placed = set(outcome.prefix)
    placed.add(mover)
    readers = []
    for i, c in enumerate(cops):
        if i in placed:
            continue
        if c.produces and not c.readonly and c.sets == outcome.state:
            return []
        if c.must and c.tests == (outcome.state,) and i != outcome.blocked:
            readers.append(c)
    return readers


def _producers_of_need(cops: list[CompiledOp], outcome: SearchOutcome) -> list[int]:
    """Unplaced operations that could have written the value the blocked operation needs."""
    if outcome.blocked is None:
        return []
    tests = cops[outcome.blocked].tests
    if not tests or len(tests) != 1:
        return []
    placed = set(outcome.prefix)
    return [
        i
        for i, c in enumerate(cops)
        if i not in placed and i != outcome.blocked and c.produces and not c.readonly and c.sets == tests[0]
    ]


def _timeline(
    cops: list[CompiledOp], part_ops: Sequence[Operation], outcome: SearchOutcome, named: set[int]
) -> list[dict[str, Any]]:
    """The part's operations around the failure, for the picture: who ran what, when, and in which order it was placed."""
    # By call position (one operation each), so that only the operations drawn are made from
    # their records; an operation is compiled when it is the very object of the `CompiledOp`.
    order = {cops[i].call_pos: n for n, i in enumerate(outcome.prefix, start=1)}
    by_pos = {c.call_pos: c for c in cops}  # (labels are formatted only for the operations drawn)

    def compiled(op: Operation) -> CompiledOp | None:
        c = by_pos.get(op.call_pos)
        return c if c is not None and c.op is op else None
    blocked = cops[outcome.blocked].op if outcome.blocked is not None else None
    if blocked is not None:
        focus = blocked.call_pos
        hi = blocked.ret_pos if blocked.ret_pos is not None else blocked.call_pos
    else:
        focus = hi = part_ops[-1].call_pos if part_ops else 0
    tail = [cops[i].call_pos for i in outcome.prefix[-8:]]
    lo = min([focus, *tail])

    def overlaps(op: Operation) -> bool:
        end = op.ret_pos if op.ret_pos is not None else float("inf")
        return op.call_pos <= hi and end >= lo

    # (Only the operations near the window, or named, need be made from their records: `near`.)
    near = getattr(part_ops, "near", None)
    ops = part_ops if near is None else near(lo, hi, named)
    chosen = [op for op in ops if overlaps(op) and not (op.status == "info" and compiled(op) is None)]
    if len(chosen) > TIMELINE_LIMIT:
        chosen.sort(key=lambda op: abs(op.call_pos - focus))
        chosen = chosen[:TIMELINE_LIMIT]
    # The operations the explanation names (a far-away reader left stranded) are always drawn.
    shown = {id(op) for op in chosen}
    chosen += [op for op in ops if op.call_index in named and id(op) not in shown]
    chosen.sort(key=lambda op: op.call_pos)
    drawn = []
    for op in chosen:
        c = compiled(op)
        drawn.append(
            {
                "process": op.process,
                "label": _label(c) if c is not None else _generic_label(op),
                "status": op.status,
                "start": op.call_pos,
                "end": op.ret_pos,
                "indexes": _indexes(op),
                "order": order.get(op.call_pos) if c is not None else None,
                "blocked": op is blocked,
                "ignored": c is None,
            }
        )
    return drawn
