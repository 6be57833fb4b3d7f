"""``explore --resume`` reads only ledgers it understands: an unknown header version is refused in one line, and a
seed written twice with the same result is said (one warning line) and counted once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.explore_ledger import LedgerError, read_ledger

FLAGS = ["--nemesis", "partition", "--time-limit", "4", "--fault-interval", "1", "--quiesce", "1",
         "--converge-timeout", "3", "--workers", "1"]


def _sweep(tmp_path: Path, runs: int) -> Path:
    ledger = tmp_path / "e.jsonl"
    assert main(["explore", "--runs", str(runs), *FLAGS, "--out", str(tmp_path / "e"), "--ledger", str(ledger)]) == 0
    return ledger


def _records(ledger: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ledger.read_text().splitlines()]


def _write(ledger: Path, records: list[dict[str, Any]]) -> None:
    ledger.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_ledger_of_an_unknown_version_is_refused_in_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A header saying "version": 99 is refused naming the version this explore reads, exit 254, nothing run
    (was: 'resuming: 1 seed(s) already in the ledger' and the sweep appended to it)."""
    ledger = _sweep(tmp_path, 1)
    header, *seeds = _records(ledger)
    _write(ledger, [{**header, "version": 99}, *seeds])
    before = ledger.read_bytes()
    capsys.readouterr()
    assert main(["explore", "--runs", "1", *FLAGS, "--out", str(tmp_path / "h"), "--resume", str(ledger)]) == 254
    err = capsys.readouterr().err
    assert "version 99" in err and "version 1" in err and str(ledger) in err, err
    assert "resuming" not in err and len(err.strip().splitlines()) == 1, err
    assert ledger.read_bytes() == before


@pytest.mark.parametrize("version", ["1", 1.0, None, [1]])
def test_a_ledger_version_that_is_not_the_whole_number_1_is_refused(tmp_path: Path, version: object) -> None:
    """Only "version": 1 (or none, as the first ledgers) is read: a string, a float, null or a list is refused."""
    ledger = tmp_path / "v.jsonl"
    _write(ledger, [{"ledger": "minikeydb-explore", "version": version, "options_hash": "h", "commit": "c"}])
    with pytest.raises(LedgerError, match="version"):
        read_ledger(ledger)


def test_a_seed_written_twice_is_said_in_one_line_and_counted_once(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A ledger whose seed 1 line is duplicated: --resume warns once naming the seed and both lines, counts it once
    ('resuming: 2 seed(s)', not 3) and runs only seed 3 (was: accepted without comment)."""
    ledger = _sweep(tmp_path, 2)
    records = _records(ledger)
    _write(ledger, [*records, records[1]])
    capsys.readouterr()
    assert main(["explore", "--runs", "3", *FLAGS, "--out", str(tmp_path / "h"), "--resume", str(ledger)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "more than once" in line]
    assert len(warnings) == 1, err
    assert "seed 1" in warnings[0] and "lines 2 and 4" in warnings[0] and "counted once" in warnings[0], err
    assert "resuming: 2 seed(s) already in the ledger" in err, err
    assert sorted({r["seed"] for r in _records(ledger)[1:]}) == [1, 2, 3]
