"""The command line: ``python -m minikeydb serve|cluster|put|get|delete|script|stats``.

Exit codes are part of the interface, because scripts and the harness branch on them:

- 0: done (for ``get``: the key exists and its value is on stdout);
- 1: ``get`` found the key absent (never written, or deleted);
- 2: the cluster did not answer in time or said it could not do it (unavailable, timeout, unknown
  outcome); a one-line message on stderr says which;
- 130: interrupted (Ctrl-C) before it finished. ``serve`` and ``cluster`` are the exception: a
  signal is how a server is meant to stop, so Ctrl-C or SIGTERM ends them with 0 after a clean
  shutdown (as supervisors and ``runner.processes.stop_processes`` expect);
- 254: the command itself is wrong or was definitely refused (bad flag, bad or unreadable config,
  unknown node, a key or value over the size limit, a script line that does not parse, a node
  that cannot start, an operation the key's type or the cluster's conflict mode does not allow:
  nothing was written, and trying again will not help).

argparse exits with 2 on a bad flag, which would read as "unavailable", so its error handling is
replaced. Every expected failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import functools
import ipaddress
import logging
import os
import re
import shlex
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import attrs
import trio

from .client import Client, Result
from .config import (
    MAX_SCRIPT_BYTES,
    SECRET_ENV,
    ClusterConfig,
    ConfigError,
    default_config_path,
    load_config,
    read_bounded,
)
from .defects import BUGS, Defect
from .dvv import Context, StateError
from .storage import StorageError
from .wire import (
    FAIL,
    MAX_COUNT,
    MAX_VALUE_BYTES,
    OK,
    REPLAY_WINDOW,
    TooLarge,
    check_sizes,
    encoded_size,
    fits,
)

EXIT_OK = 0
EXIT_ABSENT = 1
EXIT_UNAVAILABLE = 2
EXIT_USAGE = 254
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0    done (get: the key exists, its value on stdout)
  1    get: the key is absent (never written, or deleted)
  2    the cluster did not answer in time or could not do it (unavailable, timed out,
       outcome unknown: a write may or may not have happened); trying again may help
  130  interrupted (Ctrl-C) before it finished; serve and cluster exit 0 when Ctrl-C or
       SIGTERM stops them, their normal way to stop (a clean shutdown)
  254  the command is wrong or was refused for certain (bad flag or config, unknown node,
       too large, another type's operation on a key, a mode the cluster does not run):
       nothing was written, and trying again will not help
"""

FALLBACK_COORDINATORS = 3
"""Without ``--node``, a request nobody answered is tried on up to this many coordinators in all."""

HEADLINE_COUNTERS = (
    "keys",
    "tombstones",
    "hints_pending",
    "datagrams_sent",
    "datagrams_received",
    "retries",
    "dropped_malformed",
    "dropped_auth",
    "read_repairs",
    "ae_pushed",
    "ae_pulled",
    "hints_delivered",
)
"""The counters the stats table lists first (the rest follow alphabetically)."""


class UsageError(Exception):
    """A command-line or input mistake: reported in one line, exit 254."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting 2 (2 means "unavailable" here), suggesting near misses."""

    def error(self, message: str) -> NoReturn:
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if wrong:
            message += _did_you_mean(wrong.group(1), re.findall(r"'([^']*)'", wrong.group(2)))
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction) and getattr(parsed, "command", None) in action.choices:
                    parser = action.choices[parsed.command]
            flags = [s for s in parser._option_string_actions if s.startswith("--")]
            hints = "".join(_did_you_mean(e.split("=", 1)[0], flags) for e in extras if e.startswith("--"))
            parser.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return parsed


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _add_common(parser: argparse.ArgumentParser, *, node: bool, node_required: bool = False) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="cluster config (TOML); default: the shipped 5-node loopback cluster, data under ./minikeydb-data",
    )
    if node:
        parser.add_argument(
            "--node",
            metavar="ID",
            required=node_required,
            help="the node to serve" if node_required else "the node to talk to (default: any)",
        )


