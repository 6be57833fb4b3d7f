"""Every process a Maelstrom node started, however it detached, so that it can be stopped.

Where the harness can write a cgroup v2 hierarchy (``cgroups_usable``: Linux with cgroup2 mounted
and writable by the harness, as root or in a delegated subtree), each life of each node runs in a
cgroup of its own (``RunCgroups``), under one per run below the harness's own cgroup; a crash and the
run's end kill that cgroup whole (``cgroup.kill``, Linux 5.14+; before it, every process listed in
``cgroup.procs``, looked at again until it is empty), which no ``setsid``, double fork or cleared
environment escapes. A process that moves itself out of the cgroup (a node run as root can write any
cgroup's ``cgroup.procs``, the root cgroup's included) is out of reach, and a root node can as well kill the
watchdog: the cgroups bound what a node's processes do by forking, not what a privileged program may do. The cgroups are removed at the run's end; those a run left behind because the
harness itself was killed (SIGKILL gives it no chance) are killed and removed by the run's watchdog (a
shell in a session of its own, waiting for the harness's end of a pipe to close), and failing that by the
next run's ``reap_orphans``.

A pause freezes the life's cgroup (``cgroup.freeze``) and a resume thaws it, besides the signals.

Without cgroups, and besides them, SIGSTOP, SIGCONT and SIGKILL go to the node's process group (its own
session), which covers what it forks, and beyond it to what two ways find:

- ``descendants``: the tree under the node's pid by parent pid, read before the node is killed (once it
  dies its children are reparented and the tree is gone);
- ``marked``: every process whose environment holds the node's mark (``MARK_VAR`` set to a token unique
  to the node and run): environments are inherited across fork, exec and ``setsid``, so a reparented
  grandchild still carries it. Without cgroups, a process that clears its environment and detaches
  (``setsid`` and a double fork, then ``env -i``) escapes both.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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


# -- cgroup v2 -----------------------------------------------------------------------------------------

PREFIX = "minikeydb-maelstrom2-"
"""(Not ``minikeydb-maelstrom-``: a harness of before the pid namespace was named would read the namespace as
the owner's pid and kill a live run.) A run's cgroup is ``PREFIX<pid namespace>-<pid>-<start time>-<token>``: its owner, to tell a dead run's from a
live one's. The pid and start time mean something only in the owner's pid namespace (``/proc/self/ns/pid``'s
inode), so a run in another one (a container sharing the cgroup2 tree) is never taken for dead."""


def _pidns() -> str | None:
    """This process's pid namespace, as the inode number ``/proc/self/ns/pid`` names, or None."""
    try:
        link = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    inode = link[link.find("[") + 1:link.rfind("]")]
    return inode if inode.isdigit() else None


def _cgroup2_base() -> Path | None:
    """The harness's own cgroup in the cgroup2 hierarchy (``/proc/self/cgroup``'s ``0::`` line), or None."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        own = next((line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines()
                    if line.startswith("0::")), None)
    except OSError:
        return None
    if own is None:
        return None
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            base = Path(fields[1]) / own.lstrip("/")
            if (base / "cgroup.procs").is_file():
                return base
    return None


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else None


def _procs(cgroup: Path) -> list[int]:
    try:
        return [int(x) for x in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def kill_cgroup(cgroup: Path, remove: bool = True) -> None:
    """SIGKILL every process in ``cgroup`` (and its children cgroups), wait (at most about a second) until it is
    empty, and remove it when ``remove``. Quiet when it is gone already."""
    if not cgroup.is_dir():
        return
    children = [c for c in cgroup.iterdir() if c.is_dir()]
    for child in children:
        kill_cgroup(child, remove)
    try:
        (cgroup / "cgroup.kill").write_text("1")
    except OSError:  # before Linux 5.14: kill what is listed until nothing is
        for _ in range(_ROUNDS * 3):
            pids = _procs(cgroup)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
    for _ in range(200):  # the kill is sent at once; the processes leave the cgroup as they exit
        try:
            if "populated 0" in (cgroup / "cgroup.events").read_text():
                break
        except OSError:
            break
        time.sleep(0.005)
    if remove:
        try:
            cgroup.rmdir()
        except OSError:
            pass  # still populated (a process in uninterruptible sleep): the next run's reap removes it


def reap_orphans(base: Path | None = None) -> int:
    """Kill and remove every run cgroup under ``base`` (the harness's own cgroup) whose owner is provably no longer
    running (a harness that was SIGKILLed, an explore worker its parent killed); how many there were.

    Only cgroups whose owner lived in this process's pid namespace are judged (there, a pid whose start time
    differs is another process): one from another namespace (or an older name without it) is left to its own
    watchdog, since its owner's pid says nothing here."""
    base = base if base is not None else _cgroup2_base()
    ns = _pidns()
    if base is None or ns is None:
        return 0
    reaped = 0
    try:
        entries = [e for e in base.iterdir() if e.name.startswith(PREFIX) and e.is_dir()]
    except OSError:
        return 0
    for entry in entries:
        try:
            owner_ns, pid_text, start, _ = entry.name[len(PREFIX):].split("-", 3)
            pid = int(pid_text)
        except ValueError:
            continue
        if owner_ns != ns:
            continue  # another pid namespace's run (or an unknown name): nothing here proves it dead
        if _start_time(pid) == start:
            continue  # its harness is alive
        kill_cgroup(entry)
        reaped += 1
    return reaped


_WATCHDOG = (
    'rm_tree() { for d in "$1"/*/; do [ -d "$d" ] && rm_tree "${d%/}"; done; rmdir "$1" 2>/dev/null; }; '
    'read _ignored; echo 1 > "$1/cgroup.kill"; '
    'for _ in 1 2 3 4 5 6 7 8 9 10; do rm_tree "$1"; [ -d "$1" ] || exit 0; sleep 0.1; done'
)
"""The watchdog: waits for its stdin (a pipe from the harness) to close, which happens when the harness closes
the run's cgroups or dies however (SIGKILL included), then kills the run's cgroup (recursively) and removes it and
every cgroup a node made below it, depth first."""


class RunCgroups:
    """One run's cgroup, with one child cgroup per node life (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lives: dict[str, list[Path]] = {}
        self.watchdog: subprocess.Popen[bytes] | None = None
        try:  # its own session and no death signal: it outlives the harness, for as long as a shell's read
            self.watchdog = subprocess.Popen(["sh", "-c", _WATCHDOG, "watchdog", str(path)], stdin=subprocess.PIPE,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             start_new_session=True)
        except OSError:
            pass  # no shell: a dead run's cgroup waits for the next run's reap_orphans

    @classmethod
    def create(cls) -> RunCgroups | None:
        """A new run cgroup under the harness's own, or None when cgroup v2 cannot be written here. Reaps
        what dead runs left first."""
        base = _cgroup2_base()
        if base is None:
            return None
        reap_orphans(base)
        me = os.getpid()
        path = base / f"{PREFIX}{_pidns()}-{me}-{_start_time(me)}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            probe = path / "probe"
            probe.mkdir()
            probe.rmdir()
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
            return None
        return cls(path)

    def new_life(self, node_id: str, life: int) -> Path | None:
        """The cgroup for ``node_id``'s life ``life`` (created), or None if it cannot be made."""
        path = self.path / f"{node_id}-{life}"
        try:
            path.mkdir()
        except OSError:
            return None
        self.lives.setdefault(node_id, []).append(path)
        return path

    def kill(self, node_id: str, every_life: bool) -> None:
        """Kill the latest life's cgroup of ``node_id`` (or every life's), removing each."""
        lives = self.lives.get(node_id, [])
        for path in (lives if every_life else lives[-1:]):
            kill_cgroup(path)

    def freeze(self, node_id: str, frozen: bool) -> None:
        """Freeze (a pause) or thaw (a resume) the latest life's cgroup of ``node_id``: every process in it, a
        detached one included, stops or goes on (the kernel completes a freeze asynchronously)."""
        for path in self.lives.get(node_id, [])[-1:]:
            try:
                (path / "cgroup.freeze").write_text("1" if frozen else "0")
            except OSError:
                pass  # no freezer here: the signals still stop the group and the marked processes

    def close(self) -> None:
        """Kill whatever is left and remove the run's cgroup; then let the watchdog go."""
        kill_cgroup(self.path)
        watchdog, self.watchdog = self.watchdog, None
        if watchdog is not None:
            assert watchdog.stdin is not None
            watchdog.stdin.close()
            try:
                watchdog.wait(timeout=5)
            except subprocess.TimeoutExpired:
                watchdog.kill()
                watchdog.wait()


def join_cgroup(path: Path | None, then: Callable[[], None] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that moves the child into ``path`` (if any; failing quietly: the group and mark still
    find it), then runs ``then``."""
    if path is None:
        return then
    procs = str(path / "cgroup.procs")

    def preexec() -> None:
        try:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError:
            pass
        if then is not None:
            then()

    return preexec


def cgroups_usable() -> bool:
    """Can this process make a cgroup v2 for a node here (what a run would use)?"""
    cgroups = RunCgroups.create()
    if cgroups is None:
        return False
    cgroups.close()
    return True
