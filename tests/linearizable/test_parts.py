"""Parts checked in parallel or in process, stopping at the first refuted part, budgets and limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from checker.linearizable import check_events
from tests.linearizable.histories import seq

ROOT = Path(__file__).resolve().parents[2]


def _hard_part(n: int, key: str) -> list[dict]:
    """n concurrent puts, then a get of a value nobody wrote: the search must try every order of the puts."""
    rows = [{"process": p, "type": "invoke", "f": "put", "value": p, "key": key} for p in range(n)]
    rows += [{"process": p, "type": "ok", "f": "put", "value": p, "key": key} for p in range(n)]
    rows += [
        {"process": n, "type": "invoke", "f": "get", "value": None, "key": key},
        {"process": n, "type": "ok", "f": "get", "value": "never-written", "key": key},
    ]
    return rows


def _offset(rows: list[dict], by: int) -> list[dict]:
    return [{**r, "process": r["process"] + by} for r in rows]


def _bad(key: str, process: int = 100) -> list[dict]:
    return seq((process, "ok", "put", "a", "a", key), (process + 1, "ok", "get", None, "b", key))


def _good(key: str, process: int = 200) -> list[dict]:
    return seq((process, "ok", "put", "a", "a", key), (process + 1, "ok", "get", None, "a", key))


def test_kv_scalar_init_means_every_key_starts_there():
    """`init=""` under kv: every key starts at "" (Porcupine's kv), so an append then a get of it is valid."""
    history = seq(
        (0, "ok", "append", "x", "x", "k1"),
        (1, "ok", "get", None, "x", "k1"),
        (2, "ok", "get", None, "", "k2"),
    )
    assert check_events(history, "kv", init="", null_read="absent")["valid"] is True
    assert check_events(history, "kv", init="z", null_read="absent")["valid"] is False


def test_kv_object_init_still_names_keys():
    """An object init still gives each named key its own start; other keys start absent."""
    history = seq((0, "ok", "get", None, 5, "a"), (1, "ok", "get", None, None, "b"))
    assert check_events(history, "kv", init={"a": 5}, null_read="absent")["valid"] is True


def test_first_refuted_part_stops_the_check_unless_all_parts():
    """By default the check ends at the first refuted part; all_parts checks (and reports) every part."""
    history = _bad("b1") + _bad("b2", 300) + _good("good")
    first = check_events(history, "kv", all_parts=False, workers=1)
    assert first["valid"] is False
    verdicts = [p["valid"] for p in first["stats"]["per_part"]]
    assert verdicts.count(False) == 1
    assert verdicts.count("not-checked") == 2 == first["stats"]["parts_not_checked"]
    assert len(first["anomalies"]) == 1 and first["unknown"] == []
    every = check_events(history, "kv", all_parts=True, workers=1)
    assert {p["key"]: p["valid"] for p in every["stats"]["per_part"]} == {"b1": False, "b2": False, "good": True}
    assert every["stats"]["parts_not_checked"] == 0


def test_parallel_parts_agree_with_in_process():
    """Checked on a pool of worker processes, every part gets the verdict the in-process check gives."""
    history = _bad("bad") + _good("good") + _offset(_hard_part(8, "hard"), 300) + _good("g2", 400)
    alone = check_events(history, "kv", all_parts=True, workers=1)
    pooled = check_events(history, "kv", all_parts=True, workers=2, parallel_min_ops=0)
    assert pooled["stats"]["workers"] == 2
    assert alone["stats"]["workers"] == 1
    assert [(p["key"], p["valid"]) for p in pooled["stats"]["per_part"]] == [
        (p["key"], p["valid"]) for p in alone["stats"]["per_part"]
    ]
    assert [a["explanation"] for a in pooled["anomalies"]] == [a["explanation"] for a in alone["anomalies"]]


def test_overall_time_limit_gives_unknown_with_reason():
    """A time limit over the whole check that runs out makes the undecided parts unknown, naming the limit."""
    history = _hard_part(14, "hard") + _offset(_hard_part(14, "hard2"), 100)
    for workers in (1, 2):
        result = check_events(history, "kv", time_limit=0.05, workers=workers, parallel_min_ops=0)
        assert result["valid"] == "unknown"
        assert result["unknown"] and all("time limit" in u["reason"] for u in result["unknown"])


def test_memory_budget_out_is_unknown_never_invalid_in_a_worker():
    """A part whose search outgrows a tiny memory budget in a worker process is unknown, not invalid."""
    history = _hard_part(13, "hard") + _offset(_hard_part(13, "hard2"), 100)
    result = check_events(history, "kv", memory_budget=20_000, workers=2, parallel_min_ops=0)
    assert result["valid"] == "unknown"
    assert {u["key"] for u in result["unknown"]} == {"hard", "hard2"}
    assert all("memory" in u["reason"] for u in result["unknown"])


def _cli(tmp_path: Path, rows: list[dict], *flags: str) -> subprocess.CompletedProcess:
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "index"}) + "\n" for r in rows))
    return subprocess.run(
        [sys.executable, str(ROOT / "harness.py"), "check", str(path), "--checker", "linearizable", *flags],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_memory_budget_out_exits_2_never_1(tmp_path):
    """harness.py check with a tiny --memory-budget: exit 2 (unknown) naming the memory budget, never 1."""
    proc = _cli(tmp_path, _hard_part(13, "hard"), "--memory-budget", "20K")
    assert proc.returncode == 2, proc.stderr
    assert "memory budget of 20K ran out" in proc.stdout  # the reason names the budget given


def test_cli_time_limit_and_all_parts(tmp_path):
    """--time-limit gives unknown (exit 2) with its reason; --all-parts reports every violating part."""
    proc = _cli(tmp_path, _hard_part(14, "hard"), "--time-limit", "0.05")
    assert proc.returncode == 2, proc.stderr
    assert "time limit" in proc.stdout
    rows = _bad("b1") + _bad("b2", 300)
    first = _cli(tmp_path, rows, "--json")
    every = _cli(tmp_path, rows, "--json", "--all-parts")
    assert first.returncode == every.returncode == 1
    assert len(json.loads(first.stdout)["anomalies"]) == 1
    assert len(json.loads(every.stdout)["anomalies"]) == 2


def test_cli_kv_scalar_init(tmp_path):
    """harness.py check --model kv --init '""' is accepted and means every key starts at ""."""
    rows = seq((0, "ok", "append", "x", "x", "k1"), (1, "ok", "get", None, "x", "k1"))
    proc = _cli(tmp_path, rows, "--model", "kv", "--init", '""', "--null-read", "absent")
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_running_out_of_memory_inside_a_step_is_unknown_not_a_crash():
    """A MemoryError (or RecursionError) raised while searching ends that part as unknown with the reason."""
    from checker.linearizable.models import CompiledOp
    from checker.linearizable.operations import Operation
    from checker.linearizable.search import search

    def exhausted(state):
        raise MemoryError("no room")

    op = Operation(0, "acquire", None, "ok", None, 0, 1, 0, 1, None, None)
    outcome = search([CompiledOp(op, exhausted, True, False, ("acquire", "to be unlocked"))], False)
    assert outcome.valid == "unknown"
    assert "MemoryError" in outcome.reason


def test_the_finding_line_says_how_many_keys_were_not_searched():
    """After the first refuted part, the one-line finding says the other keys were not searched, not that they passed."""
    from checker.findings import checker_findings, finding_line

    history = _bad("b1") + _bad("b2", 300) + _good("good")
    def line_of(result: dict) -> str:
        return finding_line(checker_findings({**result, "checker": "linearizable"})[0])

    line = line_of(check_events(history, "kv", all_parts=False, workers=1))
    assert "1 of 3 keys cannot be linearized (2 not searched" in line and "--all-parts" in line
    every = line_of(check_events(history, "kv", all_parts=True, workers=1))
    assert "2 of 3 keys cannot be linearized" in every and "not searched" not in every


def test_cli_prints_each_linearizability_finding_once(tmp_path):
    """`check --checker linearizable` prints a refuted key's explanation once, not again under a second heading."""
    done = _cli(tmp_path, _bad("b1"))
    assert done.returncode == 1, done.stderr
    assert done.stdout.count("is not linearizable under the kv model") == 1, done.stdout


def test_cli_refuses_linearizability_flags_when_that_checker_does_not_run(tmp_path):
    """--all-parts, --init, --model, --time-limit, --memory-budget without the linearizability checker: exit 254, naming the fix."""
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "index"}) + "\n" for r in _good("g")))
    for flags in (["--all-parts"], ["--init", '""'], ["--time-limit", "5"], ["--memory-budget", "1G"]):
        done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "check", str(path), *flags],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 254, (flags, done.stdout, done.stderr)
        assert flags[0] in done.stderr and "--checker linearizable" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_cli_bad_limit_values_are_named_plainly(tmp_path):
    """A bad --time-limit / --memory-budget value is one line naming the flag and what to give, no parser internals."""
    for flag, value, words in (("--time-limit", "-1", "positive number of seconds"),
                               ("--memory-budget", "abc", "like 512M or 2G")):
        done = _cli(tmp_path, _good("g"), flag, value)
        assert done.returncode == 254
        assert flag in done.stderr and words in done.stderr and "_positive" not in done.stderr
        assert "_byte_size" not in done.stderr, done.stderr
