"""Findings of the adversarial checker review (W3-W5, F1-F3, M1-M3): each pinned by a test."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from checker.cli import main
from checker.convergence import check_events
from tests.checker.builder import History


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# --- W3: values are compared by JSON type and value ---------------------------------------------


@pytest.mark.parametrize("read", [True, 1.0])
def test_read_of_true_or_float_is_not_a_read_of_int_1(read: object) -> None:
    """A read of true (or 1.0) when only the integer 1 was written is a phantom read."""
    h = History()
    h.put(0, "k", 1)
    h.get(1, "k", read)
    h.final("k", {"n1": 1})
    r = check_events(h.events)
    assert r["valid"] is False
    assert [a["type"] for a in r["anomalies"]] == ["phantom-read"]


def test_final_reads_of_true_and_1_diverge() -> None:
    """Two nodes returning true and 1 disagree: divergent, not converged."""
    h = History()
    h.put(0, "k", 1)
    h.put(0, "k", True)
    h.final("k", {"n1": 1, "n2": True})
    r = check_events(h.events)
    assert "divergent" in [a["type"] for a in r["anomalies"]]


def test_edn_true_vs_1_is_phantom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The EDN reproduction (write 1, final read true) is INVALID, exit 1."""
    p = tmp_path / "h.edn"
    p.write_text(
        "{:type :invoke, :f :put, :value [:k 1], :process 0}\n"
        "{:type :ok, :f :put, :value [:k 1], :process 0}\n"
        "{:type :invoke, :f :get, :value [:k nil], :process 9, :node \"n1\", :final true}\n"
        "{:type :ok, :f :get, :value [:k true], :process 9, :node \"n1\", :final true}\n"
    )
    assert main(["check", str(p)]) == 1
    assert "phantom" in capsys.readouterr().out


# --- W4/W5: repeated values ---------------------------------------------------------------------


def test_failed_put_then_ok_put_of_same_value_is_valid() -> None:
    """A failed put and a later ok put of the same value: reading it is not a phantom, and it converged."""
    h = History()
    h.put(0, "k", "a", typ="fail")
    h.put(0, "k", "a")
    h.final("k", {"n1": "a", "n2": "a"})
    r = check_events(h.events)
    assert r["valid"] is True, (r["anomalies"], r["unknown"])


def test_only_failed_puts_of_a_read_value_is_still_a_phantom() -> None:
    """When every put of the value failed, reading it is still a read of a failed write."""
    h = History()
    h.put(0, "k", "a", typ="fail")
    h.put(0, "k", "a", typ="fail")
    h.final("k", {"n1": "a"})
    r = check_events(h.events)
    assert r["valid"] is False
    assert [a["type"] for a in r["anomalies"]] == ["phantom-read"]


def test_repeated_value_all_superseded_is_lost_write() -> None:
    """put a, put a, put b (all ok, in sequence), final a: every put of a was superseded: lost-write."""
    h = History()
    h.put(0, "k", "a")
    h.put(2, "k", "a")
    h.put(1, "k", "b")
    h.final("k", {"n1": "a", "n2": "a"})
    r = check_events(h.events)
    assert r["valid"] is False
    assert [a["type"] for a in r["anomalies"]] == ["lost-write"]


def test_repeated_value_with_one_unsuperseded_put_is_valid() -> None:
    """put 5, put 6, put 5, final 5: the last put of 5 is not superseded, so the final value is explained."""
    h = History()
    h.put(0, "k1", 5)
    h.put(0, "k1", 6)
    h.put(0, "k1", 5)
    h.final("k1", {"n1": 5})
    r = check_events(h.events)
    assert r["valid"] is True, (r["anomalies"], r["unknown"])


# --- F1-F3: crashes become exit 254 naming file, line and field -----------------------------------


def test_cas_value_of_three_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cas whose value is not [expected, new] is exit 254 naming line 1 and field 'value'."""
    p = _write_lines(
        tmp_path / "h.jsonl",
        [
            '{"process":0,"type":"invoke","f":"cas","key":"k","value":[1,2,3]}',
            '{"process":0,"type":"ok","f":"cas","key":"k","value":[1,2,3]}',
        ],
    )
    assert main(["check", str(p)]) == 254
    err = capsys.readouterr().err
    assert "line 1: field 'value'" in err and "Traceback" not in err


def test_edn_mixed_pairs_and_plain_values_do_not_crash(tmp_path: Path) -> None:
    """An EDN register history mixing [k v] pairs and plain values gets a verdict, not a crash."""
    p = tmp_path / "h.edn"
    p.write_text(
        "{:type :invoke, :f :write, :value [:k 1], :process 0}\n"
        "{:type :ok, :f :write, :value [:k 1], :process 0}\n"
        "{:type :invoke, :f :write, :value 5, :process 1}\n"
        "{:type :ok, :f :write, :value 5, :process 1}\n"
    )
    assert main(["check", str(p)]) in (0, 1, 2)


def test_edn_infinite_time_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An EDN :time of 1.5e400 (infinity) is exit 254 naming line 1 and field 'time'."""
    p = tmp_path / "h.edn"
    p.write_text("{:type :invoke, :f :put, :value [:k 1], :process 0, :time 1.5e400}\n")
    assert main(["check", str(p)]) == 254
    assert "line 1: field 'time'" in capsys.readouterr().err


