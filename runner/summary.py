"""The summary printed at the end of a run: what happened, whether it converged, where to look."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from checker.findings import checker_findings, finding_line, linearizability_note

from .node_logs import describe
from .options import rate_text
from .run import RunResult

VERDICT_WORDS = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}


def _operation_table(history: Path) -> list[str]:
    counts: Counter[tuple[str, str]] = Counter()
    with history.open("rb") as lines:
        for line in lines:
            event = orjson.loads(line)
            if event.get("process") == "nemesis" or event.get("type") == "invoke" or event.get("final"):
                continue
            counts[(event["f"], event["type"])] += 1
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


def _throughput(run: RunResult) -> list[str]:
    """Requested beside achieved, and for long runs the first 30 s beside the last 30 s."""
    t = run.throughput
    if not t:
        return []
    achieved = f"achieved {t['achieved_rate']:.0f} ops/s ({t['achieved_ok_rate']:.0f} ok)"
    if t["requested_rate"] == "max":
        line = f"  rate: {achieved}, closed loop with {run.options.concurrency} clients"
    else:
        line = f"  rate: requested {t['requested_rate']:g} ops/s, {achieved}"
    lines = [line]
    trend = t.get("trend")
    if trend:
        change = trend["change"]
        shown = "n/a" if change is None else f"{change * 100:+.0f} %"
        lines.append(f"  rate trend: first {trend['seconds']:g} s {trend['first_rate']:.0f} ops/s, last "
                     f"{trend['seconds']:g} s {trend['last_rate']:.0f} ops/s ({shown})")
    return lines


def format_summary(run: RunResult) -> str:
    o = run.options
    r: dict[str, Any] = run.results
    lines = [
        "",
        f"MinikeyDB run {run.run_dir.name}",
        f"  seed {o.seed}, mode {o.mode}, {o.nodes} nodes, N={o.replicas} W={o.write_quorum} R={o.read_quorum}, "
        f"{o.time_limit:g} s at {rate_text(o.rate)} ops/s over {o.keys} keys" + _sizes(o)
        + (f", bug {o.bug}" if o.bug else ""),
        *_throughput(run),
        "",
        *_operation_table(run.run_dir / "history.jsonl"),
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
    if f.converged:
        lines.append(f"  converged: all {f.keys} keys written or read agree on every replica, {f.seconds:.2f} s into the final "
                     f"reads ({f.rounds} round{'s' if f.rounds != 1 else ''}, after {o.quiesce:g} s quiescence)")
    else:
        shown = ", ".join(_short(k) for k in f.disagreeing[:8]) + (" ..." if len(f.disagreeing) > 8 else "")
        lines.append(f"  NOT converged after {f.seconds:.1f} s of final reads: {len(f.disagreeing)} "
                     f"key{'s' if len(f.disagreeing) != 1 else ''} still differ between replicas ({shown})")
    anomalies = r.get("anomalies", [])
    by_type = Counter(a.get("type", "?") for a in anomalies)
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
    if o.nemesis and "clock-skew" in o.nemesis and by_type.get("lost-write"):
        lines.append("    note: under clock-skew, last-writer-wins loses an acknowledged write whenever the")
        lines.append("    skew exceeds the gap between conflicting writes; the lost writes above show exactly that.")
    lines += [
        "",
        f"  files:  {run.run_dir}/  "
        + "  ".join(n for n in ("history.jsonl", "run.json", "results.json", "report.html")
                    if (run.run_dir / n).is_file()),
        f"  replay: python harness.py replay {run.run_dir}",
        f"  took {run.elapsed:.1f} s",
        "",
    ]
    return "\n".join(lines)
