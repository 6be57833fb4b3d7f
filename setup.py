"""The optional compiled build of the linearizability checker's hot loops.

Everything else about the package is in pyproject.toml. `checker/linearizable/direct.py`,
`pairing.py` and `walk.py` are plain Python with Cython pure-mode declarations; when Cython (a build requirement)
and a C compiler are there, each is compiled into an extension `checker.linearizable._<name>_c`
from a copy of its source that records the source's SHA-256 (`SOURCE_SHA256`), which
`checker/linearizable/compiled.py` compares with the source at import. Without a C compiler (or
Cython) the build says so in one line and installs the package without them: the same source then
runs as plain Python. MINIKEYDB_NO_COMPILE=1 skips the compiled build on purpose.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
HOT = ("direct", "pairing", "walk")
GENERATED = HERE / "build" / "cython-src"


#: The commands that only write the package's metadata: pip runs setup.py for them before the build
#: (each hook in a process of its own), and a message there would be said twice.
METADATA_ONLY = ("egg_info", "dist_info")


def _say(message: str) -> None:
    """One line on stderr, in the run that builds (not in the metadata-only run before it)."""
    if not any(arg in METADATA_ONLY for arg in sys.argv[1:]):
        print(f"minikeydb: {message}", file=sys.stderr)


def _extensions() -> list[Extension]:
    """The extensions to build: none without Cython, or when MINIKEYDB_NO_COMPILE is set."""
    if os.environ.get("MINIKEYDB_NO_COMPILE", "") not in ("", "0"):
        _say("MINIKEYDB_NO_COMPILE is set: the checker's hot loops run as pure Python")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _say("Cython is not installed: the checker's hot loops run as pure Python")
        return []
    package = GENERATED / "checker" / "linearizable"
    package.mkdir(parents=True, exist_ok=True)
    for init in (GENERATED / "checker" / "__init__.py", package / "__init__.py"):
        init.write_text("")  # so that Cython names the modules checker.linearizable._<name>_c
    extensions = []
    for name in HOT:
        source = (HERE / "checker" / "linearizable" / f"{name}.py").read_bytes()
        digest = hashlib.sha256(source).hexdigest()
        copy = package / f"_{name}_c.py"
        text = source.decode() + f'\n#: The SHA-256 of {name}.py this copy was compiled from.\nSOURCE_SHA256 = "{digest}"\n'
        if not copy.exists() or copy.read_text() != text:
            copy.write_text(text)
        extensions.append(Extension(f"checker.linearizable._{name}_c", [str(copy.relative_to(HERE))]))
    try:
        return cythonize(extensions, compiler_directives={"language_level": "3"}, quiet=True)
    except Exception as exc:  # a Cython that cannot compile them: the pure path still works
        _say(f"Cython could not translate the hot loops ({exc}): they run as pure Python")
        return []


class OptionalBuildExt(build_ext):
    """`build_ext` that installs without the extensions when they cannot be compiled."""

    failed = False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all (PlatformError), or an editable install's copy
            if not self.failed:  # of the extensions that failed below (said there already)
                _say(f"not compiling the checker's hot loops ({type(exc).__name__}: {exc}): pure Python is used")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # the compiler failed (CCompilerError, CompileError, ...)
            self.failed = True
            _say(f"could not compile {ext.name} ({type(exc).__name__}: {exc}): pure Python is used")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
