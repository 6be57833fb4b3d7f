"""The run summary's small words are true: counts in the singular, no rate from a handful of ops, a shortfall explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from runner.final_reads import FinalReadReport
from runner.options import RunOptions
from runner.run import RunResult
from runner.summary import format_summary

MS = 1_000_000


def _history(path: Path, ops: list[tuple[int, str, int, str]]) -> None:
    """``ops`` are (process, f, latency ms, outcome); each starts where the last one of its process ended."""
    events: list[dict[str, Any]] = []
    clock: dict[int, int] = {}
    for process, f, latency, outcome in ops:
        start = clock.get(process, 0) + MS
        clock[process] = start + latency * MS
        events.append({"process": process, "type": "invoke", "f": f, "key": "k1", "value": None, "time": start})
        events.append({"process": process, "type": outcome, "f": f, "key": "k1", "value": None,
                       "time": clock[process], **({"error": "timeout"} if outcome == "info" else {"error": "too-large: key 'k1'"} if outcome == "fail"
                          else {})})
    events.sort(key=lambda e: e["time"])
    path.write_bytes(b"".join(orjson.dumps({"index": i, **e}) + b"\n" for i, e in enumerate(events)))


def _result(tmp_path: Path, options: RunOptions, throughput: dict[str, Any], ops: list[tuple[int, str, int, str]],
            valid: Any = True) -> RunResult:
    _history(tmp_path / "history.jsonl", ops)
    return RunResult(run_dir=tmp_path, options=options, results={"valid": valid, "anomalies": []},
                     final=FinalReadReport(rounds=1, converged=True, seconds=0.01, keys=1), faults={}, elapsed=1.0,
                     throughput=throughput)


def test_a_one_node_one_key_run_is_said_in_the_singular(tmp_path: Path) -> None:
    """A shrunk run of 1 node and 1 key says '1 node', '1 key', '1 round', and gives no rate for 1 operation."""
    options = RunOptions(nodes=1, replicas=1, keys=1, time_limit=1.0, rate=200.0, concurrency=1)
    tp = {"requested_rate": 200.0, "achieved_rate": 0.0, "achieved_ok_rate": 0.0, "completed": 0}
    text = format_summary(_result(tmp_path, options, tp, [(0, "put", 5, "ok")]))
    assert "1 node," in text and "over 1 key" in text and "1 nodes" not in text and "1 keys" not in text
    assert "achieved 0 ops/s" not in text
    assert "0 of 1 operation completed within the 1 s load: too few for a rate" in text


def test_agreeing_replicas_are_not_called_converged_beside_an_invalid_verdict(tmp_path: Path) -> None:
    """Replicas that agree on every key are reported as that, not as 'converged:', whatever the verdict."""
    options = RunOptions(keys=1, time_limit=1.0)
    text = format_summary(_result(tmp_path, options, {}, [(0, "put", 5, "ok")], valid=False))
    assert "converged:" not in text
    assert "replicas agree on all 1 key written or read" in text and "INVALID" in text


def test_a_rate_shortfall_is_explained_from_the_measured_latency(tmp_path: Path) -> None:
    """10 clients at 100 ms a request cannot do 200 ops/s: the summary gives the latency, 10/0.1 s = 100 ops/s, and
    suggests --concurrency; a run that reached its rate gets no such line."""
    options = RunOptions(time_limit=2.0, rate=200.0, concurrency=10)
    ops = [(p, "get", 100, "ok") for p in range(10) for _ in range(20)]
    short = {"requested_rate": 200.0, "achieved_rate": 100.0, "achieved_ok_rate": 100.0, "completed": 200}
    text = format_summary(_result(tmp_path, options, short, ops))
    assert "each of the 10 clients waits for its answer" in text
    assert "mean latency 100 ms caps them at 10 / 0.100 s = 100 ops/s" in text
    assert "longer of think time (25-75 ms) and answer at 10 / 0.100 s = 100 ops/s" in text
    assert "raise --concurrency (21 would allow 180 ops/s)" not in text  # an estimate is said to be one
    assert ("raise --concurrency: an estimate, assuming latency stays at this run's mean of 100 ms, says 21 clients "
            "would allow 180 ops/s" in text)  # 21 clients worked out by hand
    assert len([line for line in text.splitlines() if "why:" in line]) == 1
    full = {**short, "achieved_rate": 195.0, "achieved_ok_rate": 195.0}
    assert "waits for its answer" not in format_summary(_result(tmp_path, options, full, ops))


def test_a_shortfall_while_latency_grew_recommends_no_more_clients(tmp_path: Path) -> None:
    """Latency that rose from 10 to 300 ms over the run (a slowing cluster, growing sets) is said, and no client
    count is recommended from the run's mean latency."""
    options = RunOptions(time_limit=2.0, rate=500.0, concurrency=10)
    ops = [(p, "get", 10 if i < 10 else 300, "ok") for p in range(10) for i in range(20)]
    short = {"requested_rate": 500.0, "achieved_rate": 60.0, "achieved_ok_rate": 60.0, "completed": 200}
    text = format_summary(_result(tmp_path, options, short, ops))
    assert "raise --concurrency" not in text and "would allow" not in text
    assert "latency grew from 10 ms (the first fifth of the operations) to 300 ms (the last fifth)" in text