def _amount(text: str) -> int:
    """A counter amount: a whole number >= 0 (argparse turns the ValueError into a usage error)."""
    amount = int(text)
    if not 0 <= amount < MAX_COUNT:
        raise ValueError(text)
    return amount


_amount.__name__ = "amount (a whole number from 0 to 2^62 - 1)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minikeydb", description="MinikeyDB: an eventually consistent key-value store over UDP.",
                     epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    serve = sub.add_parser("serve", help="run one node in the foreground (Ctrl-C stops it)")
    _add_common(serve, node=True, node_required=True)
    serve.add_argument("-v", "--verbose", action="store_true", help="log every message (DEBUG)")
    serve.add_argument("--bug", default=None, choices=sorted(BUGS), metavar="NAME",
                       help=f"switch on a seeded defect for checker validation: {', '.join(sorted(BUGS))}")
    serve.add_argument("--clock-file", default=None, metavar="FILE",
                       help="add the seconds written in FILE to this node's wall clock (the harness's clock skew)")

    cluster = sub.add_parser("cluster", help="run every node of the config in this one process")
    _add_common(cluster, node=False)
    cluster.add_argument("-v", "--verbose", action="store_true", help="log every message (DEBUG)")

    context_help = ("conflict mode siblings: the context a get printed; the write replaces exactly the "
                    "siblings that get saw (without it, it adds a sibling)")
    put = sub.add_parser("put", help="write KEY = VALUE")
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    put.add_argument("--context", default=None, metavar="CTX", help=context_help)
    _add_common(put, node=True)

    get = sub.add_parser("get", help="print the value of KEY (exit 1 when absent); under conflict mode siblings "
                                     "every sibling, one a line, then 'context: CTX'")
    get.add_argument("key", metavar="KEY")
    _add_common(get, node=True)

    delete = sub.add_parser("delete", help="delete KEY")
    delete.add_argument("key", metavar="KEY")
    delete.add_argument("--context", default=None, metavar="CTX", help=context_help)
    _add_common(delete, node=True)

    for name, what in (("incr", "add N (default 1) to the counter KEY"),
                       ("decr", "subtract N (default 1) from the counter KEY")):
        count = sub.add_parser(name, help=f"{what} (conflict mode crdt)")
        count.add_argument("key", metavar="KEY")
        count.add_argument("amount", metavar="N", type=_amount, nargs="?", default=1,
                           help="a whole number >= 0 (default 1)")
        _add_common(count, node=True)
    for name, what in (("add", "add ELEM to the set KEY"), ("remove", "remove ELEM from the set KEY")):
        member = sub.add_parser(name, help=f"{what} (conflict mode crdt)"
                                + ("; says so when ELEM was not there" if name == "remove" else ""))
        member.add_argument("key", metavar="KEY")
        member.add_argument("value", metavar="ELEM")
        _add_common(member, node=True)

    script = sub.add_parser("script", help="run client scripts (put k v / get k / delete k / key:value)")
    script.add_argument("files", metavar="FILE", nargs="+")
    _add_common(script, node=True)

    stats = sub.add_parser("stats", help="print per-node counters (all nodes unless --node)")
    _add_common(stats, node=True)
    return parser


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A script's background job (`cmd &`) starts with SIGINT ignored: a Ctrl-C or `kill -INT` must still
        # stop a cluster (harness.py does the same).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return quiet_broken_pipe(lambda: _interruptible(lambda: _main(argv)))


def _interruptible(command: Callable[[], int]) -> int:
    """Ctrl-C ends a command with 130 and one line, even from inside a nursery that wrapped it."""
    try:
        return command()
    except KeyboardInterrupt:
        pass
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is None:
            raise
    _error("interrupted")
    return EXIT_INTERRUPTED


