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

from checker.linearizable.check import check_events as check_events
from checker.linearizable.models import MODELS as MODELS
from checker.linearizable.models import ModelArgumentError as ModelArgumentError
from checker.linearizable.operations import HistoryInputError as HistoryInputError
from checker.linearizable.render import render_html as render_html

__all__ = ["MODELS", "HistoryInputError", "ModelArgumentError", "check_events", "render_html"]
