"""``harness.py compare``: the same seed and the same fault schedule under each conflict mode, side by side.

``--conflict lww,siblings,crdt`` runs one test per mode (sim by default) with every other option
equal: the seed, and the fault schedule, drawn once and handed to each run. lww and siblings run
the register workload; crdt runs ``--workload set`` (the default here) or ``counter``. Each run is
a normal run directory under ``<out>/<time>-compare-<nemesis>/`` (its history, verdict, report);
the comparison is ``compare.json`` and ``compare.html`` beside them, and a table on stdout
(``--json``: the JSON instead).

Every figure is measured from the runs' results and histories (``mode_figures``):

- ``acknowledged_writes``: ``ok`` writes (put, add, incr, decr; deletes and removes aside);
- ``lost_writes``: ``lost-write`` anomalies, which count acknowledged writes lost: under lww one
  per key whose replicas converged on an older value than its latest acknowledged put (the writes
  between were overwritten, as a register should), under siblings one per acknowledged value in no
  final read and superseded by no write that saw it; set ``lost-element``, counter
  ``counter-out-of-bounds`` (what a lost increment shows up as);
- ``siblings_created`` / ``siblings_resolved`` (siblings only): distinct values a get returned
  beside another value, and how many of those a write with that get's context superseded;
- ``stale_reads``: lww the convergence checker's stale reads, counter the counter rule's, set the
  elements some read missed after their add was known (``stale``), siblings the gets that missed a
  value acknowledged before they began and superseded by no write begun before they ended;
- ``convergence_s``: seconds the final reads polled until every replica agreed, from the heal
  (compare's ``--quiesce`` is 0 unless given), ``converged`` whether they did.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson

from .flags import add_run_options, options_with_config
from .options import COMPARE_QUIESCE, CONFLICTS, OptionError, RunOptions, unknown_choice
from .phases import RunResult, make_schedule, run_nodes
from .run import run
from .run_dir import check_run_name, new_run_dir, write_json
from .usage import Parser, add_config_option

CRDT_WORKLOADS = ("set", "counter")
LOST_ANOMALY = {"register": "lost-write", "set": "lost-element", "counter": "counter-out-of-bounds"}
"""The anomaly that counts as a lost acknowledged write, per workload."""
WRITE_FS = ("put", "add", "incr", "decr")


def parse_conflicts(text: str) -> tuple[str, ...]:
    """``lww,siblings,crdt``: known modes, each once."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in modes if m not in CONFLICTS]
    if bad or not modes:
        raise unknown_choice("--conflict", bad, CONFLICTS)
    if len(set(modes)) != len(modes):
        raise OptionError(f"--conflict {text}: each mode once (the comparison runs each mode one time)")
    return modes


def workload_of(conflict: str, crdt_workload: str) -> str:
    return crdt_workload if conflict == "crdt" else "register"


def siblings_figures(history: Path) -> dict[str, int]:
    """Siblings created and resolved, and stale gets, read from a siblings history (see the module docstring)."""
    gets: dict[int, tuple[str, frozenset[str]]] = {}
    """Index of an ok get -> its key and values."""
    created: dict[str, set[str]] = {}
    resolved: dict[str, set[str]] = {}
    acked: dict[str, set[str]] = {}
    """Per key: values of ok puts not yet superseded by a write begun since."""
    invoked: dict[Any, tuple[str, str | None, int | None]] = {}
    snapshot: dict[Any, frozenset[str]] = {}
    stale = 0
    with history.open("rb") as lines:
        for line in lines:
            ev = orjson.loads(line)
            if "index" not in ev or ev.get("process") == "nemesis":
                continue
            process, key, f, kind = ev.get("process"), ev.get("key"), ev.get("f"), ev.get("type")
            if kind == "invoke":
                invoked[process] = (f, ev.get("value"), ev.get("context_from"))
                if f == "get":
                    snapshot[process] = frozenset(acked.get(key, ()))
                elif ev.get("context_from") in gets:
                    seen_key, seen = gets[ev["context_from"]]
                    acked.setdefault(seen_key, set()).difference_update(seen)
                    resolved.setdefault(seen_key, set()).update(seen & created.get(seen_key, set()))
                continue
            invoked.pop(process, None)
            if f == "get":
                before = snapshot.pop(process, frozenset())
                if kind != "ok":
                    continue
                values = frozenset(str(v) for v in ev.get("value") or ())
                gets[ev["index"]] = (key, values)
                if len(values) > 1:
                    created.setdefault(key, set()).update(values)
                if not ev.get("final") and before & acked.get(key, set()) - values:
                    stale += 1
            elif f == "put" and kind == "ok":
                acked.setdefault(key, set()).add(str(ev.get("value")))
    return {"siblings_created": sum(map(len, created.values())),
            "siblings_resolved": sum(map(len, resolved.values())), "stale_reads": stale}