def _is_broken_pipe(exc: BaseException) -> bool:
    """A ``BrokenPipeError``, or a group of nothing else (what a nursery wraps it in)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(BrokenPipeError)[1] is None
    return isinstance(exc, BrokenPipeError)


_decided: list[int] = []


def decided(code: int) -> int:
    """Record the exit code a command has reached (a verdict) before it prints; returns ``code``.

    A reader that goes away while the command prints (``| head -1``) then cannot turn an INVALID
    verdict into exit 0: ``quiet_broken_pipe`` returns the decided code.
    """
    _decided.append(code)
    return code


def quiet_broken_pipe(command: Callable[[], int]) -> int:
    """Run ``command``; when stdout's reader has gone (``| head -1``), end quietly, no traceback.

    The exit code is the command's own when it had finished (the pipe broke at the final flush),
    else the code it had ``decided`` before printing, else 0: the reader stopped reading, and what
    was left to print was not wanted. Stdout is then pointed at /dev/null so that the interpreter's
    own flush at exit does not complain either.
    """
    code = EXIT_OK
    _decided.clear()
    try:
        code = command()
        sys.stdout.flush()
    except BaseException as exc:
        if not _is_broken_pipe(exc):
            raise
        if _decided:
            code = _decided[-1]
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # stdout is no real file (a test's capture): nothing to silence
            pass
    return code


_COMMAND_OPTIONS = ("--config", "--node")
"""Options every command takes after its name; given before it, argparse reads their value as the command."""


def _option_before_command(argv: Sequence[str]) -> str | None:
    """When ``argv`` starts with a command's option (``--config FILE cluster``), the line that works."""
    if not argv or argv[0].split("=", 1)[0] not in _COMMAND_OPTIONS:
        return None
    taken = 1 if "=" in argv[0] else 2
    moved, rest = list(argv[:taken]), list(argv[taken:])
    if not rest or rest[0] not in _COMMANDS:
        return None
    return (f"{argv[0].split('=', 1)[0]} goes after the command: "
            f"python -m minikeydb {' '.join([rest[0], *moved, *rest[1:]])}")


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        misplaced = _option_before_command(sys.argv[1:] if argv is None else argv)
        if misplaced is not None:
            raise UsageError(misplaced)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, or an argparse path that exits by itself
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        config = load_config(args.config)
        if getattr(args, "node", None) is not None:
            config.node(args.node)  # an unknown id is a usage error, before anything starts
        command: Callable[[argparse.Namespace, ClusterConfig], int] = _COMMANDS[args.command]
        return command(args, config)
    except (UsageError, ConfigError, TooLarge, StorageError) as exc:
        _error(str(exc))
        return EXIT_USAGE


def _error(message: str) -> None:
    print(f"minikeydb: {message}", file=sys.stderr)


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nurseries wrap what their tasks raise)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


# -- servers ---------------------------------------------------------------------------------------


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("minikeydb").setLevel(logging.DEBUG if verbose else logging.INFO)


