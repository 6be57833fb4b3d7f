"""One Maelstrom node: an OS process speaking JSON lines on stdin/stdout, its log, its lifecycle.

The process is started from Trio's own thread (``subprocess.Popen`` with ``PR_SET_PDEATHSIG``, as
``runner.processes`` does: ``trio.lowlevel.open_process`` forks from a worker thread whose exit
would kill the child), in its own session (a terminal's Ctrl-C reaches the harness only). Its pipes
are wrapped in ``trio.lowlevel.FdStream``:

- one task per process life copies stderr to ``nodes/<id>.log`` up to ``MAX_LOG`` bytes (then drops
  the rest and says how much), and with ``--log-stderr`` shows each line kept on the console;

- one reader task per process life reads stdout in chunks of up to 64 KiB, splits them into lines
  (``LineSplitter``: linear in the line's length; a line past ``MAX_LINE`` fails the run)
  and hands the whole batch to the router (``on_lines``): no task and no wake-up per message;
- one writer task per process life sends whatever the router queued in ``outbox`` since its last
  write in one ``send_all``.

A node that exits on its own, or writes a line that is not a Maelstrom message, fails the run with
``NodeFailure`` (one line naming the node and what it did); a kill the nemesis asked for
(``kill``) is expected and ends the process's reader quietly.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from runner.processes import NodeProcess, die_with_parent

from .proctree import MARK_VAR, RunCgroups, join_cgroup, signal_all
from .protocol import ProtocolError, parse_line, short

MAX_LINE = 64 * 1024 * 1024
"""A stdout line longer than this (no newline in 64 MiB) fails the run: a runaway node."""
MAX_OUTBOX = 64 * 1024 * 1024
"""Bytes queued for a node that does not read its stdin (paused, or stuck); past this, lines are dropped."""
MAX_LOG = 64 * 1024 * 1024
"""Bytes of stderr kept in a node's log (all its lives together); past this its stderr is read and dropped
(and no longer shown by ``--log-stderr``), and each life's end appends one line saying how much was dropped."""


def _too_many_files(node_id: str) -> str:
    """Why node ``node_id`` could not start when the harness ran out of file descriptors."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return (f"cannot start node {node_id}: too many open files (the harness may have {soft}; each node takes "
            "about 5: raise it with ulimit -n, or use a smaller --node-count)")


def exit_said(code: int) -> str:
    """``exited (code 3)``, or for a process a signal ended ``was killed by SIGSEGV (signal 11)``."""
    if code >= 0:
        return f"exited (code {code})"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "a signal"
    return f"was killed by {name} (signal {-code}; not sent by the harness)"


class NodeFailure(Exception):
    """A node did something the protocol does not allow (exit, garbage, no init_ok): the run is unknown."""


Lines = list[tuple[bytes, dict[str, Any]]]
"""A batch of (line, parsed message) from one node's stdout, in order."""


class LineSplitter:
    """Splits a byte stream into lines in linear time: a line's chunks wait in a list until its newline
    comes (re-joining the partial line on every read made a 50 MB line cost half a minute)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.pending = 0
        """Bytes waiting for their newline."""
        self.copied = 0
        """Bytes joined so far (at most about twice what was fed: the measure of linearity)."""

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines (without their newlines) that ``data`` ends; the rest waits."""
        cut = data.rfind(b"\n")
        if cut < 0:
            self._chunks.append(data)
            self.pending += len(data)
            return []
        if self._chunks:
            self._chunks.append(data[:cut])
            head = b"".join(self._chunks)
            self.copied += len(head)
            self._chunks.clear()
        else:
            head = data[:cut]
        rest = data[cut + 1:]
        if rest:
            self._chunks.append(rest)
        self.pending = len(rest)
        return head.split(b"\n")

    def rest(self) -> bytes:
        """What came after the last newline."""
        return b"".join(self._chunks)


