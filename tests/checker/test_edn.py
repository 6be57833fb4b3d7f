"""Jepsen EDN histories: keywords, tagged ops, one-vector files and errors with line numbers."""

from __future__ import annotations

import edn_format
import pytest

from checker.convergence import check_events
from checker.edn import parse_edn
from checker.history import HistoryError, read_events

JEPSEN = """\
{:type :invoke, :f :put, :value ["k1" "a"], :process 0, :time 10, :index 0}
{:type :ok, :f :put, :value ["k1" "a"], :process 0, :time 20, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 25, :index 2}
#jepsen.history.Op{:type :invoke, :f :get, :value ["k1" nil], :process 1, :time 30, :index 3}
{:type :ok, :f :get, :value ["k1" "a"], :process 1, :time 40, :index 4} ; a comment
"""


def test_jepsen_edn_maps_to_events(tmp_path):
    """Keywords become strings, [k v] becomes key and value, :nemesis becomes "nemesis"."""
    p = tmp_path / "h.edn"
    p.write_text(JEPSEN)
    ev = read_events(p)
    assert ev[0] == {
        "type": "invoke",
        "f": "put",
        "key": "k1",
        "value": "a",
        "process": 0,
        "time": 10,
        "index": 0,
    }
    assert ev[2]["process"] == "nemesis" and ev[3]["f"] == "get" and ev[4]["value"] == "a"
    assert check_events(ev)["valid"] == "unknown"  # no final reads: convergence undecidable


def test_reader_agrees_with_edn_format():
    """The small reader parses the same values as the edn_format package."""
    text = '{:a [1 2.5 "x\\"y" nil true] :b {:c #{1}} :d (1 2) :e -7}'
    ((_, mine),) = parse_edn(text)
    ref = edn_format.loads(text)
    assert mine["a"] == list(ref[edn_format.Keyword("a")])
    assert mine["e"] == -7 and mine["d"] == [1, 2] and mine["b"]["c"] == [1]


def test_whole_history_as_one_vector(tmp_path):
    """A history printed as a single vector is read op by op, with per-op line numbers."""
    p = tmp_path / "h.edn"
    p.write_text(
        "[{:type :invoke, :f :read, :value nil, :process 0}\n {:type :ok, :f :read, :value 3, :process 0}\n"
        " {:type :ok, :f :read, :value 3, :process 5}]\n"
    )
    with pytest.raises(HistoryError) as info:
        read_events(p)
    assert info.value.line == 3 and info.value.field == "type"


def test_unclosed_map_names_its_line(tmp_path):
    """A truncated EDN file names the line where the unclosed form starts."""
    p = tmp_path / "h.edn"
    p.write_text(JEPSEN + '{:type :invoke, :f :get, :value ["k1"')
    with pytest.raises(HistoryError) as info:
        read_events(p)
    assert info.value.line == 6 and "never closed" in str(info.value)