def mode_figures(result: RunResult) -> dict[str, Any]:
    """The comparison's figures for one finished run, from its results.json and history."""
    o = result.options
    stats = result.results.get("stats", {})
    anomaly_counts = stats.get("anomaly_counts") or {}
    ops = stats.get("ops") or {}
    figures: dict[str, Any] = {
        "workload": o.workload,
        "valid": result.results.get("valid"),
        "acknowledged_writes": sum((ops.get(f) or {}).get("ok", 0) for f in WRITE_FS),
        "lost_writes": anomaly_counts.get(LOST_ANOMALY[o.workload], 0),
        "lost_as": LOST_ANOMALY[o.workload],
        "anomalies": dict(anomaly_counts),
        "siblings_created": None,
        "siblings_resolved": None,
        "stale_reads": None,
        "convergence_s": round(result.final.seconds, 3),
        "converged": result.final.converged,
        "run_dir": str(result.run_dir),
    }
    if o.workload == "set":
        figures["stale_reads"] = ((stats.get("set") or {}).get("outcomes") or {}).get("stale", 0)
    elif o.workload == "counter":
        figures["stale_reads"] = (stats.get("counter") or {}).get("stale_reads", 0)
    elif o.conflict == "siblings":
        figures.update(siblings_figures(result.run_dir / "history.jsonl"))
    else:
        figures["stale_reads"] = (stats.get("staleness") or {}).get("stale_reads", 0)
    return figures


ROWS = (("workload", "workload"), ("valid", "verdict"), ("acknowledged_writes", "acknowledged writes"),
        ("lost_writes", "acknowledged writes lost"), ("siblings_created", "siblings created"),
        ("siblings_resolved", "siblings resolved"), ("stale_reads", "stale reads"),
        ("convergence_s", "final reads agreed after (s)"))


def cell(figures: dict[str, Any], field: str) -> str:
    value = figures.get(field)
    if field == "valid":
        return "VALID" if value is True else "INVALID" if value is False else "UNKNOWN"
    if field == "convergence_s" and not figures.get("converged"):
        return f"not in {value:g}"
    if field == "lost_writes" and figures["lost_as"] != "lost-write":
        return f"{value} ({figures['lost_as']})"
    if field == "stale_reads" and figures["workload"] == "set":
        return f"{value} (elements)"  # the set rule counts elements some read missed, not reads
    return "-" if value is None else str(value)


def format_table(modes: dict[str, dict[str, Any]]) -> str:
    """One table, a column per mode."""
    names = list(modes)
    cells = [[label, *(cell(modes[m], field) for m in names)] for field, label in ROWS]
    header = ["", *names]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(
        zip(row, widths, strict=True))) for row in [header, *cells]]
    return "\n".join(lines)


def write_html(path: Path, comparison: dict[str, Any]) -> None:
    """compare.html: the modes side by side, each linking its own run's report."""
    modes: dict[str, dict[str, Any]] = comparison["modes"]
    names = list(modes)
    head = "".join(f"<th>{html.escape(m)}</th>" for m in names)
    body = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(f"<td>{html.escape(cell(modes[m], field))}</td>" for m in names) + "</tr>"
        for field, label in ROWS)
    links = "".join(
        f'<td><a href="{html.escape(Path(modes[m]["run_dir"]).name)}/report.html">report</a></td>' for m in names)
    path.write_text(
        "<!doctype html><meta charset=utf-8><title>MinikeyDB conflict modes</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:right}"
        "th:first-child{text-align:left}table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}</style>"
        f"<h1>Conflict modes side by side</h1><p>seed {comparison['seed']}, mode {html.escape(comparison['mode'])}, "
        f"nemesis {html.escape(comparison['nemesis'])}: the same seed and fault schedule for each mode.</p>"
        f"<table><tr><th></th>{head}</tr>{body}<tr><th>run report</th>{links}</tr></table>"
        "<p>Lost writes: acknowledged writes missing from every final read and superseded by no write that saw "
        "them (sets: lost elements; counters: final reads out of bounds). Stale reads: reads that missed an "
        "acknowledged write. The final reads poll every replica until they agree.</p>\n")


