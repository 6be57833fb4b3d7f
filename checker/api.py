"""The checker's one programmatic entry point: a history in, a verdict and its findings out.

    from checker.api import CheckOptions, check

    result = check("histories/latest", CheckOptions(checkers=("convergence", "linearizable")))
    print(result.valid, len(result.anomalies))
    results_json = result.results  # the results object of docs/HISTORY.md

The command line (``checker.cli``), the runner's check phase, the report and the benchmarks all
call `check`; nothing else in the checker is meant to be driven from outside. The settings are a
`CheckOptions` value, checked when it is made, and its defaults are the only defaults (the
command line fills in what a flag or the run's recorded settings do not give).

This module stays light: the linearizability checker is imported only when it is asked for.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from checker.history import HistoryError, is_edn_path, iter_events, read_events, resolve_history, validate
from checker.timelimit import TimeLimit, TimeLimitExceeded
from checker.workloads import DEFAULT_HEADER, HistoryHeader, is_header, parse_header, read_header

if TYPE_CHECKING:
    from checker.convergence import FinalAgreement
    from checker.journal_figures import HistoryFacts

CHECKERS = ("convergence", "linearizable")
NULL_READS = ("any", "absent")
FAIL_CAS = ("not-applied", "observed")
COUNTER_READS = ("eventual", "strict")
DEFAULT_MODEL = "kv"
#: Seconds a whole linearizability check may take: parts not decided by then are unknown.
DEFAULT_TIME_LIMIT = 300.0
#: Bytes one part's linearizability search may grow its process by: a part needing more is unknown.
DEFAULT_MEMORY_BUDGET = 768 * 1024 * 1024

# How a harness run is checked beyond the defaults: a get of null means the key is absent in
# MinikeyDB, and no part's search may take more than ten seconds.
HARNESS_RUN_SETTINGS: dict[str, Any] = {"null_read": "absent", "time_budget": 10.0}


class CheckOptionError(ValueError):
    """A `CheckOptions` field with a value the checker cannot use; the message names the field."""


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    """Checker names as a tuple; a string names them comma-separated, as ``--checker`` does."""
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(","))
    return tuple(value)


def _checkers(_: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    bad = [c for c in value if c not in CHECKERS]
    if not value or bad:
        raise CheckOptionError(f"checkers must name one or more of {', '.join(CHECKERS)}, got {list(value)!r}")


def _model(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value == DEFAULT_MODEL:
        return
    from checker.linearizable import MODELS  # only for a model other than the default

    if value not in MODELS:
        raise CheckOptionError(f"unknown model {value!r}; choose one of {', '.join(MODELS)}")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise CheckOptionError(
                f"{attribute.name} must be {' or '.join(repr(c) for c in choices)}, got {value!r}"
            )

    return check


#: The longest time limit or budget accepted (seconds, about 31 years): past it, give None (no limit).
MAX_SECONDS = 1e9
#: The largest memory budget accepted (bytes): what an address-space limit can still hold.
MAX_MEMORY_BUDGET = 1 << 62


def _seconds_or_none(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_SECONDS:
        raise CheckOptionError(
            f"{attribute.name} must be a positive number of seconds up to {MAX_SECONDS:g} (None for no limit), "
            f"got {value!r:.40}"
        )


def _bytes_or_none(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if type(value) is not int or not 0 < value <= MAX_MEMORY_BUDGET:
        raise CheckOptionError(
            f"{attribute.name} must be a whole positive number of bytes up to 2**62 (None for no budget), "
            f"got {value!r:.40}"
        )


def _bool(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not bool:
        raise CheckOptionError(f"{attribute.name} must be True or False, got {value!r}")


def _json_value(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``init`` is a JSON value (as ``--init`` gives): null, a bool, a finite number, a string, or a
    list or object (string keys) of those."""
    todo = [value]
    seen = 0
    while todo:
        v = todo.pop()
        seen += 1
        if seen > 10_000_000:  # a list that contains itself, or an absurd init
            raise CheckOptionError(f"{attribute.name} must be a JSON value: too large, or it contains itself")
        if v is None or type(v) in (bool, int, str):
            continue
        if type(v) is float:
            if v != v or v in (float("inf"), float("-inf")):
                raise CheckOptionError(f"{attribute.name} must be a JSON value: {v!r} is not a finite number")
            continue
        if type(v) in (list, tuple):
            todo.extend(v)
            continue
        if type(v) is dict:
            bad = [k for k in v if type(k) is not str]
            if bad:
                raise CheckOptionError(f"{attribute.name} must be a JSON value: object key {bad[0]!r} is not a string")
            todo.extend(v.values())
            continue
        raise CheckOptionError(f"{attribute.name} must be a JSON value, got {type(v).__name__} {v!r:.60}")


