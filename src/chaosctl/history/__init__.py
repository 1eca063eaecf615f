"""Run history and regression gates (`history/` in docs/architecture.md).

Every run is recorded in an embedded SQLite file (store.py; STATE_DIR/history.sqlite3 by default,
CHAOSCTL_HISTORY / --history to move it, e.g. into a CI cache): scenario, file hash, System, git
revision, verdict, every check's observed value, critical-path shares per phase and operation.
`record.record_run` is the one place a finished report becomes a record; `gate.judge_last_pass`
judges `<= last_pass + 10%` objectives; `compare` diffs two runs; `show` renders both commands.
Kept out of `chaosctl --help`'s imports: the CLI imports these modules inside its commands.
"""

from __future__ import annotations

from .gate import judge_last_pass
from .record import record_after_run, record_run

__all__ = ["judge_last_pass", "record_after_run", "record_run"]
