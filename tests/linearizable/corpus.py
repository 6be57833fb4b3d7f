"""Where the Knossos corpus lives and how to read it (shared by the corpus test and the bench)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# The project's shared/ folder sits beside the checkout (../shared); MINIKEYDB_CORPUS overrides it.
CORPUS = Path(os.environ.get("MINIKEYDB_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus")
MANIFEST = CORPUS / "knossos" / "MANIFEST.json"
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("MINIKEYDB_REQUIRE_CORPUS") == "1"
"""In CI (``CI=true``) a corpus that went missing fails the run instead of skipping the test."""


def load_events(path: Path) -> list[dict[str, Any]]:
    """The project's validating loader when it is there; plain JSON lines otherwise."""
    try:
        from checker.history import read_events
    except ImportError:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    return read_events(path)


def manifest_entries() -> list[dict[str, Any]]:
    """The corpus histories with their model, parameters and expected verdicts."""
    return json.loads(MANIFEST.read_text())["histories"]


def check_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    """The check_events arguments that express a manifest entry's semantics (Knossos: null reads match anything, failed ops never happened)."""
    return {"init": entry["model_params"].get("init"), "null_read": "any", "fail_cas": "not-applied"}
