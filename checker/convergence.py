"""The convergence checker: eventual consistency by the rules of docs/HISTORY.md, in one streaming pass.

Per key it tracks the writes (by their unique value), which of them were acknowledged, and the
last final read on every node. Every read is traced to the write it saw as it streams past; reads
of values nobody has written yet wait in a small per-key list until a put shows up (then they
were reads from the future) or the history ends (then they were phantoms). At the end each key's
final reads are compared (divergence) and the converged value is checked against the
acknowledged writes (lost write, resurrected delete).

Ordering between operations always comes from line order (``index``), never from ``time``:
"write B was invoked after write A completed" means B's invoke line follows A's completion line.
Times are only used to say *when* things happened and how long they took.

Rules for uncertain outcomes, as in Jepsen: an ``info`` (or unfinished) operation may take effect
at any later time, so it is never superseded and never proves anything by itself; a ``fail``
never took effect, so reading its value is a phantom.
"""

from __future__ import annotations

import bisect
import gc
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from checker.faults import FaultTimeline
from checker.stats import StatsCollector
from checker.values import brief, vkey

if TYPE_CHECKING:
    from checker.explain import Explainer

INF = 1 << 62  # completion index of an operation that never (certainly) completed
MISSING = object()  # a final read that did not return a value

# The checker keeps each write and read as a plain list/tuple (millions of them: attribute
# objects cost too much); these are the positions of their fields. A write record is made by
# `_new_write`, a read tuple in `ConvergenceChecker._complete`; `checker.explain` reads both.
W_KIND, W_VALUE, W_INV, W_INV_T, W_COMP, W_COMP_T, W_OUT, W_NODE, W_PROC, W_SEEN, W_STAMP = range(11)
R_VALUE, R_INV, R_COMP, R_INV_T, R_COMP_T, R_NODE, R_PROC, R_FINAL = range(8)


# Jepsen register workloads name the same operations differently.
_F_ALIASES = {"put": "put", "get": "get", "delete": "delete", "write": "put", "read": "get", "cas": "cas"}

MAX_LISTED_ANOMALIES = 10_000
MAX_LISTED_UNKNOWN = 10_000


class KeyState:
    """Everything the checker remembers about one key."""

    __slots__ = (
        "key",
        "writes",
        "dups",
        "deletes",
        "acked",
        "latest_ok_put",
        "latest_ok_delete",
        "final",
        "agree_since",
        "agreed",
        "unexplained",
        "sessions",
        "open_deletes",
        "max_delete_comp",
    )

    def __init__(self, key: Any) -> None:
        self.key = key
        # value key (`vkey`: JSON type and value) -> write record of the first put of it
        self.writes: dict[Any, list[Any]] = {}
        # value key -> every put of it (the first included), only for values put more than once
        self.dups: dict[Any, list[list[Any]]] | None = None
        self.deletes: list[list[Any]] = []
        self.acked: list[list[Any]] = []  # ok writes in acknowledgement (line) order
        self.latest_ok_put: list[Any] | None = None  # ok put with the largest invoke index
        self.latest_ok_delete: list[Any] | None = None
        self.final: dict[Any, tuple[Any, int, int | None, Any]] = {}  # node -> (value, idx, time, proc)
        self.agree_since: int | None = None  # time the final reads last became unanimous
        self.agreed = False  # the final reads are unanimous now (agree_since is None without times)
        self.unexplained: list[tuple[Any, ...]] | None = None
        self.sessions: dict[Any, list[Any]] | None = None  # process -> [own write, last read source]
        self.open_deletes = 0  # deletes invoked and not (yet) ok or failed: they may apply any time
        self.max_delete_comp = -1  # latest completion line of an ok delete


def _new_write(kind: str, value: Any, ev: dict[str, Any], proc: Any) -> list[Any]:
    """A write record: fields at the ``W_*`` positions, completion and outcome filled in later."""
    return [kind, value, ev["index"], ev.get("time"), INF, None, "pending", ev.get("node"), proc, None, None]


