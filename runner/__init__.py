"""The harness: runs, replays and explores tests of MinikeyDB (see docs/ARCHITECTURE.md)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout the harness runs from (harness.py, the packages): what workers and child processes import."""
