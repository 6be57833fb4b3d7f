"""Where the Knossos corpus lives and how to read it (shared by the corpus test and the bench)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path("/work/shared/corpus")
MANIFEST = CORPUS / "knossos" / "MANIFEST.json"


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
