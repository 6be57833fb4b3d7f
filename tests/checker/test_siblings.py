"""The siblings rule (docs/HISTORY.md): lost writes judged by causal contexts, not by time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.api import check
from tests.checker.workload_builder import WorkloadHistory


def _sib() -> WorkloadHistory:
    return WorkloadHistory("register", "siblings")


def _types(h: WorkloadHistory) -> list[str]:
    return sorted(a["type"] for a in check(h.all_events()).anomalies)


def test_concurrent_puts_kept_as_siblings_are_valid() -> None:
    """Two puts without contexts both survive as siblings: valid, and the sibling count is measured."""
    h = _sib()
    h.sput(0, "k", "a")
    h.sput(1, "k", "b")
    h.final_reads("k", {"n1": ["a", "b"], "n2": ["b", "a"]}, f="get")
    result = check(h.all_events())
    assert result.valid is True
    assert result.stats["siblings"]["final_max_siblings"] == 2


def test_a_put_with_a_context_supersedes_what_that_read_saw() -> None:
    """A put whose context came from a read of [a, b] resolves both: a final [c] is valid."""
    h = _sib()
    h.sput(0, "k", "a")
    h.sput(1, "k", "b")
    g = h.sget(2, "k", ["a", "b"])
    h.sput(2, "k", "c", context_from=g)
    h.final_reads("k", {"n1": ["c"], "n2": ["c"]}, f="get")
    assert check(h.all_events()).valid is True


def test_a_sibling_dropped_without_a_covering_context_is_a_lost_write() -> None:
    """Last-writer-wins behaviour under siblings (only the newest kept) loses the other acknowledged put."""
    h = _sib()
    h.sput(0, "k", "a")
    h.sput(1, "k", "b")
    h.final_reads("k", {"n1": ["b"], "n2": ["b"]}, f="get")
    result = check(h.all_events())
    assert result.valid is False
    [a] = result.anomalies
    assert a["type"] == "lost-write" and "put \"a\" by process 0" in a["explanation"]


def test_a_context_that_covered_only_some_siblings_does_not_supersede_the_others() -> None:
    """A put with a context from a read of [a] only supersedes a: b must remain, else it is lost."""
    h = _sib()
    h.sput(0, "k", "a")
    g = h.sget(2, "k", ["a"])
    h.sput(1, "k", "b")
    h.sput(2, "k", "c", context_from=g)
    h.final_reads("k", {"n1": ["c"], "n2": ["c"]}, f="get")
    result = check(h.all_events())
    assert [a["type"] for a in result.anomalies] == ["lost-write"]
    assert "\"b\"" in result.anomalies[0]["explanation"]
    ok = _sib()
    ok.sput(0, "k", "a")
    g = ok.sget(2, "k", ["a"])
    ok.sput(1, "k", "b")
    ok.sput(2, "k", "c", context_from=g)
    ok.final_reads("k", {"n1": ["b", "c"], "n2": ["c", "b"]}, f="get")
    assert check(ok.all_events()).valid is True


def test_a_failed_put_supersedes_nothing_but_an_info_one_may() -> None:
    """A context carried by a failed put does not excuse a missing value; one carried by an info put does."""
    for typ, valid in (("fail", False), ("info", True)):
        h = _sib()
        h.sput(0, "k", "a")
        g = h.sget(2, "k", ["a"])
        h.sput(2, "k", "c", context_from=g, typ=typ)
        h.final_reads("k", {"n1": ["c"] if typ == "info" else [], "n2": ["c"] if typ == "info" else []}, f="get")
        assert check(h.all_events()).valid is valid, typ


def test_a_delete_with_a_context_supersedes_what_it_saw() -> None:
    """A delete carrying a read's context removes those values: an empty final read is valid."""
    h = _sib()
    h.sput(0, "k", "a")
    g = h.sget(1, "k", ["a"])
    h.op(1, "delete", "k", None, context_from=g)
    h.final_reads("k", {"n1": [], "n2": None}, f="get")
    assert check(h.all_events()).valid is True


def test_phantom_future_and_divergent_siblings() -> None:
    """A sibling nobody wrote is phantom, one read before its put began is future, differing finals divergent."""
    h = _sib()
    h.sget(1, "k", ["zz"])
    h.sget(1, "k", ["late"])
    h.sput(0, "k", "late")
    h.final_reads("k", {"n1": ["late"], "n2": []}, f="get")
    assert _types(h) == ["divergent", "future-read", "phantom-read"]


