"""Numbers orjson cannot hold in a history: judged exactly (big integers) or refused naming them (1e400)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main
from checker.json_numbers import NumberError, loads_exact

UID = '{"history":1,"workload":"unique-ids"}'
BIG = "7" * 320


def _uid(tmp_path: Path, values: list[str]) -> Path:
    lines = [UID]
    for v in values:
        lines += ['{"process":0,"type":"invoke","f":"generate","value":null}',
                  f'{{"process":0,"type":"ok","f":"generate","value":{v}}}']
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_distinct_320_digit_ids_are_valid(tmp_path: Path) -> None:
    """Two different 320-digit ids are judged (valid), not refused as too large."""
    assert main(["check", str(_uid(tmp_path, [BIG, BIG[:-1] + "8"]))]) == 0


def test_equal_320_digit_ids_are_a_duplicate(tmp_path: Path) -> None:
    """The same 320-digit id twice is invalid: compared exactly."""
    assert main(["check", str(_uid(tmp_path, [BIG, BIG]))]) == 1


def test_1e400_is_refused_naming_the_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A value 1e400 is bad input naming the number and the float range, not 'not valid JSON'."""
    assert main(["check", str(_uid(tmp_path, ["1e400"]))]) == 254
    err = capsys.readouterr().err
    assert "line 3" in err and "1e400 is out of range of a 64-bit float" in err and "not valid JSON" not in err


def test_a_320_digit_time_is_still_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only value and key may be any integer: a 320-digit time on an exactly read line is bad input."""
    p = _uid(tmp_path, [BIG])
    p.write_text(p.read_text().replace(f'"value":{BIG}}}', f'"value":{BIG},"time":{BIG}}}'))
    assert main(["check", str(p)]) == 254
    assert "field 'time'" in capsys.readouterr().err


def test_loads_exact_keeps_integers_and_names_what_it_refuses() -> None:
    """loads_exact: a 400-digit integer exact; -1e400 and a 5000-digit integer refused by NumberError."""
    assert loads_exact("[" + "9" * 400 + "]") == [int("9" * 400)]
    with pytest.raises(NumberError, match="-1e400 is out of range"):
        loads_exact('{"a": -1e400}')
    with pytest.raises(NumberError, match="5000 digits"):
        loads_exact("1" * 5000)
    with pytest.raises(ValueError, match="NaN is not JSON"):
        loads_exact("NaN")


def test_a_lone_surrogate_on_an_exactly_read_line_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 320-digit value beside a lone surrogate escape is bad input naming the surrogate, not a later crash."""
    p = _uid(tmp_path, [BIG])
    p.write_text(p.read_text().replace(f'"value":{BIG}}}', f'"value":{BIG},"node":"\\udc01"}}'))
    assert main(["check", str(p)]) == 254
    assert "lone UTF-16 surrogate escape (\\udc01" in capsys.readouterr().err


def test_a_surrogate_pair_is_one_character() -> None:
    """A proper pair (an emoji) beside a big integer is read, not refused."""
    assert loads_exact('["\\ud83d\\ude00", ' + "1" * 30 + "]") == ["\U0001f600", int("1" * 30)]
