#!/usr/bin/env python3
"""PN-counter (correct): the same program as g_counter.py (a PN-counter CRDT serves both workloads), run from here
so that each workload has a node of its own name."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("g_counter.py")), run_name="__main__")
