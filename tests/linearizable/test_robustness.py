"""A linearizability check always ends with a verdict or `unknown` and its reason: dead workers,
signals, absurd limits, odd callers and failing process creation included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import checker.linearizable.check as lin_check
from checker.linearizable import check_events
from tests.linearizable.test_parts import ROOT, _bad, _good, _hard_part, _offset


def _die_on(n_ops: int, parent: int):  # noqa: ANN202 - a stand-in for check._search_one
    """A `_search_one` that SIGKILLs the worker searching a part of `n_ops` operations (as the OOM killer would)."""
    real = lin_check._search_one

    def search_one(job):  # noqa: ANN001, ANN202
        if len(job[0]) == n_ops and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(job)

    return search_one


@pytest.mark.parametrize("time_limit", [20.0, None])
def test_a_killed_worker_makes_its_part_unknown_and_the_others_are_decided(monkeypatch, time_limit):
    """A worker SIGKILLed mid-search: its part is unknown naming the death, the other parts still get verdicts."""
    history = _offset(_hard_part(5, "doomed"), 500) + _bad("bad") + _good("good") + _good("g2", 400)
    monkeypatch.setattr(lin_check, "_search_one", _die_on(6, os.getpid()))
    result = check_events(history, "kv", all_parts=True, workers=2, parallel_min_ops=0, time_limit=time_limit)
    verdicts = {p["key"]: p["valid"] for p in result["stats"]["per_part"]}
    assert verdicts == {"doomed": "unknown", "bad": False, "good": True, "g2": True}
    (unknown,) = result["unknown"]
    assert unknown["reason"] == "the worker searching it died (signal 9, SIGKILL)"
    assert result["valid"] is False


_SLOW_CHECK = """
import os, sys, time
import checker.linearizable.check as C
parent, marks = os.getpid(), sys.argv[1]
real = C._search_one
def slow(job):
    if os.getpid() != parent:  # a worker: say so, then search for a long time
        open(os.path.join(marks, str(os.getpid())), "w").close()
        time.sleep(120)
    return real(job)
C._search_one = slow
C.check_events.__kwdefaults__["parallel_min_ops"] = 0
from checker import cli
sys.exit(cli.main(sys.argv[2:]))
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal_a_running_check(tmp_path: Path, signum: int, *, group: bool) -> tuple[subprocess.Popen, str, list[int]]:
    """Start `harness.py check` with workers stuck in a long search, signal it once they are, and wait for it."""
    marks = tmp_path / "marks"
    marks.mkdir()
    path = tmp_path / "h.jsonl"
    rows = _bad("b1") + _good("g1") + _good("g2", 300) + _good("g3", 400)
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "index"}) + "\n" for r in rows))
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CHECK, str(marks), "check", str(path), "--checker", "linearizable"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
    )
    try:
        for _ in range(600):
            if len(os.listdir(marks)) >= 2:
                break
            time.sleep(0.05)
        workers = [int(p) for p in os.listdir(marks)]
        assert len(workers) == 2
        if group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        _out, err = proc.communicate(timeout=60)
        for _ in range(100):  # the workers go with it (their death is the kernel's, a moment later)
            if not any(_alive(w) for w in workers):
                break
            time.sleep(0.1)
        return proc, err, workers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()  # reaps it and closes its pipes (left open, they warn in whichever test runs next)
        for w in os.listdir(marks):
            if _alive(int(w)):
                os.kill(int(w), signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_ends_the_check_with_one_line_and_no_workers(tmp_path, signum):
    """SIGTERM/SIGHUP to `harness.py check`: exit 128+signal with one line, and no worker keeps searching."""
    proc, err, workers = _signal_a_running_check(tmp_path, signum, group=False)
    assert (proc.returncode, err) == (128 + signum, f"terminated by {signal.Signals(signum).name}\n")
    assert not [w for w in workers if _alive(w)]


def test_sigkill_of_the_checker_takes_its_workers_with_it(tmp_path):
    """SIGKILL of the checker (nothing of it runs): its workers die with it instead of searching on."""
    proc, err, workers = _signal_a_running_check(tmp_path, signal.SIGKILL, group=False)
    assert proc.returncode == -signal.SIGKILL
    assert not [w for w in workers if _alive(w)]
    assert "Traceback" not in err


def test_ctrl_c_prints_one_line_and_leaves_no_worker(tmp_path):
    """SIGINT to the process group (Ctrl-C): the workers print nothing, the check says `interrupted`, exit 130."""
    proc, err, workers = _signal_a_running_check(tmp_path, signal.SIGINT, group=True)
    assert (proc.returncode, err) == (130, "interrupted\n")
    assert not [w for w in workers if _alive(w)]


def _check_in_a_pool_worker(history: list[dict]) -> tuple[object, int]:
    result = check_events(history, "kv", all_parts=True, workers=2, parallel_min_ops=0)
    return result["valid"], result["stats"]["workers"]


def test_a_check_from_a_daemonic_pool_worker_searches_in_its_process():
    """check() inside a caller's multiprocessing pool worker (daemonic: no children) searches in process."""
    import multiprocessing

    history = _bad("bad") + _good("good") + _good("g2", 400)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_check_in_a_pool_worker, (history,)) == (False, 1)


