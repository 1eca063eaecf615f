"""The run engine: run, rehearse, recover, phases, abort, signals (entry points in runner/entry.py).

A regular package (not a namespace one) so that import-linter sees it (.importlinter)."""
