"""What the compiled modules' `cython.` declarations mean when Cython is not installed: plain
Python (the types are Python's own, `compiled` is False, `@cython.locals` changes nothing).
Cython's own module says the same."""

from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

Py_ssize_t = int
bint = bool
compiled = False


class _ArrayOf:
    """A C type that is only ever used as `cython.<type>[:]` (a typed memoryview) in `locals`."""

    def __getitem__(self, _dims: Any) -> "_ArrayOf":
        return self


longlong = _ArrayOf()


def locals(**_types: Any) -> Callable[[_F], _F]:  # noqa: A001 - Cython's name
    """`@cython.locals(name=type, ...)`: the locals' C types when compiled; nothing here."""
    return lambda fn: fn
