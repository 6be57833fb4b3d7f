"""Dump `check_events`' results for every history of the Knossos corpus, to compare two trees.

    python bench/lin_results.py TREE OUT.json     (e.g. /work/main, then this worktree; cmp the two)

Each history is checked three ways: as `bench/linearizable.py` times it (Knossos semantics:
init from the manifest, null_read="any", fail_cas="not-applied"), with null_read="absent", and
with default options. The results objects are written with their timings ("seconds",
"slowest_part") left out, so that a change meant to make the checker faster, not different,
must give a byte-identical file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("seconds", "slowest_part")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def main() -> int:
    """Check every corpus history of TREE's checker three ways and write the results to OUT."""
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    tree, out = sys.argv[1], sys.argv[2]
    sys.path.insert(0, tree)
    from checker.history import read_events
    from checker.linearizable import check_events

    manifest = json.loads((CORPUS / "knossos" / "MANIFEST.json").read_text())["histories"]
    results: dict[str, Any] = {}
    for entry in manifest:
        events = read_events(CORPUS / entry["file"])
        init = entry["model_params"].get("init")
        for name, options in (
            ("bench", {"init": init, "null_read": "any", "fail_cas": "not-applied"}),
            ("absent", {"init": init, "null_read": "absent", "fail_cas": "not-applied"}),
            ("default", {}),
        ):
            try:
                result: Any = _strip(check_events(events, entry["model"], **options))
            except ValueError as exc:  # an input the options refuse: its message is the result
                result = f"{type(exc).__name__}: {exc}"
            results[f"{entry['name']}|{name}"] = result
    Path(out).write_text(json.dumps(results, indent=1, sort_keys=True, default=repr))
    print(f"{len(results)} results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