# --- M2: no times, agreeing final reads ---------------------------------------------------------


def test_summary_without_times_does_not_claim_disagreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The HISTORY.md example with times stripped is VALID and its summary does not say 'never agreed'."""
    h = History()
    h.put(0, "k3", "p0-1")
    h.get(1, "k3", None)
    h.final("k3", {"n2": "p0-1", "n4": "p0-1"})
    for e in h.events:
        del e["time"]
    p = h.write(tmp_path / "h.jsonl")
    assert main(["check", str(p)]) == 0
    out = capsys.readouterr().out
    assert "never agreed" not in out and "agreed" in out


# --- M3: big integers ---------------------------------------------------------------------------


def test_huge_process_is_reported_as_a_too_large_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 31-digit process is 'an integer too large', not 'got float 1e+30'."""
    p = _write_lines(
        tmp_path / "h.jsonl",
        ['{"process":' + str(10**30) + ',"type":"invoke","f":"put","key":"k","value":1}'],
    )
    assert main(["check", str(p)]) == 254
    err = capsys.readouterr().err
    assert "field 'process'" in err and "too large for a 64-bit integer" in err and "31 digits" in err and "got float" not in err


def test_5000_digit_integer_is_reported_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 5000-digit integer is 'an integer too large (5000 digits)', not 'number is infinity'."""
    big = "1" * 5000
    p = _write_lines(
        tmp_path / "h.jsonl",
        ['{"process":0,"type":"invoke","f":"put","key":"k","value":' + big + "}"],
    )
    assert main(["check", str(p)]) == 254
    err = capsys.readouterr().err
    assert "line 1" in err and "integer too large (5000 digits)" in err and "infinity" not in err


def test_orjson_still_parses_64_bit_integers_exactly() -> None:
    """Sanity: integers up to 2**64-1 stay integers (the limit the message refers to)."""
    assert orjson.loads(str(2**64 - 1)) == 2**64 - 1


def test_integers_beyond_64_bits_are_compared_exactly(tmp_path: Path) -> None:
    """put 10**30+1 then a read of 10**30: the read is a phantom even though both round to one float."""
    a, b = 10**30 + 1, 10**30
    assert float(a) == float(b)
    p = _write_lines(
        tmp_path / "h.jsonl",
        [
            '{"process":0,"type":"invoke","f":"put","key":"k","value":' + str(a) + "}",
            '{"process":0,"type":"ok","f":"put","key":"k","value":' + str(a) + "}",
            '{"process":1,"type":"invoke","f":"get","key":"k","value":null}',
            '{"process":1,"type":"ok","f":"get","key":"k","value":' + str(b) + "}",
        ],
    )
    from checker.history import read_events

    r = check_events(read_events(p))
    assert [x["type"] for x in r["anomalies"]] == ["phantom-read"]


# --- M4: what docs/HISTORY.md forbids is bad input --------------------------------------------

M4_CASES = {
    "put completes with another value": (
        [
            '{"process":0,"type":"invoke","f":"put","key":"k","value":"a"}',
            '{"process":0,"type":"ok","f":"put","key":"k","value":"b"}',
        ],
        "line 2: field 'value'",
    ),
    "get invoke with a value": (
        ['{"process":0,"type":"invoke","f":"get","key":"k","value":"notnull"}'],
        "line 1: field 'value'",
    ),
    "nemesis ok": (
        ['{"process":"nemesis","type":"ok","f":"partition-start","value":null}'],
        "line 1: field 'type'",
    ),
}


@pytest.mark.parametrize("name", sorted(M4_CASES))
def test_events_the_format_forbids_are_bad_input(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A put completion with a different value, a get invoke with a value, a nemesis ok: exit 254 naming line and field."""
    lines, where = M4_CASES[name]
    p = _write_lines(tmp_path / "h.jsonl", lines)
    assert main(["check", str(p)]) == 254
    assert where in capsys.readouterr().err


def test_read_of_failed_value_before_its_successful_repeat_is_a_future_read() -> None:
    """put a fails, a read returns a, only then put a succeeds: the read saw a write not yet invoked."""
    h = History()
    h.put(0, "k", "a", typ="fail")
    h.get(1, "k", "a")
    h.put(0, "k", "a")
    h.final("k", {"n1": "a"})
    r = check_events(h.events)
    assert [a["type"] for a in r["anomalies"]] == ["future-read"]


def test_boolean_key_on_a_write_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A key of true on a write is exit 254 naming field 'key' (it would share a part with key 1)."""
    p = _write_lines(
        tmp_path / "h.jsonl",
        [
            '{"process":0,"type":"invoke","f":"write","key":true,"value":1}',
            '{"process":0,"type":"ok","f":"write","key":true,"value":1}',
        ],
    )
    assert main(["check", str(p)]) == 254
    assert "line 1: field 'key'" in capsys.readouterr().err