async def _until_terminated(serve: Callable[..., Awaitable[object]], *args: object) -> None:
    """Run ``serve`` until SIGTERM (Ctrl-C arrives as KeyboardInterrupt, handled by the caller)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, *args)
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()


def _taken(config: ClusterConfig, node_ids: Sequence[str]) -> list[str]:
    """The nodes among ``node_ids`` whose address another socket holds (a UDP bind there fails)."""
    taken = []
    for node_id in node_ids:
        host, port = config.node(node_id).address
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            with socket.socket(family, kind, proto) as sock:
                sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                taken.append(node_id)
    return taken


def _address_in_use(what: str, config: ClusterConfig, node_ids: Sequence[str]) -> str:
    """One line for EADDRINUSE: which node, which host:port, and what to do about it."""
    taken = _taken(config, node_ids) or list(node_ids)
    def one(n: str) -> str:
        whose = "its" if what == f"node {n}" else f"node {n}'s"
        return f"{whose} {config.node(n).host}:{config.node(n).port}"

    where = ", ".join(one(n) for n in taken)
    ports = (f"copy the default config {default_config_path()} to a config of your own with other ports and give "
             "it with --config" if config.source.startswith("<") else f"give the nodes other ports in {config.source}")
    return (f"{what} cannot start: {where} {'is' if len(taken) == 1 else 'are'} already in use (another cluster or "
            f"node of this config is running, or another program holds the port): stop the other one, or {ports}")


def _run_server(what: str, serve: Callable[..., Awaitable[object]], config: ClusterConfig,
                node_ids: Sequence[str], *args: object) -> int:
    try:
        trio.run(_until_terminated, serve, *args)
    except KeyboardInterrupt:
        print(f"minikeydb: {what} stopped", file=sys.stderr)
        return EXIT_OK
    except BaseException as exc:
        leaf = _leaf(exc)
        if isinstance(leaf, KeyboardInterrupt):
            print(f"minikeydb: {what} stopped", file=sys.stderr)
            return EXIT_OK
        if isinstance(leaf, ConfigError | StorageError):
            _error(f"{what}: {leaf}")
            return EXIT_USAGE
        if isinstance(leaf, OSError) and leaf.errno == errno.EADDRINUSE:
            _error(_address_in_use(what, config, node_ids))
            return EXIT_USAGE
        if isinstance(leaf, OSError):
            _error(f"{what} cannot start: {leaf.strerror or leaf}")
            return EXIT_USAGE
        raise
    print(f"minikeydb: {what} stopped", file=sys.stderr)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, config: ClusterConfig) -> int:
    from .server import OffsetFileClock, serve_node

    _setup_logging(args.verbose)
    config.load_secret()  # a missing secret is a config error, reported before binding
    node = config.node(args.node)
    logging.getLogger("minikeydb").info(
        "node %s on %s:%d, data in %s", node.id, node.host, node.port, config.node_data_dir(node.id)
    )
    wall = OffsetFileClock(Path(args.clock_file)) if args.clock_file else time.time
    serve = functools.partial(serve_node, defect=Defect.named(args.bug), wall=wall)
    return _run_server(f"node {node.id}", serve, config, [node.id], config, node.id)


def cmd_cluster(args: argparse.Namespace, config: ClusterConfig) -> int:
    from .server import serve_cluster

    _setup_logging(args.verbose)
    config.load_secret()
    listing = ", ".join(f"{n.id}={n.host}:{n.port}" for n in config.nodes)
    logging.getLogger("minikeydb").info("cluster of %d nodes: %s; data in %s", len(config.nodes), listing, config.data_dir)
    return _run_server("cluster", serve_cluster, config, config.node_ids, config)


# -- client commands -------------------------------------------------------------------------------


@attrs.frozen
class Attempt:
    """One operation's outcome, with the coordinators tried in turn and how long it took in all."""

    result: Result
    tried: tuple[str, ...]
    seconds: float

    @property
    def silent(self) -> bool:
        """No node answered at all (the cause is outside any node: not running, or another secret)."""
        return self.result.outcome == "unknown" and self.result.error == "timeout"


REFUSALS = ("key ", "conflict mode", "the causal context", "a causal context", "too-large")
"""How a node's answer to an operation the key's type or the cluster's conflict mode does not allow begins,
or to one whose result would be over the size limit (the same operation would be refused again)."""


def _describe_failure(op: str, key: str, attempt: Attempt, config: ClusterConfig) -> str:
    """One line: what was asked, of which nodes, for how long, and what that means for a write."""
    result = attempt.result
    node = result.node or "?"
    what = f"{op} {key!r}"
    maybe = "" if op == "get" else f"; the {op} may or may not have happened"
    if result.outcome == FAIL and result.error == "clock":
        return (f"refused by node {node}: {what}: this machine's clock and node {node}'s differ by more than "
                f"{REPLAY_WINDOW:g}s, so the write's time stamp cannot be trusted (nothing was written; fix the clocks)")
    if result.outcome == FAIL and result.error is not None and result.error.startswith("too-large"):
        nothing = "" if op == "get" else " (nothing was written)"
        return f"too large: {what}: node {node}: {result.error}{nothing}"
    if _refused(result):
        return f"refused by node {node}: {what}: {result.error} (nothing was written)"
    if result.outcome == FAIL:
        return f"unavailable: {what}: node {node} could not do it ({result.error or 'no reason given'})"
    if attempt.silent:
        each = f"{config.timeouts.client:g}s"
        if len(attempt.tried) == 1:
            asked = f"node {attempt.tried[0]} did not answer within {each}"
        else:
            asked = f"no answer from {', '.join(attempt.tried)} (each tried for {each}, {attempt.seconds:.1f}s in all)"
        return f"timed out: {what}: {asked}{maybe}"
    if op == "get":
        return f"read failed: {what}: node {node} could not complete the read ({result.error or 'no reason given'})"
    return f"outcome unknown: {what}: node {node} could not confirm it ({result.error or 'no reason given'}){maybe}"


