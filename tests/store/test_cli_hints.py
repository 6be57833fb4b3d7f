"""``python -m minikeydb``: a mistyped command or flag gets the nearest real one, exit 254."""

from __future__ import annotations

import pytest

from minikeydb.cli import main


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["gett", "k"], "did you mean 'get'?"),
        (["stat"], "did you mean 'stats'?"),
        (["put", "k", "v", "--nodes", "n1"], "did you mean '--node'?"),
        (["get", "k", "--confg", "x.toml"], "did you mean '--config'?"),
    ],
)
def test_near_misses_are_suggested(capsys: pytest.CaptureFixture[str], args: list[str], hint: str) -> None:
    """The one-line usage error names the command or flag the user probably meant."""
    assert main(args) == 254
    err = capsys.readouterr().err
    assert hint in err and len(err.strip().splitlines()) == 1
