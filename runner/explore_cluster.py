"""``explore --cluster ADDRESS``: explore's seeds on a Dask distributed cluster (the optional extra).

Why Dask distributed and not Ray, with the figures: ``docs/CLUSTER.md``. How to start the cluster
on several machines: the README, "Exploring on many machines". In short, on one machine
``dask scheduler --port 8786``, on every machine ``dask worker tcp://HOST:8786 --nworkers auto
--nthreads 1`` (one single-threaded worker process per core: a simulated run is pure Python, so
threads of one process would share one core through the GIL).

``ClusterExecutor`` implements ``runner.explore_pool.SeedExecutor``. What it promises:

- The workers run this project's own code, imported from their own installation: every machine
  needs the project checked out at the same commit and installed (``pip install -e '.[cluster]'``).
  Each task carries the fingerprint of explore's source files (``code_fingerprint``) and the
  worker refuses a task whose fingerprint differs from its own; connecting checks every worker
  once first, so a stale machine is named before any seed runs.
- A worker that dies mid-task (killed, out of memory, its machine gone): Dask gives the task to
  another worker; a task whose workers died ``distributed.scheduler.allowed-failures`` + 1 times
  (Dask's default: 4) is reported as a ``ClusterError`` naming the task. No worker left at all
  for ``worker_wait`` seconds is a ``ClusterError`` too, as is losing the scheduler.
- Leaving ``map_unordered`` early (the caller stops, an exception, Ctrl-C's ``KeyboardInterrupt``)
  and ``close`` cancel every pending task. A task already running finishes its run on its worker
  (a simulated run takes seconds) and its result is dropped.
- At most twice as many tasks as the cluster has worker threads are submitted at once, ``items``
  pulled lazily as results arrive, so that explore can stop feeding seeds.

Every error a user can act on is a ``ClusterError``, an ``OptionError``: one line, exit 254.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from types import TracebackType
from typing import Any, TypeVar

from runner import ROOT

from .explore_pool import task_label
from .options import OptionError

T = TypeVar("T")
R = TypeVar("R")

SOURCES = ("harness.py", "minikeydb", "nemesis", "checker", "runner")
"""What ``code_fingerprint`` hashes: the code a seed's run executes (``*.py``, and the store's ``*.toml``)."""

ENGINE_MISSING = ("explore --cluster needs the optional cluster engine, Dask distributed: "
                  "pip install -e '.[cluster]' (from the MinikeyDB checkout)")
ADDRESS_FORM = "tcp://HOST:PORT (or tls://HOST:PORT, or HOST:PORT; an IPv6 host in brackets), PORT 1-65535"
HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")
POLL = 1.0
"""Seconds between checks that the cluster still has a scheduler and workers while waiting for results."""


class ClusterError(OptionError):
    """The cluster cannot run explore's seeds; the message says why and what to do (one line, exit 254)."""


class CodeMismatch(Exception):
    """Raised in a worker: the task was sent by a different version of the project."""


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 over the project's source files (names and bytes), as this process sees them."""
    digest = hashlib.sha256()
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.suffix in (".py", ".toml") and "__pycache__" not in p.parts)
        for file in files:
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _worker_identity() -> tuple[str, str]:
    """In a worker: (its code fingerprint, where the code lives); run on every worker when connecting."""
    return code_fingerprint(), str(ROOT)


def _run_task(fn: Callable[[T], R], item: T, fingerprint: str) -> R:
    """In a worker: ``fn(item)``, refused when explore's code is not this worker's."""
    mine = code_fingerprint()
    if mine != fingerprint:
        raise CodeMismatch(_mismatch_text(_this_worker(), mine, fingerprint))
    return fn(item)


def _this_worker() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "a worker"


def _import_failure(e: BaseException) -> bool:
    """Whether a worker failed to import this project's module (Dask may hand it back as a bare Exception's text)."""
    text = f"{type(e).__name__}: {e}"
    return (isinstance(e, ImportError) or "ModuleNotFoundError" in text or "ImportError" in text) and any(
        name in text for name in ("runner", "minikeydb", "nemesis", "checker", "harness"))


