"""What the run engine reads from a resolved System: addresses, SLI queries, trace sources,
the preflight, and the Topology view the steady-state probes and telemetry take.

The reference System resolves to exactly the addresses and queries the engine used
before it saw Systems (a unit test holds them equal); a user's System resolves to its
own. `uses_stack` is the one question about the reference stack: whether the
System's components are reached through chaosctl's stack backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaosctl.errors import StackUnavailable
from chaosctl.stack.topology import Topology

from .model import GpuHostComponent, ProcessComponent, ReferenceComponent, System
from .presets import ResolvedSlis

if TYPE_CHECKING:
    from chaosctl.faults.base import FaultContext
    from chaosctl.scenario.model import Scenario


def uses_stack(system: System) -> bool:
    """True when some component is reached through chaosctl's stack backend (reference kinds)."""
    return any(isinstance(c, ReferenceComponent) for c in system.components)


@dataclass(frozen=True)
class SystemTopology(Topology):
    """A Topology whose `url()` answers with the System's addresses: components' `url`,
    `prometheus` and `jaeger` from its observability. Port-base facts (the run's marker
    port) stay the Topology's."""

    system: System | None = None

    def url(self, name: str) -> str:
        system = self.system
        if system is not None:
            if name == "prometheus":
                return system.observability.prometheus.url.rstrip("/")
            if name == "jaeger" and system.observability.jaeger is not None:
                return system.observability.jaeger.url.rstrip("/")
            for c in system.components:
                if c.name == name and c.url:
                    return str(c.url).rstrip("/")
            if not uses_stack(system):
                raise KeyError(f"{name!r} has no url in System {system.name!r}")
        return super().url(name)


def system_topology(ctx: "FaultContext") -> SystemTopology:
    return SystemTopology(port_base=ctx.topology.port_base, system=ctx.resolved_system)


def slis_of(system: System) -> ResolvedSlis:
    return system.slis.resolved()


def sli_jobs(system: System) -> tuple[str, ...]:
    """Scrape jobs the built-in SLIs read (their coverage): the reference gateway's job,
    else the `job="..."` matchers of the System's SLI selectors (empty: found from the series)."""
    from chaosctl.verdict.coverage import named_jobs

    from .presets import PRESETS

    slis = slis_of(system)
    named = named_jobs(f"{slis.requests_selector} {slis.bucket_selector}")
    own = system.slis
    if named or own.preset is None or own.requests is not None or own.latency_histogram is not None:
        return named
    return PRESETS[own.preset].jobs


def trace_service(system: System) -> str:
    """The service whose traces the bottleneck analysis fetches (the first listed: where requests enter)."""
    return system.traces.services[0] if system.traces.services else "gateway"


def load_url(system: System) -> str:
    if system.load is None:
        raise StackUnavailable(f"System {system.name!r} has no `load` section: a run needs its base_url")
    return system.load.base_url.rstrip("/")


def targeted_processes(scenario: "Scenario", system: System) -> list[ProcessComponent]:
    names = {f.target for p in scenario.phases for f in p.faults}
    return [c for c in system.components if isinstance(c, ProcessComponent) and c.name in names]


def _target_problems(ctx: "FaultContext", scenario: "Scenario", system: System) -> None:
    """Each targeted process resolves to exactly one live process; each targeted GPU exists."""
    from chaosctl.faults.localproc import resolve_pid

    base = ctx.system_path.parent if ctx.system_path is not None else None
    for comp in targeted_processes(scenario, system):
        resolve_pid(comp, base)
    names = {f.target for p in scenario.phases for f in p.faults}
    for gpu in (c for c in system.components if isinstance(c, GpuHostComponent) and c.name in names):
        from chaosctl.faults.gpuhog import device_problem

        why = device_problem(gpu.device)
        if why is not None:
            raise StackUnavailable(f"component {gpu.name!r} (gpu-host): {why}; gpu-exhaustion cannot run here")


def preflight(ctx: "FaultContext", topology: Topology, scenario: "Scenario | None" = None) -> None:
    """Before anything is touched: the reference stack through its backend; a user's System
    by its Prometheus, Jaeger, components' ready checks, its targeted processes (exactly one
    each) and its managed links (chaosctl's Toxiproxy is started here). StackUnavailable, exit 3."""
    system = ctx.resolved_system
    if uses_stack(system):
        from chaosctl.runner.steady import preflight as stack_preflight

        stack_preflight(ctx.backend, topology)
        return
    problems = _endpoint_problems(system)
    if problems:
        raise StackUnavailable(f"System {system.name!r} is not ready: " + "; ".join(problems))
    if scenario is not None:
        _target_problems(ctx, scenario, system)
    ctx.start_links()


def _endpoint_problems(system: System) -> list[str]:
    import httpx

    checks: list[tuple[str, str]] = [("prometheus", system.observability.prometheus.url.rstrip("/") + "/-/ready")]
    if system.observability.jaeger is not None:
        checks.append(("jaeger", system.observability.jaeger.url.rstrip("/") + "/api/services"))
    problems = []
    with httpx.Client(timeout=3.0, verify=system.observability.prometheus.tls_verify) as client:
        for name, url in checks:
            try:
                code = client.get(url).status_code
                if code >= 400:
                    problems.append(f"{name} ({url}: HTTP {code})")
            except httpx.HTTPError as exc:
                problems.append(f"{name} ({url}: unreachable, {type(exc).__name__})")
    return problems


class NoTraces:
    """The trace source of a System without `observability.jaeger`: every fetch is empty
    (no bottleneck rows; `fit` refuses trace expectations on such a System)."""

    def fetch(self, service: str, start: float, end: float) -> object:
        from chaosctl.observe.jaeger import FetchResult

        return FetchResult((), 0, 0, 0.0)

    def close(self) -> None:
        pass