def probe_ports(config: ClusterConfig, nodes: Sequence[str], wait: float = 0.3) -> dict[str, bool | None]:
    """Is anything listening at each node's address? True, False (refused), or None (cannot tell).

    An empty datagram goes from a connected UDP socket to each node; a closed port answers with
    ICMP "port unreachable", which a connected socket reports as ``ECONNREFUSED``. A node that
    is up drops the empty datagram (``dropped_malformed``) and sends nothing back. Only loopback
    addresses give a sure "listening": elsewhere a firewall may swallow the ICMP.
    """
    found: dict[str, bool | None] = {}
    sockets: dict[str, tuple[socket.socket, bool]] = {}
    for node_id in nodes:
        host, port = config.node(node_id).address
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, kind, proto)
        except OSError:
            found[node_id] = None
            continue
        sock.setblocking(False)
        try:
            sock.connect(address)
            sock.send(b"")
        except ConnectionRefusedError:
            found[node_id] = False
            sock.close()
            continue
        except OSError:
            found[node_id] = None
            sock.close()
            continue
        sockets[node_id] = (sock, ipaddress.ip_address(address[0]).is_loopback)
    if sockets:
        time.sleep(wait)
    for node_id, (sock, loopback) in sockets.items():
        try:
            sock.recv(1)
            found[node_id] = True
        except ConnectionRefusedError:
            found[node_id] = False
        except BlockingIOError:
            found[node_id] = True if loopback else None
        except OSError:
            found[node_id] = None
        finally:
            sock.close()
    return found


def no_answer_hint(config: ClusterConfig, nodes: Sequence[str]) -> str:
    """Why ``nodes`` never answered: nothing listens there (not running), or they use a different secret."""
    probed = probe_ports(config, nodes)

    def where(ids: list[str]) -> str:
        return ", ".join(f"{n} ({config.node(n).host}:{config.node(n).port})" for n in ids)

    closed = [n for n in nodes if probed.get(n) is False]
    listening = [n for n in nodes if probed.get(n) is True]
    flag = "" if config.source.startswith("<") else f" --config {config.source}"
    start = (f"start it with 'python -m minikeydb cluster{flag}', or one "
             f"'python -m minikeydb serve{flag} --node ID' per node")
    secret = (f"this client signed with {config.secret_origin()}; each node uses ${SECRET_ENV} if set where it "
              f"runs, else the secret_file of its config (relative to the directory the node was started in)")
    parts = []
    if closed:
        whom = ("the cluster is" if len(closed) == len(config.nodes)
                else "that node is" if len(closed) == 1 else "those nodes are")
        parts.append(f"nothing listens at {where(closed)}: {whom} not running ({start})")
    if listening:
        parts.append(f"something listens at {where(listening)} but never answered: most likely the node signs "
                     f"with another secret or another conflict mode and drops this client's requests unread "
                     f"({secret}; this client's conflict mode is {config.conflict})")
    if not parts:
        parts.append(f"either the cluster is not running ({start}), or the nodes drop this client's requests "
                     f"unread because they sign with another secret or another conflict mode ({secret}; "
                     f"this client's conflict mode is {config.conflict})")
    return "hint: " + "; ".join(parts)


