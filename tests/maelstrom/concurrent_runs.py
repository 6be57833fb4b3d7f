"""Start a test module's ``harness.py maelstrom test`` runs together, a few at a time, and hand each test its
results: the runs spend most of their wall time waiting (load, quiescence, gossip rounds), so running them
side by side keeps the suite short without asserting anything about time.

Only the runs of the tests pytest selected are started (``-k`` picks a few, they start only those).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AT_ONCE = 4
"""Runs in flight together: each is a harness and its node processes, mostly idle."""


def selected(request: pytest.FixtureRequest, module_file: str) -> set[str]:
    """The parameter ids of this module's tests that pytest will run."""
    ids: set[str] = set()
    for item in request.session.items:
        if getattr(item, "fspath", None) is not None and str(item.fspath) == module_file:
            callspec = getattr(item, "callspec", None)
            ids.add(callspec.id if callspec is not None else item.name)
    return ids


def run_all(commands: dict[str, list[str]], out_root: Path, wanted: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Run ``harness.py maelstrom test`` + each command's flags (those in ``wanted``), AT_ONCE at a time;
    each run's results.json with ``_exit``, ``_stdout``, ``_stderr`` and ``_dir`` added."""
    queue = [key for key in commands if key in set(wanted)]
    running: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    results: dict[str, dict[str, Any]] = {}
    while queue or running:
        while queue and len(running) < AT_ONCE:
            key = queue.pop(0)
            out = out_root / key
            cmd = [sys.executable, "harness.py", "maelstrom", "test", *commands[key], "--out", str(out)]
            running[key] = (subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             text=True), out)
        for key, (proc, out) in list(running.items()):
            if proc.poll() is None:
                continue
            stdout, stderr = proc.communicate()
            del running[key]
            dirs = [d for d in out.iterdir() if d.is_dir() and not d.is_symlink() and (d / "results.json").is_file()]
            found: dict[str, Any] = json.loads((dirs[0] / "results.json").read_text()) if len(dirs) == 1 else {}
            found.update(_exit=proc.returncode, _stdout=stdout, _stderr=stderr, _dir=str(dirs[0]) if dirs else "")
            results[key] = found
        time.sleep(0.05)
    return results


def result(results: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    """One run's results, failing the test (not erroring) when its run wrote none or crashed."""
    found = results[key]
    assert "Traceback" not in found["_stderr"], found["_stderr"]
    assert found["_dir"], f"no results.json: exit {found['_exit']}: {found['_stderr'][-2000:]}"
    return found
