"""The messages behind each anomaly: from a run's journal, the datagrams and applies of one key.

A history says *what* went wrong (a lost write, a resurrected delete, replicas that disagree);
the journal (``journal.jsonl.gz``, format in docs/HISTORY.md) says *why*: which datagram carrying
the version was dropped, which replica never got it, which repair brought an old value back.
For one anomaly this module

- names the version that should have won (the newer write, or the newest version any replica
  holds at the end) and, for every replica that does not hold it, the message that decided it:
  a dropped datagram, a merge the version lost, or the apply (with the Q record's reason:
  replication, hint, read-repair, anti-entropy, pull) that copied an older version over it;
- picks the time windows that matter (the proving operations, the applies and datagrams of the
  versions involved, the decisive messages), not the first N events, and bounds what is drawn
  (``MAX_DRAWN``), counting what was left out.

``checker.spacetime`` draws the result. Only the records of the anomalies' keys are kept while
the journal is read, so a journal of any size costs one streaming pass.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import orjson

from checker.journal import Apply as JApply
from checker.journal import Deliver, End, Lifecycle, Queue, Replicas, load_journal
from checker.journal import Send as JSend

MAX_DRAWN = 300  # datagrams + applies drawn per diagram; the rest are counted, not drawn
MAX_WINDOWS = 3  # time windows per diagram (the axis is broken between them)
MAX_CLAUSES = 4  # lagging replicas named one by one in the explanation
CLIENT = "clients"  # the lane of every client endpoint

Stamp = tuple[Any, ...]  # (physical_us, logical, writer id), compared as the store compares them

KIND_NAMES = {
    "replicate": "Replicate",
    "read_reply": "ReadReply",
    "key_stamps": "KeyStamps",
    "put": "Put",
    "delete": "Delete",
    "get": "Get",
    "read": "Read",
    "pull": "Pull",
    "reply": "Reply",
    "ack": "Ack",
    "digests": "Digests",
}
REASON_WORDS = {
    "replication": "replication",
    "hint": "a hint",
    "read-repair": "read repair",
    "anti-entropy": "anti-entropy",
    "pull": "an anti-entropy pull",
}


def _stamp(x: Any) -> Stamp | None:
    return tuple(x) if isinstance(x, list) and len(x) == 3 else None


@attrs.define(slots=True)
class Send:
    """An S record as far as one key is concerned: ``stamp`` is the version it carries of the key."""

    t: int
    d: int
    src: str
    dst: str
    kind: str
    fault: str | None
    copies: int
    stamp: Stamp | None
    delivered: list[int] = attrs.Factory(list)  # delivery times (one per copy)


@attrs.define(slots=True, frozen=True)
class Apply:
    t: int
    node: str
    stamp: Stamp
    via: str
    won: bool
    deleted: bool


@attrs.define(slots=True, frozen=True)
class Queued:
    t: int
    node: str
    peer: str
    stamp: Stamp
    reason: str


@attrs.define(slots=True)
class KeyLog:
    """Everything the journal says about one key, in journal order."""

    key: Any
    replicas: list[str] = attrs.Factory(list)
    sends: list[Send] = attrs.Factory(list)
    applies: list[Apply] = attrs.Factory(list)
    queued: list[Queued] = attrs.Factory(list)


@attrs.define(slots=True)
class JournalExtract:
    """The parts of a journal the report needs: header, per-key logs, node lifecycle, how it ended."""

    path: Path
    level: str
    nodes: list[str]
    keys: dict[Any, KeyLog]
    lifecycle: list[tuple[int, str, str]]  # (t, node, crash|restart|pause|resume)
    end: str | None  # "done", "size-limit", "interrupted"; None when the file has no END
    end_t: int | None = None  # the last record's time before END (what the journal covers)


def read_journal(path: Path, keys: Iterable[Any]) -> JournalExtract:
    """One streaming pass over ``path``, keeping only the records of ``keys`` (and the lifecycle).

    The journal is read by `checker.journal` (one reader for the checker and the report): every
    record is checked as the checker checks it, so any damage the figures refuse (a malformed
    record, a node the header does not list, a key placed twice, a record after END) is refused
    here too, with the same `JournalError`; a cut-short file keeps what came before the cut.
    """
    journal = load_journal(path)
    header = journal.header
    nodes = set(header.nodes)
    wanted = set(keys)
    logs: dict[Any, KeyLog] = {k: KeyLog(k) for k in wanted}
    by_d: dict[int, list[Send]] = {}
    lifecycle: list[tuple[int, str, str]] = []
    end = None
    last_t: int | None = None
    for r in journal.records():
        t = getattr(r, "t", None)
        if t is not None and (last_t is None or t > last_t) and not isinstance(r, End):
            last_t = t  # END's own time is when the writer stopped, after the last event it kept
        if isinstance(r, Deliver):
            for s in by_d.get(r.d, ()):
                s.delivered.append(r.t)
        elif isinstance(r, JSend):
            for k, st in r.items:
                if k in wanted:
                    s = Send(r.t, r.d, r.src if r.src in nodes else CLIENT, r.dst if r.dst in nodes else CLIENT,
                             r.kind, r.fault, r.copies, st)
                    logs[k].sends.append(s)
                    by_d.setdefault(r.d, []).append(s)
        elif isinstance(r, JApply):
            if r.key in wanted:
                logs[r.key].applies.append(Apply(r.t, r.node, r.stamp, r.via, r.won, r.deleted))
        elif isinstance(r, Queue):
            if r.key in wanted:
                logs[r.key].queued.append(Queued(r.t, r.node, r.peer, r.stamp, r.reason))
        elif isinstance(r, Replicas):
            if r.key in wanted:
                logs[r.key].replicas = list(r.nodes)
        elif isinstance(r, Lifecycle):
            lifecycle.append((r.t, r.node, r.what))
        elif isinstance(r, End):
            end = r.reason
    if end is None and journal.damage:
        end = f"cut short ({journal.damage})"
    return JournalExtract(path, header.level, list(header.nodes), logs, lifecycle, end, last_t)


# -- what the history says about the key's versions ---------------------------------------------


def fmt_t(t: int | float | None) -> str:
    return "?" if t is None else f"{t / 1e9:.2f} s"


@attrs.define(slots=True)
class Versions:
    """Stamp -> a name a person knows (the value written, or "the delete"), from the history."""

    label: dict[Stamp, str] = attrs.Factory(dict)
    by_value: dict[str, Stamp] = attrs.Factory(dict)
    write_t: dict[Stamp, int] = attrs.Factory(dict)  # completion time of the write

    @classmethod
    def of(cls, key_events: list[dict[str, Any]], log: KeyLog) -> Versions:
        v = cls()
        deletes = [e for e in key_events if e.get("f") == "delete" and e.get("type") == "ok"]
        by_process = len(deletes) > 1
        for e in key_events:
            meta = e.get("meta")
            st = _stamp(meta.get("stamp")) if isinstance(meta, dict) else None
            if st is None or e.get("type") != "ok":
                continue
            if e.get("f") in ("put", "write"):
                v.label.setdefault(st, _vs(e.get("value")))
                v.by_value.setdefault(orjson.dumps(e.get("value")).decode(), st)
                if e.get("time") is not None:
                    v.write_t.setdefault(st, e["time"])
            elif e.get("f") == "delete":
                v.label.setdefault(st, f"process {e.get('process')}'s delete" if by_process else "the delete")
                if e.get("time") is not None:
                    v.write_t.setdefault(st, e["time"])
        # A write with no acknowledged stamp (outcome unknown, or failed): the client's datagram
        # carries its stamp; the history's latest invoke at that node before it names the write.
        invokes: dict[Any, list[dict[str, Any]]] = {}  # per node, in time order
        outcome: dict[int, str] = {}  # invoke index -> how it completed
        pending: dict[Any, int] = {}
        for e in key_events:
            if e.get("type") == "invoke":
                pending[e.get("process")] = e.get("index", -1)
                if e.get("f") in ("put", "write", "delete") and e.get("time") is not None:
                    invokes.setdefault(e.get("node"), []).append(e)
            elif e.get("process") in pending:
                outcome[pending.pop(e.get("process"))] = str(e.get("type"))
        times = {node: [e["time"] for e in evs] for node, evs in invokes.items()}
        for s in log.sends:
            if s.src != CLIENT or s.stamp is None or s.stamp in v.label or s.kind not in ("put", "delete"):
                continue
            i = bisect.bisect_right(times.get(s.dst, []), s.t)
            if i:
                e = invokes[s.dst][i - 1]
                what = _vs(e.get("value")) if e.get("f") != "delete" else f"process {e.get('process')}'s delete"
                how = {"fail": "failed", "ok": "acknowledged"}.get(outcome.get(e.get("index", -1), ""), "outcome unknown")
                v.label[s.stamp] = f"{what} ({how})"
        for e in key_events:  # a version known only from a read's stamp: its value
            meta = e.get("meta")
            st = _stamp(meta.get("stamp")) if isinstance(meta, dict) else None
            if st is not None and e.get("type") == "ok" and e.get("f") in ("get", "read") and e.get("value") is not None:
                v.label.setdefault(st, _vs(e.get("value")))
                v.by_value.setdefault(orjson.dumps(e.get("value")).decode(), st)
        for a in log.applies:
            if a.stamp not in v.label:
                v.label[a.stamp] = "a delete" if a.deleted else f"version {_short_stamp(a.stamp)}"
        return v

    def name(self, st: Stamp | None) -> str:
        if st is None:
            return "nothing"
        return self.label.get(st) or f"version {_short_stamp(st)}"

    def of_value(self, value: Any) -> Stamp | None:
        return self.by_value.get(orjson.dumps(value).decode())


def _vs(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _short_stamp(st: Stamp) -> str:
    return f"{st[0] / 1e6:.3f}s/{st[1]}/{str(st[2])[:6]}"


# -- the story of one anomaly --------------------------------------------------------------------


@attrs.define(slots=True, frozen=True)
class Op:
    """A client operation on the key, from the history (drawn on the clients' line)."""

    t0: int
    t1: int
    label: str
    stamp: Stamp | None
    proof: bool
    final: bool
    node: str
    value: str  # what a read returned ("null" for nothing)


@attrs.define(slots=True)
class Finding:
    """One replica's fate: what happened to the version that should have won there."""

    node: str
    text: str
    sends: list[Send] = attrs.Factory(list)  # the decisive datagrams (drops), drawn numbered
    applies: list[Apply] = attrs.Factory(list)  # the decisive applies (a repair, a lost merge)
    focus: list[int] = attrs.Factory(list)  # other times the diagram must show (a crash)


@attrs.define(slots=True)
class Story:
    key: Any
    lanes: list[str]
    replicas: list[str]  # of the key (the journal's K record)
    target: Stamp | None  # the version that won (or should have)
    target_name: str
    findings: list[Finding]
    head: str  # the first sentence: which version, where it is
    sentence: str  # head and every finding, as one paragraph
    windows: list[tuple[int, int]]  # ns, ascending, disjoint
    sends: list[Send]  # drawn
    applies: list[Apply]  # drawn
    ops: list[Op]
    lifecycle: list[tuple[int, str, str]]
    versions: Versions
    total: int  # datagrams + applies of the key in the journal
    left_out: int  # of those, not drawn
    outside: int  # of those left out, outside the windows
    incomplete: str | None  # "size-limit" etc. when the journal stopped early


def _final_stamp(log: KeyLog, node: str) -> tuple[Stamp | None, bool]:
    """The version ``node`` holds at the end of the journal (last apply that won) and if it is a delete."""
    last: Apply | None = None
    for a in log.applies:
        if a.node == node and a.won:
            last = a
    return (last.stamp, last.deleted) if last else (None, False)


def _kind(s: Send) -> str:
    return KIND_NAMES.get(s.kind, s.kind)


def _who(name: str) -> str:
    return "a client" if name == CLIENT else name


def _why_missing(log: KeyLog, v: Versions, node: str, target: Stamp, level: str, cut: tuple[int, str] | None = None
                 ) -> Finding:
    """``node`` never applied ``target``: which datagram decided it.

    ``cut``: (time, why) when the journal stopped early; then nothing is said to have "never" happened,
    only not by the journal's end, and a version with no trace in it is one the journal cannot tell about.
    """
    tname = v.name(target)
    if cut is not None:
        until = f" by the journal's end at {fmt_t(cut[0])}"
        if not (any(x.stamp == target for x in log.sends) or any(x.stamp == target for x in log.queued)
                or any(x.stamp == target for x in log.applies)):
            wrote = v.write_t.get(target)
            when = (f", before {tname} was acknowledged at {fmt_t(wrote)}" if wrote is not None and wrote > cut[0]
                    else f", and holds no trace of {tname}")
            return Finding(node, f"{node}: the journal ended at {fmt_t(cut[0])} ({cut[1]}){when}: it cannot tell "
                                 f"whether {node} received it")
        never_received, never_applied = f"had not received {tname}{until}", f"had not applied it{until}"
        never_applied_target = f"had not applied {tname}{until}"
        after, ever = "before the journal's end", f"before the journal's end at {fmt_t(cut[0])}"
    else:
        never_received, never_applied = f"never received {tname}", "never applied it"
        never_applied_target = f"never applied {tname}"
        after, ever = "after that", "ever"
    if level == "applies":
        q = [x for x in log.queued if x.peer == node and x.stamp == target]
        queued = (f"; {q[0].node} queued it for {node} as {REASON_WORDS.get(q[0].reason, q[0].reason)} at "
                  f"{fmt_t(q[0].t)}") if q else ""
        return Finding(node, f"{node} {never_applied_target}{queued} (this journal holds applies only, "
                             "--journal applies, so which datagram was lost is not known)")
    to_node = [s for s in log.sends if s.dst == node and s.stamp == target]
    # Lost: dropped by a fault (no copy scheduled), or sent with copies that never arrived (the
    # receiver crashed, a partition began while it was delayed): no D record either way.
    drops = [s for s in to_node if not s.delivered]
    got = [s for s in to_node if s.delivered]
    if drops and not got:
        s = drops[0]
        if s.copies == 0:
            fate = f"was dropped by the {s.fault}" if s.fault else "was lost (dropped, no fault named)"
        else:
            fate = "was sent but never delivered" + (f" (held back by the {s.fault}, then lost)" if s.fault else
                                                     " (lost in transit: a crash or a closed socket)")
        more = f" (and {len(drops) - 1} resend{'s' if len(drops) > 2 else ''} after it, all lost)" if len(drops) > 1 else ""
        return Finding(node, f"{node} {never_received}: the {_kind(s)} of {fmt_t(s.t)} from {_who(s.src)} "
                             f"to {node} {fate}{more}, and no datagram carried it to {node} {after}",
                       sends=drops[:4])
    if got:
        s = got[0]
        return Finding(node, f"{node} received {tname} in the {_kind(s)} of {fmt_t(s.t)} from {_who(s.src)} "
                             f"(delivered at {fmt_t(s.delivered[0])}) but {never_applied}", sends=[s])
    q = [x for x in log.queued if x.peer == node and x.stamp == target]
    if q:
        return Finding(node, f"{node} {never_received}: {q[0].node} queued it for {node} as "
                             f"{REASON_WORDS.get(q[0].reason, q[0].reason)} at {fmt_t(q[0].t)}, but no datagram "
                             f"carrying it was {ever} sent to " + node)
    return Finding(node, f"{node} {never_received}: no node {ever} sent it to {node}, and no repair "
                         "(hint, read repair, anti-entropy) was queued for it")


def _source(log: KeyLog, a: Apply) -> str:
    """How an apply got there, in words: 'anti-entropy from n3' (the Q record's reason)."""
    if a.via in ("client", ""):
        return "from the client"
    q = None
    for x in log.queued:
        if x.t > a.t:
            break
        if x.node == a.via and x.peer == a.node and x.stamp == a.stamp:
            q = x
    reason = REASON_WORDS.get(q.reason, q.reason) if q else "a Replicate"
    if a.via == a.node:  # a coordinator repairing its own copy
        return f"{reason} by {a.node} itself, as the read's coordinator"
    return f"{reason} from {a.via}"


_UNKNOWN = object()


def _fate(log: KeyLog, v: Versions, node: str, target: Stamp, lifecycle: list[tuple[int, str, str]], level: str,
          read: Any = _UNKNOWN, cut: tuple[int, str] | None = None) -> Finding | None:
    """What happened to ``target`` at ``node``, or None when the node ends up holding it.

    ``read`` is what the node's last final read returned (the history's word on where the node
    ended, which a crash that lost unsynced versions can make differ from its last apply).
    """
    tname = v.name(target)
    deleted_target = any(a.stamp == target and a.deleted for a in log.applies) or tname.endswith("delete")
    jfinal, _ = _final_stamp(log, node)
    if read is _UNKNOWN:
        final = jfinal
        if final == target:
            return None
    else:
        if (read is None and deleted_target) or (read is not None and v.of_value(read) == target):
            return None
        final = None if read is None else v.of_value(read)
    mine = [a for a in log.applies if a.node == node]
    first = next((a for a in mine if a.stamp == target), None)
    if first is None:
        return _why_missing(log, v, node, target, level, cut)
    if not first.won and not any(a.stamp == target and a.won for a in mine):
        held = None
        for a in mine:
            if a.t > first.t:
                break
            if a.won:
                held = a.stamp
        return Finding(node, f"{node} received {tname} at {fmt_t(first.t)} ({_source(log, first)}), but it lost "
                             f"the merge to {v.name(held)}, which {node} already held", applies=[first])
    won_at = next(a for a in mine if a.stamp == target and a.won)
    crashes = [c for c in lifecycle if c[1] == node and c[0] > won_at.t and c[2] == "crash"]
    # The apply that installed what the node ends with (not the first one after the target: with
    # no tombstones, several older versions may pass through before the last one stays).
    after = [a for a in mine if a.t >= won_at.t and a.won and a.stamp != target]
    last = next((a for a in reversed(after) if a.stamp == final), None) if final is not None else None
    if last is not None:
        others = len({a.stamp for a in after if a.t < last.t} - {last.stamp})
        between = f" ({others} other version{'s' if others > 1 else ''} came and went before it)" if others else ""
        crashed = next((c for c in crashes if c[0] < last.t), None)
        if crashed is not None:
            between += f"; {node} had crashed at {fmt_t(crashed[0])} in between"
        src = _source(log, last)
        how = (f"A client's write of {v.name(last.stamp)} at {fmt_t(last.t)} (coordinated by {node}) landed"
               if src == "from the client" else
               f"{src[0].upper()}{src[1:]} at {fmt_t(last.t)} copied {v.name(last.stamp)} to {node}")
        return Finding(node, f"{how}, over {tname} that {node} had applied at {fmt_t(won_at.t)}{between}",
                       applies=[last])
    if crashes:
        return Finding(node, f"{node} applied {tname} at {fmt_t(won_at.t)} and crashed at {fmt_t(crashes[0][0])}: "
                             "the version was not yet durable and did not survive the crash", applies=[won_at],
                       focus=[crashes[0][0]])
    if read is not _UNKNOWN:
        return Finding(node, f"{node}'s final read returned {_vs(read)}, though its last apply in the journal "
                             f"was {v.name(jfinal)}", applies=[won_at])
    return None


def _read_origin(log: KeyLog, v: Versions, target: Stamp, proving: list[dict[str, Any]]) -> Finding | None:
    """Where the version a read returned came from: the node that answered, and how it got it."""
    read = next((e for e in proving if e.get("f") in ("get", "read") and e.get("type") == "ok"), None)
    if read is None or read.get("time") is None:
        return None
    node, done = str(read.get("node")), read["time"]
    have = [x for x in log.applies if x.stamp == target and x.t <= done]
    if not have:
        return None
    here = next((x for x in have if x.node == node), None)
    first = min(have, key=lambda x: x.t)
    origin = f"{first.node} applied it first, at {fmt_t(first.t)} ({_source(log, first)})"
    if here is None or here is first:
        return Finding(node, f"The read went to {node}; {origin}", applies=[first])
    return Finding(node, f"The read went to {node}, which got it at {fmt_t(here.t)} ({_source(log, here)}); "
                         f"{origin}", applies=[here, first])


def _target(a: dict[str, Any], log: KeyLog, v: Versions, events: dict[int, dict[str, Any]]) -> Stamp | None:
    """The version that won (or should have won) in this anomaly."""
    typ = a.get("type")
    proving = [events[i] for i in a.get("indexes", []) if i in events]
    if typ in ("lost-write", "resurrected-delete"):
        # The acknowledged write that was lost: the newest in real time, i.e. the last acknowledged (it was
        # invoked after every other proving write completed). Not the highest stamp: under clock skew the
        # stale value that won carries the highest stamp, and the lesson is that it should not have won.
        acked = [e for e in proving if e.get("type") == "ok" and e.get("f") in ("put", "delete", "write")]
        if not acked:
            return None
        meta = max(acked, key=lambda e: e.get("index", -1)).get("meta")
        return _stamp(meta.get("stamp")) if isinstance(meta, dict) else None
    if typ in ("phantom-read", "future-read"):
        for e in proving:
            meta = e.get("meta")
            st = _stamp(meta.get("stamp")) if isinstance(meta, dict) else None
            if st is not None and e.get("f") in ("get", "read"):
                return st
        return None
    # divergent: the newest version any replica holds at the end (last-writer-wins would spread it)
    values = {str(n): x for n, x in (a.get("values") or {}).items()}
    finals: list[Stamp | None] = []
    for n in _replicas(log, a):
        jfinal, deleted = _final_stamp(log, n)
        if n not in values:  # no final read: the journal's word
            finals.append(jfinal)
        elif values[n] is None:  # read nothing: a tombstone counts, if the node's last apply was one
            finals.append(jfinal if deleted else None)
        else:  # the history's word (a crash can lose what the journal saw applied)
            finals.append(v.of_value(values[n]) or jfinal)
    known = [s for s in finals if s]
    return max(known) if known else None


def _replicas(log: KeyLog, a: dict[str, Any]) -> list[str]:
    if log.replicas:
        return list(log.replicas)
    nodes = {str(n) for n in (a.get("values") or {})} | {x.node for x in log.applies}
    return sorted(nodes)


def story(
    a: dict[str, Any],
    log: KeyLog,
    key_events: list[dict[str, Any]],
    extract: JournalExtract,
    *,
    max_drawn: int = MAX_DRAWN,
) -> Story:
    """Find the decisive messages of anomaly ``a`` and choose what of its key's journal to draw."""
    events = {e["index"]: e for e in key_events if "index" in e}
    v = Versions.of(key_events, log)
    replicas = _replicas(log, a)
    target = _target(a, log, v, events)
    findings: list[Finding] = []
    cut = ((extract.end_t or 0, extract.end) if extract.end and extract.end != "done" else None)
    reads: dict[str, Any] = {}  # each node's last final read of the key that returned
    for e in key_events:
        if e.get("final") is True and e.get("type") == "ok" and e.get("f") in ("get", "read"):
            reads[str(e.get("node"))] = e.get("value")
    is_read = a.get("type") in ("phantom-read", "future-read")
    if is_read and target is not None:
        f = _read_origin(log, v, target, [events[i] for i in a.get("indexes", []) if i in events])
        if f is not None:
            findings.append(f)
    elif target is not None:
        for node in replicas:
            read = reads.get(node, _UNKNOWN)
            f = _fate(log, v, node, target, extract.lifecycle, extract.level, read, cut)
            if f is not None:
                findings.append(f)
    findings.sort(key=lambda f: min([s.t for s in f.sends] + [x.t for x in f.applies], default=0))
    tname = v.name(target)
    if is_read and target is not None:
        head = f"The messages: the read returned {tname}."
        sentence = head + (" " + findings[0].text + "." if findings else
                           " The journal holds no apply of that version before the read.")
    elif target is None and is_read:
        head = sentence = ("The history gives no version stamp for the value read, so the journal cannot say "
                           "where it came from.")
    elif target is None:
        head = sentence = "The journal does not show which version should have won on this key."
    elif not findings:
        head = sentence = f"Every replica ({', '.join(replicas)}) applied {tname} by the end of the journal."
    else:
        wrote = v.write_t.get(target)
        acked = f" (acknowledged at {fmt_t(wrote)})" if wrote else ""
        ok = [n for n in replicas if n not in {f.node for f in findings}]
        where = f"{', '.join(ok)} hold{'s' if len(ok) == 1 else ''} it at the end" if ok else "no replica holds it at the end"
        head = f"The messages: the version that should have won is {tname}{acked}; {where}"
        clauses = [f.text for f in findings[:MAX_CLAUSES]]
        if len(findings) > MAX_CLAUSES:
            clauses.append(f"{len(findings) - MAX_CLAUSES} more replicas likewise")
        head += "."
        sentence = head + " " + ". ".join(clauses) + "."  # clauses begin with node names: kept as written
    if extract.end and extract.end != "done":
        note = f" (The journal stopped early: {extract.end}; later messages are not in it.)"
        sentence += note
        head += note

    # -- the windows that matter ------------------------------------------------------------
    proving = set(a.get("indexes", []))
    focus: list[int] = []
    ops: list[Op] = []
    inv: dict[Any, dict[str, Any]] = {}
    for e in key_events:
        if e.get("type") == "invoke":
            inv[e.get("process")] = e
            continue
        start = inv.pop(e.get("process"), None)
        if start is None or start.get("time") is None or e.get("time") is None:
            continue
        meta = e.get("meta")
        st = _stamp(meta.get("stamp")) if isinstance(meta, dict) else None
        is_proof = e.get("index") in proving or start.get("index") in proving or (
            st is not None and st == target and e.get("f") in ("put", "write", "delete"))
        f = e.get("f")
        label = ("final " if e.get("final") else "") + (
            f"put {_vs(e.get('value'))}" if f in ("put", "write") else
            "delete" if f == "delete" else f"get → {_vs(e.get('value'))}")
        if e.get("type") != "ok":
            label += f" ({e.get('type')})"
        ops.append(Op(start["time"], e["time"], f"{label} @{e.get('node', '?')}", st, is_proof,
                      e.get("final") is True, str(e.get("node")), _vs(e.get("value"))))
        if is_proof:
            focus += [start["time"], e["time"]]
    decisive_sends = [s for f in findings for s in f.sends]
    decisive_applies = [x for f in findings for x in f.applies]
    focus += [s.t for s in decisive_sends] + [x.t for x in decisive_applies] + [t for f in findings for t in f.focus]
    involved = {target} | {x.stamp for x in decisive_applies}
    for st in list(involved):
        firsts: dict[str, int] = {}
        for x in log.applies:
            if x.stamp == st and x.node not in firsts:
                firsts[x.node] = x.t
        focus += list(firsts.values())
    windows = _windows(focus)

    def inside(t: int) -> bool:
        return any(lo <= t <= hi for lo, hi in windows)

    total = len(log.sends) + len(log.applies)
    sends_in = [s for s in log.sends if inside(s.t)]
    applies_in = [x for x in log.applies if inside(x.t)]
    outside = total - len(sends_in) - len(applies_in)
    # Priority: decisive messages, then anything carrying an involved version, then the rest
    # nearest a focus point, until the bound.
    fs = sorted(focus)

    def dist(t: int) -> int:
        i = bisect.bisect_left(fs, t)
        near = [abs(fs[j] - t) for j in (i - 1, i) if 0 <= j < len(fs)]
        return min(near) if near else 0

    ranked: list[tuple[int, int, int, Any]] = []
    dec_ids = {id(s) for s in decisive_sends} | {id(x) for x in decisive_applies}
    items: list[Send | Apply] = [*sends_in, *applies_in]
    for n, item in enumerate(items):
        pri = 0 if id(item) in dec_ids else 1 if item.stamp in involved else 2
        ranked.append((pri, dist(item.t), n, item))
    if len(ranked) > max_drawn:
        ranked.sort(key=lambda r: r[:3])
        ranked = ranked[:max_drawn]
    drawn_sends = sorted((r[3] for r in ranked if isinstance(r[3], Send)), key=lambda s: s.t)
    drawn_applies = sorted((r[3] for r in ranked if isinstance(r[3], Apply)), key=lambda x: x.t)
    left_out = total - len(drawn_sends) - len(drawn_applies)
    lanes = list(replicas)
    for s in drawn_sends:
        for end in (s.src, s.dst):
            if end not in lanes and end != CLIENT:
                lanes.append(end)
    lanes.append(CLIENT)
    ops_in = [o for o in ops if o.proof or inside(o.t0) or inside(o.t1)]
    ops_in = [o for o in ops_in if o.proof] + [o for o in ops_in if not o.proof][: max(0, 40 - len(proving))]
    return Story(
        key=a.get("key"), lanes=lanes, replicas=replicas, target=target, target_name=tname, findings=findings, head=head, sentence=sentence,
        windows=windows, sends=drawn_sends, applies=drawn_applies, ops=ops_in,
        lifecycle=[c for c in extract.lifecycle if inside(c[0])], versions=v, total=total, left_out=left_out,
        outside=outside, incomplete=extract.end if extract.end != "done" else None,
    )


def _windows(focus: list[int]) -> list[tuple[int, int]]:
    """Merge focus times into at most ``MAX_WINDOWS`` windows, each padded a little on both sides."""
    pts = sorted(set(focus))
    if not pts:
        return []
    span = pts[-1] - pts[0]
    gap = max(300_000_000, span // 20)  # points closer than this share a window
    clusters = [[pts[0], pts[0]]]
    for t in pts[1:]:
        if t - clusters[-1][1] <= gap:
            clusters[-1][1] = t
        else:
            clusters.append([t, t])
    while len(clusters) > MAX_WINDOWS:  # join the two closest neighbours
        i = min(range(len(clusters) - 1), key=lambda j: clusters[j + 1][0] - clusters[j][1])
        clusters[i : i + 2] = [[clusters[i][0], clusters[i + 1][1]]]
    out = []
    for lo, hi in clusters:
        pad = max(40_000_000, (hi - lo) // 10)
        out.append((max(0, lo - pad), hi + pad))
    return out
