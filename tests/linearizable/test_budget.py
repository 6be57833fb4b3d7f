"""Budgets are per part: a part that runs out is unknown, the others keep their verdicts."""

from __future__ import annotations

from checker.linearizable import check_events
from tests.linearizable.histories import seq


def _hard_part(n: int, key: str) -> list[dict]:
    """n concurrent puts, then a get of a value nobody wrote: the search must try every order of the puts."""
    rows = [{"process": p, "type": "invoke", "f": "put", "value": p, "key": key} for p in range(n)]
    rows += [{"process": p, "type": "ok", "f": "put", "value": p, "key": key} for p in range(n)]
    rows += [
        {"process": n, "type": "invoke", "f": "get", "value": None, "key": key},
        {"process": n, "type": "ok", "f": "get", "value": "never-written", "key": key},
    ]
    return rows


def _with_processes_from(offset: int, rows: list[dict]) -> list[dict]:
    return [{**r, "process": r["process"] + offset} for r in rows]


def test_time_budget_makes_only_the_expensive_part_unknown():
    """With a tiny time budget the hard key is unknown while a violating key is still reported."""
    bad = seq((100, "ok", "put", "a", "a", "bad"), (101, "ok", "get", None, "b", "bad"))
    good = seq((200, "ok", "put", "a", "a", "good"), (201, "ok", "get", None, "a", "good"))
    result = check_events(_hard_part(13, "hard") + bad + good, "kv", time_budget=0.002)
    assert result["valid"] is False
    assert [a["key"] for a in result["anomalies"]] == ["bad"]
    (unknown,) = result["unknown"]
    assert unknown["key"] == "hard"
    assert "time budget" in unknown["reason"]
    assert unknown["configurations"] > 0
    verdicts = {p["key"]: p["valid"] for p in result["stats"]["per_part"]}
    assert verdicts == {"hard": "unknown", "bad": False, "good": True}


def test_unknown_part_without_violations_gives_unknown_verdict():
    """A history whose only doubtful part ran out of budget is unknown, not valid."""
    good = seq((200, "ok", "put", "a", "a", "good"), (201, "ok", "get", None, "a", "good"))
    result = check_events(_hard_part(13, "hard") + good, "kv", time_budget=0.002)
    assert result["valid"] == "unknown"
    assert "explanation" in result["unknown"][0]


def test_memory_budget_caps_cached_configurations():
    """A memory budget too small for the search's cache makes the part unknown."""
    result = check_events(_hard_part(12, "hard"), "kv", memory_budget=50_000)
    assert result["valid"] == "unknown"
    assert "memory" in result["unknown"][0]["reason"]


def test_without_budget_the_hard_part_is_decided():
    """Given no budget, the same hard part is proved not linearizable."""
    result = check_events(_hard_part(10, "hard"), "kv")
    assert result["valid"] is False
    assert result["stats"]["configurations"] > 1000


def test_memory_budget_message_gives_the_per_configuration_cost_the_cap_used():
    """The cap on cached configurations costs each one 100 bytes plus one bit per operation of the
    part (its bitset): the reason gives that figure (1,101 bytes for 8,013 operations), not 100."""
    rows = []
    for i in range(8000):  # a long sequential prefix on the same key makes the part 8,013 operations
        rows += [{"process": 99, "type": "invoke", "f": "put", "value": f"v{i}", "key": "hard"},
                 {"process": 99, "type": "ok", "f": "put", "value": f"v{i}", "key": "hard"}]
    result = check_events(rows + _hard_part(12, "hard"), "kv", memory_budget=2 << 20)
    (unknown,) = result["unknown"]
    assert "memory budget of 2M ran out" in unknown["reason"], unknown["reason"]
    assert "about 1101 bytes each" in unknown["reason"], unknown["reason"]
