"""--init objects name keys as JSON must (strings): an integer key takes its digits' value; unused names warned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main as harness_main
from checker.linearizable import check_events
from checker.linearizable.__main__ import main as lin_main
from tests.linearizable.histories import seq

INT_KEY_GET = seq((0, "ok", "get", None, "A", 1))  # a get of integer key 1 returning "A"


@pytest.mark.parametrize("all_parts", [True, False])
def test_an_integer_key_takes_the_init_of_its_digits(all_parts: bool) -> None:
    """--init '{"1": "A"}' starts integer key 1 at "A" (it was ignored: NOT linearizable from absent)."""
    result = check_events(INT_KEY_GET, "kv", init={"1": "A"}, all_parts=all_parts)
    assert result["valid"] is True, result["anomalies"]
    assert "init_unused" not in result["stats"] and result["stats"]["notes"] == []
    assert check_events(INT_KEY_GET, "kv", init={"1": "B"})["valid"] is False  # the value is used, not ignored


def test_string_and_integer_keys_both_named_1_both_start_there() -> None:
    """A history with key 1 and key "1" (JSON cannot tell them apart in --init) starts both at the value."""
    h = seq((0, "ok", "get", None, "A", 1), (1, "ok", "get", None, "A", "1"))
    result = check_events(h, "kv", init={"1": "A"})
    assert result["valid"] is True
    assert result["stats"]["init_names_both"] == ["1"]  # said: the one name gave both keys their start
    assert any("give the same initial value to an integer key and a string key" in n for n in result["stats"]["notes"])


def test_an_init_object_naming_a_key_twice_is_refused() -> None:
    """--init '{"1":"A","1":"B"}' kept the last value silently; now one error line, the decoder's rule for all."""
    from checker.linearizable.initial import InitError, decode_init

    with pytest.raises(InitError, match="names '1' twice"):
        decode_init('{"1": "A", "1": "B"}')
    assert decode_init('{"1": "A", "2": {"x": 1}}') == {"1": "A", "2": {"x": 1}}


def test_multi_register_integer_keys_take_their_init() -> None:
    """The multi-register model reads --init by the same rule: integer key 2 is named "2"."""
    h = seq((0, "ok", "txn", [["read", 2, None]], [["read", 2, 7]]))
    assert check_events(h, "multi-register", init={"2": 7})["valid"] is True
    assert check_events(h, "multi-register", init={"x": 7})["stats"]["init_unused"] == ["x"]


def test_an_init_key_no_operation_uses_is_warned_in_one_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--init naming k01 for a history of k1 says so in one line from both CLIs (the verdict stands)."""
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in seq((0, "ok", "put", "a", "a", "k1"))))
    init = '{"k01": "x", "k1": null}'
    assert lin_main([str(p), "--model", "kv", "--init", init]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--init names a key no operation of the history uses: 'k01'" in err[0]
    assert harness_main(["check", str(p), "--checker", "linearizable", "--init", init]) == 0
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if "k01" in ln] == [
        "  note: --init names a key no operation of the history uses: 'k01' (those start nothing; a typo? "
        'an integer key is named by its digits, "1" for key 1)']
