"""bench/soak.py's RSS bar: it passes only when it compared something."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # soak.py imports its sibling flood.py
_spec = importlib.util.spec_from_file_location("soak", BENCH / "soak.py")
assert _spec is not None and _spec.loader is not None
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)
rss_verdict = soak.rss_verdict

WARM = {"n1": 40_000, "n2": 41_000, "n3": 39_000}


def test_every_node_restarted_is_no_verdict_not_a_pass() -> None:
    """When every node was restarted no RSS was compared: the soak says so and does not pass."""
    verdict, lines = rss_verdict(WARM, {"n1": 90_000, "n2": 90_000, "n3": 90_000}, {"n1", "n2", "n3"})
    assert verdict is None
    assert "PASS" not in lines[-1] and "no RSS was compared" in lines[-1]


def test_the_bar_is_judged_on_the_nodes_never_restarted() -> None:
    """A restarted node is listed but left out; the others pass or fail on end <= 1.2 x warm RSS."""
    verdict, lines = rss_verdict(WARM, {"n1": 90_000, "n2": 42_000, "n3": 40_000}, {"n1"})
    assert verdict is True and "compared 2 of 3" in lines[-1]
    verdict, lines = rss_verdict(WARM, {"n1": 40_000, "n2": 60_000, "n3": 40_000}, set())
    assert verdict is False and "over the bar: n2" in lines[-1]
