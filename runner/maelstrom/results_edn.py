"""``results.edn`` of a Maelstrom run: the figures Maelstrom users grep, in Maelstrom's shape.

Maelstrom writes ``store/latest/results.edn``; people grep it for ``:valid?``, ``:net`` ``:servers``
``:msgs-per-op`` and the workload's ``:stable-latencies``. This writes the same keys from our
results object (results.json stays the full record): ``:valid?``, ``:stats`` (Jepsen's stats
checker: counts per ``:by-f``), ``:net`` (``:all``, ``:clients``, ``:servers``, each
``:send-count`` ``:recv-count`` ``:msg-count``, ``:msgs-per-op`` on ``:all`` and ``:servers``) and
``:workload`` (its ``:valid?`` and, as far as our checks measure them, set-full's counts and
latencies). Keys are keywords, ``"unknown"`` is ``:unknown``, as in Jepsen.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SET_COUNTS = (("stable-count", ("ok", "stale")), ("stale-count", ("stale",)), ("lost-count", ("lost",)),
              ("never-read-count", ("never-read",)))


class Keyword(str):
    """A name written as an EDN keyword (``:valid?``), not a string."""


def _kw(name: str) -> Keyword:
    return Keyword(name.replace("_", "-"))


def _valid(v: Any) -> Any:
    return v if isinstance(v, bool) else Keyword("unknown")


def _quantiles(q: dict[str, Any]) -> dict[Any, Any]:
    """``{"0.5": 12}`` as Jepsen's ``{0.5 12}`` (number keys)."""
    return {float(k) if "." in k else int(k): v for k, v in q.items()}


def maelstrom_shape(results: dict[str, Any]) -> dict[Any, Any]:
    """The Maelstrom-shaped map of a Maelstrom run's results object."""
    m = results.get("maelstrom") or {}
    stats = m.get("stats") or {}
    by_f = {_kw(f): {_kw("valid?"): bool(c.get("ok")), _kw("count"): sum(c.values()), _kw("ok-count"): c.get("ok", 0),
                     _kw("fail-count"): c.get("fail", 0), _kw("info-count"): c.get("info", 0)}
            for f, c in sorted(stats.items())}
    total = {k: sum(c.get(k, 0) for c in stats.values()) for k in ("ok", "fail", "info")}
    out: dict[Any, Any] = {}
    out[_kw("stats")] = {_kw("valid?"): all(c.get("ok") for c in stats.values()) if stats else Keyword("unknown"),
                         _kw("count"): sum(total.values()), _kw("ok-count"): total["ok"],
                         _kw("fail-count"): total["fail"], _kw("info-count"): total["info"], _kw("by-f"): by_f}
    net = m.get("net") or {}
    out[_kw("net")] = {_kw(part): {_kw(k): v for k, v in figures.items() if k != "inter_node_msgs_per_op"}
                       for part, figures in net.items()}
    if net:
        out[_kw("net")][_kw("valid?")] = True
    workload: dict[Any, Any] = {_kw("valid?"): _valid(results.get("valid")), _kw("checker"): results.get("checker")}
    st = results.get("stats") or {}
    s = st.get("set")
    if isinstance(s, dict):
        oc = s.get("outcomes") or {}
        workload[_kw("attempt-count")] = s.get("elements", 0)
        for name, kinds in SET_COUNTS:
            workload[_kw(name)] = sum(oc.get(k, 0) for k in kinds)
        for name in ("stable_latencies", "lost_latencies"):
            if isinstance(s.get(name), dict):
                workload[_kw(name)] = _quantiles(s[name])
    if st.get("anomaly_counts"):
        workload[_kw("anomaly-counts")] = {str(k): v for k, v in st["anomaly_counts"].items()}
    if results.get("reason"):
        workload[_kw("reason")] = results["reason"]
    out[_kw("workload")] = workload
    out[_kw("valid?")] = _valid(results.get("valid"))
    return out


def edn(v: Any, indent: int = 0, depth: int = 0) -> str:
    """``v`` as EDN: the top two levels of maps one entry a line (grep -A works), deeper ones inline."""
    if isinstance(v, Keyword):
        return ":" + v
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "nil"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(edn(x, indent, depth + 1) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        parts = []
        for k, x in v.items():
            key = edn(k)
            parts.append(f"{key} {edn(x, indent + 1 + len(key) + 1, depth + 1)}")
        sep = ",\n" + " " * (indent + 1) if depth < 2 else ", "
        return "{" + sep.join(parts) + "}"
    return json.dumps(str(v))


def write_results_edn(path: Path, results: dict[str, Any]) -> None:
    """Write ``results.edn`` (a Maelstrom run's results in Maelstrom's shape) beside results.json."""
    path.write_text(edn(maelstrom_shape(results)) + "\n", encoding="utf-8")
