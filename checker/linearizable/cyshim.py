"""What the compiled modules' `cython.` declarations mean when Cython is not installed: plain
Python (the types are Python's own, `compiled` is False). Cython's own module says the same."""

Py_ssize_t = int
bint = bool
compiled = False
