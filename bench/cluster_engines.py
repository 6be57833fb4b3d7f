"""Benchmark: Dask distributed against Ray as the engine behind ``explore --cluster`` (issue #18).

For each engine importable by the interpreter running this script (run it once per virtualenv to
compare both; ``docs/CLUSTER.md`` has the figures and the decision), a local cluster is started as
a user would start one across machines, each part its own process from the engine's own command:

- Dask: ``dask scheduler`` then two ``dask worker ADDRESS --nthreads 1`` (with their nannies);
- Ray: ``ray start --head --num-cpus 0 --block`` then two ``ray start --address ADDRESS --num-cpus 1 --block``.

It prints, per engine: the client library's import time (a fresh interpreter), the cold start-up
(first command spawned -> a client sees both workers), a client's connect time to the running
cluster, the per-task overhead (``--noop`` no-op tasks, and ``--sleep`` tasks of ``--sleep-ms``
against their ideal time on two workers), and the time to stop everything. Every process is
started in its own session and stopped by its process group, so nothing is left behind.

Install size and time are not re-measured here (they need a fresh virtualenv; docs/CLUSTER.md
gives the commands). Report ``uptime`` beside the figures: this machine is shared.

Usage: python bench/cluster_engines.py [--engine dask|ray|all] [--noop 1000] [--sleep 100] [--sleep-ms 50]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def noop(x: int) -> int:
    return x


def nap(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LOGS = Path(tempfile.mkdtemp(prefix="cluster-engines-"))


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """``argv`` in a session of its own, its output in a log file under ``LOGS``."""
    with open(LOGS / f"{Path(argv[0]).name}-{len(list(LOGS.iterdir()))}.log", "wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(procs: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """SIGTERM to each process group, SIGKILL to any still there after ``grace`` seconds."""
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the group: a worker's children too
        except ProcessLookupError:
            pass
        p.wait()


def import_seconds(module: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.monotonic() - started


def wait_until(what: str, test: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise SystemExit(f"cluster_engines: {what} not ready after {timeout:.0f} s (logs in {LOGS})")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def measure_dask(args: argparse.Namespace) -> dict[str, float]:
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    out: dict[str, float] = {"import_s": import_seconds("distributed")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        started = time.monotonic()
        procs.append(spawn([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                            "--no-dashboard"]))
        wait_until("dask scheduler", lambda: port_open(port))
        for _ in range(2):
            procs.append(spawn([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
                                "--host", "127.0.0.1"]))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            out["startup_s"] = time.monotonic() - started
        started = time.monotonic()
        client = Client(address, timeout=60)
        out["connect_s"] = time.monotonic() - started
        try:
            client.submit(noop, -1).result()  # the function shipped once before timing
            started = time.monotonic()
            client.gather(client.map(noop, range(args.noop), pure=False))
            out["noop_ms_per_task"] = (time.monotonic() - started) * 1000 / args.noop
            started = time.monotonic()
            client.gather(client.map(nap, range(args.sleep), seconds=args.sleep_ms / 1000, pure=False))
            out.update(_sleep_figures(args, time.monotonic() - started))
        finally:
            client.close()
    finally:
        started = time.monotonic()
        stop(procs)
        out["stop_s"] = time.monotonic() - started
    return out


def measure_ray(args: argparse.Namespace) -> dict[str, float]:
    import ray

    port = free_port()
    address = f"127.0.0.1:{port}"
    out: dict[str, float] = {"import_s": import_seconds("ray")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        started = time.monotonic()
        procs.append(spawn([str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port",
                            str(port), "--num-cpus", "0", "--include-dashboard", "false", "--block"]))
        wait_until("ray head", lambda: port_open(port))
        for _ in range(2):
            procs.append(spawn([str(BIN / "ray"), "start", "--address", address, "--node-ip-address", "127.0.0.1",
                                "--num-cpus", "1", "--block"]))
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        wait_until("ray workers", lambda: ray.cluster_resources().get("CPU", 0) >= 2)
        out["startup_s"] = time.monotonic() - started
        ray.shutdown()
        started = time.monotonic()
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        out["connect_s"] = time.monotonic() - started
        try:
            r_noop = ray.remote(num_cpus=1)(noop)
            r_nap = ray.remote(num_cpus=1)(nap)
            ray.get(r_noop.remote(-1))
            started = time.monotonic()
            ray.get([r_noop.remote(i) for i in range(args.noop)])
            out["noop_ms_per_task"] = (time.monotonic() - started) * 1000 / args.noop
            started = time.monotonic()
            ray.get([r_nap.remote(i, args.sleep_ms / 1000) for i in range(args.sleep)])
            out.update(_sleep_figures(args, time.monotonic() - started))
        finally:
            ray.shutdown()
    finally:
        started = time.monotonic()
        stop(procs)
        out["stop_s"] = time.monotonic() - started
    return out


def _sleep_figures(args: argparse.Namespace, wall: float) -> dict[str, float]:
    ideal = args.sleep * args.sleep_ms / 1000 / 2  # two workers, one task at a time each
    return {"sleep_wall_s": wall, "sleep_ideal_s": ideal, "sleep_overhead_ms_per_task": (wall - ideal) * 1000 / args.sleep}


ENGINES: dict[str, tuple[str, Callable[[argparse.Namespace], dict[str, float]]]] = {
    "dask": ("distributed", measure_dask),
    "ray": ("ray", measure_ray),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=(*ENGINES, "all"), default="all")
    parser.add_argument("--noop", type=int, default=1000, help="no-op tasks (default 1000)")
    parser.add_argument("--sleep", type=int, default=100, help="sleeping tasks (default 100)")
    parser.add_argument("--sleep-ms", type=float, default=50.0, help="each sleeping task's sleep (default 50)")
    args = parser.parse_args(argv)
    names = list(ENGINES) if args.engine == "all" else [args.engine]
    results: dict[str, Any] = {}
    for name in names:
        module, measure = ENGINES[name]
        if importlib.util.find_spec(module) is None:
            print(f"{name}: not installed in {sys.prefix}, skipped", flush=True)
            continue
        version = __import__(module).__version__
        figures = measure(args)
        results[name] = figures
        load = os.getloadavg()[0]
        print(f"{name} {version}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
              + f" (load {load:.2f})", flush=True)
    shutil.rmtree(LOGS, ignore_errors=True)  # kept only when a cluster did not come up (the message names it)
    if not results:
        print("cluster_engines: neither dask distributed nor ray is installed (pip install -e '.[cluster]')")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
