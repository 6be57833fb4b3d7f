"""Maelstrom-compatible mode (issue 19): run any node speaking Maelstrom's JSON-lines protocol under
MinikeyDB's nemesis, journal and checkers. ``harness.py maelstrom test -w WORKLOAD --bin PATH``.

protocol.py (messages, error codes), node_process.py (a node's process and pipes), router.py
(every message, faults, journal), services.py (lin-kv, seq-kv, lww-kv, lin-tso), workloads.py
(client generators and history shapes), command.py (flags, the run, the check, the summary).
"""
