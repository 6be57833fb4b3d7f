"""The messages behind each anomaly of a Maelstrom run, from its ``messages.jsonl.gz``.

``harness.py maelstrom test`` routes every message between nodes, clients and services and records
each (docs/HISTORY.md, "Maelstrom runs"): time, ends, type, ``msg_id``/``in_reply_to``, the fate
the nemesis gave it (delivered, partition, drop, delay, duplicate, reorder, node-down,
input-full, unknown-dest), the delays of delayed copies, and its body (bounded: a line over 16 KiB
keeps only its size and beginning). Older runs recorded no bodies; their messages are still read
and drawn by time, and the report says the bodies were not recorded.

For one anomaly this module picks the messages that matter, without the node's source or any
knowledge of its protocol:

- the *needle*: the value the anomaly is about (a set's element, an echo's string, an id returned
  twice); every message whose body holds it (outside ``msg_id``/``in_reply_to``/``type``), and the
  reply to each such request (the client's broadcast and its ``broadcast_ok``);
- the client requests and replies of the anomaly's proving operations (the final reads);
- for an anomaly with no needle (a counter out of bounds, divergent reads), every message near
  the proving operations, within the bound ``MAX_DRAWN``;

and says in words, per node that lacks an element, what the file shows: no node ever sent it
there (a node that never forwards), every copy was lost (and to which fault), or it arrived and
the node crashed afterwards. ``messages_per_op`` gives the Gossip Glomers efficiency figure from
the file alone. ``checker.spacetime.render_maelstrom`` draws the result. The file is read in one
streaming pass; only the messages some anomaly wants are kept.
"""

from __future__ import annotations

import bisect
import gzip
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from checker.values import vkey

MESSAGES_FILE = "messages.jsonl.gz"
MAX_DRAWN = 160  # messages drawn per diagram; the rest are counted, not drawn
MAX_KEPT = 20_000  # messages kept per anomaly while reading (the nearest are drawn from them)
LOST_FATES = frozenset({"partition", "drop", "node-down", "input-full", "unknown-dest"})
SETUP_TYPES = frozenset({"init", "topology"})  # the harness's setup requests: not client operations
CLIENTS = "clients"  # the lane of every client
SERVICES = "services"  # the lane of every service (lin-kv, seq-kv, ...)
NEAR_NS = 2_000_000  # a proving operation's own request and reply: within 2 ms of its invoke/completion
WINDOW_NS = 150_000_000  # without a needle: the messages within 150 ms of a proving operation
NO_BODIES = "message bodies not recorded in this run"


class MessagesError(ValueError):
    """A messages file that cannot be read at all (its header is missing or not a Maelstrom journal's)."""


@attrs.define(slots=True)
class Message:
    """One record of the messages file."""

    t: int
    id: int | None
    src: str
    dest: str
    type: str
    msg_id: Any
    in_reply_to: Any
    fate: str
    copies: int
    delays_ms: list[float] | None
    body: dict[str, Any] | None  # None: not recorded (an older run, or past the journal's bound)
    body_bytes: int | None  # a body too large to record: its line's size
    body_head: str | None  # ... and its beginning
    cut: list[tuple[int, str]] = attrs.Factory(list)  # copies not delivered after all: (time, why)
    carries: bool = False  # holds the anomaly's needle

    @property
    def delivered(self) -> list[int]:
        """Delivery times, one per copy that arrived."""
        if self.fate in LOST_FATES or self.copies <= 0:
            return []
        times = ([self.t + int(d * 1e6) for d in self.delays_ms] if self.delays_ms
                 else [self.t] * self.copies)
        return sorted(times)[: max(0, len(times) - len(self.cut))]

    def body_text(self, limit: int = 60) -> str:
        """The body without ``type``/``msg_id``/``in_reply_to``, as short JSON (``…`` where cut)."""
        if self.body is None:
            if self.body_bytes is not None:
                return f"({self.body_bytes:,} bytes, not recorded whole) {shorten(self.body_head or '', limit)}"
            return ""
        rest = {k: v for k, v in self.body.items() if k not in ("type", "msg_id", "in_reply_to")}
        return shorten(_json(rest), limit) if rest else ""


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _json(v: Any) -> str:
    try:
        return orjson.dumps(v).decode()
    except TypeError:  # integers beyond 64 bits
        import json

        return json.dumps(v, separators=(",", ":"))


