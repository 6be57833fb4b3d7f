"""Which copy of the hot loops runs: the compiled one, or the source.

`direct.py` (events to the search's arrays), `pairing.py` (events to operation records, the
general path) and `walk.py` (the search loop) are plain Python
with Cython pure-mode declarations. When Cython and a C compiler are there at install time,
`setup.py` compiles each into an extension `_<name>_c` beside it, with the SHA-256 of the source
it was built from (`SOURCE_SHA256`). `pick` uses that extension only while the source still has
that hash: a `.py` edited after the build runs as it is now, with one `StaleCompiledWarning`,
never the older binary (with warnings made errors, the same line is printed and the source still
runs: the warning never stops a check). `MINIKEYDB_PURE=1` in the environment picks the source (tests run both).
`describe()` says which runs (`python -m checker.linearizable --version`).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

#: The modules that may be compiled, by their source's name in this package.
HOT = ("direct", "pairing", "walk")
#: Set (to anything but "" or "0") to run the source even where a compiled copy is built.
PURE_ENV = "MINIKEYDB_PURE"

_HERE = Path(__file__).resolve().parent
#: name -> what `pick` chose and why, for `describe`
_CHOSEN: dict[str, str] = {}


class StaleCompiledWarning(RuntimeWarning):
    """A compiled hot loop was built from a source that has changed since: the source runs."""


def source_sha256(name: str) -> str:
    """The SHA-256 of `<name>.py` as it is on disk now (what a build embeds)."""
    return hashlib.sha256((_HERE / f"{name}.py").read_bytes()).hexdigest()


def pick(name: str, pure: ModuleType) -> ModuleType:
    """The compiled `_<name>_c` when it is built from the current `<name>.py`, else `pure`."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        _CHOSEN[name] = f"pure ({PURE_ENV} is set)"
        return pure
    try:
        mod = importlib.import_module(f"checker.linearizable._{name}_c")
    except ImportError:
        _CHOSEN[name] = "pure (not compiled)"
        return pure
    if not str(getattr(mod, "__file__", "")).endswith(tuple(EXTENSION_SUFFIXES)):
        _CHOSEN[name] = "pure (no extension module)"
        return pure
    built = getattr(mod, "SOURCE_SHA256", None)
    try:
        now = source_sha256(name)
    except OSError:
        now = None
    if built is None or built != now:
        message = (f"checker/linearizable/{name}.py changed after its compiled copy was built: running the "
                   f"source (rebuild with `pip install -e .` to use the compiled copy)")
        try:
            warnings.warn(message, StaleCompiledWarning, stacklevel=2)
        except StaleCompiledWarning:  # warnings made errors (-W error): still one line, and the source runs
            print(f"{StaleCompiledWarning.__name__}: {message}", file=sys.stderr)
        _CHOSEN[name] = "pure (compiled copy is stale)"
        return pure
    _CHOSEN[name] = "compiled"
    return mod


def describe() -> str:
    """One line: "compiled: yes" when every hot loop runs compiled, else which run pure and why."""
    if all(_CHOSEN.get(name) == "compiled" for name in HOT):
        return "compiled: yes (Cython: " + ", ".join(f"{n}.py" for n in HOT) + ")"
    return "compiled: no (" + "; ".join(f"{n}.py {_CHOSEN.get(n, 'not loaded')}" for n in HOT) + ")"


def let_signals_run() -> None:
    """Nothing, in Python bytecode: the compiled loops call it now and then so that the interpreter
    runs the signal handlers pending since (a Ctrl-C's KeyboardInterrupt, the harness's SIGTERM
    handler), whose exceptions then leave the compiled loop like any other. A compiled loop runs no
    bytecode of its own, and the interpreter runs handlers only between bytecodes. Kept in this
    module, which is never compiled."""