def parse_address(address: str) -> str:
    """``address`` as Dask wants it (``tcp://HOST:PORT``), or a ClusterError naming the expected form."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    bad = f"--cluster {address!r}: not a Dask scheduler address; expected {ADDRESS_FORM}, like tcp://10.0.0.5:8786"
    if scheme not in ("tcp", "tls"):
        raise ClusterError(bad)
    if rest.startswith("["):
        host, closed, after = rest[1:].partition("]")
        if not closed or not after.startswith(":") or not re.fullmatch(r"[0-9A-Fa-f:.]+", host):
            raise ClusterError(bad)
        port_text, shown = after[1:], f"[{host}]"
    else:
        host, colon, port_text = rest.rpartition(":")
        if not colon or not HOST_NAME.fullmatch(host):
            raise ClusterError(bad)
        shown = host
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ClusterError(bad)
    return f"{scheme}://{shown}:{int(port_text)}"


def _mismatch_text(worker: str, theirs: str, ours: str) -> str:
    return (f"the worker {worker} runs different MinikeyDB code (source fingerprint {theirs[:12]}) from this "
            f"explore ({ours[:12]}): check out the same commit on every machine, pip install -e '.[cluster]' "
            "there, and restart its dask worker")


class ClusterExecutor:
    """Runs explore's tasks on the Dask distributed scheduler at ``address`` (``tcp://HOST:PORT`` or ``HOST:PORT``)."""

    def __init__(self, address: str, *, timeout: float = 10.0, worker_wait: float = 60.0) -> None:
        try:
            import distributed
        except ImportError as e:
            raise ClusterError(f"{ENGINE_MISSING} ({e})") from None
        self.address = parse_address(address)
        self.timeout = timeout
        self.worker_wait = worker_wait
        self.fingerprint = code_fingerprint()
        self._closed = False
        self._pending: dict[Any, Any] = {}  # future -> its item
        how = (f"start one with `dask scheduler --port PORT` on that machine, and workers with "
               f"`dask worker {self.address} --nworkers auto --nthreads 1` (README: Exploring on many machines)")
        self._client_log = logging.getLogger("distributed.client")
        self._client_log_level = self._client_log.level
        self._client_log.setLevel(logging.CRITICAL)  # its tracebacks on a lost scheduler: ClusterError says it in a line
        try:
            self.client = self._connect(distributed.Client, address, how)
        except BaseException:
            self._client_log.setLevel(self._client_log_level)
            raise
        try:
            try:
                self.client.wait_for_workers(1, timeout=worker_wait)
            except TimeoutError:
                raise ClusterError(f"--cluster {address}: the scheduler has no workers after {worker_wait:g} s; "
                                   f"start them on each machine with `dask worker {self.address} --nworkers auto "
                                   "--nthreads 1`") from None
            self._check_workers()
            self.workers = self._threads()
        except BaseException:
            self.close()
            raise

    def _connect(self, client_class: Any, address: str, how: str) -> Any:
        """A Client of the scheduler, or a ClusterError within ``timeout`` s (and no Dask traceback at exit)."""
        started = time.monotonic()
        host, _, port = self.address.partition("://")[2].rpartition(":")
        try:  # a plain TCP connection first: refused or unreachable is said at once, a silent host in `timeout`
            with socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout) as probe:
                if self.address.startswith("tcp://"):  # a scheduler speaks first (its handshake); Dask waits forever
                    probe.settimeout(max(0.1, self.timeout - (time.monotonic() - started)))
                    probe.recv(1)
        except TimeoutError:
            raise ClusterError(f"--cluster {address}: no Dask scheduler answered within {self.timeout:g} s "
                               f"(nothing came from {host}:{port}); {how}") from None
        except OSError as e:
            raise ClusterError(f"--cluster {address}: cannot reach a Dask scheduler there "
                               f"({e.strerror or type(e).__name__}); {how}") from None
        left = max(1.0, self.timeout - (time.monotonic() - started))
        client = client_class.__new__(client_class)
        try:
            client.__init__(self.address, timeout=left, set_as_default=False)
        except Exception as e:  # noqa: BLE001 - a timeout, or something else than Dask at that port: all one line
            _discard(client)
            what = (f"no Dask scheduler answered within {self.timeout:g} s" if isinstance(e, OSError | TimeoutError)
                    else "what answered is not a Dask scheduler")
            raise ClusterError(f"--cluster {address}: {what} ({type(e).__name__}: {str(e)[:120]}); {how}") from None
        except BaseException:
            _discard(client)
            raise
        return client

    def _check_workers(self) -> None:
        """Every worker imports this project at the same code, or a ClusterError names those that do not."""
        try:
            seen: dict[str, tuple[str, str]] = self.client.run(_worker_identity)
        except Exception as e:  # noqa: BLE001 - Dask re-raises a worker's failure to unpickle as a bare Exception
            if not _import_failure(e):
                raise
            raise self._cannot_import(e) from None
        for worker, (theirs, _where) in sorted(seen.items()):
            if theirs != self.fingerprint:
                raise ClusterError(_mismatch_text(worker, theirs, self.fingerprint))

    def _threads(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)
        return sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(item)`` for every item on the cluster, results in completion order (see the module's notes)."""
        if self._closed:
            raise RuntimeError("the executor is closed")
        from distributed import wait

        source = iter(items)
        exhausted = False
        threads = self.workers
        no_workers_since: float | None = None
        try:
            while True:
                while not exhausted and len(self._pending) < 2 * max(1, threads):
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    future = self.client.submit(_run_task, fn, item, self.fingerprint, pure=False)
                    self._pending[future] = item
                if not self._pending:
                    return
                try:
                    with self.client.as_current():  # wait() asks for the current client; ours is not the default
                        done = wait(list(self._pending), timeout=POLL, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                except CancelledError as e:  # the scheduler went away, or someone cancelled them
                    why = ("lost the connection to the Dask scheduler" if "connection" in str(e)
                           else f"the cluster cancelled explore's tasks ({str(e).splitlines()[0]})")
                    raise ClusterError(f"--cluster {self.address}: {why}; the seeds it had are not run") from None
                if not done:
                    threads, no_workers_since = self._still_serving(threads, no_workers_since)
                    continue
                for future in done:
                    item = self._pending.pop(future)
                    yield self._result(future, item)
        finally:
            self._cancel()

    def _still_serving(self, threads: int, no_workers_since: float | None) -> tuple[int, float | None]:
        """Between results: the scheduler is still there and has had a worker within ``worker_wait``."""
        if self.client.status != "running":
            raise ClusterError(f"--cluster {self.address}: lost the Dask scheduler (client {self.client.status}); "
                               "the seeds it had are not run")
        try:
            now_threads = self._threads()
        except Exception as e:  # noqa: BLE001 - any failure to ask is the scheduler going away
            raise ClusterError(f"--cluster {self.address}: lost the Dask scheduler ({type(e).__name__}: {e})") from None
        if now_threads:
            return now_threads, None
        now = time.monotonic()
        if no_workers_since is None:
            return threads, now
        if now - no_workers_since > self.worker_wait:
            raise ClusterError(f"--cluster {self.address}: no worker left for {self.worker_wait:g} s; restart them "
                               f"with `dask worker {self.address} --nworkers auto --nthreads 1`")
        return threads, no_workers_since

    def _result(self, future: Any, item: Any) -> Any:
        from distributed import KilledWorker

        try:
            return future.result()
        except CodeMismatch as e:
            raise ClusterError(str(e)) from None
        except KilledWorker:
            raise ClusterError(f"--cluster {self.address}: {task_label(item)} was running on workers that died "
                               "each time it was tried (out of memory? killed?); see the workers' logs") from None
        except Exception as e:  # noqa: BLE001 - as in _check_workers
            if not _import_failure(e):
                raise
            raise self._cannot_import(e) from None

    def _cannot_import(self, e: Exception) -> ClusterError:
        return ClusterError(f"--cluster {self.address}: a worker cannot import MinikeyDB's code ({e}); every machine "
                            "needs the project checked out at the same commit and pip install -e '.[cluster]' there")

    def _cancel(self) -> None:
        """Cancel every task not yet returned (best effort: a lost scheduler has nothing to cancel)."""
        if not self._pending:
            return
        pending, self._pending = list(self._pending), {}
        try:
            self.client.cancel(pending, force=True)
        except Exception:  # noqa: BLE001 - closing after the scheduler went away must not hide the first error
            pass

    def close(self) -> None:
        """Cancel what is pending and disconnect (idempotent); the cluster itself keeps running."""
        if self._closed:
            return
        self._closed = True
        self._cancel()
        try:
            self.client.close(timeout=self.timeout)
        except Exception:  # noqa: BLE001 - as in _cancel
            pass
        finally:
            self._client_log.setLevel(self._client_log_level)

    def __enter__(self) -> ClusterExecutor:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _discard(client: Any) -> None:
    """Close a Client whose constructor failed, quickly, so that its ``__del__`` does not wait 2 x timeout
    at exit and print a TimeoutError traceback ("Exception ignored in: Client.__del__")."""
    try:
        client.close(timeout=1)
    except Exception:  # noqa: BLE001 - it never connected: there is nothing to close cleanly
        pass
    try:
        client.status = "closed"  # Client.__del__ closes only a client not yet closed
        runner = getattr(client, "_loop_runner", None)
        if runner is not None:
            runner.stop()
    except Exception:  # noqa: BLE001 - as above
        pass