def is_client(name: str) -> bool:
    return name[:1] == "c" and name[1:].isdigit()


@attrs.define(slots=True)
class Counts:
    """Messages by kind, counted over the whole file (what ``messages_per_op`` divides)."""

    inter_node: int = 0  # node to node (the Glomers' msgs-per-op counts these)
    client: int = 0  # to or from a client
    service: int = 0  # to or from a service
    client_ops: int = 0  # client requests that are operations (not init or topology)
    lost: Counter[str] = attrs.Factory(Counter)  # inter-node messages not delivered, by fate


def messages_per_op(counts: Counts) -> float | None:
    """Inter-node messages per client operation, as the Gossip Glomers state their efficiency targets."""
    return round(counts.inter_node / counts.client_ops, 2) if counts.client_ops else None


@attrs.define(slots=True)
class MessageFile:
    """A messages file as one pass read it: header, the kept messages, node events, counts."""

    path: Path
    nodes: list[str]
    bodies: bool  # the run recorded bodies (header ``bodies``)
    counts: Counts
    events: list[tuple[int, str, str]]  # (t, node, start|crash|restart|pause|resume)
    kept: dict[int, list[Message]]  # per want (an anomaly's index), its messages in file order
    damage: str | None  # cut short or malformed lines: what is known of them
    end_t: int | None
    bodies_stopped: int | None = None  # t at which the journal's bound on bodies was reached


def find_messages(run_dir: Path) -> Path | None:
    p = run_dir / MESSAGES_FILE
    return p if p.is_file() else None


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines; a cut-short gzip ends the iteration with the damage raised as ``_Cut``."""
    with gzip.open(path, "rb") as f:
        try:
            yield from f
        except (EOFError, OSError, zlib.error) as e:
            raise _Cut(str(e) or type(e).__name__) from None


class _Cut(Exception):
    pass


@attrs.define(slots=True)
class Want:
    """What one anomaly wants kept: messages holding ``needle``, near ``near`` (node, t0, t1) operations,
    or, without a needle, any message within ``WINDOW_NS`` of ``times``."""

    needle: Any = None
    has_needle: bool = False
    near: list[tuple[str, int, int]] = attrs.Factory(list)
    times: list[int] = attrs.Factory(list)
    replies: set[tuple[str, str, Any]] = attrs.Factory(set)  # (node, client-or-node, msg_id) of kept requests
    lo: int = 0  # the span of ``near`` and ``times`` (set by ``read_messages``): a quick test before them
    hi: int = 0
    needle_key: Any = None  # vkey of a scalar needle (a non-scalar one is searched for in each body)


_SKIP = frozenset({"msg_id", "in_reply_to", "type"})


def _leaves(body: dict[str, Any]) -> set[Any]:
    """The vkeys of a body's scalar values (its ``msg_id``, ``in_reply_to`` and ``type`` aside), nested ones too."""
    out: set[Any] = set()
    stack: list[tuple[Any, int]] = [(v, 1) for k, v in body.items() if k not in _SKIP]
    while stack:
        v, depth = stack.pop()
        t = type(v)
        if t is dict:
            if depth < 20:
                stack.extend((x, depth + 1) for k, x in v.items() if k not in _SKIP)
        elif t is list:
            if depth < 20:
                stack.extend((x, depth + 1) for x in v)
        else:
            out.add(vkey(v))
    return out