async def _request(
    client: Client, op: str, key: str, value: str | None, node: str | None, *, context: str | None = None,
    amount: int = 0,
) -> Attempt:
    """One operation; without a fixed node, a coordinator that never answered is replaced by another.

    The first choice is the key's primary replica, as the client library routes (the same node
    for every operation on a key, so a script reads its own writes while that node is up); then
    its other replicas. Only silence moves on (a reply, even "unknown", is the cluster's answer):
    a node that is down should not make the command fail while others are up. A write retried
    elsewhere is a new write of the same value, which leaves the same final state.
    """
    if node is not None:
        candidates = [node]
    elif op in ("incr", "decr"):  # an unanswered increment may have counted: never send it twice
        candidates = [client.ring.replicas_for(key)[0]]
    else:
        replicas = client.ring.replicas_for(key)
        others = [n for n in client.config.node_ids if n not in replicas]
        candidates = [*replicas, *others][:FALLBACK_COORDINATORS]
    result = Result("unknown", error="timeout")
    tried: list[str] = []
    started = time.monotonic()
    for candidate in candidates:
        tried.append(candidate)
        if op == "put":
            assert value is not None
            result = await client.put(key, value, context=context, node=candidate)
        elif op == "get":
            result = await client.get(key, node=candidate)
        elif op == "incr":
            result = await client.incr(key, amount, node=candidate)
        elif op == "decr":
            result = await client.decr(key, amount, node=candidate)
        elif op == "add":
            assert value is not None
            result = await client.add(key, value, node=candidate)
        elif op == "remove":
            assert value is not None
            result = await client.remove(key, value, node=candidate)
        else:
            result = await client.delete(key, context=context, node=candidate)
        if not (result.outcome == "unknown" and result.error == "timeout"):
            break
    return Attempt(result, tuple(tried), time.monotonic() - started)


def _client_command(args: argparse.Namespace, config: ClusterConfig) -> int:
    key: str = args.key
    value: str | None = getattr(args, "value", None)
    context: str | None = getattr(args, "context", None)
    check_sizes(key, value)  # TooLarge before any socket is opened
    needs = {"incr": "crdt", "decr": "crdt", "add": "crdt", "remove": "crdt"}.get(args.command)
    if context is not None:
        needs = "siblings"
    if context is not None:
        try:
            Context.decode(context, key)
        except StateError as e:
            _error(f"--context: {e}")
            return EXIT_USAGE
        if not fits(context, MAX_VALUE_BYTES):
            _error(f"--context: the context takes {encoded_size(context)} bytes; a context is at most "
                   f"{MAX_VALUE_BYTES} bytes, so this {args.command} of {key!r} cannot be sent (nothing was "
                   f"written): the key's version vector has an entry per writer, and every CLI run is a new one")
            return EXIT_USAGE
    if needs is not None and config.conflict != needs:
        _error(f"{args.command}{' --context' if context is not None else ''} needs conflict mode {needs}; "
               f"{config.source} says conflict = {config.conflict!r}")
        return EXIT_USAGE
    config.load_secret(create=False)  # a client never makes a secret of its own

    async def run() -> tuple[Attempt, Attempt | None]:
        async with Client.connect(config) as client:
            # A remove's reply does not say whether the element was there: look first, on the same
            # routing, so that removing an element the coordinator never saw is said, not silent.
            looked = await _request(client, "get", key, None, args.node) if args.command == "remove" else None
            attempt = await _request(
                client, args.command, key, value, args.node, context=context, amount=getattr(args, "amount", 0)
            )
            return attempt, looked

    try:
        attempt, looked = trio.run(run)
    except BaseException as exc:  # refused by the client library before sending (a nursery wraps it)
        leaf = _leaf(exc)
        if not isinstance(leaf, TooLarge):
            raise
        _error(f"too large: {args.command} {key!r}: {leaf} (nothing was written)")
        return EXIT_USAGE
    result = attempt.result
    if result.outcome != OK:
        _error(_describe_failure(args.command, key, attempt, config))
        if attempt.silent:
            _error(no_answer_hint(config, attempt.tried))
        return EXIT_USAGE if _refused(result) else EXIT_UNAVAILABLE
    if args.command == "get":
        return _print_read(key, result)
    if args.command == "delete" and context is None and config.conflict == "siblings":
        _error(_blind_delete_note(key, config))
    if (looked is not None and looked.result.outcome == OK and looked.result.node == result.node
            and value not in (looked.result.elements or ())):
        _error(f"{value!r} was not in set {key!r} (as node {result.node} saw it just before): nothing to remove")
    return EXIT_OK


