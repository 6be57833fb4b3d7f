"""Shared fixtures for the store's tests: a cluster secret and small configs on free ports."""

from __future__ import annotations

import pytest

from minikeydb.config import SECRET_ENV

TEST_SECRET = "store-tests-secret"


@pytest.fixture(autouse=True)
def cluster_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every node, client and subprocess of these tests signs with the same secret."""
    monkeypatch.setenv(SECRET_ENV, TEST_SECRET)
    return TEST_SECRET
