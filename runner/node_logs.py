"""What the nodes logged as errors during a run: counted by exception type, surfaced in the summary.

A node that raises in a message handler logs an ERROR with a traceback and carries on, so the
history (and the verdict) may never show it: anti-entropy failing every round with ``TooLarge``
looked like a healthy run. The harness reads every node log after the run, streaming (bounded
memory however long the run), and records each exception type with a count and its first message.

The store's documented warnings that change data are counted too, with the keys they name
(``WARNINGS``): siblings trimmed over the state limit (``minikeydb.conflict.trim_siblings``: a
siblings-mode lost write on such a key may be the trim, not a bug), records not applied as too
large (``minikeydb.storage``), and a damaged log rewritten without the damage (``log_storage``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from minikeydb.wire import MAX_STATE_BYTES

MESSAGE_CHARS = 200
KEYS_LISTED = 1000
"""At most this many distinct keys of a warning are listed in results.json (all are counted)."""
_KEY = r"(?P<key>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
WARNINGS: dict[str, re.Pattern[str]] = {
    "sibling-trim": re.compile(_KEY + r": concurrent siblings over the state limit; the oldest (?P<dropped>\d+) dropped"),
    "set-trim": re.compile(_KEY + r": a set's join over the state limit; (?P<dropped>\d+) elements? removed"),
    "too-large": re.compile(r"record not applied: too-large: key " + _KEY),
    "log-damage": re.compile(r"the log was rewritten without the damage"),
}
"""The store's data-affecting WARNING messages, by the name results.json counts them under."""


def _key(text: str | None) -> str | None:
    """The key a log message names (``%r`` of a str), or None."""
    if text is None:
        return None
    try:
        key = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return key if isinstance(key, str) else None


def _warning(warnings: dict[str, dict[str, Any]], keys: dict[str, set[str]], line: str, log: str) -> None:
    """Count ``line`` under the data-affecting warning it is, if any (``WARNINGS``)."""
    message = line.partition(" WARNING ")[2].strip()
    for name, pattern in WARNINGS.items():
        m = pattern.search(message)
        if m is None:
            continue
        entry = warnings.setdefault(name, {"count": 0, "first": message[:MESSAGE_CHARS], "log": log})
        entry["count"] += 1
        if "dropped" in pattern.groupindex:
            entry["dropped"] = entry.get("dropped", 0) + int(m["dropped"])
        key = _key(m["key"]) if "key" in pattern.groupindex else None
        if key is not None:
            keys.setdefault(name, set()).add(key)
        return


