"""MinikeyDB's checker: reads a recorded history and gives a verdict, never importing the store.

The entry point is `checker.api.check(source, options) -> CheckResult` (a history file, a run
directory or an iterable of events in; the verdict and the results object out), with the settings
in a `checker.api.CheckOptions`. `checker.cli.main` is the command line over it (``harness.py
check|report|export``) and `checker.report.write_report` writes report.html.
"""
