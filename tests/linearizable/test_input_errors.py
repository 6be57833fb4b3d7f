"""Bad input and bad arguments are rejected with messages that name the event or argument."""

from __future__ import annotations

import pytest

from checker.linearizable import HistoryInputError, ModelArgumentError, check_events
from tests.linearizable.histories import events


def test_completion_without_invocation_names_the_event():
    """A completion with no pending invocation is an error naming the event."""
    with pytest.raises(HistoryInputError, match=r"event 1.*no pending invocation"):
        check_events(events((0, "invoke", "read", None), (1, "ok", "read", 0)), "register")


def test_second_invocation_while_pending_is_rejected():
    """A process that invokes again before completing is an error."""
    with pytest.raises(HistoryInputError, match="has not completed"):
        check_events(events((0, "invoke", "read", None), (0, "invoke", "read", None)), "register")


def test_unknown_type_is_rejected():
    """An event type other than invoke/ok/fail/info is an error naming the field."""
    with pytest.raises(HistoryInputError, match="'type'"):
        check_events(events((0, "invoke", "read", None), (0, "done", "read", 1)), "register")


def test_unknown_function_for_model_is_rejected():
    """An f the model does not know is an error listing the ones it knows."""
    with pytest.raises(HistoryInputError, match="expected one of acquire, release"):
        check_events(events((0, "invoke", "read", None), (0, "ok", "read", 1)), "mutex")


def test_malformed_cas_value_is_rejected():
    """A cas whose value is not [expected, new] is an error."""
    with pytest.raises(HistoryInputError, match=r"\[expected, new\]"):
        check_events(events((0, "invoke", "cas", 3), (0, "ok", "cas", 3)), "cas-register")


def test_kv_needs_keys():
    """The kv model refuses operations without a key."""
    with pytest.raises(HistoryInputError, match="'key'"):
        check_events(events((0, "invoke", "get", None), (0, "ok", "get", 1)), "kv")


def test_bad_model_and_flags_are_rejected():
    """Unknown model names and flag values are argument errors saying what is allowed."""
    with pytest.raises(ModelArgumentError, match="choose one of"):
        check_events([], "queue")
    with pytest.raises(ModelArgumentError, match="null_read"):
        check_events([], "register", null_read="maybe")
    with pytest.raises(ModelArgumentError, match="fail_cas"):
        check_events([], "register", fail_cas="sometimes")
    with pytest.raises(ModelArgumentError, match="time_budget"):
        check_events([], "register", time_budget=-1)


def test_nemesis_events_are_ignored():
    """Events of non-client processes (the nemesis) do not take part in the check."""
    h = events(
        ("nemesis", "info", "partition-start", None),
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        ("nemesis", "info", "partition-stop", None),
    )
    assert check_events(h, "register", init=0)["valid"] is True


def test_cli_names_a_malformed_file_once(tmp_path, capsys):
    """`python -m checker.linearizable` on a malformed line names the file once, then the line and field."""
    from checker.linearizable.__main__ import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": ' * 20_000 + "1" + "}" * 20_000 + "\n")
    assert main(["--model", "register", str(bad)]) == 254
    err = capsys.readouterr().err
    assert err.count(str(bad)) == 1 and "line 1" in err and "Traceback" not in err
