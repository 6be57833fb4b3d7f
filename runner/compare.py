"""``harness.py compare``: the same seed and the same fault schedule under each conflict mode, side by side.

``--conflict lww,siblings,crdt`` runs one test per mode (sim by default) with every other option
equal: the seed, and the fault schedule, drawn once and handed to each run. lww and siblings run
the register workload; crdt runs ``--workload set`` (the default here) or ``counter``. Each run is
a normal run directory under ``<out>/<time>-compare-<nemesis>/`` (its history, verdict, report);
the comparison is ``compare.json`` and ``compare.html`` beside them, and a table on stdout
(``--json``: the JSON instead).

Every figure is measured from the runs' results and histories (``mode_figures``):

- ``acknowledged_writes``: ``ok`` writes (put, add, incr, decr; deletes and removes aside);
- ``operations``: every client operation of the run, whatever its outcome (siblings makes a get
  plus a put with context per resolution, so more than lww: ``workload_note`` says so);
- ``anomalies``: every anomaly type the run's checker found, with its count;
- ``lost_writes``: ``lost-write`` anomalies, which count acknowledged writes lost: under lww one
  per key whose replicas converged on an older value than its latest acknowledged put (the writes
  between were overwritten, as a register should), under siblings one per acknowledged value in no
  final read and superseded by no write that saw it; set ``lost-element``; a counter none (None: a
  ``counter-out-of-bounds`` read is not a count of lost writes, it is under ``anomalies``);
- ``reads_with_siblings`` (siblings only): the siblings rule's figure, as the run report gives it;
- ``siblings_created`` / ``siblings_resolved`` (siblings only): distinct values a get returned
  beside another value, and how many of those a write with that get's context superseded;
- ``stale_reads``: lww the convergence checker's stale reads, counter the counter rule's, set the
  elements some read missed after their add was known (``stale``), siblings the gets that missed a
  value acknowledged before they began and superseded by no write begun before they ended;
- ``convergence_s``: NOT a measurement of convergence but its upper bound from the final reads:
  seconds from the start of the final reads (the load drained after the last heal, then
  ``--quiesce``, 0 unless given) to the end of the first read round in which every replica of
  every key agreed (``converged``; else the seconds they polled). It includes the wait until no
  node holds a queued or hinted record (``final_read_drain_s``), and rounds are
  ``ROUND_INTERVAL`` (0.5 s) apart, so ``final_read_rounds`` 1 means the replicas already agreed
  when the reads began, and the figure is the time one round of reads takes (in sim about 0.04 s
  whatever the mode). ``convergence_s_is`` says this in the JSON;
- ``journal_convergence_s``: the measured convergence, where the run has one: seconds after the
  last heal until every replica of every key held the same version (the journal rule: lww registers
  only; None otherwise), ``journal_keys_not_agreed`` the keys whose replicas still differed at the
  end of the journal (the table says "never"). Agreeing is not holding every acknowledged write:
  under lww with clock skew the replicas agree at once on versions that overwrote acknowledged
  writes, so the table shows the figure with the writes the mode lost beside it ("0.000 (8 lost)":
  ``lost_writes``, or the journal's ``journal_writes_never_on_all`` when that is larger).

The table and compare.html say in a sentence what each mode does (``MODE_TEXT``) and what each
figure counts (``NOTES``). compare exits as a run does, with the worst verdict: 1 when any mode is
INVALID, 2 when any is UNKNOWN, 0 when all are VALID (``exit_code``).
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

from minikeydb.cli import decided

from .exit_codes import EXIT_INVALID, EXIT_UNKNOWN, EXIT_USAGE, EXIT_VALID
from .final_reads import ROUND_INTERVAL
from .flags import add_run_options, options_with_config
from .options import COMPARE_QUIESCE, CONFLICTS, OptionError, RunOptions, unknown_choice
from .phases import RunResult, make_schedule, run_nodes
from .run import run
from .run_dir import check_run_name, new_run_dir, write_json
from .usage import Parser, add_config_option

CRDT_WORKLOADS = ("set", "counter")
LOST_ANOMALY: dict[str, str | None] = {"register": "lost-write", "set": "lost-element", "counter": None}
"""The anomaly that counts as a lost acknowledged write, per workload. A counter has none: a
``counter-out-of-bounds`` read is a value outside what the acknowledged operations allow (a lost
increment, or one counted twice), not a count of lost writes; it is listed under anomalies."""
MODE_TEXT = {
    "lww": "last-writer-wins: each write is stamped with its node's hybrid clock and the highest stamp wins, "
           "so concurrent writes (and, under clock skew, later ones) are silently overwritten.",
    "siblings": "dotted version vectors: a get returns every concurrent value (siblings) and a context; the "
                "client resolves them with a put carrying that context, so no acknowledged write is dropped "
                "unseen. Each resolution is a get plus a put: more operations than lww for the same workload.",
    "crdt": "conflict-free replicated data types: sets (OR-set) and counters (PN-counter) merged by their join, "
            "so replicas converge without losing concurrent adds or increments; registers keep last-writer-wins.",
}
"""One or two sentences per conflict mode, printed under the table and in compare.html."""
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


CONVERGENCE_IS = (
    "an upper bound, not a measurement: seconds from the start of the final reads (after the load drained and "
    "--quiesce) to the end of the first read round in which every replica agreed, including the wait until nothing "
    f"was queued or hinted; rounds are {ROUND_INTERVAL:g} s apart, and with 1 round it is the time one round of "
    "reads takes")


def journal_convergence(block: dict[str, Any] | None) -> float | None:
    """Seconds after the last heal until every replica held every acknowledged write, measured from the
    journal (the run's ``convergence`` block), or None when the run has no such measurement."""
    if not block or block.get("source") != "journal" or block.get("incomplete"):
        return None
    value = block.get("after_last_heal_s")
    return None if value is None else round(float(value), 3)


def journal_never_on_all(block: dict[str, Any] | None) -> int | None:
    """Acknowledged writes the journal saw never on all replicas (lost by a crash included), or None without a
    journal measurement."""
    if not block or block.get("source") != "journal":
        return None
    writes = block.get("writes") or {}
    return int(writes.get("never_on_all_replicas") or 0) + int((block.get("crash_losses") or {}).get("writes_lost") or 0)


def mode_figures(result: RunResult) -> dict[str, Any]:
    """The comparison's figures for one finished run, from its results.json and history."""
    o = result.options
    stats = result.results.get("stats", {})
    anomaly_counts = stats.get("anomaly_counts") or {}
    ops = stats.get("ops") or {}
    lost_as = LOST_ANOMALY[o.workload]
    figures: dict[str, Any] = {
        "workload": o.workload,
        "valid": result.results.get("valid"),
        "acknowledged_writes": sum((ops.get(f) or {}).get("ok", 0) for f in WRITE_FS),
        "operations": sum(sum((by_type or {}).values()) for by_type in ops.values()),
        "lost_writes": None if lost_as is None else anomaly_counts.get(lost_as, 0),
        "lost_as": lost_as,
        "anomalies": dict(anomaly_counts),
        "siblings_created": None,
        "siblings_resolved": None,
        "reads_with_siblings": None,
        "stale_reads": None,
        "convergence_s": round(result.final.seconds, 3),
        "convergence_s_is": CONVERGENCE_IS,
        "converged": result.final.converged,
        "final_read_rounds": result.final.rounds,
        "final_read_drain_s": None if result.final.drain_seconds is None else round(result.final.drain_seconds, 3),
        "journal_convergence_s": journal_convergence(result.results.get("convergence")),
        "journal_keys_not_agreed": (result.results.get("convergence") or {}).get("keys_not_agreed"),
        "journal_writes_never_on_all": journal_never_on_all(result.results.get("convergence")),
        "run_dir": str(result.run_dir),
    }
    if o.workload == "set":
        figures["stale_reads"] = ((stats.get("set") or {}).get("outcomes") or {}).get("stale", 0)
    elif o.workload == "counter":
        figures["stale_reads"] = (stats.get("counter") or {}).get("stale_reads", 0)
    elif o.conflict == "siblings":
        figures.update(siblings_figures(result.run_dir / "history.jsonl"))
        figures["reads_with_siblings"] = (stats.get("siblings") or {}).get("reads_with_siblings", 0)
    else:
        figures["stale_reads"] = (stats.get("staleness") or {}).get("stale_reads", 0)
    return figures


ROWS = (("workload", "workload"), ("valid", "verdict"), ("anomalies", "anomalies"),
        ("operations", "client operations (all outcomes)"), ("acknowledged_writes", "acknowledged writes"),
        ("lost_writes", "acknowledged writes lost"), ("reads_with_siblings", "reads with siblings"),
        ("siblings_created", "siblings created (values)"), ("siblings_resolved", "siblings resolved (values)"),
        ("stale_reads", "stale reads"),
        ("journal_convergence_s", "replicas agreed after last heal (s, journal)"),
        ("convergence_s", "final reads: all agreed within (s, upper bound)"))

NOTES: tuple[tuple[str, str], ...] = (
    ("", "Anomalies: every anomaly type the mode's checker found, with its count (the run's report explains each)."),
    ("", "Acknowledged writes lost: lww and siblings lost-write, sets lost-element."),
    ("counter", "A counter has no lost-write count: a counter-out-of-bounds read is a value no set of acknowledged "
                "operations explains (a lost increment, or one counted twice); it is listed under anomalies."),
    ("siblings", "Reads with siblings: the siblings rule's count, as the run report gives it. Siblings created / "
                 "resolved: distinct values some get returned beside another value, and those a later write with "
                 "that get's context superseded (measured here from the history; not in the run report)."),
    ("", "Stale reads: lww and counters the checker's figure, as the run report gives it (final reads aside)."),
    ("set", "Sets: the elements some read missed after their add was known, not reads."),
    ("siblings", "Stale reads under siblings (measured here, not in the run report): the gets that missed a value acknowledged before "
                 "they began and not yet superseded."),
    ("", "Replicas agreed after last heal: measured from the node journals, seconds after the last heal until every "
         "replica of every key held the same version (lww registers only; '-' where the run has no such measurement; "
         "never: some keys still differed between replicas at the end of the journal). Agreeing is not keeping every "
         "acknowledged write: when the mode lost some, the replicas agreed without them, and the figure says how many "
         "('0.000 (8 lost)': under lww with clock skew the replicas agree at once, on versions that overwrote those "
         "writes)."),
    ("", f"Final reads: all agreed within: {CONVERGENCE_IS} (the rounds are in brackets). It bounds convergence "
         "from above: equal figures for every mode mean the replicas already agreed when the final reads began. The "
         "drain: the part spent waiting until no node held a queued or hinted record."),
)
"""Notes under the table: (the mode or workload a note is about, "" for all; the note)."""


def cell(figures: dict[str, Any], field: str) -> str:
    value = figures.get(field)
    if field == "valid":
        return "VALID" if value is True else "INVALID" if value is False else "UNKNOWN"
    if field == "anomalies":
        return ", ".join(f"{k} {v}" for k, v in sorted((value or {}).items())) or "none"
    if field == "convergence_s" and not figures.get("converged"):
        return f"not in {value:g}"
    if field == "convergence_s" and figures.get("final_read_rounds"):
        rounds = figures["final_read_rounds"]
        drain = figures.get("final_read_drain_s") or 0
        waited = f", {drain:.1f} s drain" if drain >= 0.05 else ""
        return f"{value:g} ({rounds} round{'' if rounds == 1 else 's'}{waited})"
    if field == "journal_convergence_s" and value is not None:
        lost = max(figures.get("lost_writes") or 0, figures.get("journal_writes_never_on_all") or 0)
        return f"{value:.3f} ({lost} lost)" if lost else f"{value:.3f}"
    if field == "journal_convergence_s" and figures.get("journal_keys_not_agreed"):
        return f"never ({figures['journal_keys_not_agreed']} keys differ)"
    if field == "lost_writes" and value is not None and figures["lost_as"] != "lost-write":
        return f"{value} ({figures['lost_as']})"
    if field == "stale_reads" and figures["workload"] == "set":
        return f"{value} (elements)"  # the set rule counts elements some read missed, not reads
    if field == "stale_reads" and value is not None and figures.get("siblings_created") is not None:
        return f"{value} (gets)"  # measured by compare from the history, not the siblings rule
    return "-" if value is None else str(value)


def workload_note(modes: dict[str, dict[str, Any]]) -> str | None:
    """A sentence when the modes' workloads differ, so that their operation counts are not like for like."""
    names = list(modes)
    if len(names) < 2:
        return None
    workloads = {modes[m]["workload"] for m in names}
    if len(workloads) == 1 and "siblings" not in names:
        return None
    figures = ", ".join(f"{m} {modes[m]['acknowledged_writes']}" for m in names)
    why = []
    if len(workloads) > 1:
        why.append("the modes ran different workloads (" + ", ".join(f"{m} {modes[m]['workload']}" for m in names)
                   + ")")
    if "siblings" in names:
        why.append("siblings resolves what it reads with a get plus a put carrying that get's context, so it makes "
                   "more operations than lww")
    return ("The modes' operations differ: " + "; ".join(why) + f". Compare the counts with care (acknowledged writes: "
            f"{figures}).")


def describe(modes: dict[str, dict[str, Any]]) -> list[str]:
    """What each compared mode does, the workload note, and what the figures count."""
    lines = [f"{m}: {MODE_TEXT[m]}" for m in modes if m in MODE_TEXT]
    note = workload_note(modes)
    present = {*modes, *(figures["workload"] for figures in modes.values())}
    return [*lines, *([note] if note else []), *(text for about, text in NOTES if not about or about in present)]


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
        + "".join(f"<p>{html.escape(line)}</p>" for line in describe(modes)) + "\n")


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
        "Simulated by default (--mode sim). "
        f"Exit code: {EXIT_INVALID} when any mode's verdict is INVALID, {EXIT_UNKNOWN} when any is UNKNOWN, "
        f"{EXIT_VALID} when every mode is VALID (as a run exits); {EXIT_USAGE} bad arguments.",
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


def exit_code(comparison: dict[str, Any]) -> int:
    """1 when any mode's verdict is INVALID, else 2 when any is UNKNOWN, else 0 (as ``run`` exits)."""
    verdicts = [figures.get("valid") for figures in comparison["modes"].values()]
    if any(v is False for v in verdicts):
        return EXIT_INVALID
    return EXIT_UNKNOWN if any(v is not True for v in verdicts) else EXIT_VALID


def compare_command(argv: Sequence[str]) -> int:
    """``harness.py compare``: exit 1 when any mode is INVALID, 2 when any is UNKNOWN, else 0."""
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
    code = decided(exit_code(comparison))  # a reader that went away (| head) must not change it
    if args.json:
        print(json.dumps({"modes": comparison["modes"], "seed": comparison["seed"],
                          "nemesis": comparison["nemesis"], "dir": comparison["dir"]}, indent=2))
        return code
    print(f"MinikeyDB compare: seed {base.seed}, mode {base.mode}, nemesis {comparison['nemesis']}, "
          f"the same fault schedule for each mode")
    print(format_table(comparison["modes"]))
    for line in describe(comparison["modes"]):
        print(f"  {line}")
    print(f"  files: {comparison['dir']}/compare.html, compare.json, one run directory per mode")
    return code