def _blind_delete_note(key: str, config: ClusterConfig) -> str:
    """Under siblings a delete without a context supersedes no sibling: say so, and how to delete."""
    flag = "" if config.source.startswith("<") else f" --config {shlex.quote(config.source)}"
    return (f"delete {key!r} without --context deletes nothing under conflict mode siblings (it removes only the "
            f"siblings a get saw): run 'python -m minikeydb get {shlex.quote(key)}{flag}', then "
            f"'python -m minikeydb delete {shlex.quote(key)} --context CTX{flag}' with the context it prints")


def _refused(result: Result) -> bool:
    """A definite refusal of the operation itself (another type's key, a mode the cluster does not run, too large)."""
    return result.outcome == FAIL and result.error is not None and result.error.startswith(REFUSALS)


def _print_read(key: str, result: Result) -> int:
    """A get's answer on stdout: the value; every sibling then the context; the count; the elements."""
    if result.values is not None:
        for value in result.values:
            print(value)
        if result.context is not None:
            print(f"context: {result.context}")
        if not result.values:
            _error(f"key {key!r} not found" + (" (deleted: the context above resolves it)" if result.context else ""))
            return EXIT_ABSENT
        if len(result.values) > 1:
            _error(f"{len(result.values)} siblings: put the value you choose with --context to resolve them")
        return EXIT_OK
    if result.count is not None:
        print(result.count)
        return EXIT_OK
    if result.elements is not None:
        for element in result.elements:
            print(element)
        return EXIT_OK
    if result.value is None:
        _error(f"key {key!r} not found")
        return EXIT_ABSENT
    print(result.value)
    return EXIT_OK


# -- scripts ---------------------------------------------------------------------------------------


@attrs.frozen
class Step:
    """One operation of a client script, with where it came from (for messages)."""

    op: str  # "put" | "get" | "delete"
    key: str
    value: str | None
    where: str


def parse_script(text: str, source: str) -> list[Step]:
    """Parse a client script; raises ``UsageError`` naming the file and line of the first bad line.

    ``put k v`` (the value is the rest of the line, spaces included), ``get k``, ``delete k`` or
    ``remove k``, ``#`` comments and blank lines, and the original MinikeyDB's ``key:value`` line,
    which means put, get, delete, get of that key.
    """
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(maxsplit=2)
        verb = words[0].lower()
        if verb in ("put", "get", "delete", "remove") and len(words) >= 2:
            op = "delete" if verb == "remove" else verb
            if op == "put" and len(words) < 3:
                raise UsageError(f"{where}: 'put' needs a key and a value: {line!r}")
            if op != "put" and len(words) > 2:
                raise UsageError(f"{where}: '{verb}' takes one key, got {line!r}")
            steps.append(Step(op, words[1], words[2] if op == "put" else None, where))
        elif ":" in line and " " not in line.partition(":")[0]:
            key, _, value = line.partition(":")
            if not key:
                raise UsageError(f"{where}: 'key:value' line with an empty key: {line!r}")
            steps += [Step("put", key, value, where), Step("get", key, None, where),
                      Step("delete", key, None, where), Step("get", key, None, where)]
        else:
            raise UsageError(
                f"{where}: cannot parse {line!r}; expected 'put KEY VALUE', 'get KEY', 'delete KEY' or 'KEY:VALUE'"
            )
    for step in steps:
        try:
            check_sizes(step.key, step.value)
        except TooLarge as exc:
            raise UsageError(f"{step.where}: {exc}") from None
    return steps


def _format_step(step: Step, attempt: Attempt, config: ClusterConfig) -> str:
    shown = f"{step.op} {step.key}" + (f" {step.value}" if step.op == "put" else "")
    result = attempt.result
    if result.outcome != OK:
        return f"{shown} -> ERROR {_describe_failure(step.op, step.key, attempt, config)}"
    if step.op == "get":
        return f"{shown} -> {result.value}" if result.value is not None else f"{shown} -> (absent)"
    return f"{shown} -> ok"