def _stamp_us(ev: dict[str, Any]) -> int | None:
    """The physical part (µs) of the version stamp an ok write's ``meta.stamp`` gives
    (``[physical_us, logical, writer]``, MinikeyDB's), or None. Only explanations read it."""
    meta = ev.get("meta")
    if type(meta) is not dict:
        return None
    st = meta.get("stamp")
    if type(st) is list and st and type(st[0]) is int:
        return st[0]
    return None


@attrs.frozen
class FinalAgreement:
    """How each key's final reads came to agree: what the report's convergence chart draws.

    ``keys``: keys with final reads; ``not_agreed``: of them, those whose final reads disagree
    (or lack a value) at the end; ``times``: for each key whose final reads agree, the history
    time (ns) at which they became unanimous (keys without a ``time`` are left out); ``ended``:
    when the last final read completed (ns; None without times), where the final reads gave up.
    """

    keys: int
    not_agreed: int
    times: tuple[int, ...]
    ended: int | None = None


class ConvergenceChecker:
    """Feed events in file order with `feed`, then call `finish` for the results object."""

    def __init__(self) -> None:
        self.keys: dict[Any, KeyState] = {}
        self.pending: dict[Any, tuple[Any, ...]] = {}
        self.faults = FaultTimeline()
        self.stats = StatsCollector()
        self.events = 0
        self.first_time: int | None = None
        self.last_time: int | None = None
        self.final_reads = 0
        self.first_final_time: int | None = None
        self.last_final_time: int | None = None
        self.other_ops = 0
        self.nodes: set[Any] = set()
        self._pending_anomalies: list[tuple[Any, ...]] = []

    # --- streaming ----------------------------------------------------------------------------

    def feed_all(self, events: Iterable[dict[str, Any]]) -> None:
        """Feed a whole iterable (the hot loop: kept in one function for speed)."""
        feed = self.feed
        for position, ev in enumerate(events):
            if "index" not in ev:  # hand-built lists; files get their index from the reader
                ev = {**ev, "index": position}
            feed(ev)

    def feed(self, ev: dict[str, Any]) -> None:
        self.events += 1
        t = ev.get("time")
        if t is not None:
            if self.first_time is None:
                self.first_time = t
            self.last_time = t
        proc = ev["process"]
        if proc == "nemesis":
            self.faults.feed(ev)
            return
        if ev["type"] == "invoke":
            self._invoke(ev, proc, t)
        else:
            self._complete(ev, proc, t)

    def _key(self, key: Any) -> KeyState:
        ks = self.keys.get(key)
        if ks is None:
            ks = self.keys[key] = KeyState(key)
        return ks

    def _invoke(self, ev: dict[str, Any], proc: Any, t: int | None) -> None:
        f = _F_ALIASES.get(ev["f"])
        key = ev.get("key")
        # Keyless read/write/cas (a Knossos-style single register) is checked as one key, null.
        if f is None or (key is None and "key" not in ev and ev["f"] in ("put", "get", "delete")):
            self.pending[proc] = (None, None, ev["index"], t, None, None, self.faults.current, False, ev["f"])
            return
        ks = self._key(key)
        w = None
        snap = 0
        final = ev.get("final") is True
        if f == "put":
            value = ev.get("value")
            w = _new_write("put", value, ev, proc)
            self._register_put(ks, value, w)
        elif f == "delete":
            w = _new_write("delete", None, ev, proc)
            ks.deletes.append(w)
            ks.open_deletes += 1
        elif f == "cas":
            v = ev.get("value")
            if isinstance(v, list) and len(v) == 2:
                w = _new_write("put", v[1], ev, proc)
                self._register_put(ks, v[1], w)
            else:  # not [expected, new] (validated files never get here): nothing to learn from it
                self.pending[proc] = (None, None, ev["index"], t, None, None, self.faults.current, False, ev["f"])
                return
        else:
            snap = len(ks.acked)
        node = ev.get("node")
        if node is not None and node not in self.nodes:
            self.nodes.add(node)
        self.pending[proc] = (
            f,
            ks,
            ev["index"],
            t,
            w,
            snap,
            self.faults.current,
            final,
            ev["f"],
        )

    def _register_put(self, ks: KeyState, value: Any, w: list[Any]) -> None:
        k = vkey(value)
        first = ks.writes.get(k)
        if first is not None:
            if ks.dups is None:
                ks.dups = {}
            d = ks.dups.get(k)
            if d is None:
                ks.dups[k] = [first, w]
            else:
                d.append(w)
            return
        ks.writes[k] = w
        if ks.unexplained:
            keep = []
            for r in ks.unexplained:
                if vkey(r[0]) == k:
                    self._future_read(ks, r, w)
                else:
                    keep.append(r)
            ks.unexplained = keep

    def _complete(self, ev: dict[str, Any], proc: Any, t: int | None) -> None:
        op = self.pending.pop(proc, None)
        if op is None:  # validated histories never get here; tolerate hand-built event lists
            return
        f, ks, inv_idx, inv_t, w, snap, faults_then, final, fname = op
        typ = ev["type"]
        stats = self.stats
        if final:
            self.final_reads += 1
            stats.final_counts[typ] += 1
            if self.first_final_time is None:
                self.first_final_time = inv_t
            if t is not None and (self.last_final_time is None or t > self.last_final_time):
                self.last_final_time = t
        else:
            stats.count(fname, typ)
            if t is not None and inv_t is not None and typ != "info":
                stats.add_latency(fname, faults_then[1], (t - inv_t) / 1e6)
            for win in faults_then[0]:
                c = win.counters
                c[0] += 1
                if typ == "ok":
                    c[1] += 1
        if f is None:
            self.other_ops += 1
            return
        idx = ev["index"]
        if w is not None:
            if typ == "ok":
                w[W_OUT] = "ok"
                w[W_COMP] = idx
                w[W_COMP_T] = t
                if "meta" in ev:
                    w[W_STAMP] = _stamp_us(ev)
                ks.acked.append(w)
                if w[W_KIND] == "delete":
                    ks.open_deletes -= 1
                    ks.max_delete_comp = idx
                # "latest" means largest invoke index: that is what decides supersession.
                if w[W_KIND] == "put":
                    if ks.latest_ok_put is None or ks.latest_ok_put[W_INV] < w[W_INV]:
                        ks.latest_ok_put = w
                elif ks.latest_ok_delete is None or ks.latest_ok_delete[W_INV] < w[W_INV]:
                    ks.latest_ok_delete = w
                if ks.sessions is None:
                    ks.sessions = {}
                s = ks.sessions.get(proc)
                if s is None:
                    ks.sessions[proc] = [w, None]
                else:
                    s[0] = w
            elif typ == "fail":
                if w[W_KIND] == "delete":
                    ks.open_deletes -= 1
                w[W_OUT] = "fail"
                w[W_COMP] = idx
                w[W_COMP_T] = t
            else:
                w[W_OUT] = "info"
            return
        # a read
        node = ev.get("node")
        if typ != "ok":
            if final:
                self._final_read(ks, node, MISSING, idx, t, proc)
            return
        value = ev.get("value")
        read = (value, inv_idx, idx, inv_t, t, node, proc, final)  # the R_* positions
        if value is None:
            src = None
            vk = None
        else:
            vk = vkey(value)
            src = ks.writes.get(vk)
            if src is None:
                if ks.unexplained is None:
                    ks.unexplained = []
                ks.unexplained.append(read)
                if final:
                    self._final_read(ks, node, value, idx, t, proc)
                return
            if src[W_SEEN] is None:
                src[W_SEEN] = read
        if final:
            self._final_read(ks, node, value, idx, t, proc)
            return
        if ks.dups is not None and vk in ks.dups:
            stats.stale_undecidable += 1
            return
        # Healthy (for the PBS split) only when no fault window was open at any moment from the invoke of the
        # write the read is measured against (the latest acknowledged before the read began) to the read's end.
        last = ks.acked[snap - 1] if snap > 0 else None
        under = bool(faults_then[1]) or self.faults.open_since(last[W_INV] if last is not None else inv_idx)
        self._measure_read(ks, read, src, snap, under)

    # --- measurements on reads ----------------------------------------------------------------

    def _source_completion(self, ks: KeyState, src: list[Any] | None) -> int:
        """Line index after which the read's value could have been written at the latest.

        For a put that is its completion. For ``null`` it is the latest completion among the
        deletes that did not fail (any of them, or the initial state, may be the source).
        """
        if src is not None:
            return src[W_COMP]
        return INF if ks.open_deletes else ks.max_delete_comp

    def _measure_read(
        self, ks: KeyState, read: tuple[Any, ...], src: list[Any] | None, snap: int, under_faults: bool = False
    ) -> None:
        stats = self.stats
        stats.reads += 1
        s_comp = self._source_completion(ks, src)
        acked = ks.acked
        inv_t = read[3]
        if inv_t is not None:
            stats.read_times.append(inv_t)
        # Stale: some write acknowledged before the read began was invoked after the source completed.
        earliest_ack_t = None
        stale = False
        i = snap - 1
        while i >= 0:
            w2 = acked[i]
            if w2[W_COMP] <= s_comp:
                break
            if w2[W_INV] > s_comp and (src is not None or w2[W_KIND] == "put"):
                stale = True
                earliest_ack_t = w2[W_COMP_T]
            i -= 1
        if stale:
            age = (inv_t - earliest_ack_t) / 1e6 if inv_t is not None and earliest_ack_t is not None else 0.0
            stats.stale_ages_ms.append(age)
            if inv_t is not None:
                stats.stale_times.append(inv_t)
        # PBS: relative to the latest write acknowledged before the read began.
        if snap > 0 and inv_t is not None:
            last = acked[snap - 1]
            if last[W_COMP_T] is not None:
                older = last[W_INV] > s_comp and (src is not None or last[W_KIND] == "put")
                stats.add_pbs((inv_t - last[W_COMP_T]) / 1e6, not older, under_faults)
        # Sessions: read-your-writes and monotonic reads, per process.
        proc = read[6]
        sess = ks.sessions.get(proc) if ks.sessions is not None else None
        if sess is None:
            if ks.sessions is None:
                ks.sessions = {}
            ks.sessions[proc] = [None, (src, s_comp, read)]
            return
        own = sess[0]
        if own is not None and own[W_INV] > s_comp and (src is not None or own[W_KIND] == "put"):
            stats.session_violation(
                "read-your-writes",
                proc,
                {"key": ks.key, "wrote": own[W_VALUE], "read": read[0], "indexes": [own[W_COMP], read[2]]},
            )
        prev = sess[1]
        if prev is not None and prev[0] is not None and prev[0] is not src and prev[0][W_INV] > s_comp:
            stats.session_violation(
                "monotonic-reads",
                proc,
                {
                    "key": ks.key,
                    "earlier_read": prev[0][W_VALUE],
                    "read": read[0],
                    "indexes": [prev[2][2], read[2]],
                },
            )
        sess[1] = (src, s_comp, read)

    def _final_read(self, ks: KeyState, node: Any, value: Any, idx: int, t: int | None, proc: Any) -> None:
        where = node if node is not None else f"process {proc}"
        ks.final[where] = (value, idx, t, proc)
        vals = {vkey(v[0]) if v[0] is not MISSING else MISSING for v in ks.final.values()}
        if len(vals) == 1 and MISSING not in vals:
            if not ks.agreed:
                ks.agreed = True
                ks.agree_since = t
        else:
            ks.agreed = False
            ks.agree_since = None

    # --- anomalies ----------------------------------------------------------------------------

    def _future_read(self, ks: KeyState, read: tuple[Any, ...], w: list[Any]) -> None:
        self._pending_anomalies.append(("future-read", ks, read, w))

    def finish(self) -> dict[str, Any]:
        """Close open operations, fault windows and keys; return the results object."""
        for op in self.pending.values():
            w = op[4]
            if w is not None:
                w[W_OUT] = "info"
            if not op[7] and op[8] is not None:
                self.stats.count(op[8], "info")
        self.pending.clear()
        self.faults.finish(self.last_time)
        from checker.explain import Explainer  # it reads the records laid out here

        ex = Explainer(self.faults, self.keys)
        anomalies: list[dict[str, Any]] = []
        unknown: list[dict[str, Any]] = []
        for _kind, ks, read, w in self._pending_anomalies:
            anomalies.append(ex.future_read(ks.key, read, w))
        has_final = self.final_reads > 0
        for key, ks in self.keys.items():
            key_j = key
            if ks.unexplained:
                by_value: dict[Any, list[tuple[Any, ...]]] = {}
                for r in ks.unexplained:
                    by_value.setdefault(vkey(r[0]), []).append(r)
                for reads in by_value.values():
                    anomalies.append(ex.phantom_read(key_j, reads[0][0], reads))
            for k, w in ks.writes.items():
                if w[W_OUT] != "fail" or w[W_SEEN] is None:
                    continue
                # A read of a value is a read of a failed put only when every put of it failed;
                # when a later put of it did not fail, the first read must not precede that put.
                others = [x for x in self._puts_of(ks, k) if x[W_OUT] != "fail"]
                if not others:
                    anomalies.append(ex.failed_read(key_j, w))
                else:
                    first = min(others, key=lambda x: x[W_INV])
                    if first[W_INV] > w[W_SEEN][2]:
                        anomalies.append(ex.future_read(key_j, w[W_SEEN], first))
            self._judge_final(key_j, ks, has_final, anomalies, unknown, ex)
        if not self.keys and self.other_ops:
            unknown.append(
                {
                    "key": None,
                    "kind": "no-key-value-ops",
                    "reason": f"none of the {self.other_ops} client operations is a put, get or delete "
                    "(or read/write/cas), so there is nothing this checker can judge",
                    "indexes": [],
                }
            )
        invalid = bool(anomalies)
        valid: bool | str = False if invalid else ("unknown" if unknown else True)
        counts: dict[str, int] = {}
        for a in anomalies:
            counts[a["type"]] = counts.get(a["type"], 0) + 1
        unknown_reasons: dict[str, int] = {}
        for u in unknown:
            unknown_reasons[u["kind"]] = unknown_reasons.get(u["kind"], 0) + 1
        stats = self._stats_summary(counts, unknown_reasons, len(unknown))
        return {
            "valid": valid,
            "checker": "convergence",
            "anomalies": anomalies[:MAX_LISTED_ANOMALIES],
            "unknown": unknown[:MAX_LISTED_UNKNOWN],
            "stats": stats,
        }

    def agreement(self) -> FinalAgreement:
        """How the final reads of each key came to agree (after `finish`)."""
        with_final = [ks for ks in self.keys.values() if ks.final]
        return FinalAgreement(
            keys=len(with_final),
            not_agreed=sum(1 for ks in with_final if not ks.agreed),
            times=tuple(ks.agree_since for ks in with_final if ks.agree_since is not None),
            ended=self.last_final_time,
        )

    def _judge_final(
        self,
        key: Any,
        ks: KeyState,
        has_final: bool,
        anomalies: list[dict[str, Any]],
        unknown: list[dict[str, Any]],
        ex: Explainer,
    ) -> None:
        written = any(w[W_OUT] != "fail" for w in ks.writes.values()) or any(
            d[W_OUT] != "fail" for d in ks.deletes
        )
        if not ks.final:
            if written:
                reason = (
                    "the history has no final reads, so convergence cannot be judged"
                    if not has_final
                    else "no final read of this key"
                )
                unknown.append({"key": key, "kind": "no-final-reads", "reason": reason, "indexes": []})
            return
        ok = {n: v for n, v in ks.final.items() if v[0] is not MISSING}
        missing = {n: v for n, v in ks.final.items() if v[0] is MISSING}
        values = {vkey(v[0]) for v in ok.values()}
        if len(values) > 1:
            anomalies.append(ex.divergent(key, ks, ok))
            return
        if missing:
            nodes = ", ".join(map(str, sorted(missing, key=str)))
            unknown.append(
                {
                    "key": key,
                    "kind": "final-read-missing",
                    "reason": f"the last final read of {brief(str(key))} on {nodes} did not return a value "
                    "(timeout or failure), so agreement cannot be established",
                    "indexes": sorted(v[1] for v in missing.values()),
                }
            )
            return
        (vk,) = values
        if vk is not None and vk not in ks.writes:
            return  # a phantom; already reported
        if vk is None:
            lp = ks.latest_ok_put
            if lp is None:
                return
            for d in ks.deletes:
                if d[W_OUT] != "fail" and d[W_COMP] >= lp[W_INV]:
                    return
            anomalies.append(ex.lost_to_null(key, ks, ok, lp))
            return
        # Every put of the converged value that did not fail may be where it came from (a value
        # put more than once has several): the final value is explained when one of them is not
        # superseded, and lost when all are; then the latest of them names the anomaly.
        candidates = [x for x in self._puts_of(ks, vk) if x[W_OUT] != "fail"]
        if not candidates:
            return  # reported as a read of a failed write
        lp, ld = ks.latest_ok_put, ks.latest_ok_delete
        w = max(candidates, key=lambda x: x[W_COMP])
        if ld is not None and ld[W_INV] > w[W_COMP]:
            anomalies.append(ex.lost_write(key, ks, ok, w, ld, "resurrected-delete"))
        elif lp is not None and lp[W_INV] > w[W_COMP]:
            anomalies.append(ex.lost_write(key, ks, ok, w, lp, "lost-write"))

    @staticmethod
    def _puts_of(ks: KeyState, vk: Any) -> list[list[Any]]:
        """Every put of the value with key ``vk`` (usually one)."""
        if ks.dups is not None and vk in ks.dups:
            return ks.dups[vk]
        w = ks.writes.get(vk)
        return [] if w is None else [w]

    def _stats_summary(
        self, counts: dict[str, int], unknown_reasons: dict[str, int], n_unknown: int
    ) -> dict[str, Any]:
        st = self.stats
        avail = []
        for w in self.faults.windows:
            c = w.counters
            j = w.to_json()
            avail.append(
                {
                    "kind": j["kind"],
                    "start_s": j["start_s"],
                    "stop_s": j["stop_s"],
                    "ops": c[0],
                    "ok": c[1],
                    "availability": round(c[1] / c[0], 6) if c[0] else None,
                }
            )
        return {
            "events": self.events,
            "keys": len(self.keys),
            "nodes": sorted(map(str, self.nodes)),
            "duration_s": None
            if self.first_time is None or self.last_time is None
            else round((self.last_time - self.first_time) / 1e9, 6),
            "ops": st.counts,
            "final_read_counts": st.final_counts,
            "other_ops": self.other_ops,
            "anomaly_counts": counts,
            "unknown_keys": n_unknown,
            "unknown_reasons": unknown_reasons,
            "latency_ms": st.latency_summary(),
            "availability": avail,
            "staleness": st.staleness_summary(),
            "pbs": st.pbs_curve(),
            "pbs_by_fault": st.pbs_by_fault(),
            "sessions": st.sessions_summary(),
            "convergence": self._convergence_times(),
            "faults": [w.to_json() for w in self.faults.windows],
        }

    def _convergence_times(self) -> list[dict[str, Any]]:
        """For each heal: how long until reads stopped being stale, and (last heal) until all agreed."""
        out = []
        heals = self.faults.heals
        stale_times = sorted(self.stats.stale_times)
        read_times = sorted(self.stats.read_times)

        starts = sorted(w.start for w in self.faults.windows if w.start is not None)
        for i, (ht, hidx) in enumerate(heals):
            entry: dict[str, Any] = {"heal_index": hidx, "heal_s": None if ht is None else ht / 1e9}
            if ht is not None:
                nxt = [s for s in starts if s > ht]
                end = min(nxt) if nxt else (self.first_final_time or self.last_time or ht)
                next_heal = heals[i + 1][0] if i + 1 < len(heals) else None
                if next_heal is not None:
                    end = min(end, next_heal)
                # Only reads between the heal and the next fault (or the final reads, which are not
                # counted) can be stale after it: with none (a run's workload stops at its last heal),
                # there is nothing measured, and 0 would claim a measurement.
                reads = bisect.bisect_left(read_times, end) - bisect.bisect_left(read_times, ht)
                lo = bisect.bisect_left(stale_times, ht)
                hi = bisect.bisect_left(stale_times, end)
                if nxt and end == min(nxt):
                    until = "the next fault"
                elif next_heal is not None and end == next_heal:
                    until = "the next heal"
                else:
                    until = "the final reads" if self.first_final_time is not None else "the end of the history"
                entry["reads_after_heal"] = reads
                if reads:
                    entry["stale_reads_after_heal"] = hi - lo
                    entry["last_stale_read_after_s"] = (
                        round((stale_times[hi - 1] - ht) / 1e9, 6) if hi > lo else 0.0
                    )
                    entry["stale_reads_how"] = (f"counted among the {reads:,} reads invoked between the heal and {until} "
                                                "(final reads are not counted)")
                else:
                    entry["stale_reads_after_heal"] = None
                    entry["last_stale_read_after_s"] = None
                    entry["stale_reads_how"] = (
                        f"not measured: no reads between the {'final ' if i == len(heals) - 1 else ''}heal and "
                        f"{until}" + (" (the workload stops at the heal)" if until == "the final reads" else ""))
            if i == len(heals) - 1 and self.final_reads:
                agree = [ks.agree_since for ks in self.keys.values() if ks.final]
                not_agreed = sum(1 for ks in self.keys.values() if ks.final and not ks.agreed)
                times = [ks.agree_since for ks in self.keys.values() if ks.agreed and ks.agree_since is not None]
                entry["keys_with_final_reads"] = len(agree)
                entry["keys_not_agreed"] = not_agreed
                if ht is not None and self.first_final_time is not None:
                    # How long after the heal the final reads began (the harness's quiescence wait):
                    # the agreement times below include it, so they bound convergence from above.
                    entry["final_reads_began_after_s"] = round((self.first_final_time - ht) / 1e9, 6)
                if times and ht is not None:
                    # Only when every key agreed is there an "all agreed" time; a divergent run has none.
                    if not not_agreed:
                        entry["all_agreed_after_s"] = round((max(times) - ht) / 1e9, 6)
                    entry["median_key_agreed_after_s"] = round((sorted(times)[len(times) // 2] - ht) / 1e9, 6)
            out.append(entry)
        if not heals and self.final_reads:
            agree = [ks.agree_since for ks in self.keys.values() if ks.final]
            out.append(
                {
                    "heal_index": None,
                    "heal_s": None,
                    "keys_with_final_reads": len(agree),
                    "keys_not_agreed": sum(1 for ks in self.keys.values() if ks.final and not ks.agreed),
                }
            )
        return out


def check_events(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Check a history (an iterable of event dicts in file order) for eventual convergence."""
    return check_with_agreement(events)[0]


def check_with_agreement(events: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], FinalAgreement]:
    """`check_events`, and how each key's final reads came to agree (for `checker.api.check`).

    The cyclic garbage collector is paused for the duration: the checker builds millions of
    small acyclic containers, and CPython's generational GC would rescan all of them over and
    over (measured: 20.6 s instead of 11.3 s on a 1.8M-event history). Nothing here makes cycles,
    so reference counting frees everything; the collector's previous state is restored after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        c = ConvergenceChecker()
        c.feed_all(events)
        return c.finish(), c.agreement()
    finally:
        if was_enabled:
            gc.enable()