def test_a_shortfall_of_an_unavailable_cluster_blames_it_not_the_clients(tmp_path: Path) -> None:
    """Clients that spent most of their waiting on operations that timed out (nodes down) are not told to be more:
    the summary says the time went to failed and timed-out operations, with their errors."""
    options = RunOptions(time_limit=2.0, rate=200.0, concurrency=10)
    ops = [(p, "get", 5, "ok") for p in range(10) for _ in range(20)] + [(p, "get", 1000, "info") for p in range(10)]
    short = {"requested_rate": 200.0, "achieved_rate": 100.0, "achieved_ok_rate": 100.0, "completed": 200}
    text = format_summary(_result(tmp_path, options, short, ops))
    assert "raise --concurrency" not in text and "would allow" not in text
    assert "91 % of the clients' waiting was on operations that timed out or failed as unavailable (timeout x10)" in text
    assert "nodes down or unreachable, not too few clients" in text
    refused = [(p, "get", 5, "ok") for p in range(10) for _ in range(20)] + [(p, "put", 1000, "fail") for p in range(10)]
    text = format_summary(_result(tmp_path, options, short, refused))  # refused writes: not the cluster being down
    assert "nodes down" not in text and "failed as unavailable" not in text


def test_the_summary_figures_gathered_in_the_checks_pass_equal_a_read_of_the_history(tmp_path: Path) -> None:
    """A simulated run's summary counts and latencies come from the check's own pass, equal to reading history.jsonl again."""
    from runner.run import run
    from runner.summary import _scan

    options = RunOptions(mode="sim", nodes=3, time_limit=3.0, seed=2, nemesis=("partition",), fault_interval=1.0,
                         out=str(tmp_path)).validate()
    for report in (True, False):
        result = run(options, ["test"], quiet=True, report=report)
        assert result.scan is not None and result.scan.counts  # gathered, and not empty
        assert result.scan == _scan(result.run_dir / "history.jsonl")


def test_a_sim_run_summary_says_its_times_are_virtual(tmp_path: Path) -> None:
    """A --mode sim run's summary says its latencies and times are the simulated clock's; a udp run's does not."""
    ops = [(0, "put", 2, "ok"), (1, "get", 4, "ok")]
    sim = format_summary(_result(tmp_path, RunOptions(keys=1, time_limit=1.0, mode="sim"), {}, ops))
    assert "times are virtual (a sim run's simulated clock)" in sim
    udp = format_summary(_result(tmp_path, RunOptions(keys=1, time_limit=1.0, mode="udp"), {}, ops))
    assert "virtual" not in udp


def _final(tmp_path: Path, final: FinalReadReport, results: dict[str, Any] | None = None, **options: Any) -> str:
    """The summary of a one-op run with this final-read report (and results.json blocks)."""
    run = _result(tmp_path, RunOptions(keys=10, time_limit=1.0, **options), {}, [(0, "put", 5, "ok")])
    run.final = final
    run.results.update(results or {})
    return format_summary(run)