def cmd_script(args: argparse.Namespace, config: ClusterConfig) -> int:
    steps: list[Step] = []
    total = 0  # the cap holds for every script named together: one file named 40 times held 40 of them in memory
    for name in args.files:
        try:
            data = read_bounded(name, MAX_SCRIPT_BYTES, "script")
            total += len(data)
            if total > MAX_SCRIPT_BYTES:
                raise UsageError(f"{name}: the scripts named together are over {MAX_SCRIPT_BYTES} bytes, the most "
                                 "one script command reads; run them in several commands")
            text = data.decode("utf-8")
        except OSError as exc:
            raise UsageError(f"{name}: cannot read the script ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise UsageError(f"{name}: not a UTF-8 text file") from None
        steps += parse_script(text, name)
    config.load_secret(create=False)  # a client never makes a secret of its own
    out: TextIO = sys.stdout

    silent = 0

    async def run() -> int:
        nonlocal silent
        failures = 0
        async with Client.connect(config) as client:
            for step in steps:
                attempt = await _request(client, step.op, step.key, step.value, args.node)
                failures += attempt.result.outcome != OK
                silent += attempt.silent
                print(_format_step(step, attempt, config), file=out, flush=True)
        return failures

    failures = trio.run(run)
    blind = next((s for s in steps if s.op == "delete"), None)
    if blind is not None and config.conflict == "siblings":
        _error(f"{blind.where}: {_blind_delete_note(blind.key, config)} (a script has no --context: "
               "each of its deletes deletes nothing)")
    if failures:
        _error(f"{failures} of {len(steps)} operations did not succeed")
        if silent == len(steps):
            _error(no_answer_hint(config, list(config.node_ids) if args.node is None else [args.node]))
        return EXIT_UNAVAILABLE
    return EXIT_OK


# -- stats -----------------------------------------------------------------------------------------


def format_stats(stats: dict[str, dict[str, int] | None]) -> str:
    """Counters as a table: one row per counter, one column per node; a silent node is "no answer".

    Silence alone cannot tell a stopped node from one signing with a different secret (it drops
    this client's datagrams unread), so the table does not say "down"; ``cmd_stats`` probes.
    """
    nodes = list(stats)
    names = [c for c in HEADLINE_COUNTERS if any(s and c in s for s in stats.values())]
    names += sorted({c for s in stats.values() if s for c in s} - set(names))
    header = ["counter", *nodes]
    rows = [["state", *("up" if stats[n] is not None else "no answer" for n in nodes)]]
    for name in names:
        rows.append([name, *("-" if (s := stats[n]) is None else str(s.get(name, 0)) for n in nodes)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def cmd_stats(args: argparse.Namespace, config: ClusterConfig) -> int:
    config.load_secret(create=False)  # a client never makes a secret of its own
    nodes = [args.node] if args.node else list(config.node_ids)

    async def run() -> dict[str, dict[str, int] | None]:
        results: dict[str, dict[str, int] | None] = dict.fromkeys(nodes)
        async with Client.connect(config) as client:

            async def ask(node: str) -> None:
                results[node] = await client.stats(node)

            async with trio.open_nursery() as nursery:
                for node in nodes:
                    nursery.start_soon(ask, node)
        return results

    stats = trio.run(run)
    print(format_stats(stats))
    down = [n for n, s in stats.items() if s is None]
    if down:
        _error(f"no answer from {', '.join(down)} within {config.timeouts.client:g}s "
               "(down, or signing with another secret or another conflict mode)")
        _error(no_answer_hint(config, down))
    return EXIT_UNAVAILABLE if len(down) == len(nodes) else EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace, ClusterConfig], int]] = {
    "serve": cmd_serve,
    "cluster": cmd_cluster,
    "put": _client_command,
    "get": _client_command,
    "delete": _client_command,
    "incr": _client_command,
    "decr": _client_command,
    "add": _client_command,
    "remove": _client_command,
    "script": cmd_script,
    "stats": cmd_stats,
}

__all__ = ["main", "build_parser", "parse_script", "format_stats", "Step", "UsageError"]