def compare(base: RunOptions, conflicts: Sequence[str], crdt_workload: str, argv: list[str], *,
            quiet: bool = True, report: bool = True) -> dict[str, Any]:
    """Run ``base`` under each of ``conflicts`` with the same seed and fault schedule; the comparison."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = base.name or f"compare-{'-'.join(base.nemesis) or 'none'}"
    check_run_name(name)
    where = new_run_dir(Path(base.out), name)
    schedule = make_schedule(base, run_nodes(base))
    modes: dict[str, dict[str, Any]] = {}
    for conflict in conflicts:
        workload = workload_of(conflict, crdt_workload)
        options = attrs.evolve(base, conflict=conflict, workload=workload, out=str(where),
                               name=f"{conflict}-{workload}")
        result = run(options, argv, schedule=schedule, quiet=quiet, report=report)
        modes[conflict] = mode_figures(result)
    comparison = {"seed": base.seed, "mode": base.mode, "nemesis": ",".join(base.nemesis) or "none",
                  "started": stamp, "dir": str(where), "modes": modes}
    write_json(where / "compare.json", comparison)
    write_html(where / "compare.html", comparison)
    return comparison


def _parser() -> Parser:
    parser = Parser(
        prog="harness.py compare",
        description="Run the same seed and fault schedule under each conflict mode and print them side by side "
        "(acknowledged writes lost, siblings created and resolved, stale reads, convergence time). "
        "Simulated by default (--mode sim).",
    )
    add_config_option(parser)
    add_run_options(parser)
    g = parser.add_argument_group("compare")
    g.add_argument("--json", action="store_true", help='print {"modes": {MODE: figures}} instead of the table')
    for action in parser._actions:
        if action.dest == "conflict":
            action.help = "comma-separated modes to compare, each once: lww,siblings,crdt (default all three)"
        elif action.dest == "workload":
            action.help = "the crdt mode's workload: set | counter (default set); lww and siblings run registers"
        elif action.dest == "mode":
            action.help = "sim | udp | processes (compare's default sim: the same schedule, deterministically)"
        elif action.dest == "quiesce":
            action.help = (f"seconds to wait after the final heal (compare's default {COMPARE_QUIESCE:g}: the final "
                           "reads then measure how long the replicas take to agree)")
    parser.set_defaults(mode="sim", quiesce=COMPARE_QUIESCE)
    return parser


def compare_command(argv: Sequence[str]) -> int:
    """``harness.py compare``: exit 0 once every mode ran (the verdicts are the figures, not the exit code)."""
    parser = _parser()
    args = parser.parse_args(list(argv))
    conflicts = parse_conflicts(args.conflict or ",".join(CONFLICTS))
    crdt_workload = args.workload or "set"
    if crdt_workload not in CRDT_WORKLOADS:
        raise OptionError(f"--workload {crdt_workload}: compare runs registers under lww and siblings; --workload "
                          f"chooses the crdt mode's: set or counter")
    args.conflict = args.workload = None
    base = options_with_config(args, argv, parser)
    comparison = compare(base, conflicts, crdt_workload, ["harness.py", "compare", *argv])
    if args.json:
        print(json.dumps({"modes": comparison["modes"], "seed": comparison["seed"],
                          "nemesis": comparison["nemesis"], "dir": comparison["dir"]}, indent=2))
        return 0
    print(f"MinikeyDB compare: seed {base.seed}, mode {base.mode}, nemesis {comparison['nemesis']}, "
          f"the same fault schedule for each mode")
    print(format_table(comparison["modes"]))
    print(f"  files: {comparison['dir']}/compare.html, compare.json, one run directory per mode")
    return 0
