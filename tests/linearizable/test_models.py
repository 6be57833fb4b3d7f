"""Each model on small hand-made histories: linearizable and not, with info operations."""

from __future__ import annotations

import pytest

from checker.linearizable import check_events
from tests.linearizable.histories import events, seq


def verdict(history: list[dict], model: str, **kw: object) -> bool | str:
    return check_events(history, model, **kw)["valid"]


# --- register ---------------------------------------------------------------------------------


def test_register_concurrent_read_may_see_old_or_new_value():
    """A read concurrent with a write may return either the old or the new value."""
    for seen in (0, 1):
        h = events(
            (0, "invoke", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", seen),
            (0, "ok", "write", 1),
        )
        assert verdict(h, "register", init=0) is True


def test_register_stale_read_after_write_completed_is_not_linearizable():
    """A read that starts after a write completed and returns the old value is a violation."""
    h = seq((0, "ok", "write", 1, 1), (1, "ok", "read", None, 0))
    assert verdict(h, "register", init=0) is False


def test_register_info_write_must_be_assumed_applied_when_read():
    """An info write whose value is read later is assumed to have taken effect."""
    h = seq((0, "info", "write", 1, 1), (1, "ok", "read", None, 1))
    assert verdict(h, "register", init=0) is True


def test_register_info_write_need_not_be_applied():
    """An info write nobody observed may never have happened."""
    h = seq((0, "info", "write", 1, 1), (1, "ok", "read", None, 0), (2, "ok", "read", None, 0))
    assert verdict(h, "register", init=0) is True


def test_register_info_write_cannot_be_undone():
    """Once an info write's value was read, a later read of the older value is a violation."""
    h = seq((0, "info", "write", 1, 1), (1, "ok", "read", None, 1), (2, "ok", "read", None, 0))
    assert verdict(h, "register", init=0) is False


def test_register_never_completed_write_counts_as_info():
    """An invocation with no completion may take effect, even long after the others."""
    h = events((0, "invoke", "write", 7), (1, "invoke", "read", None), (1, "ok", "read", 7))
    assert verdict(h, "register", init=0) is True


def test_register_failed_write_never_happened():
    """A failed write's value cannot be read."""
    h = seq((0, "fail", "write", 5, 5), (1, "ok", "read", None, 5))
    assert verdict(h, "register", init=0) is False


def test_register_null_read_flag():
    """A null read matches anything with null_read=any, but means null with null_read=absent."""
    h = seq((0, "ok", "write", 1, 1), (1, "ok", "read", None, None))
    assert verdict(h, "register", init=0, null_read="any") is True
    assert verdict(h, "register", init=0, null_read="absent") is False


def test_register_splits_per_key_and_names_the_violating_key():
    """Keyed register histories are checked per key; only the bad key is reported."""
    h = seq(
        (0, "ok", "write", 1, 1, "a"),
        (1, "ok", "write", 2, 2, "b"),
        (2, "ok", "read", None, 1, "a"),
        (3, "ok", "read", None, 1, "b"),
    )
    result = check_events(h, "register", init=0)
    assert result["valid"] is False
    assert [a["key"] for a in result["anomalies"]] == ["b"]
    assert result["stats"]["parts"] == 2


# --- cas-register -----------------------------------------------------------------------------


def test_cas_register_successful_cas_needs_expected_value():
    """A cas succeeds only from its expected value."""
    assert (
        verdict(seq((0, "ok", "cas", [0, 1], [0, 1]), (1, "ok", "read", None, 1)), "cas-register", init=0)
        is True
    )
    assert verdict(seq((0, "ok", "cas", [3, 1], [3, 1])), "cas-register", init=0) is False


def test_cas_register_failed_cas_flag():
    """A failed cas that would have succeeded is fine if it never happened, a violation if it was observed."""
    h = seq((0, "fail", "cas", [0, 1], [0, 1]), (1, "ok", "read", None, 0))
    assert verdict(h, "cas-register", init=0, fail_cas="not-applied") is True
    assert verdict(h, "cas-register", init=0, fail_cas="observed") is False
    h_other = seq((0, "fail", "cas", [5, 1], [5, 1]), (1, "ok", "read", None, 0))
    assert verdict(h_other, "cas-register", init=0, fail_cas="observed") is True


def test_cas_register_info_cas_applies_only_if_legal():
    """An info cas may take effect only from its expected value."""
    ok = seq((0, "info", "cas", [0, 1], [0, 1]), (1, "ok", "read", None, 1))
    assert verdict(ok, "cas-register", init=0) is True
    wrong = seq((0, "info", "cas", [2, 1], [2, 1]), (1, "ok", "read", None, 1))
    assert verdict(wrong, "cas-register", init=0) is False


def test_register_model_rejects_cas():
    """The plain register model refuses cas with an error naming the event."""
    from checker.linearizable import HistoryInputError

    with pytest.raises(HistoryInputError, match="cas"):
        check_events(seq((0, "ok", "cas", [0, 1], [0, 1])), "register", init=0)


# --- kv ---------------------------------------------------------------------------------------


def test_kv_get_absent_after_put_is_a_violation_with_null_read_absent():
    """With null_read=absent, a get of null after an acknowledged put of that key is a violation."""
    h = seq((0, "ok", "put", "a", "a", "k1"), (1, "ok", "get", None, None, "k1"))
    assert verdict(h, "kv", null_read="absent") is False
    assert verdict(h, "kv", null_read="any") is True


def test_kv_delete_then_get_null_is_linearizable():
    """A delete makes a key absent, so a later get of null is consistent."""
    h = seq(
        (0, "ok", "put", "a", "a", "k1"),
        (0, "ok", "delete", None, None, "k1"),
        (1, "ok", "get", None, None, "k1"),
    )
    assert verdict(h, "kv", null_read="absent") is True


def test_kv_keys_are_independent():
    """Operations on other keys never explain a read: each key is its own part."""
    h = seq((0, "ok", "put", "v", "v", "k1"), (1, "ok", "get", None, "v", "k2"))
    result = check_events(h, "kv", null_read="absent")
    assert result["valid"] is False
    assert [a["key"] for a in result["anomalies"]] == ["k2"]


def test_kv_init_gives_initial_values():
    """The kv init maps keys to initial values."""
    h = seq((1, "ok", "get", None, "x0", "k1"))
    assert verdict(h, "kv", init={"k1": "x0"}, null_read="absent") is True
    assert verdict(h, "kv", null_read="absent") is False


def test_kv_append_concatenates_in_linearization_order():
    """Concurrent appends may land in either order, but a read must match some order."""
    h = events(
        (0, "invoke", "append", "a", "k"),
        (1, "invoke", "append", "b", "k"),
        (0, "ok", "append", "a", "k"),
        (1, "ok", "append", "b", "k"),
        (2, "invoke", "get", None, "k"),
        (2, "ok", "get", "ba", "k"),
    )
    assert verdict(h, "kv") is True
    h[-1]["value"] = "bb"
    assert verdict(h, "kv") is False


def test_kv_info_put_may_or_may_not_apply():
    """An info put explains a later read of its value, and its absence explains the old one."""
    applied = seq((0, "info", "put", "x", "x", "k"), (1, "ok", "get", None, "x", "k"))
    skipped = seq((0, "info", "put", "x", "x", "k"), (1, "ok", "get", None, None, "k"))
    assert verdict(applied, "kv", null_read="absent") is True
    assert verdict(skipped, "kv", null_read="absent") is True


# --- mutex ------------------------------------------------------------------------------------


def test_mutex_sequential_acquire_release_acquire_is_linearizable():
    """Acquire, release, acquire in sequence is a legal lock history."""
    h = seq(
        (0, "ok", "acquire", None, None), (0, "ok", "release", None, None), (1, "ok", "acquire", None, None)
    )
    assert verdict(h, "mutex") is True


def test_mutex_double_acquire_is_not_linearizable():
    """Two acquires with no release between them is a violation."""
    h = seq((0, "ok", "acquire", None, None), (1, "ok", "acquire", None, None))
    assert verdict(h, "mutex") is False


def test_mutex_info_release_may_explain_a_second_acquire():
    """An info release may have taken effect, which explains the next acquire."""
    h = seq(
        (0, "ok", "acquire", None, None), (0, "info", "release", None, None), (1, "ok", "acquire", None, None)
    )
    assert verdict(h, "mutex") is True


def test_mutex_failed_release_does_not_unlock():
    """A failed release never happened, so the next acquire is a violation."""
    h = seq(
        (0, "ok", "acquire", None, None), (0, "fail", "release", None, None), (1, "ok", "acquire", None, None)
    )
    assert verdict(h, "mutex") is False


# --- multi-register ---------------------------------------------------------------------------


def test_multi_register_txn_reads_see_atomic_writes():
    """A txn read sees both writes of an earlier txn or neither."""
    write = (0, "ok", "txn", [["write", "x", 1], ["write", "y", 1]], [["write", "x", 1], ["write", "y", 1]])
    good = seq(
        write,
        (1, "ok", "txn", [["read", "x", None], ["read", "y", None]], [["read", "x", 1], ["read", "y", 1]]),
    )
    torn = seq(
        write,
        (1, "ok", "txn", [["read", "x", None], ["read", "y", None]], [["read", "x", 1], ["read", "y", 0]]),
    )
    assert verdict(good, "multi-register", init={"x": 0, "y": 0}) is True
    assert verdict(torn, "multi-register", init={"x": 0, "y": 0}) is False


def test_multi_register_splits_keys_that_never_share_a_txn():
    """Keys that never meet in a txn are checked as separate parts."""
    h = seq(
        (0, "ok", "txn", [["write", "x", 1]], [["write", "x", 1]]),
        (1, "ok", "txn", [["write", "z", 2]], [["write", "z", 2]]),
        (2, "ok", "txn", [["read", "z", None]], [["read", "z", 3]]),
    )
    result = check_events(h, "multi-register", init={"x": 0, "z": 0})
    assert result["stats"]["parts"] == 2
    assert [a["key"] for a in result["anomalies"]] == ["z"]


def test_multi_register_info_txn_writes_may_apply():
    """An info txn's writes may have taken effect; its unknown reads constrain nothing."""
    h = seq(
        (0, "info", "txn", [["read", "x", None], ["write", "x", 5]], None),
        (1, "ok", "txn", [["read", "x", None]], [["read", "x", 5]]),
    )
    assert verdict(h, "multi-register", init={"x": 0}) is True