@attrs.frozen
class CheckOptions:
    """How to check a history. Every field is checked when the value is made (`CheckOptionError`).

    ``checkers``: which checkers run (``convergence``, ``linearizable`` or both); the remaining
    fields are the linearizability checker's (docs/HISTORY.md): its ``model``, the model's
    initial state ``init`` (JSON; ``None`` for the model's own), what a read of null means
    (``null_read``), whether a failed cas certainly did not apply (``fail_cas``) and the seconds
    each part's search may take (``time_budget``, ``None`` for no limit); the limits of the whole
    linearizability check: ``time_limit`` seconds for all parts together, ``memory_budget`` bytes
    per part (a part past either is ``unknown``, never a crash), and ``all_parts`` (search every
    part, as a report wants; ``False`` ends the check at the first refuted part). ``counter_reads``
    is the counter rule's (docs/HISTORY.md): ``eventual`` holds only final reads to the bounds their
    time allows and measures stale ones, ``strict`` holds every read to them.
    """

    checkers: tuple[str, ...] = attrs.field(default=("convergence",), converter=_as_tuple, validator=_checkers)
    model: str = attrs.field(default=DEFAULT_MODEL, validator=_model)
    init: Any = attrs.field(default=None, validator=_json_value)
    null_read: str = attrs.field(default="any", validator=_one_of(NULL_READS))
    fail_cas: str = attrs.field(default="not-applied", validator=_one_of(FAIL_CAS))
    time_budget: float | None = attrs.field(default=None, validator=_seconds_or_none)
    time_limit: float | None = attrs.field(default=DEFAULT_TIME_LIMIT, validator=_seconds_or_none)
    memory_budget: int | None = attrs.field(default=DEFAULT_MEMORY_BUDGET, validator=_bytes_or_none)
    all_parts: bool = attrs.field(default=True, validator=_bool)
    counter_reads: str = attrs.field(default="eventual", validator=_one_of(COUNTER_READS))

    def settings(self) -> dict[str, Any]:
        """The settings a check records in its results (``check_settings``) so a later check can repeat it."""
        settings = {
            "checkers": list(self.checkers),
            "model": self.model,
            "null_read": self.null_read,
            "fail_cas": self.fail_cas,
            "time_budget": self.time_budget,
        }
        if self.counter_reads != "eventual":  # recorded only when not the default, so results.json stays as before
            settings["counter_reads"] = self.counter_reads
        return settings


def harness_run_options(checkers: Iterable[str]) -> CheckOptions:
    """The options a harness run is checked with (``HARNESS_RUN_SETTINGS`` over the defaults)."""
    return CheckOptions(checkers=checkers, **HARNESS_RUN_SETTINGS)


