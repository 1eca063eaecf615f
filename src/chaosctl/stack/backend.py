"""The stack backend interface (docs/contracts.md) and its plain-data status.

Faults and the run talk to the stack only through `Backend`, by logical
component name (`registry-store[0]`, `gateway`, ...), so one scenario runs on
every backend.
`chaosctl.stack.factory.get_backend(settings)` picks the implementation; this module imports none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# Component states, as shown by `status`.
READY = "ready"
STARTING = "starting"  # running, health check not (yet) passing
PAUSED = "paused"
STOPPED = "stopped"  # not running (never started, killed, or exited)

# (component, event, detail); events: starting, ready, running, failed, stopping, stopped.
Reporter = Callable[[str, str, str], None]

# Endpoints that `status --json` publishes (docs/architecture.md, Outputs), by component.
ENDPOINT_COMPONENTS = ("gateway", "registry", "prometheus", "jaeger", "toxiproxy")


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str
    url: str
    pid: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "state": self.state, "url": self.url, "pid": self.pid}


@dataclass(frozen=True)
class StackStatus:
    backend: str
    components: tuple[ComponentStatus, ...]
    endpoints: dict[str, str] = field(default_factory=dict)

    @property
    def all_ready(self) -> bool:
        return bool(self.components) and all(c.state == READY for c in self.components)

    @property
    def any_running(self) -> bool:
        return any(c.state != STOPPED for c in self.components)

    def component(self, name: str) -> ComponentStatus:
        for comp in self.components:
            if comp.name == name:
                return comp
        raise KeyError(name)

    def to_json(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "components": [c.to_json() for c in self.components],
            "endpoints": dict(self.endpoints),
        }


@runtime_checkable
class Backend(Protocol):
    def up(self) -> StackStatus: ...  # idempotent; waits for all-ready; StackUnavailable on failure
    def down(self) -> None: ...  # stops everything by pid, leaves no port
    def status(self) -> StackStatus: ...
    def kill(self, component: str) -> None: ...  # SIGKILL the component's process group
    def pause(self, component: str) -> None: ...  # SIGSTOP
    def resume(self, component: str) -> None: ...  # SIGCONT
    def start(self, component: str) -> None: ...  # (re)start one component and wait until ready
    def is_running(self, component: str) -> bool: ...
    def is_paused(self, component: str) -> bool: ...
    def pid(self, component: str) -> int | None: ...

