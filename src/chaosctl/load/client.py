"""What the load generator's clients saw, per phase, from Locust's stats history CSV.

Locust appends one `Aggregated` row per second to `<csv>_stats_history.csv`:
`Timestamp` (int(time.time()) when written) and the cumulative `Total Request
Count` / `Total Failure Count`. A phase's counts are the difference between two
rows that lie inside the phase, never outside it: a row written at t has
Timestamp floor(t), so a row with Timestamp >= start + lag was written after the
phase started (lag: in distributed mode the master's totals trail its workers'
reports by up to WORKER_REPORT_INTERVAL_S), and a row with Timestamp + 1 <= end
was written before it ended. Failures at a phase's edges are thus dropped, never
borrowed from the neighbouring phase; the counts say how many seconds they span.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from chaosctl.verdict.client_view import ClientCounts

WORKER_REPORT_INTERVAL_S = 3.0  # locust.runners.WORKER_REPORT_INTERVAL
HISTORY_FILE = "locust_stats_history.csv"


@dataclass(frozen=True)
class ClientHistory:
    points: tuple[tuple[int, int, int], ...]  # (Timestamp, cumulative requests, cumulative failures), in order
    lag_s: float = 0.0

    def counts(self, start: float, end: float) -> ClientCounts | None:
        """Requests completed (and failed) inside [start, end]; None when no two rows lie inside it."""
        lo = math.ceil(start + self.lag_s)
        inside = [p for p in self.points if lo <= p[0] and p[0] + 1 <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        (t0, r0, f0), (t1, r1, f1) = inside[0], inside[-1]
        return ClientCounts(requests=max(0, r1 - r0), failures=max(0, f1 - f0), seconds=float(t1 - t0))


def read_history(path: Path, lag_s: float = 0.0) -> ClientHistory:
    """The Aggregated rows of a Locust stats history CSV (empty when missing or unreadable)."""
    points: list[tuple[int, int, int]] = []
    try:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("Name") != "Aggregated":
                    continue
                try:
                    point = (int(row["Timestamp"]), int(row["Total Request Count"]), int(row["Total Failure Count"]))
                except (KeyError, TypeError, ValueError):
                    continue  # a row cut short by a kill mid-write
                if not points or point[0] >= points[-1][0]:
                    points.append(point)
    except OSError:
        pass
    return ClientHistory(tuple(points), lag_s)
