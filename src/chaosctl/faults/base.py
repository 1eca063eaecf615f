"""What every fault is: a journal record plus inject / verify / revert.

A fault is built from a JSON-able `FaultRecord` (id, type, target, params), so
that the record written to the journal before `inject()` is enough to rebuild
the fault and revert it later (`chaosctl recover`, after a SIGKILL of the run).
`catalogue.build_fault(spec, ctx)` turns a scenario fault spec into a record first
and then goes through the same path as recovery (`catalogue.fault_from_record`): one
way to build a fault. This module imports no fault module (they import it).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Union

from chaosctl.errors import FaultError
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

if TYPE_CHECKING:  # the backend is built lazily: `recover` on a dead stack must still load
    import httpx

    from chaosctl.stack.backend import Backend
    from chaosctl.system.model import LinkSpec, System

    from .toxiproxy import ToxiproxyClient
    from .proxyserver import ManagedToxiproxy

Param = Union[str, float, int, bool, None]

JSON_PARAMS = ("match",)  # nested spec blocks kept in the journal as JSON text


@dataclass(frozen=True)
class FaultRecord:
    """The journal's view of a fault: everything needed to revert it from scratch."""

    id: str
    type: str
    target: str
    params: Mapping[str, Param] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Human-readable, e.g. `latency link:gateway->model-gpu-1`."""
        return f"{self.type} {self.target}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "target": self.target, "params": dict(self.params)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "FaultRecord":
        return cls(id=str(raw["id"]), type=str(raw["type"]), target=str(raw["target"]), params=dict(raw.get("params") or {}))


class Fault(Protocol):
    record: FaultRecord

    def inject(self) -> None: ...

    def verify(self) -> str:
        """Evidence that the fault is in effect; raises FaultError when it is not."""
        ...

    def revert(self) -> None:
        """Undo the fault; safe to call twice and on a fault that never landed."""
        ...


SYSTEM_PARAM = "_system"  # a record's System file (absent: the reference stack), so `recover` finds the target


@dataclass
class FaultContext:
    """Handles a fault needs. Built once per run (or per `recover`).

    `system` is the System the faults reach (None: the reference stack at the
    topology's port base); a target it does not declare is refused.
    `clients` builds the outside-world handles of the non-reference kinds
    (docker, kubernetes); unit tests give fakes.
    """

    settings: Settings
    topology: Topology
    backend_factory: Callable[[], "Backend"]
    timeout_s: float = 5.0
    system: "System | None" = None
    system_path: Path | None = None
    clients: dict[str, Callable[..., Any]] = field(default_factory=dict)
    _backend: "Backend | None" = None
    _toxiproxy: "ToxiproxyClient | None" = None
    _http: "httpx.Client | None" = None
    _proxies: dict[str, "ToxiproxyClient"] = field(default_factory=dict)
    _managed: "ManagedToxiproxy | None" = None

    @classmethod
    def for_settings(cls, settings: Settings, system: "System | None" = None,
                     system_path: Path | None = None) -> "FaultContext":
        def factory() -> "Backend":
            from chaosctl.stack.factory import get_backend

            return get_backend(settings)

        return cls(settings=settings, topology=Topology(settings.port_base), backend_factory=factory,
                   system=system, system_path=system_path)

    @property
    def resolved_system(self) -> "System":
        if self.system is None:
            from chaosctl.system.reference import reference_system

            self.system = reference_system(self.topology)
        return self.system

    def component(self, name: str) -> Any:
        """The declared component `name`; FaultError for anything the System does not declare."""
        try:
            return self.resolved_system.component(name)
        except KeyError:
            raise FaultError(f"{name!r} is not a component of System {self.resolved_system.name!r}: "
                             "faults reach only declared components") from None

    def link(self, name: str) -> "LinkSpec":
        try:
            return self.resolved_system.link(name)
        except KeyError:
            raise FaultError(f"{name!r} is not a link of System {self.resolved_system.name!r}") from None

    def for_record(self, record: FaultRecord) -> "FaultContext":
        """The context a journaled record was injected under (its System file), for `recover`."""
        path = record.params.get(SYSTEM_PARAM)
        if not path or (self.system_path is not None and Path(str(path)) == self.system_path):
            return self
        from chaosctl.system.load import load_system

        return FaultContext(self.settings, self.topology, self.backend_factory, self.timeout_s,
                            system=load_system(Path(str(path))), system_path=Path(str(path)), clients=self.clients)

    def toxiproxy_for(self, link: "LinkSpec") -> tuple["ToxiproxyClient", str]:
        """(client, proxy name) of a link: an existing Toxiproxy, or the one chaosctl runs."""
        from .toxiproxy import ToxiproxyClient

        if link.managed:
            from .proxyserver import managed_for

            if self._managed is None:
                self._managed = managed_for(self.settings, self.resolved_system)
            url, proxy = self._managed.url, self._managed.proxy_name(link)
        else:
            url, proxy = str(link.toxiproxy).rstrip("/"), str(link.proxy)
            if url == self.topology.url("toxiproxy"):
                return self.toxiproxy, proxy  # the reference stack's Toxiproxy, as before Systems
        if url not in self._proxies:
            self._proxies[url] = ToxiproxyClient(url, timeout_s=self.timeout_s)
        return self._proxies[url], proxy

    def start_links(self) -> None:
        """Start the Toxiproxy chaosctl runs for this System's managed links (none: nothing)."""
        system = self.resolved_system
        if any(link.managed for link in system.links) and self._managed is None:
            from .proxyserver import ManagedToxiproxy

            self._managed = ManagedToxiproxy.start(self.settings, system)

    def stop_links(self) -> None:
        if self._managed is not None:
            self._managed.stop()
            self._managed = None

    @property
    def backend(self) -> "Backend":
        if self._backend is None:
            self._backend = self.backend_factory()
        return self._backend

    @property
    def toxiproxy(self) -> "ToxiproxyClient":
        if self._toxiproxy is None:
            from .toxiproxy import ToxiproxyClient

            self._toxiproxy = ToxiproxyClient(self.topology.url("toxiproxy"), timeout_s=self.timeout_s)
        return self._toxiproxy

    @property
    def http(self) -> "httpx.Client":
        """Client for the model servers' admin endpoints (carries the admin token)."""
        if self._http is None:
            import httpx

            self._http = httpx.Client(timeout=self.timeout_s, headers={"X-Admin-Token": self.settings.admin_token})
        return self._http

    def close(self) -> None:
        """Close the HTTP handles (reopened if a fault is used again) and stop chaosctl's Toxiproxy."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._toxiproxy is not None:
            self._toxiproxy.close()
            self._toxiproxy = None
        for client in self._proxies.values():
            client.close()
        self._proxies.clear()
        self.stop_links()  # chaosctl's own Toxiproxy outlives no run (every fault is reverted by now)


def new_fault_id() -> str:
    return uuid.uuid4().hex[:12]


def record_from_spec(spec: Any, fault_id: str | None = None) -> FaultRecord:
    """A scenario fault spec (pydantic model or mapping) -> a journal record.

    Every field other than `type` and `target` becomes a param; units are
    already parsed by the scenario loader (seconds, fractions, bytes).
    """
    raw = spec.model_dump(mode="json", exclude_none=True) if hasattr(spec, "model_dump") else dict(spec)
    ftype = str(raw.pop("type"))
    target = str(raw.pop("target"))
    params = {k: v for k, v in raw.items() if isinstance(v, (str, int, float, bool))}
    # A request fault's `match` block travels as JSON text: params stay scalars.
    params |= {k: json.dumps(raw[k], sort_keys=True) for k in JSON_PARAMS if isinstance(raw.get(k), dict)}
    return FaultRecord(id=fault_id or new_fault_id(), type=ftype, target=target, params=params)
