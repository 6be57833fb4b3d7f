"""The Knossos corpus: every history gets the verdict its manifest expects."""

from __future__ import annotations

import pytest

from checker.linearizable import check_events
from tests.linearizable.corpus import MANIFEST, REQUIRED, check_kwargs, load_events, manifest_entries

pytestmark = pytest.mark.skipif(
    not MANIFEST.exists() and not REQUIRED, reason=f"Knossos corpus not present at {MANIFEST}"
)


def test_every_knossos_history_matches_its_label():
    """All 122 corpus histories agree with their expected linearizability, none unknown."""
    entries = manifest_entries()
    assert len(entries) == 122
    wrong = []
    for entry in entries:
        events = load_events(MANIFEST.parent.parent / entry["file"])
        result = check_events(events, entry["model"], **check_kwargs(entry))
        if result["valid"] is not entry["expected_linearizable"]:
            wrong.append((entry["name"], result["valid"]))
    assert wrong == []


def test_corpus_violations_are_explained_with_event_indexes():
    """Each bad corpus history yields an anomaly naming the blocked operation's events."""
    for entry in manifest_entries():
        if entry["expected_linearizable"]:
            continue
        events = load_events(MANIFEST.parent.parent / entry["file"])
        result = check_events(events, entry["model"], **check_kwargs(entry))
        (anomaly,) = result["anomalies"]
        assert anomaly["type"] == "nonlinearizable"
        assert anomaly["blocked"] is not None
        assert anomaly["indexes"][: len(anomaly["blocked"]["indexes"])] == anomaly["blocked"]["indexes"]
        assert "cannot be placed" in anomaly["explanation"]