@attrs.frozen
class CheckResult:
    """What `check` found. ``results`` is the results object of docs/HISTORY.md (what results.json
    holds, ``check_settings`` included): a plain dict the caller owns and may extend. The other
    attributes read it; ``history`` is the file that was read (``None`` for an iterable of events);
    ``agreement`` is how each key's final reads came to agree (``None`` without the convergence
    checker), which the report plots and results.json does not hold.
    """

    results: dict[str, Any]
    options: CheckOptions
    history: Path | None = None
    agreement: FinalAgreement | None = None

    @property
    def valid(self) -> bool | str:
        """``True``, ``False`` or ``"unknown"``: the combined verdict of every checker that ran."""
        valid: bool | str = self.results["valid"]
        return valid

    @property
    def anomalies(self) -> list[dict[str, Any]]:
        """The first checker's anomalies (the convergence checker's when it ran)."""
        return list(self.results.get("anomalies") or [])

    @property
    def unknown(self) -> list[dict[str, Any]]:
        """What the first checker could not decide, one entry per key."""
        return list(self.results.get("unknown") or [])

    @property
    def stats(self) -> dict[str, Any]:
        """The first checker's measurements (``stats`` of the results object)."""
        stats: dict[str, Any] = self.results.get("stats") or {}
        return stats

    @property
    def linearizable(self) -> dict[str, Any] | None:
        """The linearizability checker's own results object, when it ran."""
        if self.results.get("checker") == "linearizable":
            return self.results
        lin = self.results.get("linearizable")
        return lin if isinstance(lin, dict) else None

    @property
    def heals(self) -> list[float]:
        """The time (seconds) of every heal in the history that has one, in history order."""
        entries = self.stats.get("convergence") or []
        return [e["heal_s"] for e in entries if e.get("heal_s") is not None]


EventWatch = Callable[[Iterable[dict[str, Any]]], Iterator[dict[str, Any]]]
"""Something that sees every event of the convergence pass on its way (``check(..., watch=)``)."""


def check(source: str | Path | Iterable[dict[str, Any]], options: CheckOptions | None = None, *,
          watch: EventWatch | None = None, run_journal: Mapping[str, Any] | None = None) -> CheckResult:
    """Check one history with ``options`` (default: `CheckOptions()`, the convergence checker).

    ``source`` is a history file (JSON lines, or Jepsen EDN by its ``.edn`` name), a run directory
    (its history.jsonl or history.edn), or an iterable of event dicts in history order. A file is
    streamed when only the convergence checker runs, so memory follows keys and writes, not events.

    Raises `HistoryError` for a history that cannot be read (naming file, line and field; the
    linearizability checker's complaints about one operation are turned into one too, when the
    history came from a file), and the linearizability checker's ``HistoryInputError`` /
    ``ModelArgumentError`` (``ValueError``s) for what it alone refuses.

    ``watch``, when given, wraps the register history's event stream on its way to the convergence
    checker (and is not called for a set, counter or siblings history): the report gathers its plot
    data in the check's own pass with it (`checker.report.check_for_report`).

    ``run_journal``: results.json's ``journal`` block, for the run's own check (results.json is written after
    it): it says why a journal is cut short (`checker.journal.cut_short_cause`); else results.json is read.
    """
    options = CheckOptions() if options is None else options
    history = None
    if isinstance(source, str | Path):
        history, _ = resolve_history(source)
    header, source = _header(history, source)
    notes: list[str] = []  # what reading the history had to say (a field name that looks misspelt)
    if header.rule is not None:
        results = _check_workload(header, history, source, options, notes)
        results["check_settings"] = options.settings()
        _add_notes(results, notes)
        return CheckResult(results, options, history, None)
    facts = None
    if "convergence" in options.checkers:
        from checker.journal import find_journal
        from checker.journal_figures import HistoryFacts

        facts = HistoryFacts()  # what the journal and fault figures need, gathered in the check's one pass
        if history is None or find_journal(history.parent) is None:
            facts.writes_skipped = True  # no journal to hold the writes against: only the fault windows' ops
    results, agreement = _run(history, source, options, facts, watch, notes)
    if "convergence" in options.checkers and results.get("checker", "convergence") == "convergence":
        journal_figures(results, history, source, facts, run_journal)
    results["check_settings"] = options.settings()
    _add_notes(results, notes)
    return CheckResult(results, options, history, agreement)


def _add_notes(results: dict[str, Any], notes: list[str]) -> None:
    """results' ``notes``: warnings about the history that do not change the verdict (only when there are any)."""
    if notes:
        results["notes"] = [*(results.get("notes") or []), *notes]