def test_a_store_that_ignores_contexts_resurrects_superseded_siblings() -> None:
    """Keeping every value ever written (contexts ignored) is caught: a covered value in the final reads."""
    h = _sib()
    h.sput(0, "k", "a")
    h.sput(1, "k", "b")
    g = h.sget(2, "k", ["a", "b"])
    h.sput(2, "k", "c", context_from=g)
    h.final_reads("k", {"n1": ["a", "b", "c"], "n2": ["a", "b", "c"]}, f="get")
    result = check(h.all_events())
    assert sorted(a["type"] for a in result.anomalies) == ["resurrected-sibling", "resurrected-sibling"]
    assert "whose context came from the get at event" in result.anomalies[0]["explanation"]


def test_a_value_written_again_after_the_covering_read_is_not_resurrected() -> None:
    """A repeated value put after the get whose context covered it explains its presence: valid."""
    h = _sib()
    h.sput(0, "k", "a")
    g = h.sget(2, "k", ["a"])
    h.sput(2, "k", "c", context_from=g)
    h.sput(1, "k", "a")
    h.final_reads("k", {"n1": ["a", "c"], "n2": ["c", "a"]}, f="get")
    assert check(h.all_events()).valid is True


def _load(name: str) -> list[dict[str, object]]:
    path = Path(__file__).parent / "data" / "siblings" / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_concurrent_put_of_the_same_value_unseen_by_the_context_is_not_resurrected() -> None:
    """put v, a concurrent second put v, a get that saw one v, put w with its context: final [w, v] is valid."""
    h = _sib()
    h.sput(0, "k", "v")
    h.begin(3, "put", "k", "v", "n2")
    g = h.sget(1, "k", ["v"])
    h.end(3, "put", "k", "v", "n2")
    h.sput(1, "k", "w", context_from=g)
    h.final_reads("k", {"n1": ["w", "v"], "n2": ["v", "w"]}, f="get")
    result = check(h.all_events())
    assert result.valid is True, result.anomalies
    assert result.stats["siblings"]["undecided_values"] == 1


def test_the_adversarys_repeated_value_histories_of_a_correct_store_are_valid() -> None:
    """Histories a correct dotted-version-vector store made with repeated values are never invalid."""
    for name in ("sib_concurrent_same_value_false_positive.jsonl", "sim_siblings_repeat_fp_10.jsonl",
                 "sim_siblings_repeat_fp_11.jsonl", "sim_siblings_repeat_fp_12.jsonl"):
        result = check(_load(name))
        assert result.valid is not False, (name, result.anomalies)


def test_a_value_whose_only_put_a_context_covered_is_still_resurrected() -> None:
    """One put of v, a get that saw it, an ok put w with that context, final [w, v]: resurrected."""
    h = _sib()
    h.sput(0, "k", "v")
    g = h.sget(1, "k", ["v"])
    h.sput(1, "k", "w", context_from=g)
    h.final_reads("k", {"n1": ["w", "v"], "n2": ["v", "w"]}, f="get")
    assert _types(h) == ["resurrected-sibling"]


def test_a_retried_put_acknowledged_after_the_covering_get_and_then_dropped_is_a_lost_write() -> None:
    """put v times out, a get sees v, put w with its context, a retry of v invoked after that get is
    acknowledged, final [w]: the retry is lost (the context could not have covered it)."""
    for name in ("sib_retry_lost.jsonl", "sib_dup_value_lost.jsonl"):
        result = check(_load(name))
        assert [a["type"] for a in result.anomalies] == ["lost-write"], name
    h = _sib()
    h.sput(0, "k", "v", typ="info")
    g = h.sget(1, "k", ["v"], node="n2")
    h.sput(1, "k", "w", context_from=g, node="n2")
    h.sput(4, "k", "v")
    h.final_reads("k", {"n1": ["w"], "n2": ["w"]}, f="get")
    result = check(h.all_events())
    [a] = result.anomalies
    assert a["type"] == "lost-write" and "by process 4" in a["explanation"]


def test_two_puts_of_a_value_both_before_the_covering_get_may_both_be_superseded() -> None:
    """Two acknowledged puts of v before a get of [v] whose context an ok put w carried: final [w] is valid."""
    h = _sib()
    h.sput(0, "k", "v")
    h.sput(2, "k", "v", node="n2")
    g = h.sget(1, "k", ["v"])
    h.sput(1, "k", "w", context_from=g)
    h.final_reads("k", {"n1": ["w"], "n2": ["w"]}, f="get")
    assert check(h.all_events()).valid is True


def test_the_summary_says_when_repeated_values_leave_the_rule_undecided(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The printed summary of a history with an undecided repeated value says so (and the verdict stays VALID)."""
    from checker.cli import main

    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in _load("sib_concurrent_same_value_false_positive.jsonl")))
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "siblings: 1 value undecided" in out
