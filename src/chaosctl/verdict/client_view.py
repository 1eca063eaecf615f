"""The clients' view of availability, weighed against the server's metrics.

The built-in SLIs come from the gateway's own metrics. A gateway that is dead,
paused or refusing connections records nothing about the requests it failed, so
the server view can look perfect while clients see connection errors. The load
generator counts what its clients saw per phase (chaosctl.load.client); the
availability SLIs (success_ratio, error_ratio, burn_rate) are judged on the worse
of the two views, and the reason says so when the clients saw failures that the
server's metrics did not.

A client failure is what Locust counts as one: a connection error, a timeout, a
5xx, or a 4xx other than 429 (the shipped load sends only valid requests, so a
404 there means the system lost a model; a 429 is the gateway enforcing a quota,
not a failure, as on the server side).
"""

from __future__ import annotations

from dataclasses import dataclass

AVAILABILITY_SLIS = ("success_ratio", "error_ratio", "burn_rate")


@dataclass(frozen=True)
class ClientCounts:
    """Requests the clients completed within a phase, and how many of them failed."""

    requests: int
    failures: int
    seconds: float = 0.0  # how much of the phase the counts span (edges are dropped, never borrowed)

    @property
    def error_ratio(self) -> float | None:
        return None if self.requests <= 0 else self.failures / self.requests

    def describe(self) -> str:
        return f"{self.failures} failed of {self.requests} requests"


def client_value(sli: str | None, counts: ClientCounts, target: float | None) -> float | None:
    """The SLI as the clients saw it (None: no requests, or not an availability SLI)."""
    err = counts.error_ratio
    if err is None or sli not in AVAILABILITY_SLIS:
        return None
    if sli == "success_ratio":
        return 1.0 - err
    if sli == "error_ratio":
        return err
    if target is None or not 0 < target < 1:
        return None
    return err / (1.0 - target)


def client_verdict(sli: str | None, server: float, counts: ClientCounts | None,
                   target: float | None = None) -> tuple[float, str]:
    """(the worse of server and client value, a note when the clients' view is the worse)."""
    if counts is None or counts.failures <= 0:
        return server, ""
    client = client_value(sli, counts, target)
    if client is None:
        return server, ""
    worse_is_lower = sli == "success_ratio"
    if (client < server) if worse_is_lower else (client > server):
        shown = f"{1.0 - (counts.error_ratio or 0.0):.2%} success" if sli == "success_ratio" else f"{client:.4g}"
        note = (f"clients saw failures the server's metrics did not: {counts.describe()} ({shown}); "
                f"judged on the clients' view (server {_show(sli, server)})")
        return client, note
    return server, ""


def _show(sli: str | None, value: float) -> str:
    return f"{value:.2%}" if sli in ("success_ratio", "error_ratio") else f"{value:.4g}"
