"""One TOML file describes the whole cluster: its nodes, N/W/R, timeouts, data directory and secret.

The original MinikeyDB had one config file for nodes and another for clients, and they drifted
apart. Here servers, clients, the CLI and the harness all read the same file. A malformed file is
reported with the file, the setting and what is expected (``ConfigError``), never a traceback.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import secrets
import socket
import stat
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from .transport import Address
from .wire import REPLAY_WINDOW

DEFAULT_CONFIG_NAME = "default_cluster.toml"
SECRET_ENV = "MINIKEYDB_SECRET"


FSYNC_MODES = ("inline", "thread")
MAX_VNODES = 4096
"""Tokens per node at most: the ring keeps a preference list per range, so 10^8 would take gigabytes."""
MAX_NODE_ID = 64
"""Characters in a node id at most (the wire refuses longer ids in stamps and ``src`` fields)."""
MIN_SECRET_BYTES = 16
"""A shorter secret is used, with a warning: it can be guessed offline from one captured datagram."""
MAX_TIMEOUT = 10 * 365 * 86_400.0
"""Ten years: any timeout longer is a typo, and Trio's deadlines need finite numbers."""
MAX_CONFIG_BYTES = 1 << 20
"""A config file is read up to 1 MiB (a 5-node config is under 1 KiB): larger is refused, unread."""
MAX_SECRET_BYTES = 64 << 10
"""A secret file is read up to 64 KiB (a secret is 64 hex characters): larger is refused, unread."""
MAX_SCRIPT_BYTES = 16 << 20
"""A client script is read up to 16 MiB (hundreds of thousands of lines): larger is refused, unread."""

SECTIONS = ("cluster", "timeouts", "nodes")
CLUSTER_SETTINGS = (
    "replicas", "write_quorum", "read_quorum", "vnodes", "read_repair_chance", "fsync", "data_dir", "secret_file",
    "conflict",
)
CONFLICT_MODES = ("lww", "siblings", "crdt")
"""How concurrent versions of a key meet (``minikeydb.conflict``): last-writer-wins on stamps,
siblings with dotted version vectors, or CRDT types (PN-counter, OR-set; registers stay lww)."""
NODE_SETTINGS = ("id", "host", "port", "peer_port")

