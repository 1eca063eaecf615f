"""Steady-state probes (before the first phase, after the last) and the
preflight check that the stack and its observability backends answer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Sequence

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.stack.topology import Topology
from chaosctl.verdict.model import Check
from chaosctl.waiting import wait_until

if TYPE_CHECKING:
    from chaosctl.scenario.model import HttpProbe, PromqlProbe
    from chaosctl.stack.backend import Backend

    from .lost import LostBackends

    Probe = HttpProbe | PromqlProbe

InstantAt = Callable[[str, float], "float | None"]


def preflight(backend: "Backend", topology: Topology) -> None:
    """StackUnavailable (exit 3) naming every component or backend that does not answer."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="preflight") as pool:  # both mostly wait on sockets
        observers = pool.submit(_observer_problems, topology)
        status = backend.status()
        problems = [f"{c.name} ({c.state}, {c.url})" for c in status.components if c.state != "ready"]
        for name, reason in observers.result():
            if not any(p.startswith(f"{name} ") for p in problems):
                problems.append(f"{name} ({reason})")
    if problems:
        raise StackUnavailable("the stack is not ready; unreachable or not ready: " + "; ".join(problems)
                               + " (start it with `chaosctl up`)")


def _observer_problems(topology: Topology) -> list[tuple[str, str]]:
    """(name, why) for Prometheus and Jaeger when they do not answer."""
    from chaosctl.stack import health

    with httpx.Client() as client:
        checked = (("prometheus", health.http_ok(client, topology.url("prometheus") + "/-/ready")),
                   ("jaeger", health.jaeger(client, topology)))
    return [(name, got.reason) for name, got in checked if not got.ok]


def probe_once(probe: "Probe", topology: Topology, query: InstantAt, client: httpx.Client) -> tuple[bool, str]:
    """(holds, what was observed)."""
    if probe.probe == "http":
        url = topology.url(probe.target) + probe.path
        try:
            code = client.get(url, timeout=probe.timeout).status_code
        except httpx.HTTPError as exc:
            return False, f"{url}: {type(exc).__name__}"
        return code == probe.expect_status, f"HTTP {code}"
    try:
        value = query(probe.query, time.time())
    except StackUnavailable as exc:  # Prometheus lost: this probe cannot hold; the run goes on
        return False, str(exc)
    return probe.condition.holds(value), "no data" if value is None else f"{value:.4g}"


def objective_text(probe: "Probe") -> str:
    if probe.probe == "http":
        return f"HTTP {probe.expect_status} from {probe.target}{probe.path}"
    return f"{probe.query} {probe.condition.describe()}"


def check_steady_state(probes: Sequence["Probe"], phase: str, topology: Topology, query: InstantAt,
                       wait_s: float, sleep: Callable[[float], None] = time.sleep,
                       lost: "LostBackends | None" = None, clock: Callable[[], float] = time.monotonic) -> list[Check]:
    """Probe until every probe holds or `wait_s` passes (the system may still be
    recovering after the last revert); one Check per probe, with the last observation.
    An unreachable Prometheus is recorded in `lost` and not waited for."""
    def unreachable_of(results: list[tuple[bool, str]]) -> list[str]:
        return [obs for ok, obs in results if not ok and obs.startswith("Prometheus at ")]

    with httpx.Client() as client:
        results = wait_until(lambda: [probe_once(p, topology, query, client) for p in probes], wait_s, interval=0.5,
                             done=lambda rs: all(ok for ok, _ in rs) or bool(unreachable_of(rs)), clock=clock, sleep=sleep)
    unreachable = unreachable_of(results)
    if unreachable and lost is not None:
        lost.record(StackUnavailable(unreachable[0]), "Prometheus")
    return [
        Check("steady_state", p.name, phase, "pass" if ok else "fail", observed, objective_text(p),
              "" if ok else f"steady state does not hold {phase} the run (waited {wait_s:.0f}s)")
        for p, (ok, observed) in zip(probes, results)
    ]
