"""A newcomer's second reading (README only): what the checker took for granted is said, not silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main

KV_NULL_AFTER_PUT = """\
{"time": 1000000, "process": 0, "type": "invoke", "f": "put", "key": "a", "value": "x1", "node": "n1"}
{"time": 2000000, "process": 0, "type": "ok", "f": "put", "key": "a", "value": "x1", "node": "n1"}
{"time": 3000000, "process": 1, "type": "invoke", "f": "get", "key": "a", "value": null, "node": "n2"}
{"time": 4000000, "process": 1, "type": "ok", "f": "get", "key": "a", "value": null, "node": "n2"}
{"time": 5000000, "process": 2, "type": "invoke", "f": "get", "key": "a", "value": null, "node": "n2"}
{"time": 6000000, "process": 2, "type": "ok", "f": "get", "key": "a", "value": "x1", "node": "n2"}
"""


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_null_reads_taken_as_any_are_said_in_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under the default --null-read any, the verdict says how many null reads matched anything and how to change it."""
    path = _write(tmp_path, "kv.jsonl", KV_NULL_AFTER_PUT)
    assert main(["check", str(path), "--checker", "linearizable"]) == 0
    out = capsys.readouterr().out
    assert ("note: 1 read returned null and was taken to match any value (--null-read any, Knossos's convention); "
            "if null means the key is absent in your system, use --null-read absent") in out
    assert main(["check", str(path), "--checker", "linearizable", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["null_reads_any"] == 1 and "--null-read absent" in stats["notes"][0]
    assert main(["check", str(path), "--checker", "linearizable", "--null-read", "absent"]) == 1
    assert "taken to match any value" not in capsys.readouterr().out