def test_keys_still_differing_are_said_with_their_rounds_and_an_overlong_first_round(tmp_path: Path) -> None:
    """Keys that still differ say in how many rounds they were read and that round 1 outlasted the timeout; the
    summary never calls them 'never agreed'."""
    final = FinalReadReport(rounds=2, converged=False, seconds=80.0, drain_seconds=0.5, disagreeing=["k1", "k2"],
                            keys=10, timeout=15.0, round_seconds=[79.2, 0.3], differing=[8, 2],
                            first_round_past_timeout=True)
    text = _final(tmp_path, final)
    assert "NOT converged: 2 keys still differ between replicas (k1, k2) after 2 rounds of final reads (80.0 s)" in text
    assert "each was read on all its replicas in both rounds" in text
    assert ("round 1 took 79.2 s, past the 15 s --converge-timeout: the 8 keys that differed in it were read once "
            "more to confirm") in text
    assert "never" not in text


def test_a_first_round_past_the_timeout_is_said_when_the_keys_agreed_on_their_confirming_read(tmp_path: Path) -> None:
    """All keys agreed, but only in a confirming round after a round 1 longer than the timeout: the summary says so."""
    final = FinalReadReport(rounds=2, converged=True, seconds=80.0, drain_seconds=0.5, keys=10, timeout=15.0,
                            round_seconds=[79.2, 0.3], differing=[8, 0], first_round_past_timeout=True)
    text = _final(tmp_path, final)
    assert ("round 1 took 79.2 s, past the 15 s --converge-timeout: the 8 keys that differed in it agreed when read "
            "again") in text


def test_keys_a_replica_did_not_answer_in_an_overlong_round_1_are_said_unconfirmed(tmp_path: Path) -> None:
    """Keys left unconfirmed because some replica did not answer in a round 1 past the timeout are said so, not
    claimed read on all replicas in both rounds."""
    final = FinalReadReport(rounds=2, converged=False, seconds=80.0, drain_seconds=0.5, keys=10, timeout=15.0,
                            disagreeing=["k1", "k2", "k3"], unanswered=["k2", "k3"], round_seconds=[79.2, 0.3],
                            differing=[3, 1], first_round_past_timeout=True)
    text = _final(tmp_path, final)
    assert "2 of them read once (some replica did not answer), the others on all their replicas in both rounds" in text
    assert ("the 2 keys some replica did not answer in it were not read again (the replica would only wait out the "
            "client timeout again), the 1 other key that differed was read once more to confirm") in text


def test_the_wait_before_the_final_reads_is_told_in_parts_that_add_up(tmp_path: Path) -> None:
    """The 4.21 s from the last heal to the first final read: 1.17 s of operations in flight completing or timing
    out, 3 s quiescence and 0.04 s of drain, each named, summing to the whole."""
    final = FinalReadReport(rounds=1, converged=True, seconds=0.3, drain_seconds=0.04, keys=10, timeout=15.0,
                            round_seconds=[0.26], differing=[0])
    convergence = [{"heal_s": 10.0, "keys_with_final_reads": 10, "keys_not_agreed": 0,
                    "final_reads_began_after_s": 4.21, "all_agreed_after_s": 4.5}]
    text = _final(tmp_path, final, {"stats": {"convergence": convergence, "faults": [{"kind": "partition"}]}},
                  quiesce=3.0)
    assert ("which began 4.21 s after the last heal (1.17 s until the operations in flight at the heal had "
            "completed or waited out their timeout + 3 s quiescence + 0.04 s waiting until no node held a record "
            "queued; 1 round)") in text


def test_the_time_taken_names_what_it_times(tmp_path: Path) -> None:
    """The summary's last line says what its wall time covers, and a run shorter than 0.05 s is not 'took 0.0 s'."""
    text = _final(tmp_path, FinalReadReport(rounds=1, converged=True, seconds=0.01, keys=1))
    assert "\n  took " not in text
    assert ("  the run (nodes started, load, quiescence, final reads, nodes stopped) took 1.0 s of wall time; the "
            "check and report came after") in text
    run = _result(tmp_path, RunOptions(keys=1, time_limit=1.0), {}, [(0, "put", 5, "ok")])
    run.elapsed = 0.01
    assert "took < 0.1 s of wall time" in format_summary(run)
