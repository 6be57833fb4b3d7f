"""The summary printed at the end of a run: what happened, whether it converged, where to look."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from checker.findings import (
    checker_findings,
    clock_skew_note,
    convergence_entry,
    convergence_headline,
    faults_sentence,
    final_reads_timing,
    finding_line,
    into_final_reads_text,
    linearizability_note,
    load_end_words,
    plural,
)
from nemesis.schedule import left_out

from .conflict_workload import OPERATIONS
from .final_reads import FinalReadReport
from .node_logs import describe
from .options import rate_text
from .phases import RunResult
from .scan import Scanner, _Scan

VERDICT_WORDS = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}


def _scan(history: Path) -> _Scan:
    scanner = Scanner()
    feed = scanner.feed
    with history.open("rb") as lines:
        for line in lines:
            feed(orjson.loads(line))
    return scanner.scan


def _operation_table(scan: _Scan, workload: str = "register") -> list[str]:
    counts = scan.counts
    rows = ["  operation       ok     fail     info"]
    for f in OPERATIONS[workload]:
        rows.append(f"  {f:<10} {counts[(f, 'ok')]:>7} {counts[(f, 'fail')]:>8} {counts[(f, 'info')]:>8}")
    return rows


def _faults(run: RunResult) -> str:
    if not run.faults:
        return "none"
    return ", ".join(f"{kind} x{n}" for kind, n in sorted(run.faults.items()))


def _short(key: str, limit: int = 24) -> str:
    """A key as shown in the summary: long (padded) keys cut, their length given."""
    return key if len(key) <= limit else f"{key[:limit]}...({len(key)} B)"


def _sizes(o: Any) -> str:
    parts = [f"{name} {spec} B" for name, spec in (("key size", o.key_size), ("value size", o.value_size)) if spec]
    return (", " + ", ".join(parts)) if parts else ""


TOO_FEW_FOR_A_RATE = 20
"""Fewer completions than this within the load give no rate worth printing (a shrunk run, a 1 s run)."""
SHORTFALL = 0.9
MAX_CONCURRENCY = 1000  # --concurrency's limit (RunOptions.validate)
"""Below this fraction of the requested rate, the summary says why."""


def _throughput(run: RunResult, scan: _Scan) -> list[str]:
    """Requested beside achieved, and for long runs the first 30 s beside the last 30 s."""
    t = run.throughput
    if not t:
        return []
    requested = t["requested_rate"]
    wanted = f"requested {requested:g} ops/s, " if requested != "max" else ""
    if t.get("completed", TOO_FEW_FOR_A_RATE) < TOO_FEW_FOR_A_RATE:
        total = sum(scan.counts.values())
        return [f"  rate: {wanted}{t.get('completed', 0)} of {plural(total, 'operation')} completed within the "
                f"{run.options.time_limit:g} s load: too few for a rate"]
    achieved = f"achieved {t['achieved_rate']:.0f} ops/s ({t['achieved_ok_rate']:.0f} ok/s)"
    if requested == "max":
        line = f"  rate: {achieved}, closed loop with {plural(run.options.concurrency, 'client')}"
    else:
        line = f"  rate: {wanted}{achieved}"
    load = sum(w["seconds"] for w in t.get("windows") or []) or run.options.time_limit  # the windows the rate counts
    lines = [line]
    if isinstance(t.get("completed"), int):
        lines.append(f"    {rate_count(t['completed'], sum(scan.counts.values()), load)}")
    why = _shortfall(run, scan)
    if why:
        lines.append(f"    {why}")
    trend = t.get("trend")
    if trend:
        change = trend["change"]
        shown = "n/a" if change is None else f"{change * 100:+.0f} %"
        lines.append(f"  rate trend: first {trend['seconds']:g} s {trend['first_rate']:.0f} ops/s, last "
                     f"{trend['seconds']:g} s {trend['last_rate']:.0f} ops/s ({shown})")
    return lines


def rate_count(done: int, total: int, load: float) -> str:
    """What the achieved rate divides, beside the table's total: they differ by the operations that were in
    flight when the load ended and completed while the harness drained them (final reads are in neither)."""
    line = f"{done:,} operations completed within the {load:g} s load"
    if total > done:
        line += (f"; the table below counts all {total:,}, with the {total - done:,} after it (in flight at the "
                 "load's end, completed while draining)")
    elif total == done:
        line += f"; the table below counts all {total:,}"
    return line


def _mean_cycle(latencies: Sequence[float], think: float) -> float:
    """Mean time between a client's invocations, for these latencies and think times uniform in 0.5-1.5 x ``think``.

    A worker (``runner.workload``) sleeps for what is left of its drawn think time after the answer,
    so one cycle lasts max(think time, latency): E[max(U(a, b), L)] for each measured L, averaged.
    """
    a, b = 0.5 * think, 1.5 * think
    step = max(1, len(latencies) // 20_000)  # a sample is plenty for a one-line estimate
    sample = latencies[::step]
    total = 0.0
    for lat in sample:
        if lat <= a:
            total += think
        elif lat >= b:
            total += lat
        else:
            total += (lat * (lat - a) + (b * b - lat * lat) / 2) / (b - a)
    return total / len(sample)


def _clients_needed(latencies: Sequence[float], requested: float, have: int) -> int | None:
    """The fewest clients (up to the flag's limit) that these latencies let reach SHORTFALL x ``requested``."""
    def reaches(c: int) -> bool:
        return c / _mean_cycle(latencies, c / requested) >= SHORTFALL * requested

    lo, hi = have, MAX_CONCURRENCY
    if not reaches(hi):
        return None
    while hi - lo > 1:  # the rate c / cycle grows with c: more clients, more of each answer hidden by think time
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid
    return hi


LATENCY_GROWTH = 1.5
"""Latency whose last fifth of operations averaged this much more than the first fifth (and 5 ms more) grew over
the run: an estimate from the run's mean latency would then recommend clients the cluster cannot serve."""
UNAVAILABLE_SHARE = 0.5
"""When at least this share of the clients' waiting went to operations that timed out or failed as unavailable,
nodes down or unreachable held the rate back, not the number of clients."""


def _latency_growth(latencies: Sequence[float]) -> tuple[float, float] | None:
    """(first, last): the mean latency of the first and last fifth of the operations (in completion order),
    when it grew over the run (``LATENCY_GROWTH``); None when it did not, or with too few operations to say."""
    k = len(latencies) // 5
    if k < 10:
        return None
    first, last = sum(latencies[:k]) / k, sum(latencies[-k:]) / k
    return (first, last) if last >= LATENCY_GROWTH * first and last - first >= 0.005 else None


def _shortfall(run: RunResult, scan: _Scan) -> str | None:
    """Why the achieved rate fell short of the requested one, from measured figures; None when it did not.

    Each worker invokes, waits for the outcome (an ``info`` op waits out the client's timeout),
    then sleeps for what is left of a think time drawn from 0.5-1.5 x C/rate: C clients cannot
    exceed C / mean latency, and since a cycle lasts the longer of think time and latency, answers
    slower than the think time cost rate even when C / mean latency is above the requested rate.

    The advice is an estimate that assumes the run's mean latency would hold with more clients, said so;
    none is given when latency grew over the run (it would not hold) or when most of the waiting went to
    operations that failed or timed out (nodes down or unreachable: more clients would wait on them too).
    """
    t = run.throughput
    requested = t.get("requested_rate")
    mean = scan.mean_latency
    if requested == "max" or not isinstance(requested, int | float) or not mean:
        return None
    if t["achieved_rate"] >= SHORTFALL * requested:
        return None
    c = run.options.concurrency
    think = c / requested
    cycle = _mean_cycle(scan.latencies, think)
    timeouts = f" ({plural(scan.info_n, 'info op')} waited out the timeout)" if scan.info_n else ""
    why = (f"why: each of the {plural(c, 'client')} waits for its answer before its next operation: mean latency "
           f"{mean * 1000:.0f} ms{timeouts} caps them at {c} / {mean:.3f} s = {c / mean:.0f} ops/s, and waiting "
           f"for the longer of think time ({think * 500:.0f}-{think * 1500:.0f} ms) and answer at {c} / {cycle:.3f} s"
           f" = {c / cycle:.0f} ops/s")
    waited = sum(scan.latencies)
    share = scan.unavailable_seconds / waited if waited > 0 else 0.0
    if share >= UNAVAILABLE_SHARE:
        errors = ", ".join(f"{name} x{n}" for name, n in scan.unavailable_errors.most_common(4))
        return (f"{why}; {share * 100:.0f} % of the clients' waiting was on operations that timed out or failed as "
                f"unavailable ({errors}): the rate was held back by nodes down or unreachable, not too few clients")
    growth = _latency_growth(scan.latencies)
    if growth is not None:
        first, last = growth
        return (f"{why}; latency grew from {first * 1000:.0f} ms (the first fifth of the operations) to "
                f"{last * 1000:.0f} ms (the last fifth): the cluster slowed as the run went on, so more clients "
                "would add load more than rate (no client count is estimated from the mean)")
    need = _clients_needed(scan.latencies, requested, c)
    if need is None:
        return f"{why}; even {MAX_CONCURRENCY} clients would not reach it at this run's mean latency"
    return (f"{why}; raise --concurrency: an estimate, assuming latency stays at this run's mean of {mean * 1000:.0f} "
            f"ms, says {need} clients would allow {SHORTFALL * requested:.0f} ops/s (more clients usually raise "
            "latency, so expect less)")


def _journal_line(journal: Any) -> list[str]:
    """Where the journal is, and whether it is cut short (size limit, interruption): one line, or none."""
    if not isinstance(journal, dict):
        return []
    size = f"{journal.get('records', 0):,} records, {journal.get('bytes', 0) / 2**20:.1f} MiB"
    if journal.get("writer"):  # the records were counted by the writer process, gone: only the bytes are known
        size = f"{journal.get('bytes', 0) / 2**20:.1f} MiB"
    end = journal.get("end")
    if journal.get("writer"):
        state = f"cut short: {journal['writer']} (its figures are marked incomplete)"
    elif end == "size-limit":
        state = ("STOPPED at the --journal-max-mb size limit: later events are missing, so its figures cover the run "
                 "only up to then (marked incomplete)")
    elif end == "interrupted":
        state = "cut short by the interruption (its figures are marked incomplete)"
    elif end == "done":
        state = "complete"
    else:
        state = "without an END record (its figures are marked incomplete)"
    return [f"  journal: {journal.get('path')} ({journal.get('level')}, {size}), {state}"]


#: Said under a sim run's figures: its times are the simulated clock's (checker.report.SIM_LATENCY_NOTE).
SIM_TIMES_NOTE = ("times are virtual (a sim run's simulated clock): its latencies, lags and convergence times are "
                  "the simulated network's delays, not a measurement of how fast the store answers (report.html's "
                  "latency figures too)")


def _wait_parts(before: float, quiesce: float, drain: float | None) -> str:
    """The wait from the last heal to the first final read (``before``, from the history) in named parts that add
    up to it at the summary's two decimals: the operations in flight at the heal completing or waiting out their
    timeout (what the others leave), the quiescence, the wait until no node held a record queued."""
    total, q = round(before, 2), round(quiesce, 2)
    d = round(drain, 2) if drain is not None else None
    rest = round(total - q - (d or 0.0), 2)
    parts = []
    if rest >= 0.01:
        parts.append(f"{rest:.2f} s until the operations in flight at the heal had completed or waited out their "
                     "timeout" + ("" if d is not None else " and waiting for no node to hold a record queued, which "
                                  "did not happen within its limit"))
    parts.append(f"{q:g} s quiescence")
    if d is not None and d >= 0.01:
        parts.append(f"{d:.2f} s waiting until no node held a record queued")
    return " + ".join(parts)


def _overlong(f: FinalReadReport) -> str:
    """Words for a round 1 that outlasted --converge-timeout (the keys that differed in it got a confirming read)."""
    if not f.first_round_past_timeout or not f.round_seconds:
        return ""
    differed = f.differing[0] if f.differing else 0
    if not differed:
        return (f"; round 1 took {f.round_seconds[0]:.1f} s, past the {f.timeout:g} s --converge-timeout")
    head = f"; round 1 took {f.round_seconds[0]:.1f} s, past the {f.timeout:g} s --converge-timeout: the "
    unanswered = len(f.unanswered)
    reread = differed - unanswered
    if not unanswered:
        then = "agreed when read again" if f.converged else "were read once more to confirm"
        return head + f"{plural(differed, 'key')} that differed in it {then}"
    text = (head + f"{plural(unanswered, 'key')} some replica did not answer in it {'was' if unanswered == 1 else 'were'}"
            " not read again (the replica would only wait out the client timeout again)")
    if reread:
        text += (f", the {plural(reread, 'other key')} that differed {'was' if reread == 1 else 'were'} read once more "
                 "to confirm")
    return text


def _took(run: RunResult) -> str:
    """What the run's wall time covers (``RunResult.elapsed``: the cluster's whole life, not the check)."""
    took = "< 0.1 s" if run.elapsed < 0.05 else f"{run.elapsed:.1f} s"
    what = ("simulating the run (load, quiescence, final reads)" if run.options.mode == "sim" else
            "the run (nodes started, load, quiescence, final reads, nodes stopped)")
    return f"{what} took {took} of wall time; the check and report came after"


def format_summary(run: RunResult) -> str:
    o = run.options
    r: dict[str, Any] = run.results
    # Gathered in the check's own pass when it saw the whole history (runner.phases.finish), else read here.
    # (a history changed on disk behind the run's back is not read again: its counts are not shown as zero
    # measurements but left out; results.json's explanation says why)
    unreadable = r.get("reason") == "history-unreadable"
    scan = run.scan if run.scan is not None else _Scan() if unreadable else _scan(run.run_dir / "history.jsonl")
    lines = [
        "",
        f"MinikeyDB run {run.run_dir.name}",
        f"  seed {o.seed}, mode {o.mode}, {plural(o.nodes, 'node')}, N={o.replicas} W={o.write_quorum} "
        f"R={o.read_quorum}, {o.time_limit:g} s at {rate_text(o.rate)} ops/s over {plural(o.keys, 'key')}" + _sizes(o)
        + (f", bug {o.bug}" if o.bug else "")
        + (f", conflict {o.conflict}, workload {o.workload}" if (o.conflict, o.workload) != ("lww", "register")
           else ""),
        *([] if unreadable else _throughput(run, scan)),
        "",
        *(["  operations: not counted (history.jsonl could not be read after the run)"] if unreadable
          else _operation_table(scan, o.workload)),
        "",
        f"  faults injected: {_faults(run)}",
        *describe(r.get("stats", {}).get("node_logs", {}), r.get("anomalies") or []),
    ]
    if o.nemesis:
        note = left_out(o.nemesis, run.faults, o.time_limit, o.fault_interval)
        if note:
            lines.append(f"  {note}")
    f = run.final
    if f.converged:  # a statement about replicas only: the verdict below judges the values they hold
        # The drain (until no node held a record queued) comes before the first final read: like report.html
        # (checker.findings.final_reads_timing), it is counted in the wait before the final reads, not in them.
        drain = f.drain_seconds if f.drain_seconds is not None and f.drain_seconds >= 0.005 else None
        drained = f", then {drain:.2f} s waiting until no node held a record queued" if drain is not None else ""
        timing = final_reads_timing(convergence_entry(r.get("stats") or {}))
        if timing is not None:  # from the history, as report.html reads it
            before, into = timing
            lines.append(f"  replicas agree on all {plural(f.keys, 'key')} written or read, "
                         f"{into_final_reads_text(into)} into the final reads, which began {before:.2f} s after the "
                         f"last heal ({_wait_parts(before, o.quiesce, f.drain_seconds)}; {plural(f.rounds, 'round')}"
                         f"{_overlong(f)}): an upper bound on convergence time, not a measure of it")
        else:  # no heal, or no times: the runner's own clock, the drain still left out
            into = max(0.0, f.seconds - (f.drain_seconds or 0.0))
            lines.append(f"  replicas agree on all {plural(f.keys, 'key')} written or read, {into:.2f} s into the "
                         f"final reads ({plural(f.rounds, 'round')}{_overlong(f)}, after {o.quiesce:g} s quiescence"
                         f"{drained}: an upper bound on convergence time, not a measure of it)")
    else:
        shown = ", ".join(_short(k) for k in f.disagreeing[:8]) + (" ..." if len(f.disagreeing) > 8 else "")
        n = len(f.disagreeing)
        # A key still differing was read in every round (each round reads the keys the last one saw differ).
        rounds = "both" if f.rounds == 2 else f"all {f.rounds}"
        each = ("each was read on its replicas once (no confirming read)" if f.rounds < 2 else
                f"each was read on all its replicas in {rounds} rounds" if not f.unanswered else
                f"{len(f.unanswered):,} of them read once (some replica did not answer), the others on all their "
                f"replicas in {rounds} rounds")
        lines.append(f"  NOT converged: {plural(n, 'key')} still differ{'s' if n == 1 else ''} between replicas ({shown}) "
                     f"after {plural(f.rounds, 'round')} of final reads ({f.seconds:.1f} s); {each}{_overlong(f)}")
    faults = (r.get("stats") or {}).get("faults")
    if lines[-1].startswith("  replicas agree"):  # no fault: the run's one heal is the load's end
        lines[-1] = load_end_words(lines[-1], faults) or lines[-1]
    headline = load_end_words(convergence_headline(r.get("convergence")), faults)
    if headline:  # the journal's exact figure (or the final reads' bound, labelled so)
        lines.append(f"  convergence time: {headline}")
    bite = faults_sentence(r.get("faults") or {})
    if bite:
        lines.append(f"  {bite}")
    if o.mode == "sim":
        lines.append(f"  {SIM_TIMES_NOTE}")
    anomalies = r.get("anomalies", [])
    verdict = VERDICT_WORDS.get(r.get("valid"), str(r.get("valid")))
    lines.append("")
    lines.append(f"  verdict: {verdict}")
    if unreadable:
        lines.extend("    " + line for line in textwrap.wrap(str(r.get("explanation")), 92))
    findings = checker_findings(r)
    for finding in findings:  # every checker's own verdict, with its first explanation
        lines.append(f"    {finding_line(finding)}")
        if finding["first"]:
            first = str(finding["first"])
            lines.append(f"      first: {first if len(first) <= 400 else first[:400] + ' ... (in full in results.json)'}")
        lines.extend(f"      note: {note}" for note in finding.get("notes") or [])
    lin_found = r.get("linearizable")
    lin: dict[str, Any] = lin_found if isinstance(lin_found, dict) else {}
    total = len(anomalies) + len(lin.get("anomalies") or [])
    if total > len(findings):
        lines.append(f"    all {total} anomalies, explained, are in results.json and report.html")
    if any(f["checker"] == "linearizable" and f["valid"] is False for f in findings):
        wrapped = textwrap.wrap(linearizability_note((o.replicas, o.write_quorum, o.read_quorum)), 92)
        lines += ["    note: " + wrapped[0], *("          " + line for line in wrapped[1:])]
    skew = clock_skew_note(r)
    if skew:
        wrapped = textwrap.wrap(skew, 92)
        lines += ["    note: " + wrapped[0], *("          " + line for line in wrapped[1:])]
    lines += [
        "",
        f"  files:  {run.run_dir}/  "
        + "  ".join(n for n in ("history.jsonl", "run.json", "results.json", "report.html", "journal.jsonl.gz")
                    if (run.run_dir / n).is_file()),
        *_journal_line(r.get("journal")),
        f"  replay: python harness.py replay {run.run_dir}",
        f"  {_took(run)}",
        "",
    ]
    return "\n".join(lines)