class MaelstromNode:
    """A node process of the run (restarted after a crash: a new ``life``)."""

    def __init__(self, node_id: str, command: list[str], log_path: Path,
                 on_lines: Callable[[str, Lines], None], cgroups: RunCgroups | None = None) -> None:
        """``cgroups``: the run's cgroups (``proctree``), each life of the node in one of its own; None: none."""
        self.node_id = node_id
        self.cgroups = cgroups
        self.command = command
        self.log_path = log_path
        self.on_lines = on_lines
        self.proc: NodeProcess | None = None
        self.life = 0
        self.alive = False
        """True from start until the nemesis kills it (or the run stops it): lines may be written."""
        self.paused = False
        self.outbox = bytearray()
        self.dropped_outbox = 0
        self._lot = trio.lowlevel.ParkingLot()
        self._stdin: trio.lowlevel.FdStream | None = None
        self._expect_exit = False
        self.groups: list[int] = []
        """The process group of each life (its own session): what a crash and the run's end kill."""
        self.on_stderr: Callable[[str, bytes], None] | None = None
        """When set (``--log-stderr``): each line of stderr kept in the log is handed to this (node id, line)."""
        self.log_bytes = 0
        """Bytes of stderr written to the log so far (every life): at most ``MAX_LOG``."""
        self.log_dropped = 0
        """Bytes of stderr read past ``MAX_LOG`` and dropped (every life)."""
        self.on_receive: Callable[[bytes], None] | None = None
        """When set (``--log-net-recv``): each line queued for the process's stdin is handed to this."""
        self.mark = f"{node_id}.{os.getpid()}.{secrets.token_hex(8)}"
        """In every process of this node's environment (``proctree``): finds children that left the group."""

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, nursery: trio.Nursery) -> None:
        """Start a new life of the process and its reader and writer tasks in ``nursery``."""
        self.life += 1
        cgroup = self.cgroups.new_life(self.node_id, self.life) if self.cgroups is not None else None
        try:
            popen = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, preexec_fn=join_cgroup(cgroup, die_with_parent()), bufsize=0,
                env={**os.environ, MARK_VAR: self.mark},
            )
        except PermissionError:
            raise NodeFailure(f"--bin {self.command[0]}: not executable (chmod +x it, or check its shebang)") from None
        except FileNotFoundError:
            raise NodeFailure(f"--bin {self.command[0]}: no such file (or its shebang names an interpreter "
                              "that does not exist)") from None
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise NodeFailure(_too_many_files(self.node_id)) from None
            raise NodeFailure(f"--bin {self.command[0]}: cannot be started: {exc.strerror or exc}") from None
        assert popen.stdin is not None and popen.stdout is not None
        assert popen.stderr is not None
        try:
            stdin = trio.lowlevel.FdStream(os.dup(popen.stdin.fileno()))
            stdout = trio.lowlevel.FdStream(os.dup(popen.stdout.fileno()))
            errors = trio.lowlevel.FdStream(os.dup(popen.stderr.fileno()))
        except OSError as exc:
            popen.kill()
            popen.wait()
            raise NodeFailure(_too_many_files(self.node_id) if exc.errno in (errno.EMFILE, errno.ENFILE)
                              else f"node {self.node_id}: cannot set up its pipes: {exc.strerror or exc}") from None
        popen.stdin.close()
        popen.stdout.close()
        popen.stderr.close()
        nursery.start_soon(self._copy_stderr, errors)
        self.proc = NodeProcess(popen)
        self.groups.append(popen.pid)
        self._stdin = stdin
        self.outbox.clear()
        self.alive = True
        self.paused = False
        self._expect_exit = False
        nursery.start_soon(self._read, stdout, self.life)
        nursery.start_soon(self._write, stdin, self.life)
        nursery.start_soon(self._watch, self.life)

    async def _watch(self, life: int) -> None:
        """Notice the process's exit even when a child it forked keeps its stdout open (no EOF comes)."""
        proc = self.proc
        assert proc is not None
        code = await proc.wait()
        if self.life == life and not self._expect_exit:
            self.alive = False
            raise NodeFailure(f"node {self.node_id} {exit_said(code)} during the run; see {self.log_path}")

    def _signal_args(self, every_life: bool) -> tuple[list[int], list[int]]:
        proc = self.proc
        roots = [proc.pid] if proc is not None and proc.popen.returncode is None else []  # not reaped: still ours
        return (self.groups if every_life else self.groups[-1:]), roots

    def signal_group(self, signum: int, every_life: bool = False) -> None:
        """``signum`` to the process group of this life (or of every life) and to every process the node
        started, a child in a session of its own (``setsid``) included (``proctree``)."""
        groups, roots = self._signal_args(every_life)
        signal_all(groups, roots, self.mark, signum)
        if signum == signal.SIGKILL and self.cgroups is not None:
            self.cgroups.kill(self.node_id, every_life)

    async def kill(self) -> None:
        """SIGKILL (a paused process gets SIGCONT first) and wait: the crash fault."""
        self._expect_exit = True
        self.alive = False
        proc = self.proc
        if proc is not None:
            groups, roots = self._signal_args(False)
            for group in groups:  # SIGKILL ends a stopped process too; SIGCONT lets a paused group see it at once
                try:
                    os.killpg(group, signal.SIGCONT)
                except (ProcessLookupError, PermissionError):
                    pass
            # /proc is read in a thread (tens of ms on a busy machine): the router keeps routing meanwhile
            await trio.to_thread.run_sync(self._kill_all, groups, roots)
            await proc.wait()
        self.paused = False
        self._lot.unpark_all()

    def _kill_all(self, groups: list[int], roots: list[int]) -> None:
        """SIGKILL to this life's group, tree and marked processes, and its cgroup (every process in it)."""
        signal_all(groups, roots, self.mark, signal.SIGKILL)
        if self.cgroups is not None:
            self.cgroups.kill(self.node_id, False)

    def pause(self) -> None:
        if self.proc is not None and self.alive:
            self.signal_group(signal.SIGSTOP)
            if self.cgroups is not None:
                self.cgroups.freeze(self.node_id, True)
            self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.paused:
            if self.cgroups is not None:
                self.cgroups.freeze(self.node_id, False)
            self.signal_group(signal.SIGCONT)
            self.paused = False

    def expect_exit(self) -> None:
        """The run is ending: an exit from now on is no failure."""
        self._expect_exit = True

    # -- I/O --------------------------------------------------------------------------------------

    @property
    def full(self) -> bool:
        """More than ``MAX_OUTBOX`` bytes wait for the process to read them (paused, or not reading)."""
        return len(self.outbox) > MAX_OUTBOX

    def send(self, line: bytes) -> bool:
        """Queue one line (ending in a newline) for the process's stdin; False when it is dead or full."""
        if not self.alive:
            return False
        if len(self.outbox) > MAX_OUTBOX:
            self.dropped_outbox += 1
            return False
        self.outbox += line
        self._lot.unpark()
        if self.on_receive is not None:
            self.on_receive(line)
        return True

    async def _copy_stderr(self, stream: trio.lowlevel.FdStream) -> None:
        """The process's stderr to its log file up to ``MAX_LOG`` bytes (every life together), the rest read and
        dropped (a node must never block on its stderr); each line kept also to ``on_stderr`` (``--log-stderr``)."""
        splitter = LineSplitter()
        on_stderr = self.on_stderr
        cap = MAX_LOG
        dropped = 0
        try:
            with self.log_path.open("ab") as log:
                try:
                    while True:
                        data = await stream.receive_some(1 << 16)
                        if not data:
                            break
                        room = cap - self.log_bytes
                        if len(data) > room:
                            if not dropped and on_stderr is not None:
                                on_stderr(self.node_id, f"[harness: this log reached its cap of {cap} bytes: the "
                                                        "rest of this node's stderr is dropped, not shown]".encode())
                            dropped += len(data) - max(room, 0)
                            data = data[:max(room, 0)]
                        if not data:
                            continue
                        log.write(data)
                        log.flush()
                        self.log_bytes += len(data)
                        if on_stderr is not None:
                            for line in splitter.feed(data):
                                on_stderr(self.node_id, line)
                            if splitter.pending > 1 << 16:  # a long line without a newline: shown in pieces
                                on_stderr(self.node_id, splitter.rest())
                                splitter = LineSplitter()
                    if on_stderr is not None and splitter.rest():
                        on_stderr(self.node_id, splitter.rest())
                finally:
                    if dropped:
                        self.log_dropped += dropped
                        log.write(f"\n[harness: {dropped} bytes of this life's stderr dropped: the log reached "
                                  f"its cap of {cap} bytes]\n".encode())
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _write(self, stream: trio.lowlevel.FdStream, life: int) -> None:
        try:
            while self.life == life and self.alive:
                if not self.outbox:
                    await self._lot.park()
                    continue
                data = bytes(self.outbox)
                self.outbox.clear()
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the process is gone: its reader says why, if it matters
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _read(self, stream: trio.lowlevel.FdStream, life: int) -> None:
        splitter = LineSplitter()
        on_lines = self.on_lines
        node_id = self.node_id
        try:
            while True:
                data = await stream.receive_some(1 << 16)
                if not data:
                    break
                lines = splitter.feed(data)
                if splitter.pending > MAX_LINE:
                    raise NodeFailure(f"node {node_id} wrote more than {MAX_LINE} bytes without a newline")
                if not lines:
                    continue
                batch: Lines = []
                for line in lines:
                    if not line.strip():
                        continue
                    try:
                        msg = parse_line(line)
                    except ProtocolError as exc:
                        raise NodeFailure(f"node {node_id} wrote a line that is not a Maelstrom message "
                                          f"({exc}): {short(line)}") from None
                    if msg["src"] != node_id:
                        raise NodeFailure(f"node {node_id} wrote a message with src {msg['src']!r}, not its "
                                          f"own id: {short(line)}")
                    batch.append((line + b"\n", msg))
                if batch:
                    on_lines(node_id, batch)
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()
        partial = splitter.rest()
        if partial.strip() and not self._expect_exit:
            raise NodeFailure(f"node {node_id} exited after a partial line: {short(partial)}")
        if self.life != life or self._expect_exit:
            return
        proc = self.proc
        code = None
        if proc is not None:
            with trio.move_on_after(2):
                code = await proc.wait()
        self.alive = False
        if self.life == life and not self._expect_exit:
            if code is None:
                raise NodeFailure(f"node {node_id} closed its stdout but kept running; see {self.log_path}")
            raise NodeFailure(f"node {node_id} {exit_said(code)} during the run; see {self.log_path}")
