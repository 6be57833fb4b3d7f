"""Check a whole history for linearizability, part by part, and build the results object.

The history is split into independent parts (P-compositionality: a history is linearizable
exactly when each part is), each part is searched on its own with its own time and memory
budget, and the verdicts are combined: any violating part makes the history invalid; otherwise
any part that ran out of budget makes it unknown. One part running out never hides another
part's verdict.
"""

from __future__ import annotations

import time
from typing import Any

from checker.linearizable.explain import nonlinearizable_anomaly
from checker.linearizable.models import Flags, ModelArgumentError, make_model
from checker.linearizable.operations import pair_operations
from checker.linearizable.search import BYTES_PER_CONFIGURATION, drop_unobserved, search


def _max_configurations(memory_budget: int | None, n_ops: int) -> int | None:
    if memory_budget is None:
        return None
    if not isinstance(memory_budget, int) or memory_budget <= 0:
        raise ModelArgumentError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    return max(1, memory_budget // (BYTES_PER_CONFIGURATION + n_ops // 8))


def check_events(
    events: list[dict],
    model: str,
    *,
    init: Any = None,
    null_read: str = "any",
    fail_cas: str = "not-applied",
    time_budget: float | None = None,
    memory_budget: int | None = None,
) -> dict[str, Any]:
    """Decide whether a history is linearizable under `model`; the results object of docs/HISTORY.md.

    `time_budget` (seconds) and `memory_budget` (bytes of cached search configurations, an
    estimate) apply to each part separately. Raises `HistoryInputError` for a malformed history
    and `ModelArgumentError` for a bad model name, flag or `init`; both are `ValueError`s with a
    message that names the event or argument.
    """
    started = time.perf_counter()
    flags = Flags(null_read=null_read, fail_cas=fail_cas)
    if time_budget is not None and (not isinstance(time_budget, int | float) or time_budget <= 0):
        raise ModelArgumentError(f"time_budget must be a positive number of seconds, got {time_budget!r}")
    mdl = make_model(model)
    ops = pair_operations(events)
    parts = mdl.split(ops)
    anomalies: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    per_part: list[dict[str, Any]] = []
    for part, part_ops in parts.items():
        init_state = mdl.initial_state(part, init)
        cops = []
        for op in part_ops:
            c = mdl.compile(op, part, flags)
            if c is not None:
                cops.append(c)
        searched = drop_unobserved(cops)
        outcome = search(
            searched,
            init_state,
            time_budget=time_budget,
            max_configurations=_max_configurations(memory_budget, len(searched)),
        )
        dropped = len(cops) - len(searched)
        cops = searched
        name = mdl.part_name(part)
        per_part.append(
            {
                "key": name,
                "operations": len(part_ops),
                "searched": len(cops),
                "dropped_unobserved": dropped,
                "valid": outcome.valid,
                "seconds": round(outcome.seconds, 6),
                "configurations": outcome.configurations,
                "placements": outcome.placements,
            }
        )
        if outcome.valid is False:
            anomalies.append(nonlinearizable_anomaly(mdl, part, cops, part_ops, outcome))
        elif outcome.valid == "unknown":
            must = sum(1 for c in cops if c.must)
            reached = cops[outcome.blocked].op if outcome.blocked is not None else None
            unknown.append(
                {
                    "key": name,
                    "kind": "linearizability-budget",
                    "reason": outcome.reason,
                    "placed": len(outcome.prefix),
                    "must_place": must,
                    "reached_index": reached.complete_index if reached is not None else None,
                    "configurations": outcome.configurations,
                    "seconds": round(outcome.seconds, 6),
                    "explanation": (
                        f"{name}: the search stopped ({outcome.reason}) after exploring "
                        f"{outcome.configurations} configurations; its longest linearizable prefix "
                        f"placed {len(outcome.prefix)} of the {must} operations that must take effect"
                        + (
                            f" and got as far as the completion at event {reached.complete_index}."
                            if reached is not None
                            else "."
                        )
                    ),
                }
            )
    if anomalies:
        valid: bool | str = False
    elif unknown:
        valid = "unknown"
    else:
        valid = True
    slowest = max(per_part, key=lambda p: p["seconds"], default=None)
    op_counts: dict[str, dict[str, int]] = {}
    for op in ops:
        counts = op_counts.setdefault(op.f, {"ok": 0, "fail": 0, "info": 0})
        counts[op.status] += 1
    stats = {
        "checker": "linearizable",
        "model": model,
        "init": init,
        "null_read": null_read,
        "fail_cas": fail_cas,
        "operations": len(ops),
        "ops": op_counts,
        "anomaly_counts": {"nonlinearizable": len(anomalies)} if anomalies else {},
        "unknown_keys": len(unknown),
        "parts": len(per_part),
        "parts_valid": sum(1 for p in per_part if p["valid"] is True),
        "parts_invalid": len(anomalies),
        "parts_unknown": len(unknown),
        "configurations": sum(p["configurations"] for p in per_part),
        "seconds": round(time.perf_counter() - started, 6),
        "slowest_part": None if slowest is None else {"key": slowest["key"], "seconds": slowest["seconds"]},
        "per_part": per_part,
    }
    return {"valid": valid, "anomalies": anomalies, "unknown": unknown, "stats": stats}