def scan_node_logs(nodes_dir: Path) -> dict[str, Any]:
    """``{"errors": n, "exceptions": {type: {"count": n, "first": message}}, "warnings": {name: {"count": n,
    "first": message, "log": file, "keys_n": distinct keys, "keys": the first KEYS_LISTED of them sorted}}}`` over
    ``nodes_dir/*.log`` (a sibling trim also counts the siblings ``dropped``)."""
    errors = 0
    exceptions: dict[str, dict[str, Any]] = {}
    warnings: dict[str, dict[str, Any]] = {}
    keys: dict[str, set[str]] = {}
    for log in sorted(nodes_dir.glob("*.log")):
        in_traceback = False
        with log.open("r", errors="replace") as lines:
            for line in lines:
                if " ERROR " in line or " CRITICAL " in line:
                    errors += 1
                elif " WARNING " in line:
                    _warning(warnings, keys, line, log.name)
                if line.startswith("Traceback (most recent call last)"):
                    in_traceback = True
                    continue
                if in_traceback and line.strip() and not line[0].isspace() and not line.startswith("^"):
                    in_traceback = False
                    name, _, message = line.strip().partition(": ")
                    entry = exceptions.setdefault(name, {"count": 0, "first": message[:MESSAGE_CHARS],
                                                         "log": log.name})
                    entry["count"] += 1
    for name, entry in warnings.items():
        if name in keys or "key" in WARNINGS[name].groupindex:
            found = keys.get(name, set())
            entry["keys_n"] = len(found)
            entry["keys"] = sorted(found)[:KEYS_LISTED]
    return {"errors": errors, "exceptions": exceptions, "warnings": warnings}


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _trim_lines(trims: dict[str, Any], anomalies: Sequence[Any], trim: str, item: str, how: str, lost_type: str,
                lost_word: str, mode: str) -> list[str]:
    """A trim warning's lines: how many, and how many of the ``lost_type`` anomalies are on the trimmed keys."""
    out = [f"  node logs: {_n(trims['count'], trim)} ({_n(trims.get('dropped', 0), item)} dropped on "
           f"{_n(trims.get('keys_n', 0), 'key')}: {how}; first in nodes/{trims['log']}: {trims['first']})"]
    trimmed = set(trims.get("keys") or ())
    lost = [a for a in anomalies if isinstance(a, dict) and a.get("type") == lost_type]
    on = sorted({str(a.get("key")) for a in lost if a.get("key") in trimmed})
    hit = sum(1 for a in lost if a.get("key") in trimmed)
    listed = "" if len(trimmed) >= trims.get("keys_n", 0) else f" (of the first {len(trimmed):,} keys listed)"
    if hit:
        shown = ", ".join(on[:8]) + (" ..." if len(on) > 8 else "")
        verb = "is" if hit == 1 else "are"
        out.append(f"    {hit:,} of the {_n(len(lost), lost_word)} {verb} on trimmed keys{listed} ({shown}): "
                   f"the trim may be what lost them (a documented limit of {mode}, not a replication bug)")
    elif lost:
        out.append(f"    none of the {_n(len(lost), lost_word)} is on a trimmed key{listed}")
    else:
        out.append(f"    {lost_word}s on those keys may be the trim (a documented limit of {mode})")
    return out


def _warning_lines(warnings: dict[str, Any], anomalies: Sequence[Any]) -> list[str]:
    """Lines for the data-affecting warnings; lost writes on trimmed keys counted among ``anomalies``."""
    out = []
    for name, trim, item, how, lost_type, lost_word, mode in (
            ("sibling-trim", "sibling trim", "sibling", "concurrent siblings over the {kib} KiB state limit, the "
             "oldest dropped", "lost-write", "lost write", "siblings mode"),
            ("set-trim", "set trim", "element", "a set's join over the {kib} KiB state limit, the largest elements "
             "removed alike on every replica", "lost-element", "lost element", "crdt sets")):
        trims = warnings.get(name)
        if trims:
            out.extend(_trim_lines(trims, anomalies, trim, item, how.format(kib=MAX_STATE_BYTES // 1024), lost_type,
                                   lost_word, mode))
    big = warnings.get("too-large")
    if big:
        out.append(f"  node logs: {_n(big['count'], 'record')} not applied as too large (on "
                   f"{_n(big.get('keys_n', 0), 'key')}; the replica kept its state; first in nodes/{big['log']}: "
                   f"{big['first']})")
    damage = warnings.get("log-damage")
    if damage:
        out.append(f"  node logs: {_n(damage['count'], 'damaged log')} rewritten without the damage (first in "
                   f"nodes/{damage['log']}: {damage['first']})")
    return out


def describe(scan: dict[str, Any], anomalies: Sequence[Any] = ()) -> list[str]:
    """Summary lines: nothing when the logs are clean. ``anomalies`` (results.json's) lets a sibling trim be
    linked to the lost writes on its keys."""
    if not scan:
        return []
    lines = []
    if scan.get("errors") or scan.get("exceptions"):
        lines.append(f"  node logs: {scan['errors']} ERROR line(s)" + (", exceptions:" if scan["exceptions"] else ""))
        for name, e in sorted(scan["exceptions"].items(), key=lambda item: -item[1]["count"]):
            lines.append(f"    {name} x{e['count']} (first in nodes/{e['log']}: {e['first']})")
    return lines + _warning_lines(scan.get("warnings") or {}, anomalies)
