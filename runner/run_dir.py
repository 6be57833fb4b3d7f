"""What a run writes around its history: the run directory and its name, run.json, the secret,
``histories/latest``, the node log handler, and the cluster a run directory holds.

Every mode uses these (``runner.run`` picks the mode); none of them starts anything.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import platform
import secrets
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import attrs

from checker.safe_write import write_atomic
from minikeydb.config import ClusterConfig, NodeConfig, Timeouts
from nemesis import FaultSchedule

from .options import OptionError, RunOptions

SECRET_NAME = "cluster.secret"

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+,=")


def check_run_name(name: str) -> None:
    """A run name is one plain path component: no ``/``, no ``..``, nothing hidden."""
    if not name or name.startswith(".") or not set(name) <= _NAME_CHARS:
        raise OptionError(
            f"--name must be a plain name of letters, digits and . _ - + , = (not starting with a dot, no "
            f"'/'), got {name!r}; use --out to choose the directory it goes in"
        )


def new_run_dir(out: Path, name: str) -> Path:
    """``<out>/<UTC time>-<name>``, unique even when two runs start in the same second.

    A directory that cannot be made (``--out`` is a file, read-only, ...) is a usage error
    (``OptionError``, exit 254) named after the flag, raised before anything starts.
    """
    check_run_name(name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        if out.exists() and not out.is_dir():
            raise OptionError(f"--out {out}: is a file, not a directory")
        out.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            candidate = out / (f"{stamp}-{name}" if attempt == 0 else f"{stamp}-{name}-{attempt}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(out) else ""
        raise OptionError(
            f"--out {out}: cannot create a run directory there: {exc.strerror or exc}{where}"
        ) from None
    raise OptionError(f"--out {out}: 1000 run directories named {stamp}-{name} already exist")


def check_out_writable(out: Path) -> None:
    """``--out`` must take files, checked before a long search whose result goes there (explore's minimal run):
    made if missing, then a probe file created and removed; else a usage error (``OptionError``, 254) naming it."""
    try:
        if out.exists() and not out.is_dir():
            raise OptionError(f"--out {out}: is a file, not a directory")
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OptionError(f"--out {out}: cannot write there: {exc.strerror or exc}; the minimal failing run goes "
                          "there (give another --out)") from None


Latest = tuple[bool, str]
"""What ``<out>/latest`` held: (a symlink?, its target or the name the file holds)."""


def read_latest(out: Path) -> Latest | None:
    """``<out>/latest`` as it is now (None: none), for ``restore_latest``."""
    latest = out / "latest"
    try:
        if latest.is_symlink():
            return True, os.readlink(latest)
        if latest.is_file():
            return False, latest.read_text()
    except (OSError, UnicodeDecodeError):
        pass
    return None


def restore_latest(out: Path, previous: Latest | None) -> None:
    """Put back ``<out>/latest`` as ``read_latest`` found it (removed when there was none); best effort."""
    latest = out / "latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() or latest.is_file():
            latest.unlink()
        if previous is None:
            return
        is_link, value = previous
        if is_link:
            latest.symlink_to(value)
        else:
            latest.write_text(value)


def run_name(options: RunOptions) -> str:
    if options.name:
        return options.name
    parts = ["-".join(options.nemesis) if options.nemesis else "none"]
    if options.bug:
        parts.append(options.bug)
    if options.mode != "udp":
        parts.append(options.mode)
    return "-".join(parts)


def cluster_config(options: RunOptions, run_dir: Path, ports: list[int] | None = None) -> ClusterConfig:
    """The run's cluster: ``n1..nN`` on loopback, data and secret inside the run directory."""
    ports = ports or [10_000 + i for i in range(options.nodes)]
    nodes = tuple(NodeConfig(f"n{i + 1}", "127.0.0.1", port) for i, port in enumerate(ports))
    settings = options.cluster or {}  # from --config FILE: vnodes, read_repair_chance, fsync, timeouts
    tuned = {k: settings[k] for k in ("vnodes", "read_repair_chance", "fsync") if k in settings}
    return ClusterConfig(
        nodes=nodes,
        replicas=options.replicas,
        write_quorum=options.write_quorum,
        read_quorum=options.read_quorum,
        data_dir=run_dir / "data",
        secret_file=run_dir / SECRET_NAME,
        timeouts=Timeouts(**settings.get("timeouts", {})),
        source=str(run_dir / "run.json"),
        conflict=options.conflict,
        **tuned,
    )


def write_json(path: Path, data: object) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def versions() -> dict[str, str]:
    """The versions of Python and the packages a run depends on (run.json; replay warns when they changed)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    """``versions``, looked up once per process (explore's trials each asked importlib.metadata again)."""
    out = {"python": platform.python_version()}
    for package in ("minikeydb", "trio", "attrs", "networkx", "orjson"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def run_metadata(options: RunOptions, config: ClusterConfig, schedule: FaultSchedule, argv: list[str]) -> dict[str, Any]:
    return {
        "argv": argv,
        "seed": options.seed,
        "mode": options.mode,
        "options": options.to_json(),
        "config": {
            "nodes": [{"id": n.id, "host": n.host, "port": n.port} for n in config.nodes],
            "replicas": config.replicas,
            "write_quorum": config.write_quorum,
            "read_quorum": config.read_quorum,
            "vnodes": config.vnodes,
            "read_repair_chance": config.read_repair_chance,
            "fsync": config.fsync,
            "conflict": config.conflict,
            "timeouts": attrs.asdict(config.timeouts),
            "file": (options.cluster or {}).get("file"),
        },
        "schedule": schedule.to_json(),
        "versions": versions(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def update_latest(out: Path, run_dir: Path) -> None:
    """``histories/latest`` names the newest run: a symlink, or a file holding its name."""
    latest = out / "latest"
    try:
        if latest.is_symlink() or latest.is_file():
            latest.unlink()
        latest.symlink_to(run_dir.name)
    except OSError:
        latest.write_text(run_dir.name + "\n")


def prepare_secret(run_dir: Path) -> None:
    path = run_dir / SECRET_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")


def record_achieved(run_json: Path, throughput: dict[str, Any]) -> None:
    """Add the achieved rate to run.json beside the requested one (``replay`` reads only options/schedule)."""
    try:
        metadata = json.loads(run_json.read_text())
    except (OSError, ValueError):
        return
    metadata["achieved"] = {k: throughput[k] for k in ("requested_rate", "achieved_rate", "achieved_ok_rate",
                                                        "window_seconds")}
    metadata["achieved"]["window_rates"] = [w["rate"] for w in throughput["windows"]]
    write_json(run_json, metadata)


class RunWriteError(OptionError, OSError):
    """The run's files could not be written (a full disk, a file too large, a directory made read-only): one
    line naming the file and the OS error, exit 254, as ``report --out`` and ``check --write`` say it. An
    ``OSError`` too (its errno, strerror and file), so that explore's trials and minimal run, which take a
    disk error of a run as theirs, still see one."""

    def __init__(self, message: str, error: OSError, filename: str) -> None:
        OSError.__init__(self, error.errno, error.strerror, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message


def file_of(error: OSError, run_dir: Path) -> str:
    """The file ``error`` failed to write: its ``filename``, else the file object the failing frame wrote
    (a buffered write's error names none: the history's recorder, the journal's gzip stream), innermost
    first; else the run directory."""
    if error.filename:
        return str(error.filename)
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        own = frame.f_locals.get("self")
        values = [*frame.f_locals.values(), *(vars(own).values() if hasattr(own, "__dict__") else ())]
        for value in values:
            for candidate in (value, getattr(value, "fileobj", None)):
                name = getattr(candidate, "name", None) if isinstance(candidate, io.IOBase) else None
                if isinstance(name, str) and name:
                    return name
    return str(run_dir)


def write_failure(exc: BaseException, run_dir: Path) -> RunWriteError | None:
    """``exc`` as a ``RunWriteError`` when a disk error (``DISK_ERRORS``) stopped the run, else None (a Ctrl-C
    in the same exception group stays an interruption). The run's history is cut back to its last whole line
    (a cut-short write leaves half of one), so ``check`` and ``report`` read what was written."""
    from .explore_trial import disk_error

    if isinstance(exc, RunWriteError) or (isinstance(exc, BaseExceptionGroup)
                                          and exc.subgroup(KeyboardInterrupt) is not None):
        return None
    error = disk_error(exc)
    if error is None and exc.__context__ is not None and not isinstance(exc, KeyboardInterrupt):
        error = disk_error(exc.__context__)
    if error is None:
        return None
    target = file_of(error, run_dir)
    history = run_dir / "history.jsonl"
    kept = _cut_to_whole_lines(history)
    return RunWriteError(f"{target}: {error.strerror or error}: the run could not write its files and stopped; "
                         f"what it wrote is kept in {run_dir}/ ({kept}; no verdict)", error, target)


def _cut_to_whole_lines(history: Path) -> str:
    """Cut ``history`` back to its last newline (a truncation needs no free space); what it holds, in words."""
    try:
        with history.open("r+b") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
            whole = size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else (0 if len(tail) == size else size)
            if whole != size:
                f.truncate(whole)
            f.seek(0)
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return "history.jsonl not written"
    return f"history.jsonl: {max(0, lines - 1)} events, up to the failure"


class _NodeLogHandler(logging.FileHandler):
    """The node log file: a record it cannot write (a full disk) is dropped without logging's ``--- Logging
    error ---`` traceback on stderr; the run's own files (history, journal) report the disk."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)

    def close(self) -> None:
        """Close the file; the last flush failing (a full disk) leaves it closed, and is not the run's error."""
        with contextlib.suppress(OSError):
            super().close()


def node_log_handler(run_dir: Path, verbose: bool, quiet_level: int = logging.INFO) -> logging.Handler:
    """In-process node logs go to ``nodes/cluster.log`` (per-node files in processes mode).

    ``quiet_level`` is the level without ``-v`` (simulation keeps WARNING: its logs are for errors).
    """
    handler = _NodeLogHandler(run_dir / "nodes" / "cluster.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG if verbose else quiet_level)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else quiet_level)
    return handler