log = logging.getLogger("minikeydb.config")
_warned: set[str] = set()


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the setting."""


@attrs.frozen
class NodeConfig:
    id: str
    host: str
    port: int
    peer_port: int | None = None
    """Where *other nodes* send to, when it differs from ``port`` (a fault-injecting router in between)."""

    @property
    def address(self) -> Address:
        """Where the node binds, and where clients reach it."""
        return (self.host, self.port)

    @property
    def peer_address(self) -> Address:
        return (self.host, self.peer_port if self.peer_port is not None else self.port)


@attrs.frozen
class Timeouts:
    client: float = 2.0
    client_resend: float = 0.4
    coordinator: float = 1.0
    retry_initial: float = 0.05
    retry_max: float = 0.4
    retry_attempts: int = 6
    hint_interval: float = 0.5
    anti_entropy_interval: float = 1.0
    tombstone_grace: float = 86_400.0


@attrs.frozen
class ClusterConfig:
    nodes: tuple[NodeConfig, ...]
    replicas: int = 3
    write_quorum: int = 1
    read_quorum: int = 1
    vnodes: int = 64
    read_repair_chance: float = 0.1
    fsync: str = "inline"
    """Where a node's group-commit write+fsync runs: "inline" (in the event loop) or "thread"."""
    conflict: str = "lww"
    """How concurrent versions meet: "lww", "siblings" or "crdt" (``CONFLICT_MODES``)."""
    data_dir: Path = Path("minikeydb-data")
    secret_file: Path | None = None
    timeouts: Timeouts = Timeouts()
    source: str = "<built in>"

    def node(self, node_id: str) -> NodeConfig:
        for node in self.nodes:
            if node.id == node_id:
                return node
        known = ", ".join(n.id for n in self.nodes)
        raise ConfigError(f"{self.source}: no node {node_id!r} (nodes: {known})")

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes)

    def node_data_dir(self, node_id: str) -> Path:
        return self.data_dir / node_id

    def where(self) -> str:
        """The config for messages: the user's file, or the shipped default with its real path."""
        if self.source.startswith("<"):
            return f"the default config {default_config_path()} (or a file of your own, given with --config)"
        return self.source

    def set_secret_hint(self) -> str:
        """How to point a client at the nodes' secret file: in the user's config, or in a config of their own
        (never by editing the shipped default, which lives inside the installed package)."""
        if self.source.startswith("<"):
            return (f"copy the default config {default_config_path()} to a config of your own, set secret_file "
                    "there to the path of the nodes' secret file, and give it with --config")
        return f"set secret_file in {self.source} to the path of the nodes' secret file"

    def secret_origin(self) -> str:
        """Where ``load_secret`` takes the key from, for messages: the variable or the file."""
        if os.environ.get(SECRET_ENV):
            return f"${SECRET_ENV}"
        return str(self.secret_file) if self.secret_file is not None else "(no secret configured)"

    def load_secret(self, *, create: bool = True) -> bytes:
        """The cluster's authentication key: from ``$MINIKEYDB_SECRET``, else the secret file.

        Nodes (``create=True``) create a missing file. A client (``create=False``) never does: a
        secret of its own would sign requests every node drops unread, so a missing file is a
        ``ConfigError`` saying where it looked and where the nodes' secret lives.
        """
        env = os.environ.get(SECRET_ENV)
        if env:
            secret = os.fsencode(env)
            _warn_short(secret, f"${SECRET_ENV}")
            _warn_path(env)
            return secret
        if self.secret_file is None:
            raise ConfigError(f"{self.source}: no secret_file set and ${SECRET_ENV} is empty")
        path = self.secret_file
        try:
            return _read_secret(path)
        except FileNotFoundError:
            if not create:
                raise ConfigError(
                    f"no cluster secret at {path} and ${SECRET_ENV} is not set. Nodes create the secret when "
                    f"they first start; a client must use theirs: run it from the directory the nodes were "
                    f"started in (secret_file is relative to it), or {self.set_secret_hint()}, or set "
                    f"${SECRET_ENV} to the secret itself (the file's contents, not a path)"
                ) from None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another node created it first
                return _read_secret(path)
            except OSError as exc:
                raise ConfigError(f"{path}: secret_file cannot be created ({exc.strerror or exc})") from None
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            return _read_secret(path)


