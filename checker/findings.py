"""The words a user reads about a verdict, shared by the terminal summaries and report.html.

One place decides how a verdict, each checker's findings and the convergence figure are said,
so that the run summary, ``harness.py check`` and the report cannot contradict one another (or
the results object): a figure is shown only when what it claims happened, and says what it
measures.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

VERDICT_WORDS = {True: "VALID", False: "INVALID"}

# Where results.json's `convergence` figure came from (docs/HISTORY.md).
SOURCE_JOURNAL = "journal"
SOURCE_FINAL_READS = "final-reads upper bound"


def verdict_word(valid: Any) -> str:
    return VERDICT_WORDS.get(valid, "UNKNOWN")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 anomaly``, ``2 anomalies``, ``1,000 keys``."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _counts(anomalies: list[dict[str, Any]], counts: dict[str, int] | None) -> dict[str, int]:
    if counts:
        return dict(counts)
    return dict(Counter(str(a.get("type", "?")) for a in anomalies))


def own_checker(results: dict[str, Any]) -> str:
    """``results``' checker: ``convergence`` also when it names its own rule (a Maelstrom run's ``echo``,
    ``set-full``, ``counter``, ``unique-ids``: the rule-checked pass under the workload's check name)."""
    top = results.get("checker", "convergence")
    return "convergence" if top == results.get("rule") else str(top)