def test_no_worker_process_can_be_started_so_the_parts_are_searched_in_process(monkeypatch):
    """Starting a worker fails (fork: EAGAIN, limits): the check searches in this process and decides every part."""
    import errno
    import multiprocessing.context

    def refuse(self):  # noqa: ANN001, ANN202
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.ForkProcess, "start", refuse)
    history = _bad("bad") + _good("good") + _good("g2", 400)
    result = check_events(history, "kv", all_parts=True, workers=2, parallel_min_ops=0)
    assert {p["key"]: p["valid"] for p in result["stats"]["per_part"]} == {"bad": False, "good": True, "g2": True}
    assert result["stats"]["workers"] == 1


_PUT = [
    {"process": 0, "type": "invoke", "f": "put", "key": "a", "value": "1"},
    {"process": 0, "type": "ok", "f": "put", "key": "a", "value": "1"},
]


@pytest.mark.parametrize(
    "field",
    [
        {"time_limit": 10**400}, {"time_budget": 10**400}, {"time_limit": 9.3e9}, {"time_limit": float("nan")},
        {"memory_budget": 10**30}, {"memory_budget": 1e9}, {"memory_budget": 1.5}, {"memory_budget": True},
        {"all_parts": 1}, {"all_parts": "no"}, {"init": object()}, {"init": float("nan")}, {"init": {"a": [float("inf")]}},
        {"init": {1: "x"}},
    ],
)
def test_check_options_refuse_what_the_check_cannot_use(field):
    """A limit that is no finite number in range, a non-int budget, a non-bool all_parts or a non-JSON init: CheckOptionError naming it."""
    from checker.api import CheckOptionError, CheckOptions

    (name,) = field
    with pytest.raises(CheckOptionError, match=name):
        CheckOptions(checkers=("linearizable",), **field)


def test_check_options_keep_what_the_check_can_use():
    """In-range limits, None for no limit, and JSON inits are accepted and checked."""
    from checker.api import CheckOptions, check

    for field in ({"time_limit": 1e9, "memory_budget": 1 << 62}, {"time_limit": None, "memory_budget": None},
                  {"init": {"a": ["1", 2.5, None, True]}}):
        assert check(_PUT, CheckOptions(checkers=("linearizable",), **field)).valid is True


def test_cli_time_limit_past_the_maximum_is_a_usage_error(tmp_path):
    """--time-limit 9.3e9 (past what a wait can take): exit 254 naming the flag, not an OverflowError exit 255."""
    from tests.linearizable.test_parts import _cli

    proc = _cli(tmp_path, _PUT, "--time-limit", "9.3e9")
    assert proc.returncode == 254, proc.stderr
    assert "--time-limit" in proc.stderr and "Traceback" not in proc.stderr


def test_huge_memory_budget_in_a_worker_is_harmless(monkeypatch):
    """An address-space cap past what setrlimit takes (OverflowError) leaves the worker's search running."""
    history = _bad("bad") + _good("good")
    result = check_events(history, "kv", all_parts=True, workers=2, parallel_min_ops=0, memory_budget=1 << 62)
    assert {p["key"]: p["valid"] for p in result["stats"]["per_part"]} == {"bad": False, "good": True}


@pytest.mark.parametrize("checkers", [("linearizable",), ("convergence",), ("convergence", "linearizable")])
def test_an_empty_iterable_is_the_empty_history_error(checkers):
    """check([]) or a used-up generator is the 'history is empty' error an empty file gets, not valid=True."""
    from checker.api import CheckOptions, check
    from checker.history import HistoryError

    used = iter(_PUT)
    list(used)
    for source in ([], used):
        with pytest.raises(HistoryError, match="the history is empty"):
            check(source, CheckOptions(checkers=checkers))


def test_memory_budget_holds_when_each_state_is_a_large_string():
    """Appends of 2,000-byte values: the search stops before the strings its cache holds outgrow the budget."""
    n, size, budget = 10, 2000, 1 << 20
    value = ["<>" + "x" * size] * n
    rows = [{"process": p, "type": "invoke", "f": "append", "key": "k", "value": value[p]} for p in range(n)]
    rows += [{"process": p, "type": "ok", "f": "append", "key": "k", "value": value[p]} for p in range(n)]
    # One value more than the appends can make: never, and every string on the way is a prefix of
    # what the get read, so the search cannot set any of them aside as unread (each subset of the
    # appends is its own cached configuration holding its own string).
    rows += [{"process": n, "type": "invoke", "f": "get", "key": "k", "value": None},
             {"process": n, "type": "ok", "f": "get", "key": "k", "value": value[0] * (n + 1)}]
    result = check_events(rows, "kv", null_read="absent", memory_budget=budget, workers=1)
    (unknown,) = result["unknown"]
    # every cached configuration past the first holds a string of at least one value: that many fit the budget
    assert unknown["configurations"] <= budget // size + 1
    assert result["valid"] == "unknown" and "memory budget of 1M ran out" in unknown["reason"]
