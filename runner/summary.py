"""The summary printed at the end of a run: what happened, whether it converged, where to look."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import orjson

from checker.findings import checker_findings, clock_skew_note, finding_line, linearizability_note, plural

from .node_logs import describe
from .options import rate_text
from .run import RunResult

VERDICT_WORDS = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}


@attrs.define
class _Scan:
    """What the summary reads from history.jsonl: client outcomes per f, and how long each op took."""

    counts: Counter[tuple[str, str]] = attrs.Factory(Counter)
    latency_sum: float = 0.0  # seconds, over client operations (ok, fail and info), final reads aside
    latency_n: int = 0
    info_n: int = 0

    @property
    def mean_latency(self) -> float | None:
        return self.latency_sum / self.latency_n if self.latency_n else None


def _scan(history: Path) -> _Scan:
    scan = _Scan()
    invoked: dict[Any, int] = {}
    with history.open("rb") as lines:
        for line in lines:
            event = orjson.loads(line)
            if event.get("process") == "nemesis" or event.get("final"):
                continue
            if event.get("type") == "invoke":
                invoked[event.get("process")] = event.get("time", 0)
                continue
            scan.counts[(event["f"], event["type"])] += 1
            began = invoked.pop(event.get("process"), None)
            if began is not None and event.get("time") is not None:
                scan.latency_sum += (event["time"] - began) / 1e9
                scan.latency_n += 1
                scan.info_n += event["type"] == "info"
    return scan


def _operation_table(scan: _Scan) -> list[str]:
    counts = scan.counts
    rows = ["  operation       ok     fail     info"]
    for f in ("put", "get", "delete"):
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
    achieved = f"achieved {t['achieved_rate']:.0f} ops/s ({t['achieved_ok_rate']:.0f} ok)"
    if requested == "max":
        line = f"  rate: {achieved}, closed loop with {plural(run.options.concurrency, 'client')}"
    else:
        line = f"  rate: {wanted}{achieved}"
    lines = [line]
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


def _shortfall(run: RunResult, scan: _Scan) -> str | None:
    """Why the achieved rate fell short of the requested one, from measured figures; None when it did not.

    Each worker (``runner.workload``) invokes, waits for the outcome (an ``info`` op waits out the
    client's timeout), then thinks for what is left of a delay drawn from 0.5-1.5 x C/rate: so one
    cycle lasts the longer of the think time and the latency, and C clients cannot exceed
    C / mean latency, nor reach the requested rate when answers often take longer than the think time.
    """
    t = run.throughput
    requested = t.get("requested_rate")
    mean = scan.mean_latency
    if requested == "max" or not isinstance(requested, int | float) or not mean:
        return None
    if t["achieved_rate"] >= SHORTFALL * requested:
        return None
    c = run.options.concurrency
    allows = c / mean
    think = c / requested
    timeouts = f", {plural(scan.info_n, 'info op')} among them waiting out the timeout" if scan.info_n else ""
    head = (f"why: each of the {plural(c, 'client')} waits for its answer before its next operation, so a client "
            f"cannot exceed 1/latency; mean latency {mean * 1000:.0f} ms{timeouts}")
    need = requested * mean  # C / mean latency > requested needs C > requested x mean latency
    if allows < requested:
        return (f"{head} allows {c} / {mean:.3f} s = {allows:.0f} ops/s; raise --concurrency "
                f"(more than {need:.0f} clients at this latency)")
    return (f"{head} allows {c} / {mean:.3f} s = {allows:.0f} ops/s, but a client waits for the longer of its "
            f"think time (0.5-1.5 x {think * 1000:.0f} ms) and its answer, so slow answers still cost rate; "
            f"raise --concurrency")


def format_summary(run: RunResult) -> str:
    o = run.options
    r: dict[str, Any] = run.results
    scan = _scan(run.run_dir / "history.jsonl")
    lines = [
        "",
        f"MinikeyDB run {run.run_dir.name}",
        f"  seed {o.seed}, mode {o.mode}, {plural(o.nodes, 'node')}, N={o.replicas} W={o.write_quorum} "
        f"R={o.read_quorum}, {o.time_limit:g} s at {rate_text(o.rate)} ops/s over {plural(o.keys, 'key')}" + _sizes(o)
        + (f", bug {o.bug}" if o.bug else ""),
        *_throughput(run, scan),
        "",
        *_operation_table(scan),
        "",
        f"  faults injected: {_faults(run)}",
        *describe(r.get("stats", {}).get("node_logs", {})),
    ]
    if o.nemesis:
        from nemesis.schedule import left_out

        note = left_out(o.nemesis, run.faults, o.time_limit, o.fault_interval)
        if note:
            lines.append(f"  {note}")
    f = run.final
    if f.converged:  # a statement about replicas only: the verdict below judges the values they hold
        lines.append(f"  replicas agree on all {plural(f.keys, 'key')} written or read, {f.seconds:.2f} s into the "
                     f"final reads ({plural(f.rounds, 'round')}, after {o.quiesce:g} s quiescence)")
    else:
        shown = ", ".join(_short(k) for k in f.disagreeing[:8]) + (" ..." if len(f.disagreeing) > 8 else "")
        n = len(f.disagreeing)
        lines.append(f"  NOT converged after {f.seconds:.1f} s of final reads: {plural(n, 'key')} still "
                     f"differ{'s' if n == 1 else ''} between replicas ({shown})")
    anomalies = r.get("anomalies", [])
    verdict = VERDICT_WORDS.get(r.get("valid"), str(r.get("valid")))
    lines.append("")
    lines.append(f"  verdict: {verdict}")
    findings = checker_findings(r)
    for finding in findings:  # every checker's own verdict, with its first explanation
        lines.append(f"    {finding_line(finding)}")
        if finding["first"]:
            first = str(finding["first"])
            lines.append(f"      first: {first if len(first) <= 400 else first[:400] + ' ... (in full in results.json)'}")
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
        f"  files:  {run.run_dir}/  history.jsonl  run.json  results.json  report.html",
        f"  replay: python harness.py replay {run.run_dir}",
        f"  took {run.elapsed:.1f} s",
        "",
    ]
    return "\n".join(lines)
