"""The run history: one SQLite file (stdlib sqlite3), schema versioned by `PRAGMA user_version`.

Each migration step takes the file from version N to N+1 in one transaction, so an older
file is brought up to date on open and a half-applied step never stays behind. A file that
is not SQLite, was written by a newer chaosctl, or whose tables are not ours gives
UsageError (exit 2) naming the file, never a traceback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chaosctl.errors import UsageError

from .model import CheckRecord, RunRecord, ShareRecord

_V1 = (
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY, scenario TEXT NOT NULL, scenario_hash TEXT, system TEXT NOT NULL, git_rev TEXT,
        started REAL NOT NULL, ended REAL NOT NULL, verdict TEXT NOT NULL, report_dir TEXT)""",
    "CREATE INDEX runs_by_scenario ON runs (scenario, system, started)",
    """CREATE TABLE checks (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
        kind TEXT NOT NULL, name TEXT NOT NULL, phase TEXT NOT NULL, status TEXT NOT NULL,
        observed TEXT NOT NULL, value REAL, unit TEXT NOT NULL, objective TEXT NOT NULL, reason TEXT NOT NULL,
        PRIMARY KEY (run_id, seq))""",
    """CREATE TABLE shares (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, phase TEXT NOT NULL, service TEXT NOT NULL,
        operation TEXT NOT NULL, share REAL, critical_path_ms REAL, p99_ms REAL,
        PRIMARY KEY (run_id, phase, service, operation))""",
)

Step = Callable[[sqlite3.Connection], None]


def _v1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


# MIGRATIONS[n] takes a file from user_version n to n+1. Append, never edit a released step.
MIGRATIONS: tuple[Step, ...] = (_v1,)
_RUN_COLUMNS = "id, scenario, scenario_hash, system, git_rev, started, ended, verdict, report_dir"


def _refuse(path: Path, why: str) -> UsageError:
    return UsageError(f"{path}: {why}; move it aside or choose another history file "
                      "(--history PATH or CHAOSCTL_HISTORY)")


def migrate(conn: sqlite3.Connection, path: Path, steps: Sequence[Step] = MIGRATIONS) -> int:
    """Bring the file to len(steps); returns the version it had."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > len(steps):
        raise _refuse(path, f"history schema version {found} is newer than this chaosctl knows ({len(steps)})")
    for version in range(found, len(steps)):
        with transaction(conn):
            steps[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return found


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """All or nothing (the connection is in autocommit mode; IMMEDIATE: writers queue, not fail)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True)
class RunRow:
    """A run without its checks (listing)."""

    id: str
    scenario: str
    scenario_hash: str | None
    system: str
    git_rev: str | None
    started: float
    ended: float
    verdict: str
    report_dir: str | None
    failed: int = 0
    checks: int = 0


class History:
    """An open history file. Use as a context manager (`open_history`)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path = conn, path

    def add(self, run: RunRecord) -> None:
        with transaction(self.conn):
            self.conn.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (run.id, run.scenario, run.scenario_hash, run.system, run.git_rev, run.started,
                               run.ended, run.verdict, run.report_dir))
            self.conn.executemany(
                "INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run.id, i, c.kind, c.name, c.phase, c.status, c.observed, c.value, c.unit, c.objective, c.reason)
                 for i, c in enumerate(run.checks)])
            self.conn.executemany(
                "INSERT INTO shares VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run.id, s.phase, s.service, s.operation, s.share, s.critical_path_ms, s.p99_ms) for s in run.shares])

    def runs(self, scenario: str | None = None, verdict: str | None = None, limit: int | None = 20,
             system: str | None = None) -> list[RunRow]:
        """Newest first."""
        where, args = self._filters(scenario=scenario, verdict=verdict, system=system)
        sql = (f"SELECT {', '.join('r.' + c.strip() for c in _RUN_COLUMNS.split(','))}, "
               "(SELECT count(*) FROM checks c WHERE c.run_id = r.id AND c.status != 'pass'), "
               "(SELECT count(*) FROM checks c WHERE c.run_id = r.id) "
               f"FROM runs r {where} ORDER BY r.started DESC, r.id DESC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [RunRow(*row) for row in self.conn.execute(sql, args)]

    @staticmethod
    def _filters(**given: str | None) -> tuple[str, list[str]]:
        pairs = [(f"r.{k} = ?", v) for k, v in given.items() if v is not None]
        return ("WHERE " + " AND ".join(p for p, _ in pairs) if pairs else ""), [v for _, v in pairs]

    def get(self, run_id: str) -> RunRecord | None:
        """A run by id, or by a unique prefix of one."""
        rows = self.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchall() or \
            self.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE substr(id, 1, ?) = ?", (len(run_id), run_id)).fetchall()
        if len(rows) > 1:
            raise UsageError(f"run id {run_id!r} is ambiguous in {self.path}: {', '.join(r[0] for r in rows[:5])}")
        return self._full(rows[0]) if rows else None

    def last_pass(self, scenario: str, system: str) -> RunRecord | None:
        """The newest run of `scenario` on `system` whose verdict was pass."""
        row = self.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE scenario = ? AND system = ? AND verdict = 'pass' "
                                "ORDER BY started DESC, id DESC LIMIT 1", (scenario, system)).fetchone()
        return self._full(row) if row else None

    def recent(self, scenario: str, system: str, limit: int) -> list[RunRecord]:
        """The last `limit` runs of a scenario, oldest first (for trends)."""
        rows = self.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE scenario = ? AND system = ? "
                                 "ORDER BY started DESC, id DESC LIMIT ?", (scenario, system, limit)).fetchall()
        return [self._full(r) for r in reversed(rows)]

    def _full(self, row: tuple) -> RunRecord:
        run_id = row[0]
        checks = tuple(CheckRecord(*r) for r in self.conn.execute(
            "SELECT kind, name, phase, status, observed, value, unit, objective, reason FROM checks "
            "WHERE run_id = ? ORDER BY seq", (run_id,)))
        shares = tuple(ShareRecord(*r) for r in self.conn.execute(
            "SELECT phase, service, operation, share, critical_path_ms, p99_ms FROM shares WHERE run_id = ? "
            "ORDER BY phase, share DESC", (run_id,)))
        return RunRecord(*row, checks=checks, shares=shares)


@contextmanager
def open_history(path: Path, create: bool = True, steps: Sequence[Step] = MIGRATIONS) -> Iterator[History]:
    """The history at `path`, migrated. With create=False a missing file is an empty history
    (nothing is written: `chaosctl history` on a fresh machine leaves no file behind)."""
    path = Path(path)
    if not create and not path.exists():
        conn = sqlite3.connect(":memory:")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _refuse(path, f"cannot create its folder: {exc.strerror}") from None
        conn = sqlite3.connect(path, timeout=15.0, isolation_level=None)  # transactions are explicit
    conn.isolation_level = None
    try:
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, path, steps)
        except sqlite3.DatabaseError as exc:
            raise _refuse(path, f"not a usable chaosctl history database ({exc})") from None
        try:
            yield History(conn, path)
        except sqlite3.DatabaseError as exc:
            raise _refuse(path, f"not a usable chaosctl history database ({exc})") from None
    finally:
        conn.close()
