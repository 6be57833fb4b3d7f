"""The README's words about the run summary name the lines the sample summary it shows really has."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_measured_convergence_line_the_readme_names_is_a_measurement_not_the_verdict() -> None:
    """"The `X` line is measured" names a line of the README's sample summary that holds a measurement
    (`convergence time: converged 0.416 s ...`), not the checker's verdict line (`convergence: VALID`)."""
    text = README.read_text()
    sample = text[text.index("## What a run shows"):]
    sample = sample[sample.index("```\n") + 4:]
    sample = sample[:sample.index("```")]
    named = re.findall(r"The `([^`]+)` line is measured", text)
    assert named
    for label in named:
        lines = [line.strip() for line in sample.splitlines() if line.strip().startswith(label)]
        assert lines, f"no sample line starts with {label!r}"
        assert all(" s after the last heal" in line and "VALID" not in line for line in lines), lines
