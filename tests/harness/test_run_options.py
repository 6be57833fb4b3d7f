"""RunOptions checks every value on construction: an instance is always a run that can be made."""

from __future__ import annotations

import pytest

from runner.options import OptionError, RunOptions


@pytest.mark.parametrize("bad, words", [
    ({"mix": (0, 0, 0)}, "at least one non-zero weight"),
    ({"mix": (-1, 2, 2)}, "three whole numbers"),
    ({"mix": (1, 2)}, "three whole numbers"),
    ({"seed": "x"}, "--seed must be a whole number"),
    ({"seed": 1.5}, "--seed must be a whole number"),
    ({"seed": True}, "--seed must be a whole number"),
    ({"nemesis": ("bogus",)}, "--nemesis: unknown 'bogus'"),
    ({"nemesis": "partition"}, "tuple of fault kinds"),
    ({"checkers": ()}, "--checker"),
    ({"checkers": ("lineariz",)}, "--checker"),
])
def test_a_bad_value_is_refused_on_construction_naming_the_flag(bad: dict, words: str) -> None:
    """Bad mix, seed, nemesis or checkers values are refused when the options are made, not mid-run."""
    with pytest.raises(OptionError, match=words):
        RunOptions(**bad)


def test_good_values_and_their_json_round_trip_are_accepted() -> None:
    """The values a run records come back through from_json unchanged (the largest seed, 2**63-1, included)."""
    options = RunOptions(nemesis=("partition", "crash"), mix=(1, 0, 0), seed=2**63 - 1, checkers=("convergence", "linearizable"))
    assert RunOptions.from_json(options.to_json()) == options


@pytest.mark.parametrize("value", [1e30, 2.0**64, 0, -1, float("nan"), True])
def test_journal_max_mb_is_a_bounded_positive_number(value: float) -> None:
    """--journal-max-mb beyond 1 TiB (1e30 crashed the journal header, exit 255), zero or not a number: refused."""
    with pytest.raises(OptionError, match="--journal-max-mb must be a positive number of MiB up to"):
        RunOptions(journal_max_mb=value)
