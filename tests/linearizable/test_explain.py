"""Violations are explained in words, and drawn; the standalone command reports verdicts as exit codes."""

from __future__ import annotations

import json

from checker.linearizable import check_events, render_html
from checker.linearizable.__main__ import main
from tests.linearizable.histories import events, seq


def _stale_read() -> list[dict]:
    return seq(
        (0, "ok", "put", "v1", "v1", "k7"),
        (1, "ok", "put", "v2", "v2", "k7"),
        (2, "ok", "get", None, "v1", "k7"),
    )


def test_explanation_names_key_prefix_blocked_op_and_states():
    """The anomaly names the key, the prefix, the op that cannot be placed, what it needed and saw."""
    h = seq((0, "ok", "put", "v1", "v1", "k7"), (1, "ok", "get", None, "zz", "k7"))
    (anomaly,) = check_events(h, "kv", null_read="absent")["anomalies"]
    assert anomaly["key"] == "k7"
    assert anomaly["blocked"]["indexes"] == [2, 3]
    assert anomaly["indexes"] == [2, 3, 0, 1]
    assert anomaly["prefix"] == [0]
    assert anomaly["state_after_prefix"] == "'v1'"
    assert anomaly["states_seen"] == ["'v1'"]
    text = anomaly["explanation"]
    assert text.startswith("Key 'k7' is not linearizable under the kv model.")
    assert "places 1 operation (1 of the 2 that must take effect)" in text
    assert "process 1's get -> 'zz' (events 2-3) cannot be placed" in text
    assert "needs key 'k7' to hold 'zz'" in text


def test_explanation_of_an_overwrite_names_the_reader_left_stranded():
    """When a write would replace a value a later read still needs, the reader is named as the proof."""
    (anomaly,) = check_events(_stale_read(), "kv", null_read="absent")["anomalies"]
    assert anomaly["blocked"]["indexes"] == [2, 3]
    assert anomaly["indexes"][:4] == [2, 3, 4, 5]
    assert (
        "would replace 'v1', which process 2's get -> 'v1' (events 4-5) still has to see"
        in anomaly["explanation"]
    )


def test_render_draws_violating_part_with_prefix_and_blocked_op():
    """The HTML fragment has an SVG timeline with the prefix numbered and the key's name escaped."""
    h = [{**e, "key": "<k>"} for e in _stale_read()]
    fragment = render_html(check_events(h, "kv", null_read="absent"))
    assert "<svg" in fragment
    assert "&lt;k&gt;" in fragment and "<k>" not in fragment
    assert "#1 put" in fragment
    assert "#f4a6a6" in fragment  # the blocked op's colour


def test_render_of_valid_result_has_no_picture():
    """A linearizable result renders a verdict line and no timeline."""
    h = seq((0, "ok", "put", "v1", "v1", "k"), (1, "ok", "get", None, "v1", "k"))
    fragment = render_html(check_events(h, "kv"))
    assert "<svg" not in fragment
    assert ": linearizable" in fragment


def test_main_prints_one_json_object_per_path_and_returns_worst_exit_code(tmp_path, capsys):
    """The standalone command checks every path and exits with the worst verdict."""
    bad = tmp_path / "bad.jsonl"
    good = tmp_path / "good.jsonl"
    bad.write_text("".join(json.dumps(e) + "\n" for e in _stale_read()))
    good.write_text("".join(json.dumps(e) + "\n" for e in _stale_read()[:4]))
    code = main([str(good), str(bad), "--model", "kv", "--null-read", "absent", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [(r["path"], r["valid"]) for r in lines] == [(str(good), True), (str(bad), False)]


def test_main_bad_input_exits_254_with_a_message(tmp_path, capsys):
    """An unreadable history gives exit code 254 and a one-line error, not a traceback."""
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"process": 0, "type": "ok", "f": "get", "key": "k", "value": 1}\n')
    assert main([str(broken), "--model", "kv"]) == 254
    err = capsys.readouterr().err
    assert "broken.jsonl" in err and "Traceback" not in err


def test_stats_give_per_part_timings_and_counts():
    """The stats name every part with its timing and search size, and count operations by outcome."""
    h = seq(
        (0, "ok", "put", "a", "a", "k1"),
        (1, "fail", "put", "b", "b", "k2"),
        (2, "info", "put", "c", "c", "k2"),
        (3, "ok", "get", None, "a", "k1"),
    )
    stats = check_events(h, "kv", null_read="absent")["stats"]
    assert stats["parts"] == 2 and stats["parts_valid"] == 2
    assert stats["ops"] == {"put": {"ok": 1, "fail": 1, "info": 1}, "get": {"ok": 1, "fail": 0, "info": 0}}
    by_key = {p["key"]: p for p in stats["per_part"]}
    assert by_key["k1"]["searched"] == 2 and by_key["k1"]["configurations"] >= 2
    assert by_key["k2"]["dropped_unobserved"] == 1  # the info put nobody read
    assert all(p["seconds"] >= 0 for p in stats["per_part"])


def test_explanation_names_the_writer_that_could_have_helped_and_why_it_could_not():
    """When the needed value's writer could not go first, the stale reader that forbids it is named."""
    h = events(
        (0, "invoke", "put", "a", "k"),
        (0, "ok", "put", "a", "k"),
        (1, "invoke", "get", None, "k"),
        (2, "invoke", "put", "b", "k"),
        (1, "ok", "get", "b", "k"),
        (2, "ok", "put", "b", "k"),
        (3, "invoke", "get", None, "k"),
        (3, "ok", "get", "a", "k"),
    )
    (anomaly,) = check_events(h, "kv", null_read="absent")["anomalies"]
    assert anomaly["blocked"]["indexes"] == [2, 4]
    assert anomaly["indexes"][:6] == [2, 4, 6, 7, 3, 5]
    assert (
        "Process 2's put 'b' (events 3-5) could have produced that value, but placing it after the prefix "
        "would replace 'a', which process 3's get -> 'a' (events 6-7) still has to see"
    ) in anomaly["explanation"]
    assert {op["indexes"][0] for op in anomaly["timeline"]} >= {0, 2, 3, 6}


def test_a_blocked_cas_whose_state_was_there_says_the_real_reason_first() -> None:
    """A cas that could take effect (the register held 1) but would strand a later read of 1 is explained by
    that, in its first sentence, not by "it needs the register to hold 1 ... and the register was 1"."""
    from checker.linearizable import check_events
    from tests.linearizable.histories import events

    h = events((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", [1, 2]),
               (2, "invoke", "read", None), (2, "ok", "read", 1), (1, "ok", "cas", [1, 2]),
               (3, "invoke", "read", None), (3, "ok", "read", 1))
    (anomaly,) = check_events(h, "cas-register", init=0)["anomalies"]
    text = anomaly["explanation"]
    sentence = text[text.index("Then "):]
    assert "it needs the register to hold 1, and" not in text
    assert sentence.startswith("Then process 1's cas 1->2 (events 2-5) cannot be placed: placing it after the prefix "
                               "would replace 1, which process 3's read 1 (events 6-7) still has to see")
    assert sentence.endswith("(where it could take effect the register held 1, as it needs).")
    assert {6, 7} <= set(anomaly["indexes"])
