"""--init: one decoding rule for `python -m checker.linearizable` and `harness.py check`/`report` (one line, 254)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main as harness_main
from checker.linearizable.__main__ import main as lin_main

CAS = [
    {"process": 0, "type": "invoke", "f": "write", "value": 1},
    {"process": 0, "type": "ok", "f": "write", "value": 1},
    {"process": 1, "type": "invoke", "f": "read", "value": None},
    {"process": 1, "type": "ok", "f": "read", "value": 1},
]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in CAS))
    return p


BAD_INITS = {
    "nested 2000 deep": "[" * 2000 + "]" * 2000,
    "nested 201 deep": "[" * 201 + "]" * 201,
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity inside": '[1, {"a": -Infinity}]',
    "1e400": "1e400",
    "not JSON": "{",
}


@pytest.mark.parametrize("name", BAD_INITS)
def test_both_clis_refuse_the_same_init_in_one_line(history: Path, capsys: pytest.CaptureFixture[str],
                                                     name: str) -> None:
    """An --init nested too deep, NaN/Infinity or beyond a float's range is one line and 254 from every CLI."""
    init = BAD_INITS[name]
    assert lin_main([str(history), "--model", "cas-register", "--init", init]) == 254
    (lin_err,) = capsys.readouterr().err.strip().splitlines()  # one line, no usage
    assert lin_err.startswith("error: --init: ")
    for command in ("check", "report"):
        assert harness_main([command, str(history), "--checker", "linearizable", "--model", "cas-register",
                             "--init", init]) == 254
        err = capsys.readouterr().err.strip()
        assert err == f"error: harness.py {command}: {lin_err.removeprefix('error: ')}"
    assert not (history.parent / "h.report.html").exists()


def test_an_init_200_deep_is_checked_and_written(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An --init at the depth limit is accepted, and both CLIs write their JSON results carrying it."""
    init = "[" * 200 + "]" * 200
    assert lin_main([str(history), "--model", "cas-register", "--init", init, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["init"] is not None
    assert harness_main(["check", str(history), "--checker", "linearizable", "--model", "cas-register",
                         "--init", init, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
