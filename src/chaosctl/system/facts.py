"""What a scenario check needs to know of its System, as plain frozen data.

`chaosctl validate` of a scenario that names no System checks it against the reference
stack. Building that System as pydantic models (importing them, building their validators)
was about a tenth of the command's instructions (callgrind), for a handful of names the
checks read. `reference_facts` reads those names straight from `reference.reference_data`,
the data the reference System is validated from; `facts_of` reads them from any System.
A unit test keeps `reference_facts(t) == facts_of(reference_system(t))`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from chaosctl.stack.topology import Topology

from .kinds import FAULTS_BY_KIND, reference_faults

if TYPE_CHECKING:
    from .model import System


# NamedTuples, not dataclasses: a frozen dataclass compiles six methods at import (exec), a
# NamedTuple one; both are immutable and compare by value.
class ComponentFacts(NamedTuple):
    name: str
    kind: str
    faults: tuple[str, ...]
    url: Optional[str]
    region: Optional[str]
    startable: bool  # False: a process component without a `start` command (a kill cannot be reverted)


class SystemFacts(NamedTuple):
    name: str
    components: tuple[ComponentFacts, ...]
    link_ends: tuple[tuple[str, str], ...]
    trace_services: tuple[str, ...]
    request_templates: tuple[str, ...]
    has_jaeger: bool

    def component(self, name: str) -> ComponentFacts:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)


def facts_of(system: System) -> SystemFacts:
    return SystemFacts(
        name=system.name,
        components=tuple(
            ComponentFacts(c.name, c.kind, c.faults, c.url, c.region, c.kind != "process" or c.start is not None)
            for c in system.components
        ),
        link_ends=tuple((link.source, link.dest) for link in system.links),
        trace_services=system.traces.services,
        request_templates=tuple(r.name for r in system.load.requests) if system.load is not None else (),
        has_jaeger=system.observability.jaeger is not None,
    )


def _reference_component(c: dict[str, Any]) -> ComponentFacts:
    kind = c["kind"]
    faults = reference_faults(kind, c.get("component") or c["name"]) if kind.startswith("reference") else FAULTS_BY_KIND[kind]
    return ComponentFacts(c["name"], kind, faults, c.get("url"), c.get("region"), True)


def reference_facts(topology: Topology) -> SystemFacts:
    """The reference System's facts at this topology's port base, without building the System."""
    from .reference import reference_data

    data = reference_data(topology)
    load = data.get("load")
    return SystemFacts(
        name=data["metadata"]["name"],
        components=tuple(_reference_component(c) for c in data["components"]),
        link_ends=tuple(tuple(link["name"].split("->", 1)) for link in data["links"]),  # type: ignore[misc]
        trace_services=tuple(data["traces"]["services"]),
        request_templates=tuple(r["name"] for r in load.get("requests", ())) if load is not None else (),
        has_jaeger=data["observability"].get("jaeger") is not None,
    )
