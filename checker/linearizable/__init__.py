"""Linearizability checking for histories of any system (issue 6).

Splits a history into independent parts (per key; per group of keys sharing transactions),
searches each with Lowe's just-in-time Wing-Gong algorithm and a memo of (placed operations,
state), and explains a violation in words and as a picture. Only the history format is needed:
this package never imports the store, the nemesis or the runner.

Public API:
- `check_events(events, model, *, init=None, null_read="any", fail_cas="not-applied",
  time_budget=None, memory_budget=None) -> dict`: the results object of docs/HISTORY.md.
- `MODELS`: the model names (register, cas-register, kv, mutex, multi-register).
- `render_html(result) -> str`: an HTML fragment drawing each violating part on a time axis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checker.linearizable.check import check_events as check_events
    from checker.linearizable.models import MODELS as MODELS
    from checker.linearizable.models import ModelArgumentError as ModelArgumentError
    from checker.linearizable.operations import HistoryInputError as HistoryInputError
    from checker.linearizable.render import render_html as render_html

__all__ = ["MODELS", "HistoryInputError", "ModelArgumentError", "check_events", "render_html"]

#: Where each public name is defined. They are imported when first used, not with the package, so
#: that `python -m checker.linearizable` (which imports the package first) can report a checker
#: that cannot be imported (a module missing or broken) in one line, not a traceback.
_WHERE = {
    "check_events": "checker.linearizable.check",
    "MODELS": "checker.linearizable.models",
    "ModelArgumentError": "checker.linearizable.models",
    "HistoryInputError": "checker.linearizable.operations",
    "render_html": "checker.linearizable.render",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