def _holds(v: Any, needle: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if type(v) is dict:
        return any(k not in ("msg_id", "in_reply_to", "type") and _holds(x, needle, depth + 1) for k, x in v.items())
    if type(v) is list:
        return any(_holds(x, needle, depth + 1) for x in v)
    return type(v) is type(needle) and vkey(v) == vkey(needle)


def read_messages(path: Path, wants: dict[int, Want] | None = None) -> MessageFile:
    """One streaming pass over ``path``: counts, node events, and per want the messages it keeps.

    A cut-short file keeps what came before the cut; a malformed line is counted and skipped
    (``damage`` says how many); a file without the header raises ``MessagesError``.
    """
    wants = wants or {}
    for w in wants.values():
        w.times.sort()
        ends = [t for _, t0, t1 in w.near for t in (t0, t1)] + w.times
        w.lo, w.hi = (min(ends) - WINDOW_NS, max(ends) + WINDOW_NS) if ends else (1, 0)
        scalar = w.has_needle and (w.needle is None or type(w.needle) in (str, int, float, bool))
        w.needle_key = vkey(w.needle) if scalar else None
    any_needle = any(w.has_needle for w in wants.values())
    counts = Counts()
    events: list[tuple[int, str, str]] = []
    kept: dict[int, list[Message]] = {k: [] for k in wants}
    by_id: dict[int, list[Message]] = {}
    bad = 0
    damage = None
    end_t = None
    stopped = None
    lines = _lines(path)
    try:
        first = next(lines, b"")
    except _Cut as e:  # cut inside its first line (a harness killed at once), or not gzip at all
        raise MessagesError(f"{path}: damaged before the end of its header line ({e})") from None
    try:
        try:
            header = orjson.loads(first) if first.strip() else None
        except orjson.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("maelstrom_journal") != 1:
            raise MessagesError(f"{path}: not a Maelstrom messages file (its first line is no "
                                "{\"maelstrom_journal\": 1, ...} header)")
        nodes = [str(n) for n in header.get("nodes") or []]
        node_set = set(nodes)
        bodies = header.get("bodies") is True
        for raw in lines:
            try:
                r = _loads(raw)
                t = int(r["t"])
            except (ValueError, KeyError, TypeError, RecursionError):
                bad += 1
                continue
            if not isinstance(r, dict):
                bad += 1
                continue
            end_t = t if end_t is None or t > end_t else end_t
            ev = r.get("event")
            if ev is not None:
                if ev in ("start", "crash", "restart", "pause", "resume"):
                    events.append((t, str(r.get("node")), str(ev)))
                elif ev == "not-delivered" and type(r.get("id")) is int:
                    for m in by_id.get(r["id"], ()):
                        m.cut.append((t, str(r.get("why"))))
                elif ev == "bodies-stopped":
                    stopped = t
                continue
            src, dest = str(r.get("src")), str(r.get("dest"))
            fate = str(r.get("fate"))
            if src in node_set and dest in node_set:
                counts.inter_node += 1
                if fate in LOST_FATES:
                    counts.lost[fate] += 1
            elif is_client(src) or is_client(dest):
                counts.client += 1
                if is_client(src) and dest in node_set and r.get("type") not in SETUP_TYPES:
                    counts.client_ops += 1
            else:
                counts.service += 1
            if not wants:
                continue
            body = r.get("body") if isinstance(r.get("body"), dict) else None
            leaves = _leaves(body) if body is not None and any_needle else None
            irt = r.get("in_reply_to")
            for k, w in wants.items():
                hit = carries = False
                if w.has_needle and leaves is not None and (
                        w.needle_key in leaves if w.needle_key is not None else _holds(body, w.needle)):
                    hit = carries = True
                elif irt is not None and (dest, src, irt) in w.replies:
                    hit = True
                elif w.lo <= t <= w.hi:
                    if any(n in (src, dest) and t0 - NEAR_NS <= t <= t1 + NEAR_NS for n, t0, t1 in w.near):
                        hit = True
                    elif not w.has_needle and w.times:
                        i = bisect.bisect_left(w.times, t - WINDOW_NS)
                        hit = i < len(w.times) and w.times[i] <= t + WINDOW_NS
                if not hit:
                    continue
                m = _message(r, t, src, dest, fate, body, carries)
                if m.id is not None:
                    by_id.setdefault(m.id, []).append(m)
                if r.get("msg_id") is not None and len(w.replies) < 100_000:
                    w.replies.add((src, dest, r.get("msg_id")))
                if len(kept[k]) < MAX_KEPT:
                    kept[k].append(m)
    except _Cut as e:
        damage = f"cut short ({e})"
    if bad:
        damage = (damage + "; " if damage else "") + f"{bad} malformed line(s) skipped"
    return MessageFile(path, nodes, bodies, counts, events, kept, damage, end_t, stopped)


_LONG_DIGITS = re.compile(rb"\d{19}")  # an integer orjson may read inexactly (beyond 64 bits: as a float)


def _loads(raw: bytes) -> Any:
    """One record: orjson, or the stdlib where a digit run may be an integer beyond 64 bits (a node's ids), which
    orjson reads as a float: the stdlib keeps it exact, so that it matches the history's value."""
    if _LONG_DIGITS.search(raw) is not None:
        import json

        return json.loads(raw)
    return orjson.loads(raw)


def _message(r: dict[str, Any], t: int, src: str, dest: str, fate: str, body: dict[str, Any] | None,
             carries: bool) -> Message:
    copies = r.get("copies", 1)
    delays = r.get("delays_ms")
    return Message(
        t=t, id=r.get("id") if type(r.get("id")) is int else None, src=src, dest=dest, type=str(r.get("type")),
        msg_id=r.get("msg_id"), in_reply_to=r.get("in_reply_to"), fate=fate,
        copies=copies if type(copies) is int else 1,
        delays_ms=[float(d) for d in delays if type(d) in (int, float)] if isinstance(delays, list) else None,
        body=body, body_bytes=r.get("body_bytes") if type(r.get("body_bytes")) is int else None,
        body_head=r.get("body_head") if isinstance(r.get("body_head"), str) else None, carries=carries,
    )


# -- one anomaly's story -------------------------------------------------------------------------------


NEEDLE_FIELDS = {"lost-element": "element", "phantom-read": "element", "echo-mismatch": "sent", "duplicate-id": "id"}


def _ops(key_events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(invoke, completion) pairs of client operations, in completion order."""
    inv: dict[Any, dict[str, Any]] = {}
    out = []
    for e in key_events:
        if e.get("process") == "nemesis":
            continue
        if e.get("type") == "invoke":
            inv[e.get("process")] = e
        elif e.get("process") in inv:
            out.append((inv.pop(e.get("process")), e))
    return out


def want_for(a: dict[str, Any], key_events: list[dict[str, Any]]) -> Want:
    """What to keep of the file for anomaly ``a`` (its proving operations from ``key_events``)."""
    w = Want()
    field = NEEDLE_FIELDS.get(str(a.get("type")))
    if field is not None and field in a:
        w.needle, w.has_needle = a[field], True
    proving = set(a.get("indexes") or [])
    for start, done in _ops(key_events):
        if start.get("index") in proving or done.get("index") in proving:
            t0, t1 = start.get("time"), done.get("time")
            if isinstance(t0, int) and isinstance(t1, int):
                w.near.append((str(done.get("node")), t0, t1))
                w.times += [t0, t1]
    return w


@attrs.define(slots=True)
class OpMark:
    t0: int
    t1: int
    node: str
    label: str
    final: bool
    value: str


@attrs.define(slots=True)
class Finding:
    text: str
    messages: list[Message] = attrs.Factory(list)  # decisive (drawn with a numbered badge)
    focus: list[int] = attrs.Factory(list)


@attrs.define(slots=True)
class MStory:
    title: str
    head: str
    findings: list[Finding]
    lanes: list[str]
    windows: list[tuple[int, int]]
    messages: list[Message]  # drawn
    ops: list[OpMark]
    lifecycle: list[tuple[int, str, str]]
    needle: str | None  # how the needle is shown ("42"), None without one
    total: int  # messages kept for the anomaly
    left_out: int
    note: str | None  # bodies not recorded, file damaged


def _name(n: str, nodes: set[str]) -> str:
    return n if n in nodes else CLIENTS if is_client(n) else SERVICES


def _t(t: int | None) -> str:
    return "?" if t is None else f"{t / 1e9:.3f} s"


def _lost_element(a: dict[str, Any], msgs: list[Message], mf: MessageFile, needle: str) -> list[Finding]:
    nodes = set(mf.nodes)
    out: list[Finding] = []
    asks = [m for m in msgs if m.carries and is_client(m.src) and m.dest in nodes]
    forwards = [m for m in msgs if m.carries and m.src in nodes and m.dest in nodes and m.src != m.dest]
    if asks:
        m = asks[0]
        reply = next((r for r in msgs if r.src == m.dest and r.dest == m.src and r.in_reply_to == m.msg_id), None)
        answered = (f", answered {reply.type} at {_t(reply.t)}" if reply is not None else ", never answered")
        took = m.dest
        sent = sorted({f.dest for f in forwards if f.src == took})
        out.append(Finding(
            f"{m.src}'s {m.type} of {needle} reached {took} at {_t(m.t)}{answered}; "
            + (f"{took} then sent {needle} to {', '.join(sent)}" if sent else
               f"{took} never sent a message holding {needle} to another node"),
            messages=[m], focus=[m.t]))
    elif mf.bodies:
        out.append(Finding(f"no client request holding {needle} is in the file"))
    silent = [str(n) for n in a.get("lost_on") or [] if not any(m.dest == str(n) for m in forwards)]
    if silent:
        out.append(Finding(f"{', '.join(silent)}: no node ever sent {'them' if len(silent) > 1 else 'it'} a message "
                           f"holding {needle}"))
    for n in a.get("lost_on") or []:
        n = str(n)
        to_n = [m for m in forwards if m.dest == n]
        crashes = [e for e in mf.events if e[1] == n and e[2] == "crash"]
        if not to_n:
            continue
        got = [m for m in to_n if m.delivered]
        if not got:
            why = Counter(m.fate if m.fate in LOST_FATES else (m.cut[0][1] if m.cut else m.fate) for m in to_n)
            out.append(Finding(
                f"{n}: all {len(to_n)} message(s) holding {needle} sent to it were lost ("
                + ", ".join(f"{k} ×{v}" for k, v in why.most_common()) + f"), the last at {_t(to_n[-1].t)}",
                messages=to_n[:1] + to_n[-1:] if len(to_n) > 1 else to_n, focus=[m.t for m in to_n[:3]]))
            continue
        first = min(got, key=lambda m: m.delivered[0])
        at = first.delivered[0]
        after = [c for c in crashes if c[0] > at]
        if after:
            again = [m for m in got if m.delivered[-1] > after[-1][0]]
            out.append(Finding(
                f"{n} received {needle} from {first.src} at {_t(at)} and crashed at {_t(after[0][0])}"
                + (f"; it got {needle} again at {_t(again[0].delivered[-1])}" if again else
                   f"; no message holding {needle} reached it after the crash (a restarted node starts empty)"),
                messages=[first], focus=[at, after[0][0]]))
        else:
            out.append(Finding(f"{n} received {needle} from {first.src} at {_t(at)} and did not crash, yet its "
                               "final read lacks it (the node dropped it itself)", messages=[first], focus=[at]))
    return out


def story(a: dict[str, Any], key_events: list[dict[str, Any]], mf: MessageFile, k: int,
          max_drawn: int = MAX_DRAWN) -> MStory:
    """The messages of anomaly ``a`` (``mf.kept[k]``): findings in words and what to draw."""
    from checker.messages import _windows  # the same windows as our store's diagrams (imported when drawing)

    nodes = set(mf.nodes)
    msgs = mf.kept.get(k, [])
    field = NEEDLE_FIELDS.get(str(a.get("type")))
    needle = shorten(_json(a[field]), 30) if field is not None and field in a else None
    findings: list[Finding] = []
    notes = []
    if not mf.bodies:
        notes.append(NO_BODIES.capitalize() + " (an older run): the messages near the anomaly's operations are drawn "
                     "by time, and which of them held the value cannot be told")
    if mf.bodies_stopped is not None:
        notes.append(f"the journal stopped recording bodies at {_t(mf.bodies_stopped)} (its bound on body bytes)")
    if mf.damage:
        notes.append(f"the messages file is damaged: {mf.damage}")
    if needle is None or not mf.bodies:
        pass  # without bodies, which message held the value cannot be told: nothing is said about it
    elif a.get("type") == "lost-element":
        findings = _lost_element(a, msgs, mf, needle)
    else:
        carrying = [m for m in msgs if m.carries]
        findings.append(Finding(f"{len(carrying)} message(s) hold {needle}", messages=carrying[:1]))
    # focus: the proving operations, the decisive messages, crashes of the nodes involved
    proving = set(a.get("indexes") or [])
    ops: list[OpMark] = []
    focus: list[int] = []
    involved = {str(n) for n in a.get("lost_on") or []}
    for start, done in _ops(key_events):
        if start.get("index") not in proving and done.get("index") not in proving:
            continue
        t0, t1 = start.get("time"), done.get("time")
        if not (isinstance(t0, int) and isinstance(t1, int)):
            continue
        node = str(done.get("node"))
        involved.add(node)
        val = shorten(_json(done.get("value")), 40)
        label = ("final " if done.get("final") else "") + f"{done.get('f')} {val}" + (
            f" ({done.get('type')})" if done.get("type") != "ok" else "") + f" @{node}"
        ops.append(OpMark(t0, t1, node, label, done.get("final") is True, val))
        focus += [t0, t1]
    for f in findings:
        focus += f.focus
    for t, n, what in mf.events:
        if n in involved and what == "crash" and focus and t >= min(focus):
            focus.append(t)
    windows = _windows(focus)

    def inside(t: int) -> bool:
        return any(lo <= t <= hi for lo, hi in windows)

    decisive = {id(m) for f in findings for m in f.messages}
    fs = sorted(focus)

    def dist(t: int) -> int:
        i = bisect.bisect_left(fs, t)
        near = [abs(fs[j] - t) for j in (i - 1, i) if 0 <= j < len(fs)]
        return min(near) if near else 0

    inside_msgs = [m for m in msgs if inside(m.t) or id(m) in decisive]
    ranked = sorted(inside_msgs, key=lambda m: (0 if id(m) in decisive else 1 if m.carries else 2, dist(m.t)))
    drawn = sorted(ranked[:max_drawn], key=lambda m: m.t)
    lanes = [n for n in mf.nodes]
    extra = [SERVICES] if any(_name(m.src, nodes) == SERVICES or _name(m.dest, nodes) == SERVICES for m in drawn) else []
    lanes += [CLIENTS, *extra]
    what = {"lost-element": f"element {needle}", "phantom-read": f"element {needle}", "echo-mismatch": f"echo {needle}",
            "duplicate-id": f"id {needle}"}.get(str(a.get("type")), f"key {a.get('key')}")
    if needle is not None and mf.bodies:
        head = (f"The messages: {sum(1 for m in msgs if m.carries):,} message(s) in the run held {needle}"
                + (" (the client's request included)" if any(m.carries and is_client(m.src) for m in msgs) else "")
                + ".")
    else:
        head = "The messages near the anomaly's operations."
    return MStory(
        title=f"Messages of {what}: one line per node, arrows are messages (body shortened), crosses lost ones",
        head=head, findings=findings, lanes=lanes, windows=windows, messages=drawn, ops=ops,
        lifecycle=[e for e in mf.events if inside(e[0]) and e[2] != "start"], needle=needle if mf.bodies else None,
        total=len(msgs), left_out=len(msgs) - len(drawn), note="; ".join(notes) or None)


def read_for_report(run_dir: Path, anomalies: list[dict[str, Any]],
                    key_events: dict[Any, list[dict[str, Any]]]) -> MessageFile | None:
    """The run's messages file read once for ``anomalies`` (None when the run has none)."""
    path = find_messages(run_dir)
    if path is None:
        return None
    wants = {k: want_for(a, key_events.get(a.get("key"), [])) for k, a in enumerate(anomalies)}
    return read_messages(path, wants)
