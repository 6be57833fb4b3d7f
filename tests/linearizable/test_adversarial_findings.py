"""Linearizability findings of the adversarial review: value identity (W3) and the kv model's aliases (M1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main
from checker.linearizable import check_events


def _ev(i: int, proc: int, typ: str, f: str, key: str, value: object) -> dict[str, object]:
    return {"index": i, "process": proc, "type": typ, "f": f, "key": key, "value": value}


@pytest.mark.parametrize("read", [True, 1.0])
def test_kv_read_of_true_or_float_after_put_1_is_not_linearizable(read: object) -> None:
    """Under the kv model a get of true (or 1.0) after put 1 is not linearizable: values differ by type."""
    evs = [
        _ev(0, 0, "invoke", "put", "k", 1),
        _ev(1, 0, "ok", "put", "k", 1),
        _ev(2, 1, "invoke", "get", "k", None),
        _ev(3, 1, "ok", "get", "k", read),
    ]
    assert check_events(evs, "kv")["valid"] is False


def test_register_read_of_true_after_write_1_is_not_linearizable() -> None:
    """Under the register model a read of true after write 1 is not linearizable."""
    evs = [
        {"index": 0, "process": 0, "type": "invoke", "f": "write", "value": 1},
        {"index": 1, "process": 0, "type": "ok", "f": "write", "value": 1},
        {"index": 2, "process": 1, "type": "invoke", "f": "read", "value": None},
        {"index": 3, "process": 1, "type": "ok", "f": "read", "value": True},
    ]
    r = check_events(evs, "register")
    assert r["valid"] is False
    assert "true" in r["anomalies"][0]["explanation"]


def test_jepsen_independent_write_read_history_checks_under_kv(tmp_path: Path) -> None:
    """A Jepsen independent write/read EDN history is read as put/get by the default kv model."""
    p = tmp_path / "h.edn"
    p.write_text(
        "{:type :invoke, :f :write, :value [:x 1], :process 0}\n"
        "{:type :ok, :f :write, :value [:x 1], :process 0}\n"
        "{:type :invoke, :f :read, :value [:x nil], :process 1}\n"
        "{:type :ok, :f :read, :value [:x 2], :process 1}\n"
    )
    assert main(["check", str(p), "--checker", "linearizable"]) == 1


def test_unknown_f_under_kv_names_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An f the kv model does not know is reported as 'line N: field 'f'', not 'event 0'."""
    p = tmp_path / "h.jsonl"
    p.write_text(
        "\n"
        '{"process":0,"type":"invoke","f":"acquire","key":"k","value":null}\n'
        '{"process":0,"type":"ok","f":"acquire","key":"k","value":null}\n'
    )
    assert main(["check", str(p), "--checker", "linearizable"]) == 254
    err = capsys.readouterr().err
    assert "line 2: field 'f'" in err and "event 0" not in err


def test_keyless_register_history_under_kv_points_to_the_register_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A keyless write/read history under the default kv model names line 1, field 'key', and the register model."""
    p = tmp_path / "h.edn"
    p.write_text("{:type :invoke, :f :write, :value 1, :process 0}\n{:type :ok, :f :write, :value 1, :process 0}\n")
    assert main(["check", str(p), "--checker", "linearizable"]) == 254
    err = capsys.readouterr().err
    assert "line 1: field 'key'" in err and "--model register" in err
    assert main(["check", str(p), "--checker", "linearizable", "--model", "register"]) == 0


def test_kv_model_checks_cas() -> None:
    """The kv model takes cas [expected, new]: a cas 1->2 then a read of 1 is not linearizable."""
    evs = [
        _ev(0, 0, "invoke", "put", "k", 1),
        _ev(1, 0, "ok", "put", "k", 1),
        _ev(2, 0, "invoke", "cas", "k", [1, 2]),
        _ev(3, 0, "ok", "cas", "k", [1, 2]),
        _ev(4, 1, "invoke", "get", "k", None),
        _ev(5, 1, "ok", "get", "k", 1),
    ]
    assert check_events(evs, "kv")["valid"] is False
    evs[5]["value"] = 2
    assert check_events(evs, "kv")["valid"] is True