def _header(history: Path | None, source: Any) -> tuple[HistoryHeader, Any]:
    """The history's header (docs/HISTORY.md), and the source to read its events from.

    For a file the header is its first line; for an iterable of events, a first item that is a
    header. A register history's header is taken off an iterable (the register checker reads
    events only); another workload's stays, for `validate` to read the shapes it declares."""
    if history is not None:
        return read_header(history), source
    if not isinstance(source, str | Path):
        it = iter(source)
        for first in it:
            if not is_header(first):
                return DEFAULT_HEADER, itertools.chain((first,), it)
            header = parse_header(first, "<events>", 1)
            return header, (itertools.chain((first,), it) if header.rule is not None else it)
        return DEFAULT_HEADER, ()
    return DEFAULT_HEADER, source


def _check_workload(header: HistoryHeader, history: Path | None, source: Any, options: CheckOptions,
                    notes: list[str] | None = None) -> dict[str, Any]:
    """The results object of the set, counter, siblings, echo or unique-ids rule (checker/set_full.py,
    counter.py, siblings.py, echo.py, unique_ids.py)."""
    if "linearizable" in options.checkers:
        raise CheckOptionError(
            f"the linearizability checker checks register histories with last-writer-wins; this history declares "
            f"workload {header.workload} with conflict {header.conflict}: check it with the convergence checker "
            "(the default), which applies that workload's rule"
        )
    if history is not None:
        events: Any = iter_events(history, notes=notes)
    else:
        events = validate(enumerate(_not_empty(source), 1), "<events>", notes=notes)
    if header.rule == "set-full":
        from checker.set_full import check_set

        results = check_set(events)
    elif header.rule == "counter":
        from checker.counter import check_counter

        results = check_counter(events, options.counter_reads)
    elif header.rule == "echo":
        from checker.echo import check_echo

        results = check_echo(events)
    elif header.rule == "unique-ids":
        from checker.unique_ids import check_unique_ids

        results = check_unique_ids(events)
    else:
        from checker.siblings import check_siblings

        results = check_siblings(events)
    if not results["stats"]["ops"]:
        results["unknown"].append({"key": None, "kind": "no-ops", "indexes": [],
                                   "reason": "the history has no client operations, so there is nothing to judge"})
        if results["valid"] is True:
            results["valid"] = "unknown"
    results["workload"] = header.workload
    results["conflict"] = header.conflict
    return results


def journal_figures(results: dict[str, Any], history: Path | None, source: Any,
                    facts: HistoryFacts | None = None, run_journal: Mapping[str, Any] | None = None) -> None:
    """The ``convergence`` and ``faults`` blocks: from the run's journal (journal.jsonl.gz beside
    the history) when there is one, else from the history alone (the final reads' upper bound).

    ``facts``, when the check gathered them in its own pass, spare a second read of the history. A
    history that is not a file is read again only when it is a list (a generator is spent)."""
    from checker.journal import JournalError, JournalMismatch, check_belongs, find_journal, load_journal
    from checker.journal_figures import final_reads_convergence, history_faults_block, journal_blocks

    again: Any = history if history is not None else (source if isinstance(source, list | tuple) else None)
    if facts is not None and facts.complete:
        again = again if again is not None else ()  # the facts stand for the history
    path = find_journal(history.parent) if history is not None and not is_edn_path(history) else None
    unreadable = None
    mismatch = False
    if path is not None and again is not None:
        try:
            journal = load_journal(path, run_journal)
            unverified = check_belongs(journal, path.parent)
            results["convergence"], results["faults"] = journal_blocks(again, journal, facts)
            if unverified:
                results["convergence"]["journal_unverified"] = unverified
            if journal.header.mode == "processes":  # the nodes applied in other processes: no A records
                results["convergence"] = final_reads_convergence(
                    results.get("stats") or {},
                    "a processes-mode journal holds no applies (the nodes apply in other processes), so the figure "
                    "is the final reads'")
            return
        except JournalError as e:  # the verdict comes from the history: a bad journal only loses its figures
            unreadable = str(e)
            mismatch = isinstance(e, JournalMismatch)
    what = "the journal is not this history's" if mismatch else "the journal could not be read"
    results["convergence"] = final_reads_convergence(
        results.get("stats") or {}, "no journal" if unreadable is None else f"{what} ({unreadable}), so the figure "
        "is the final reads'")
    if unreadable is not None:
        results["convergence"]["journal_error"] = unreadable
        if mismatch:
            results["convergence"]["journal_mismatch"] = True
    if again is not None and (results.get("stats") or {}).get("faults"):
        results["faults"] = history_faults_block(again, facts)
        if unreadable is not None:
            results["faults"]["journal_error"] = unreadable