def checker_findings(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per checker in ``results``: name, verdict, anomaly counts, first explanation.

    ``results`` is a results object of ``harness.py check``: the convergence checker's at the top
    level (when it ran) and the linearizability checker's under ``"linearizable"``.
    """
    out = []
    top = own_checker(results)
    if top == "convergence":
        st = results.get("stats") or {}
        anomalies = results.get("anomalies") or []
        unknown = results.get("unknown") or []
        valid = results.get("valid")
        lin = results.get("linearizable")
        if isinstance(lin, dict):  # the top-level verdict combines both; this one is convergence's own
            valid = False if anomalies else ("unknown" if unknown else True)
        out.append({
            "checker": "convergence",
            "rule": results.get("rule"),
            # a Maelstrom run names its workload's check (echo, set-full, counter): said as such, not as convergence
            "named": results.get("checker") if results.get("checker") not in (None, "convergence") else None,
            "valid": valid,
            "counts": _counts(anomalies, st.get("anomaly_counts")),
            "first": anomalies[0].get("explanation") if anomalies else None,
            "undecided": st.get("unknown_keys", len(unknown)),
        })
    lin = results if top == "linearizable" else results.get("linearizable")
    if isinstance(lin, dict):
        anomalies = lin.get("anomalies") or []
        st = lin.get("stats") or {}
        unknown = lin.get("unknown") or []
        out.append({
            "checker": "linearizable",
            "valid": lin.get("valid"),
            "counts": _counts(anomalies, None),
            "first": anomalies[0].get("explanation") if anomalies else None,
            "undecided": len(unknown),
            "parts": st.get("parts"),
            "parts_invalid": st.get("parts_invalid"),
            "parts_not_checked": st.get("parts_not_checked") or 0,
            "model": st.get("model"),
            # one register without keys: "1 of 1 key" would name a key the history does not have
            "keyless": st.get("parts") == 1 and st.get("model") != "kv"
            and [p.get("key") for p in st.get("per_part") or [] if isinstance(p, dict)] == [st.get("model")],
            "notes": [n for n in st.get("notes") or [] if isinstance(n, str)],
        })
    return out


def finding_line(f: dict[str, Any]) -> str:
    """``convergence: INVALID, divergent x5`` / ``linearizability (model kv): NOT linearizable, 2 of 20 keys``."""
    if f["checker"] == "linearizable":
        word = {True: "linearizable", False: "NOT linearizable"}.get(f["valid"], "undecided")
        head = f"linearizability (model {f.get('model') or 'kv'}): {word}"
        if f["valid"] is False and f.get("parts") is not None and not f.get("keyless"):
            head += f", {f.get('parts_invalid') or 0} of {plural(f['parts'], 'key')} cannot be linearized"
            if f.get("parts_not_checked"):  # the check stopped at the first refuted part
                head += (f" ({f['parts_not_checked']} not searched: the check stops at the first refuted "
                         "key; --all-parts searches every key)")
    else:
        rule = f.get("rule")
        name = f"{f['named']} check" if f.get("named") else f"convergence ({rule} rule)" if rule else "convergence"
        head = f"{name}: {verdict_word(f['valid'])}"
        if f["counts"]:
            head += ", " + ", ".join(f"{k} x{v}" for k, v in sorted(f["counts"].items(), key=lambda kv: -kv[1]))
    if f.get("undecided"):
        head += f"; {plural(f['undecided'], 'undecided key')}"
    return head


def workload_lines(results: dict[str, Any]) -> list[str]:
    """What the set, counter and siblings rules measured, one line each (none for a register history)."""
    st = results.get("stats") or {}
    lines = []
    s = st.get("set")
    if isinstance(s, dict):
        oc = s.get("outcomes") or {}
        parts = ", ".join(f"{n:,} {k}" for k, n in oc.items() if n)
        lines.append(f"set: {plural(s.get('elements') or 0, 'element')} ({parts or 'none'})")
        lat = s.get("stable_latency_ms") or {}
        if lat.get("n"):
            lines.append(f"set: stable latency (Jepsen's: from the add's acknowledgement to the last read that "
                         f"missed it) p50 {lat['p50']:g} ms, p99 {lat['p99']:g} ms, max {lat['max']:g} ms "
                         f"({plural(lat['n'], 'element')})")
    c = st.get("counter")
    if isinstance(c, dict):
        stale = (f"; {c.get('stale_reads', 0):,} stale (missed acknowledged operations, measured under "
                 "--counter-reads eventual)") if c.get("reads") != "strict" else ""
        lines.append(f"counter: {c.get('reads_out_of_bounds', 0):,} of {plural(c.get('reads_checked') or 0, 'read')} "
                     f"out of bounds{stale}")
        for key, fin in list((c.get("final") or {}).items())[:3]:
            lo, hi = fin["bounds"]
            lines.append(f"counter {key}: final {', '.join(str(v) for v in fin['values'])}, bounds [{lo}, {hi}]")
    b = st.get("siblings")
    if isinstance(b, dict):
        lines.append(f"siblings: {b.get('reads_with_siblings', 0):,} of {plural(b.get('reads') or 0, 'read')} returned "
                     f"more than one (at most {b.get('max_siblings', 0)}; at most {b.get('final_max_siblings', 0)} "
                     f"in the final reads); {b.get('writes_with_context', 0):,} writes carried a context, "
                     f"{b.get('writes_without_context', 0):,} none")
        if b.get("undecided_values"):
            lines.append(f"siblings: {plural(b['undecided_values'], 'value')} undecided: repeated values leave "
                         "open which put a get saw, so neither a lost nor a resurrected write can be told "
                         "(write unique values to decide)")
    return lines


def linearizability_note(quorum: tuple[int, int, int] | None) -> str:
    """What this store is expected to guarantee, for readers of a linearizability failure.

    ``quorum`` is (N, W, R) when the run recorded it.
    """
    if quorum is None:
        setting = "An eventually consistent configuration (such as MinikeyDB's default N=3, W=1, R=1)"
    elif (n := quorum[0]) >= (w := quorum[1]) + (r := quorum[2]):
        setting = f"With N={n}, W={w}, R={r} (R+W <= N) MinikeyDB"
    else:
        setting = f"Even with N={n}, W={w}, R={r} (R+W > N) MinikeyDB"
    return (
        f"{setting} is not expected to be linearizable. With R+W <= N a read may ask only replicas that "
        "an acknowledged write has not reached yet. R+W > N (for N=3: W=2, R=2, or W=3, R=1) makes every "
        "read ask at least one replica that acknowledged each write completed before it, which removes "
        "those stale reads, but it still does not make this store linearizable: a read answers before it "
        "writes the newest value back to stale replicas (two reads in a row can see new, then old), "
        "concurrent writes are ordered by hybrid-clock timestamps (last writer wins), not by real time, so "
        "clock skew can let an earlier write win, and a write that timed out may still take effect later "
        "through a hint. Linearizability failures here are findings about the configuration, not "
        "necessarily bugs; the convergence checker judges what the store promises."
    )


CLOCK_SKEW_NOTE = (
    "under clock-skew, last-writer-wins loses an acknowledged write whenever the skew exceeds the gap "
    "between conflicting writes; the lost writes found here show exactly that: a finding to see, not a bug."
)


def clock_skew_note(results: dict[str, Any]) -> str | None:
    """The clock-skew note, when the history had clock-skew fault windows and lost writes were found.

    Read from the results object alone (its fault windows and anomaly counts), so the run summary,
    ``harness.py check`` and report.html say it alike.
    """
    st = results.get("stats") or {}
    kinds = {w.get("kind") for w in st.get("faults") or [] if isinstance(w, dict)}
    if "clock-skew" not in kinds:
        return None
    counts = _counts(results.get("anomalies") or [], st.get("anomaly_counts"))
    return CLOCK_SKEW_NOTE if counts.get("lost-write") else None


LOAD_END_WORDS = (("after the last heal at", "after the load ended at"), ("after the heal at", "after the load ended at"),
                  ("after the last heal", "after the load ended"), ("after the heal", "after the load ended"),
                  ("From the last heal", "From the load's end"), ("after last heal", "after the load ended"))


def load_end_words(text: str | None, faults: Any) -> str | None:
    """A MinikeyDB run with no fault window (``faults``: results.json ``stats.faults`` empty) still records one
    ``heal`` at the load's end, from which the convergence figures count: said so, not as a heal."""
    if text is None or not isinstance(faults, list) or faults:
        return text
    for heal, end in LOAD_END_WORDS:
        text = text.replace(heal, end)
    return text


def final_reads_timing(c: dict[str, Any] | None) -> tuple[float, float] | None:
    """The one way the run summary and report.html split the time from the last heal to the last key's
    agreement, (before, into) in seconds, both read from the history: ``before`` runs from the heal to the
    first final read (the harness's quiescence wait, its wait until no node held a record queued, and any
    operation still completing: none of it final reads), ``into`` from there until the last key's final
    reads agreed. None when some key never agreed, or without a heal or times (``c``: `convergence_entry`)."""
    if not c or c.get("keys_not_agreed"):
        return None
    began, agreed = c.get("final_reads_began_after_s"), c.get("all_agreed_after_s")
    if not isinstance(began, int | float) or not isinstance(agreed, int | float) or began < 0:
        return None
    return float(began), max(0.0, float(agreed) - began)


def into_final_reads_text(seconds: float) -> str:
    """A time into the final reads as both pages show it (whole milliseconds)."""
    return f"{seconds * 1000:.0f} ms"


def convergence_entry(stats: dict[str, Any]) -> dict[str, Any] | None:
    """The entry of ``stats['convergence']`` that carries the final reads (the last heal's), if any."""
    for c in reversed(stats.get("convergence") or []):
        if c.get("keys_with_final_reads") is not None:
            return c
    return None


def convergence_line(c: dict[str, Any]) -> str:
    """The convergence sentence: a figure only for what happened, labelled as the bound it is."""
    n = c.get("keys_with_final_reads") or 0
    bad = c.get("keys_not_agreed") or 0
    heal = c.get("heal_s")
    began = c.get("final_reads_began_after_s")
    wait = f", including the {began:.2f} s before the final reads began" if began is not None else ""
    if bad:
        line = f"{bad} of {plural(n, 'key')} still disagreed at their last final reads"
        if heal is not None:
            line += f" (last heal at {heal:.3f} s)"
        return line
    if c.get("all_agreed_after_s") is not None and heal is not None:
        return (
            f"all {plural(n, 'key')} agreed in the final reads; the last one agreed "
            f"{c['all_agreed_after_s']:.2f} s after the heal at {heal:.3f} s (an upper bound on convergence "
            f"time: measured from final read rounds{wait})"
        )
    return f"all {plural(n, 'key')} agreed in the final reads"


def convergence_card(c: dict[str, Any] | None) -> tuple[str, str]:
    """(label, value) for the report's summary card; never a time when a key did not agree."""
    if c is None:
        return "final reads", "none"
    n = c.get("keys_with_final_reads") or 0
    bad = c.get("keys_not_agreed") or 0
    if bad:
        return "keys agreed (final reads)", f"{n - bad:,} of {n:,}, {bad:,} never"
    if c.get("all_agreed_after_s") is not None:
        return "all keys agreed by (bound)", f"≤ {c['all_agreed_after_s']:.2f} s after heal"
    return "keys agreed (final reads)", f"all {n:,}"


def faults_sentence(faults: dict[str, Any]) -> str | None:
    """One sentence on whether the faults bit, for the summary line, ``check`` and the report."""
    bite = faults.get("bite") or []
    if not bite:
        return None
    kinds = sorted({e["kind"] for e in bite})
    if faults.get("changed_nothing"):
        return (
            f"the faults changed nothing: {plural(len(bite), 'window')} ({', '.join(kinds)}) dropped, delayed, "
            "duplicated or reordered no datagram, crashed or paused no node, and no operation failed or timed out "
            "in them"
        )
    tot: dict[str, int] = {"dropped": 0, "delayed": 0, "duplicated": 0, "reordered": 0}
    crashed = paused = failed = timed_out = 0
    for e in bite:
        for k in tot:
            tot[k] += (e.get("datagrams") or {}).get(k, 0)
        crashed += len(e["nodes_crashed"])
        paused += len(e["nodes_paused"])
        failed += e["ops"]["failed"]
        timed_out += e["ops"]["timed_out"]
    parts = [f"{plural(n, 'datagram')} {k}" for k, n in tot.items() if n]
    if crashed:
        parts.append(f"{plural(crashed, 'node')} crashed")
    if paused:
        parts.append(f"{plural(paused, 'node')} paused")
    parts.append(f"{failed:,} operations failed and {timed_out:,} timed out under them")
    uncovered = [e for e in bite if e.get("not_covered")]
    if not any(e.get("bit") for e in bite) and uncovered:  # the journal stopped before these windows ended
        return (f"the faults' effect is not covered by the journal, which stops before {len(uncovered)} of "
                f"{plural(len(bite), 'window')} ({', '.join(sorted({e['kind'] for e in uncovered}))}) ended: "
                + ", ".join(parts))
    if not any(e.get("bit") for e in bite):  # e.g. clock skew: it changes which write wins, nothing else here
        return (f"the faults' effect is not visible in datagrams, nodes or failures ({', '.join(kinds)}): "
                + ", ".join(parts) + "; what they did shows only in the verdict")
    line = "the faults bit: " + ", ".join(parts)
    inert = faults.get("inert_windows") or 0
    if inert:
        line += f"; {inert} of {plural(len(bite), 'window')} changed nothing"
    if all(e.get("datagrams") is None for e in bite):
        line += (" (journal not used: datagram effects not seen)" if faults.get("journal_error")
                 else " (no journal: datagram effects not seen)")
    return line


def lag_text(ms: float, c: dict[str, Any], with_count: bool = False) -> str:
    """A replication lag from the journal's ``convergence`` block ``c``, in words: a 0 is what the clock could
    not tell from the ok, so a sim run's is "< 1 ms" (its clock moves in ``clock_tick_ms`` ticks) and a real
    clock's is "0 ms" (on every replica by the time the ok was recorded); when a p50 is 0, the count of such
    writes follows it with ``with_count`` (``replication_lag_ms.zero``, from a journal measured since that count exists)."""
    tick = c.get("clock_tick_ms")
    rl = c.get("replication_lag_ms") or {}
    if ms != 0:
        return f"{ms:g} ms"
    text = f"< {tick:g} ms" if tick else "0 ms"
    zero, n = rl.get("zero"), rl.get("n")
    if with_count and isinstance(zero, int) and zero and n:
        text += (f" ({zero:,} of {n:,} writes on every replica within the simulated clock's {tick:g} ms tick of "
                 "their ok)" if tick else
                 f" ({zero:,} of {n:,} writes on every replica by the time their ok was recorded)")
    return text


def convergence_headline(c: dict[str, Any] | None) -> str | None:
    """The convergence figure in words, from the ``convergence`` block (journal or upper bound)."""
    if not c:
        return None
    if c.get("source") == SOURCE_JOURNAL:
        rl = c.get("replication_lag_ms") or {}
        writes = c.get("writes") or {}
        acked = writes.get("acknowledged") or 0
        of = f"{rl.get('n', 0):,} of {plural(acked, 'acknowledged write')}" if acked != rl.get("n") else plural(
            acked, "acknowledged write")
        lag = (
            f"; replication lag p50 {lag_text(rl['p50'], c, with_count=True)}, p99 {lag_text(rl['p99'], c)}, "
            f"max {lag_text(rl['max'], c)} over {of}"
            if rl.get("n") else ""
        )
        never = writes.get("never_on_all_replicas") or 0
        if never:
            lag += f"; {plural(never, 'acknowledged write')} never on all replicas"
        unseen = writes.get("not_seen_before_journal_end") or 0
        if unseen:
            lag += (f"; {plural(unseen, 'acknowledged write')} not seen on all replicas before the journal "
                    "stopped (not measured)")
        crash_lost = (c.get("crash_losses") or {}).get("writes_lost") or 0
        if crash_lost:
            lag += (f"; {plural(crash_lost, 'acknowledged write')} on all replicas, then lost by a crash on some "
                    "and not back on all (crash_losses in results.json)")
        never += crash_lost
        if c.get("keys_not_agreed"):
            head = (f"NOT converged: {c['keys_not_agreed']:,} of {plural(c.get('keys') or 0, 'key')} still differ "
                    "between replicas at the end of the journal")
        elif c.get("after_last_heal_s") is not None and never:
            # The replicas agree, but on versions older than some acknowledged writes: not "converged" to them.
            head = (f"replicas agreed {c['after_last_heal_s']:.3f} s after the last heal at {c['last_heal_s']:.3f} s "
                    "(measured from the journal), without every acknowledged write")
        elif c.get("after_last_heal_s") is not None:
            head = (f"converged {c['after_last_heal_s']:.3f} s after the last heal at {c['last_heal_s']:.3f} s "
                    "(measured from the journal)")
        elif c.get("last_heal_s") is None:
            head = f"all {plural(c.get('keys') or 0, 'key')} agreed on every replica (no heal in the history)"
        else:
            head = "convergence after the last heal not measured"
        if c.get("incomplete"):  # no firm figure from a journal that stops early: what it saw, as such
            return f"UNKNOWN: the journal is incomplete ({c['incomplete']}); up to its end: {head}{lag}"
        return head + lag
    if c.get("journal_error"):  # a journal was there but could not be used: say so, not "no journal"
        what = "the journal beside it is not this history's" if c.get("journal_mismatch") else "the journal could not be read"
        bound = (f": converged at most {c['after_last_heal_s']:.2f} s after the last heal (upper bound)"
                 if c.get("after_last_heal_s") is not None else "")
        return f"{what} ({c['journal_error']}); figures from the final reads instead{bound}"
    if c.get("after_last_heal_s") is not None:
        return f"converged at most {c['after_last_heal_s']:.2f} s after the last heal (upper bound: {c['how']})"
    return None
