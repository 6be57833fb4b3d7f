"""List every third-party import in the repository that pyproject.toml does not declare.

Walks every tracked ``*.py`` file with ``ast`` (imports inside functions and ``try`` blocks count:
a lazy import still fails on a machine without the package), drops the standard library and the
project's own top-level names, and maps what is left to distributions with
``importlib.metadata.packages_distributions``. A distribution counts as declared for a file when
it is in ``[project] dependencies`` or in an extra that covers the file: ``test`` and ``cluster``
for tests/ (the README's test command installs both), ``bench``, ``bench-engines`` and ``cluster``
for bench/ and ``nemesis/bench_*.py``, ``cluster`` for ``runner/explore_cluster.py`` (imported only
by ``explore --cluster``), ``[build-system] requires`` for ``setup.py`` and the modules it compiles
(their ``import cython`` falls back to ``checker/linearizable/cyshim.py``), and the base
dependencies alone for anything else.

Exit 1 and one line per finding (file:line module -> distribution, needed by which extra) when
something is missing; exit 0 and a one-line summary otherwise. Usage: ``python .ci/undeclared_imports.py``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Import name -> distribution, for packages not installed where this runs (so that
# packages_distributions cannot tell) and whose names differ.
KNOWN = {"edn_format": "edn_format", "mypy": "mypy", "cython": "cython", "Cython": "cython"}
#: The files that may import the build requirements: setup.py, and the modules it compiles.
BUILD_FILES = ("setup.py", "checker/linearizable/direct.py", "checker/linearizable/pairing.py", "checker/linearizable/walk.py")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def declared() -> dict[str, set[str]]:
    """Distribution names per group: ``""`` for the base dependencies, else the extra's name."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    groups = {"": {_requirement_name(r) for r in project.get("dependencies", [])}}
    groups["build-system"] = {_requirement_name(r) for r in pyproject.get("build-system", {}).get("requires", [])}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        groups[extra] = {_requirement_name(r) for r in requirements}
    return groups


def tracked_python_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines() if not line.startswith("histories/")]


def own_top_level_names(files: list[Path]) -> set[str]:
    names = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in files}
    names.add("minikeydb")
    return names


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def groups_for(relative: Path) -> tuple[str, ...]:
    """The extras whose packages a file may use, besides the base dependencies."""
    top = relative.parts[0]
    if top == "tests":
        return ("test", "cluster")
    if top == "bench" or (top == "nemesis" and relative.name.startswith("bench_")):
        return ("bench", "bench-engines", "cluster")
    if top == ".ci":
        return ("test",)
    if relative.as_posix() == "runner/explore_cluster.py":
        return ("cluster",)
    if relative.as_posix() in BUILD_FILES:
        return ("build-system",)
    return ()


def main() -> int:
    files = tracked_python_files()
    own = own_top_level_names(files)
    stdlib = set(sys.stdlib_module_names)
    dists = packages_distributions()
    groups = declared()
    missing = []
    for path in files:
        relative = path.relative_to(ROOT)
        allowed = set(groups[""])
        for extra in groups_for(relative):
            allowed |= groups.get(extra, set())
        for line, module in imports_of(path):
            if module in stdlib or module in own or module == "__future__":
                continue
            if (path.parent / f"{module}.py").exists():  # a sibling script put on sys.path (bench/)
                continue
            candidates = [_normalise(d) for d in dists.get(module, [])] or [_normalise(KNOWN.get(module, module))]
            if not any(c in allowed for c in candidates):
                need = "/".join(groups_for(relative)) or "dependencies"
                missing.append(f"{relative}:{line}: import {module} -> {candidates[0]} not declared ({need})")
    for line in missing:
        print(line)
    if missing:
        print(f"undeclared imports: {len(missing)} (declare them in pyproject.toml)")
        return 1
    print(f"undeclared imports: none in {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