def read_bounded(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; ``ConfigError`` naming ``what`` else.

    A device (``/dev/zero``, ``/dev/urandom``) or a FIFO would be read without end, or wait forever
    for a writer: it is refused before any read (opened non-blocking, so a FIFO's open does not wait).
    A file over ``limit`` is refused after reading ``limit + 1`` bytes. ``FileNotFoundError`` passes
    through (a secret file is created when missing); other ``OSError``s are the caller's to word.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                    or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "special")
            raise ConfigError(f"{path}: {what} is not a regular file ({kind}); give the path of an ordinary file")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ConfigError(f"{path}: {what} is over {limit} bytes, the most one may be; is it the right file?")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_secret(path: Path) -> bytes:
    """The secret in ``path``; ConfigError naming ``secret_file`` when it cannot be one.

    The file must be UTF-8 text (it is trimmed of surrounding whitespace, so an editor's newline
    does not change the key). It works, with a warning, when others may read or write it or
    when it is shorter than ``MIN_SECRET_BYTES``.
    """
    try:
        raw = read_bounded(path, MAX_SECRET_BYTES, "secret_file")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise ConfigError(f"{path}: secret_file is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: secret_file cannot be read ({exc.strerror or exc})") from None
    try:
        secret = raw.decode("utf-8").strip().encode()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: secret_file is not UTF-8 text (write the secret as text, e.g. hex)") from None
    if not secret:
        raise ConfigError(f"{path}: secret_file is empty")
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and str(path) not in _warned:
        _warned.add(str(path))
        log.warning("%s: secret_file is readable or writable by others (mode %o); chmod 600 it",
                    path, stat.S_IMODE(mode))
    _warn_short(secret, str(path))
    return secret


def default_config_path() -> str:
    """Where the shipped default config file is, for messages that tell a user to edit it."""
    return str(resources.files("minikeydb").joinpath(DEFAULT_CONFIG_NAME))


def _warn_path(value: str) -> None:
    """$MINIKEYDB_SECRET holds the secret itself; a value naming an existing file is most likely a mistake."""
    key = f"path:{SECRET_ENV}"
    if key in _warned or len(value) > 4096:
        return
    try:
        is_file = Path(value).expanduser().is_file()
    except (OSError, ValueError):
        return
    if is_file:
        _warned.add(key)
        log.warning("$%s is the path of a file (%s), but it holds the secret itself, not a path: this node or "
                    "client signs with the path's characters. Set it to the file's contents, or unset it and "
                    "set secret_file in the config to the path", SECRET_ENV, value)


def _warn_short(secret: bytes, where: str) -> None:
    key = f"short:{where}"
    if len(secret) < MIN_SECRET_BYTES and key not in _warned:
        _warned.add(key)
        log.warning("%s: the secret is %d bytes; use at least %d bytes (e.g. 32 random hex characters)",
                    where, len(secret), MIN_SECRET_BYTES)


def _unknown(names: Any, known: tuple[str, ...], where: str, what: str) -> None:
    """ConfigError for the first name not in ``known``, with a "did you mean" for a near miss."""
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"{where}: unknown {what} {name!r}{hint}")


def _finite(value: float, name: str, where: str) -> float:
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {name} must be a finite number, got {value!r}")
    return value


def _expect(table: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table[name]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: {name} must be a {expected}, got {value!r}")
    return value


def parse_config(data: dict[str, Any], source: str, base: Path | None = None) -> ClusterConfig:
    """Build a ``ClusterConfig`` from parsed TOML, checking every setting."""
    base = base or Path.cwd()
    _unknown(data, SECTIONS, source, "section")
    cluster = data.get("cluster", {})
    timeouts_table = data.get("timeouts", {})
    nodes_table = data.get("nodes")
    if not isinstance(cluster, dict) or not isinstance(timeouts_table, dict):
        raise ConfigError(f"{source}: [cluster] and [timeouts] must be tables")
    if not isinstance(nodes_table, list) or not nodes_table:
        raise ConfigError(f"{source}: at least one [[nodes]] entry (id, host, port) is required")
    nodes = []
    for i, entry in enumerate(nodes_table):
        where = f"{source}: [[nodes]] #{i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table")
        _unknown(entry, NODE_SETTINGS, where, "setting")
        for required in ("id", "host", "port"):
            if required not in entry:
                raise ConfigError(f"{where}: missing {required}")
        port = _expect(entry, "port", int, where)
        if not 0 < port < 65536:
            raise ConfigError(f"{where}: port must be 1..65535, got {port}")
        peer_port = _expect(entry, "peer_port", int, where) if "peer_port" in entry else None
        if peer_port is not None and not 0 < peer_port < 65536:
            raise ConfigError(f"{where}: peer_port must be 1..65535, got {peer_port}")
        node_id = _expect(entry, "id", str, where)
        if not _plain_id(node_id):
            raise ConfigError(
                f"{where}: id must be 1 to {MAX_NODE_ID} letters, digits, '.', '_' or '-', starting with a letter "
                f"or digit (it names the node's data directory), got {node_id!r}"
            )
        host = _expect(entry, "host", str, where)
        if not host:
            raise ConfigError(f"{where}: host must not be empty")
        nodes.append(NodeConfig(id=node_id, host=host, port=port, peer_port=peer_port))
    ids = [n.id for n in nodes]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: node ids must be unique, got {ids}")
    _check_addresses(nodes, source)
    where = f"{source}: [cluster]"
    _unknown(cluster, CLUSTER_SETTINGS, where, "setting")
    ints = {k: _expect(cluster, k, int, where) for k in ("replicas", "write_quorum", "read_quorum", "vnodes") if k in cluster}
    replicas = ints.get("replicas", min(3, len(nodes)))
    if not 1 <= replicas:
        raise ConfigError(f"{where}: replicas must be at least 1, got {replicas}")
    if replicas > len(nodes):
        raise ConfigError(
            f"{where}: replicas = {replicas} is more than the {len(nodes)} nodes configured "
            f"(with {len(nodes)} nodes there are {len(nodes)} nodes to hold copies)"
        )
    vnodes = ints.get("vnodes", 64)
    if not 1 <= vnodes <= MAX_VNODES:
        raise ConfigError(f"{where}: vnodes must be between 1 and {MAX_VNODES}, got {vnodes}")
    for q in ("write_quorum", "read_quorum"):
        if q in ints and not 1 <= ints[q] <= min(replicas, len(nodes)):
            raise ConfigError(f"{where}: {q} must be between 1 and replicas ({replicas}), got {ints[q]}")
    chance = _expect(cluster, "read_repair_chance", (int, float), where) if "read_repair_chance" in cluster else 0.1
    if not 0 <= chance <= 1:  # false for nan too
        raise ConfigError(f"{where}: read_repair_chance must be between 0 and 1, got {chance}")
    fsync = _expect(cluster, "fsync", str, where) if "fsync" in cluster else "inline"
    if fsync not in FSYNC_MODES:
        raise ConfigError(f"{where}: fsync must be one of {', '.join(map(repr, FSYNC_MODES))}, got {fsync!r}")
    conflict = _expect(cluster, "conflict", str, where) if "conflict" in cluster else "lww"
    if conflict not in CONFLICT_MODES:
        close = difflib.get_close_matches(conflict, CONFLICT_MODES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{where}: conflict must be one of {', '.join(map(repr, CONFLICT_MODES))}, got {conflict!r}{hint}"
        )
    tvalues: dict[str, Any] = {}
    _unknown(timeouts_table, tuple(f.name for f in attrs.fields(Timeouts)), f"{source}: [timeouts]", "setting")
    for name, value in timeouts_table.items():
        kind: Any = int if name == "retry_attempts" else (int, float)
        tvalues[name] = _finite(_expect(timeouts_table, name, kind, f"{source}: [timeouts]"), name, f"{source}: [timeouts]")
        if not 0 < tvalues[name] <= (1000 if name == "retry_attempts" else MAX_TIMEOUT):
            limit = 1000 if name == "retry_attempts" else f"{MAX_TIMEOUT:g} s"
            raise ConfigError(f"{source}: [timeouts]: {name} must be positive and at most {limit}, got {value}")
    timeouts = Timeouts(**tvalues)
    _check_timeouts(timeouts, f"{source}: [timeouts]")
    data_dir = Path(_expect(cluster, "data_dir", str, where)) if "data_dir" in cluster else Path("minikeydb-data")
    secret = Path(_expect(cluster, "secret_file", str, where)) if "secret_file" in cluster else None
    return ClusterConfig(
        nodes=tuple(nodes),
        replicas=replicas,
        write_quorum=ints.get("write_quorum", 1),
        read_quorum=ints.get("read_quorum", 1),
        vnodes=vnodes,
        read_repair_chance=float(chance),
        fsync=fsync,
        conflict=conflict,
        data_dir=data_dir if data_dir.is_absolute() else base / data_dir,
        secret_file=None if secret is None else (secret if secret.is_absolute() else base / secret),
        timeouts=timeouts,
        source=source,
    )


def _plain_id(node_id: str) -> bool:
    """A node id names a directory under ``data_dir``: no path separators, no ``.``/``..``."""
    return (
        0 < len(node_id) <= MAX_NODE_ID
        and node_id[0].isalnum()
        and all(c.isalnum() or c in "._-" for c in node_id)
    )


def _check_timeouts(t: Timeouts, where: str) -> None:
    """Settings that are each fine alone but cannot work together."""
    if t.client_resend > t.client:
        raise ConfigError(f"{where}: client_resend ({t.client_resend:g} s) must not exceed client ({t.client:g} s): "
                          "a client resends within the time it waits")
    if t.retry_initial > t.retry_max:
        raise ConfigError(f"{where}: retry_initial ({t.retry_initial:g} s) must not exceed retry_max ({t.retry_max:g} s)")
    if t.tombstone_grace < MIN_TOMBSTONE_GRACE:
        raise ConfigError(
            f"{where}: tombstone_grace must be at least {MIN_TOMBSTONE_GRACE:g} s, got {t.tombstone_grace:g}: a "
            f"captured write stays acceptable for {REPLAY_WINDOW:g} s (either way, by the clocks), so a tombstone "
            "purged sooner lets a replayed write bring the deleted value back"
        )


MIN_TOMBSTONE_GRACE = 2 * REPLAY_WINDOW
"""A tombstone outlives every write it deleted that could still be replayed (sent up to one window
before the delete, accepted up to one window after its send time by a receiver's clock)."""

WILDCARDS = ("0.0.0.0", "::")


def _canonical_host(host: str, where: str) -> str:
    """The address a host names, so that one address written two ways (``localhost``, ``127.1``,
    ``127.0.0.1``) is seen as one; a name that does not resolve is a config error here, not a
    traceback at the first send."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"{where}: host {host!r} does not resolve ({exc})") from None
    return str(infos[0][4][0])


def _check_addresses(nodes: list[NodeConfig], source: str) -> None:
    """Two nodes on one address would be one node answering for two (a write "on W=2" held once).

    Hosts are compared by the address they resolve to, and a wildcard (``0.0.0.0``, ``::``)
    takes its port on every address, so it clashes with any other node on that port.
    """
    canonical: dict[str, str] = {}
    for node in nodes:
        if node.host not in canonical:
            canonical[node.host] = _canonical_host(node.host, f"{source}: node {node.id!r}")
    for what, peer in (("address", False), ("peer address", True)):
        seen: dict[tuple[str, int], str] = {}
        wild: dict[int, str] = {}
        for node in nodes:
            host, port = node.peer_address if peer else node.address
            key = (canonical[host], port)
            other = seen.get(key) or wild.get(port) or (
                next((n for (h, p), n in seen.items() if p == port), None) if key[0] in WILDCARDS else None
            )
            if other is not None:
                raise ConfigError(
                    f"{source}: nodes {other!r} and {node.id!r} have the same {what} {host}:{port} "
                    f"(as {key[0]}:{port}; a wildcard address takes the port on every address); "
                    "every node needs its own"
                )
            seen[key] = node.id
            if key[0] in WILDCARDS:
                wild[port] = node.id


def load_config(path: str | Path | None = None) -> ClusterConfig:
    """Read a cluster config file; ``None`` means the shipped 5-node loopback default."""
    if path is None:
        text = resources.files("minikeydb").joinpath(DEFAULT_CONFIG_NAME).read_text()
        source = f"<default config {DEFAULT_CONFIG_NAME}>"
    else:
        source = str(path)
        try:
            text = read_bounded(path, MAX_CONFIG_BYTES, "--config file").decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read the config file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not a TOML text file (not UTF-8 at byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses per nested array/table: thousands of '[' exhaust the stack
        raise ConfigError(f"{source}: not valid TOML (arrays or tables nested too deeply)") from None
    # Relative paths in the default config are relative to the current directory, as the README
    # promises; in a user's file, relative to the current directory too, like every CLI path.
    return parse_config(data, source, Path.cwd())


def write_config(config: ClusterConfig, path: Path) -> None:
    """Write a config back out as TOML (the harness writes one per run, for processes mode)."""
    t = config.timeouts
    lines = [
        "[cluster]",
        f"replicas = {config.replicas}",
        f"write_quorum = {config.write_quorum}",
        f"read_quorum = {config.read_quorum}",
        f"vnodes = {config.vnodes}",
        f"read_repair_chance = {config.read_repair_chance!r}",
        f'fsync = "{config.fsync}"',
        f'data_dir = "{config.data_dir.as_posix()}"',
    ]
    if config.conflict != "lww":
        lines.append(f'conflict = "{config.conflict}"')
    if config.secret_file is not None:
        lines.append(f'secret_file = "{config.secret_file.as_posix()}"')
    lines.append("")
    lines.append("[timeouts]")
    for field in attrs.fields(Timeouts):
        lines.append(f"{field.name} = {getattr(t, field.name)!r}")
    for node in config.nodes:
        lines += ["", "[[nodes]]", f'id = "{node.id}"', f'host = "{node.host}"', f"port = {node.port}"]
        if node.peer_port is not None:
            lines.append(f"peer_port = {node.peer_port}")
    path.write_text("\n".join(lines) + "\n")