def _not_empty(source: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """The events of `source`, refusing no events at all (an empty list, a used-up generator) as an
    empty file is refused, instead of calling a history with nothing in it valid."""
    it = iter(source)
    for first in it:
        return itertools.chain((first,), it)
    raise HistoryError("<events>", None, None, "the history is empty: no events")


def _run(history: Path | None, source: Any, options: CheckOptions, facts: HistoryFacts | None = None,
         watch: EventWatch | None = None, notes: list[str] | None = None,
         ) -> tuple[dict[str, Any], FinalAgreement | None]:
    checkers = list(options.checkers)
    if "convergence" in checkers:  # only then: a linearizability check alone does not load (or compile) it
        from checker.convergence import check_with_agreement as convergence
    if history is None:
        source = _not_empty(source)
    if checkers == ["convergence"]:
        stream = iter_events(history, notes=notes) if history is not None else source
        if watch is not None:
            stream = watch(stream)
        return convergence(facts.watch(stream) if facts is not None else stream)
    lines: list[int] = []
    # The overall time limit counts from here: reading a large history is part of the check.
    limit = TimeLimit(options.time_limit) if options.time_limit is not None and "linearizable" in checkers else None
    try:
        events = read_events(history, lines, limit, notes) if history is not None else list(source)
    except TimeLimitExceeded as exc:
        from checker.linearizable.check import out_of_time_result

        lin_result = out_of_time_result(
            exc, model=options.model, init=options.init, null_read=options.null_read, fail_cas=options.fail_cas,
            all_parts=options.all_parts, memory_budget=options.memory_budget,
            started=None if limit is None else limit.started,
        )
        lin_result["checker"] = "linearizable"  # no checker ran: the limit ran out before the events were read
        if "convergence" not in checkers:
            return {**lin_result, "linearizable": dict(lin_result)}, None
        # The limit is linearizability's: the convergence checker still judges the whole history, streamed
        # (so its INVALID is the verdict; otherwise linearizability's unknown makes it unknown).
        assert history is not None  # only reading a file is limited
        stream = iter_events(history)
        if watch is not None:
            stream = watch(stream)
        conv, conv_agreement = convergence(facts.watch(stream) if facts is not None else stream)
        return _merge_linearizable(conv, lin_result), conv_agreement
    results: dict[str, Any] | None = None
    agreement = None
    if "convergence" in checkers:
        seen: Iterable[dict[str, Any]] = events if watch is None else watch(events)
        results, agreement = convergence(facts.watch(seen) if facts is not None else seen)
    import checker.linearizable as lin

    try:
        lin_result = lin.check_events(
            events,
            options.model,
            init=options.init,
            null_read=options.null_read,
            fail_cas=options.fail_cas,
            time_budget=options.time_budget,
            time_limit=options.time_limit,
            memory_budget=options.memory_budget,
            all_parts=options.all_parts,
            started=None if limit is None else limit.started,
        )
    except lin.HistoryInputError as e:
        # An error about one operation names its event's `index`: say the file's line instead.
        if history is None:
            raise
        line_of = {ev["index"]: ln for ev, ln in zip(events, lines, strict=True)}
        if e.index is not None and e.index in line_of and e.problem is not None:
            raise HistoryError(history, line_of[e.index], e.field, e.problem) from None
        raise
    lin_result.setdefault("checker", "linearizable")
    if results is None:
        results = dict(lin_result)
        results["linearizable"] = lin_result
        return results, agreement
    return _merge_linearizable(results, lin_result), agreement


def _merge_linearizable(results: dict[str, Any], lin_result: dict[str, Any]) -> dict[str, Any]:
    """The convergence results with linearizability's beside them: invalid if either says so, else
    unknown if either is unknown."""
    if results["valid"] is False or lin_result.get("valid") is False:
        results["valid"] = False
    elif results["valid"] == "unknown" or lin_result.get("valid") == "unknown":
        results["valid"] = "unknown"
    results["linearizable"] = lin_result
    return results
