"""A scenario against a System: which System it runs on, and whether its targets fit it.

The System is `--system PATH`, else the scenario's `system: PATH` (relative to
the scenario file), else the reference stack at the settings' port base. The
scenario's own validators check target names against a Topology; they are
given the System's names through `SystemTargets`, so an unknown target is
reported at its FILE:LINE:COL with did-you-mean exactly as before. Then
`fit_problems` checks what only the System knows: that each fault type
reaches its component's kind, that a process kill can be reverted, that a
probed component has a URL, that trace expectations have a Jaeger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Union

from chaosctl.errors import SystemInvalid
from chaosctl.scenario.messages import in_file_order, located
from chaosctl.scenario.model import Scenario
from chaosctl.scenario.parse import parse_scenario
from chaosctl.scenario.yamlsrc import Positions, read_yaml
from chaosctl.stack.topology import Link, Topology

from .facts import SystemFacts, facts_of, reference_facts

# The System models load only when a System is read or built (load_system, reference_system):
# `validate` of a scenario against the reference stack checks it on its facts (facts.py).
if TYPE_CHECKING:
    from .model import System

Problem = tuple[tuple[Any, ...], str]


@dataclass(frozen=True)
class SystemTargets(Topology):
    """A System's target names behind the Topology interface that the scenario validators take."""

    names: tuple[str, ...] = ()
    link_ends: tuple[tuple[str, str], ...] = ()
    trace_services: tuple[str, ...] = ()
    request_templates: tuple[str, ...] = ()  # the System's load templates: what a scenario request's `model` names
    gpu_targets: tuple[str, ...] = ()  # components a gpu-exhaustion reaches (gpu-host, reference model servers)
    request_targets: tuple[str, ...] = ()  # components a request fault reaches (reference gateway, model servers)
    region_members: tuple[tuple[str, str], ...] = ()  # (component, region) of every component with a region label

    @property
    def components(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.names

    @property
    def links(self) -> tuple[Link, ...]:  # type: ignore[override]
        return tuple(Link(src, dst, 0, 0) for src, dst in self.link_ends)

    @property
    def services(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.trace_services


def system_targets(system: Union[System, SystemFacts], port_base: int) -> SystemTargets:
    facts = system if isinstance(system, SystemFacts) else facts_of(system)
    return SystemTargets(
        port_base=port_base,
        names=tuple(c.name for c in facts.components),
        link_ends=facts.link_ends,
        trace_services=facts.trace_services,
        request_templates=facts.request_templates,
        gpu_targets=tuple(c.name for c in facts.components if "gpu-exhaustion" in c.faults),
        request_targets=tuple(c.name for c in facts.components if "request-abort" in c.faults),
        region_members=tuple((c.name, c.region) for c in facts.components if c.region is not None),
    )


def _fault_problems(scenario: Scenario, system: SystemFacts) -> Iterator[Problem]:
    names = {c.name for c in system.components}
    for i, phase in enumerate(scenario.phases):
        for j, fault in enumerate(phase.faults):
            where = ("phases", i, "faults", j, "target")
            if fault.target.startswith("link:") or fault.target not in names:
                continue  # links and unknown names: the scenario's validators said it
            comp = system.component(fault.target)
            if fault.type not in comp.faults:
                yield where, (
                    f"{fault.type} cannot reach {comp.name!r}: it is a {comp.kind} component, "
                    f"which takes {', '.join(comp.faults)}"
                )
            elif not comp.startable and fault.type != "process-pause":
                yield where, (
                    f"{fault.type} needs a way back: give {comp.name!r} a `start` command in System "
                    f"{system.name!r} so the kill can be reverted"
                )


def fit_problems(scenario: Scenario, system: SystemFacts) -> list[Problem]:
    """What only the System can say about the scenario (paths into the scenario)."""
    out = list(_fault_problems(scenario, system))
    names = {c.name for c in system.components}
    for i, probe in enumerate(scenario.steady_state):
        if probe.probe == "http" and probe.target in names and system.component(probe.target).url is None:
            why = f"component {probe.target!r} has no `url` in System {system.name!r}: an http probe needs one"
            out.append((("steady_state", i, "target"), why))
    if scenario.traces and not system.has_jaeger:
        out.append((("traces", 0), f"trace expectations need observability.jaeger in System {system.name!r}"))
    return out


def _named_system(data: Any, positions: Positions, source: Path, explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    named = data.get("system") if isinstance(data, dict) else None
    if not isinstance(named, str) or not named.strip():
        return None  # a wrong type is the model's to report
    path = (source.parent / named).resolve() if not Path(named).is_absolute() else Path(named)
    if not path.is_file():
        line, col = positions.of(("system",))
        raise SystemInvalid([f"{source}:{line + 1}:{col + 1}: system: no System file at {path}"])
    return path


def scenario_with_system(
    data: Any, positions: Positions, source: Path, system_path: Path | None = None, port_base: int | None = None
) -> tuple[Scenario, System]:
    """Validate read scenario data against its System; SystemInvalid/ScenarioInvalid with FILE:LINE:COL."""
    from .load import load_system
    from .reference import reference_system

    topology = Topology(port_base) if port_base is not None else Topology()
    path = _named_system(data, positions, source, system_path)
    system = load_system(path) if path is not None else reference_system(topology)
    return _checked(data, positions, source, facts_of(system), topology.port_base), system


def check_scenario(data: Any, positions: Positions, source: Path, system_path: Path | None = None,
                   port_base: int | None = None) -> Scenario:
    """`scenario_with_system` for `validate`, which needs no System object: against the reference
    stack the scenario is checked on the stack's facts, and the System models are not built."""
    topology = Topology(port_base) if port_base is not None else Topology()
    path = _named_system(data, positions, source, system_path)
    if path is not None:
        from .load import load_system

        facts = facts_of(load_system(path))
    else:
        facts = reference_facts(topology)
    return _checked(data, positions, source, facts, topology.port_base)


def _checked(data: Any, positions: Positions, source: Path, facts: SystemFacts, port_base: int) -> Scenario:
    scenario = parse_scenario(data, positions, str(source), system_targets(facts, port_base))
    problems = fit_problems(scenario, facts)
    if problems:
        raise SystemInvalid(in_file_order([located(p, m, positions, str(source)) for p, m in problems]))
    return scenario


def load_scenario_for_system(path: str | Path, system_path: Path | None = None, port_base: int | None = None) -> tuple[Scenario, System]:
    """Read a scenario file and validate it against its System (see module doc)."""
    data, positions = read_yaml(Path(path))
    return scenario_with_system(data, positions, Path(path), system_path, port_base)


def resolve_for_run(path: str | Path, system_path: Path | None, port_base: int,
                    confirm: str | None = None) -> tuple[Scenario, System, Path | None]:
    """The scenario, its System and the System's file (None: the reference stack), for `run`.

    Refused before anything starts (exit 2): a System beyond this machine without
    `--confirm NAME`; a System driven through the stack backend (reference kinds) whose
    Prometheus is not the stack's at this port base (the backend acts on the port base).
    """
    from chaosctl.errors import UsageError

    from .runtime import uses_stack
    from .safety import confirm_problem

    data, positions = read_yaml(Path(path))
    named = _named_system(data, positions, Path(path), system_path)
    scenario, system = scenario_with_system(data, positions, Path(path), named, port_base)
    why = confirm_problem(system, confirm)
    if why is not None:
        raise UsageError(why)
    topology = Topology(port_base)
    prometheus = system.observability.prometheus.url
    if uses_stack(system) and prometheus != topology.url("prometheus"):
        raise UsageError(
            f"System {system.name!r} is not the reference stack at port base {port_base}: its Prometheus is "
            f"{prometheus}, the stack's is {topology.url('prometheus')} (give the matching --port-base)"
        )
    return scenario, system, named.resolve() if named is not None else None


def runnable_system(path: str | Path, system_path: Path | None, port_base: int, confirm: str | None = None) -> System:
    """The System a `run` uses, after validating the scenario against it (see resolve_for_run)."""
    return resolve_for_run(path, system_path, port_base, confirm)[1]
