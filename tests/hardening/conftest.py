"""Shared fixtures for the hardening tests: the cluster secret, and the bench scripts as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from minikeydb.config import SECRET_ENV

TEST_SECRET = "hardening-tests-secret"
BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(autouse=True)
def cluster_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every node, client and subprocess of these tests signs with the same secret."""
    monkeypatch.setenv(SECRET_ENV, TEST_SECRET)
    return TEST_SECRET


def bench_module(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` (bench/ is a folder of scripts, not a package)."""
    qualified = f"minikeydb_bench_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module
