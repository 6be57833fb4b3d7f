"""Running ``python -m minikeydb`` as a real child process from a Trio test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trio

from minikeydb.client import Client
from minikeydb.config import ClusterConfig

ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """The test's environment (secret included) with this checkout importable."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


async def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to completion; its stdout and stderr come back as text."""
    with trio.fail_after(timeout):
        done = await trio.run_process(
            [sys.executable, "-m", "minikeydb", *map(str, args)],
            cwd=cwd or ROOT, env=child_env(), capture_stdout=True, capture_stderr=True, check=False,
        )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


async def start_server(args: list[str | Path], log: Path) -> trio.Process:
    """Start a long-running CLI command (serve, cluster) with stdout and stderr going to ``log``."""
    with log.open("ab") as out:
        return await trio.lowlevel.open_process(
            [sys.executable, "-m", "minikeydb", *map(str, args)],
            cwd=ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT,
        )


async def wait_serving(config: ClusterConfig, node: str, process: trio.Process, log: Path, timeout: float = 15.0) -> None:
    """Return once ``node`` answers a stats request; fail with the child's log if it exits first."""
    with trio.move_on_after(timeout):
        async with Client.connect(config) as client:
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"{node} exited with {process.returncode}: {log.read_text()[-2000:]}")
                if await client.stats(node) is not None:
                    return
                await trio.sleep(0.05)
    raise AssertionError(f"{node} did not start within {timeout}s: {log.read_text()[-2000:]}")


async def stop(process: trio.Process, timeout: float = 30.0) -> int:
    """Wait for a child we signalled; kill it if it lingers. Returns its exit code."""
    with trio.move_on_after(timeout):
        return await process.wait()
    process.kill()
    return await process.wait()
