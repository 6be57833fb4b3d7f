"""Every process a Maelstrom node started, however it detached, found through /proc so it can be stopped.

A node's process group (its own session) covers what it forks, but not a child that calls ``setsid``
(a new session and group) or one that a double fork left to init. Two ways find them, together:

- ``descendants``: the tree under the node's pid by parent pid, read before the node is killed (once it
  dies its children are reparented and the tree is gone);
- ``marked``: every process whose environment holds the node's mark (``MARK_VAR`` set to a token unique
  to the node and run): environments are inherited across fork, exec and setsid, so a reparented
  grandchild still carries it. Only a process that clears its environment and detaches escapes both.
"""

from __future__ import annotations

import os
import signal

MARK_VAR = "MINIKEYDB_MAELSTROM_NODE"
"""The environment variable each node process starts with, its value the node's mark."""
_ROUNDS = 3
"""Kill, look again (a child forked meanwhile), at most this many times."""


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()  # the name (in parentheses) may hold spaces
    return int(fields[1]) if len(fields) > 1 else None


def descendants(roots: list[int]) -> set[int]:
    """Every live process under ``roots`` (not the roots themselves), by parent pid."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        parent = _parent(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def marked(mark: str) -> set[int]:
    """Every process whose environment has ``MARK_VAR=mark`` (processes of other users are unreadable: skipped)."""
    needle = f"{MARK_VAR}={mark}".encode()
    found: set[int] = set()
    me = os.getpid()
    for pid in _pids():
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.add(pid)
    return found


def signal_all(groups: list[int], roots: list[int], mark: str, signum: int) -> int:
    """``signum`` to every process of the node: its process group(s), the descendants of ``roots`` and every
    marked process. ``roots`` must be processes not yet reaped (a reaped pid may be another program's now).

    For SIGKILL, looks again after each round (a process forked while the last was being killed) until a
    round finds nothing new. Returns how many processes outside the groups were signalled."""
    signalled: set[int] = set()
    for attempt in range(_ROUNDS if signum == signal.SIGKILL else 1):
        # after the first round the roots may be dead and reaped: only the mark is looked at again
        found = ((descendants(roots) if attempt == 0 else set()) | marked(mark)) - signalled - {os.getpid()}
        for group in groups:
            try:
                os.killpg(group, signum)
            except (ProcessLookupError, PermissionError):
                pass  # the group is gone
        for pid in found:
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass
        signalled |= found
        if not found:
            break
    return len(signalled)
