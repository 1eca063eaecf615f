"""The System format (docs/system-format.md) as frozen pydantic models.

A System says what a run may touch and how: the fault targets (components, by
the kind of handle that reaches them), the links that can be perturbed, where
the metrics and traces are, how the built-in SLIs are computed, and where the
load goes. The reference stack is one System (`reference.py`); a user's
deployment is another. Credentials are only ever the *name* of an environment
variable (`*_env`); `secrets.py` refuses a literal one before these models run.
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, model_validator

from chaosctl.scenario.types import Duration, Frozen

from .kinds import FAULTS_BY_KIND, REQUEST_FAULTS, reference_faults
from .presets import Slis

__all__ = [
    "API_VERSION", "KIND", "FAULTS_BY_KIND", "REQUEST_FAULTS", "System", "SystemMetadata", "Observability", "Endpoint",
    "PrometheusEndpoint", "TraceSources", "Component", "ProcessComponent", "ContainerComponent",
    "PodComponent", "GpuHostComponent", "ReferenceComponent", "ReferenceModelServer", "ReadyCheck",
    "LinkSpec", "SystemLoad", "LoadAuth", "RequestTemplate", "Slis",
]  # fmt: skip

API_VERSION = "chaosctl/v1"
KIND = "System"
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
# Component names are scenario targets: `registry-store[0]`, `gateway`, `api-2`.
COMPONENT_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*(\[\d+\])?$"
_END = r"[A-Za-z][A-Za-z0-9_.-]*(\[\d+\])?"
LINK_PATTERN = rf"^{_END}->{_END}$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
HOSTPORT_PATTERN = r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$"

EnvName = Annotated[
    str, Field(pattern=ENV_PATTERN, description="the NAME of an environment variable that holds the secret (never the secret)")
]
Url = Annotated[str, Field(pattern=r"^https?://[^\s/@]+(/\S*)?$", description="http(s)://host:port[/path], no credentials")]
HostPort = Annotated[str, Field(pattern=HOSTPORT_PATTERN, description="host:port, e.g. 127.0.0.1:8080")]


class SystemMetadata(Frozen):
    name: str = Field(pattern=NAME_PATTERN, description="what `run --confirm NAME` must repeat for a non-loopback System")
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------- observability


class Endpoint(Frozen):
    url: Url
    token_env: Optional[EnvName] = Field(None, description="env var holding a bearer token for this endpoint")
    tls_verify: bool = Field(True, description="verify the server's TLS certificate (default on)")
    ca_file: Optional[str] = Field(None, description="a CA bundle to verify against instead of the system's")


class PrometheusEndpoint(Endpoint):
    pass


class Observability(Frozen):
    prometheus: PrometheusEndpoint
    jaeger: Optional[Endpoint] = Field(None, description="Jaeger query API (needed for trace expectations)")
    grafana: Optional[Endpoint] = Field(None, description="Grafana, for phase/fault annotations")


class TraceSources(Frozen):
    services: tuple[str, ...] = Field((), description="trace services the bottleneck analysis reads")
    root_operations: tuple[str, ...] = Field((), description="globs of root span operations to keep (empty: all)")


# ---------------------------------------------------------------- components


class ReadyCheck(Frozen):
    """How to know a (re)started component is ready: an HTTP 2xx or a TCP connect."""

    http: Optional[Url] = None
    tcp: Optional[HostPort] = None
    timeout: Duration = 60.0

    @model_validator(mode="after")
    def _one(self) -> "ReadyCheck":
        if (self.http is None) == (self.tcp is None):
            raise ValueError("a ready check needs exactly one of `http` (a URL) or `tcp` (host:port)")
        return self


class _ComponentBase(Frozen):
    name: str = Field(pattern=COMPONENT_PATTERN, description="the scenario target name")
    region: Optional[str] = Field(
        None, pattern=NAME_PATTERN, description="the region it runs in (a region-partition cuts every link into a region)"
    )
    url: Optional[Url] = Field(None, description="HTTP base URL (steady-state probes)")
    description: str = ""

    @property
    def faults(self) -> tuple[str, ...]:
        return FAULTS_BY_KIND[self.kind]  # type: ignore[attr-defined]


class ProcessComponent(_ComponentBase):
    """A local process, found by pidfile or by a command-line match at inject time."""

    kind: Literal["process"]
    pidfile: Optional[str] = Field(None, description="file holding the pid")
    match: Optional[str] = Field(None, description="regex searched in the command line; must find exactly one live process")
    start: Optional[Union[str, tuple[str, ...]]] = Field(None, description="command that starts it again (to revert a kill)")
    cwd: Optional[str] = None
    ready: Optional[ReadyCheck] = None

    @model_validator(mode="after")
    def _one_handle(self) -> "ProcessComponent":
        if (self.pidfile is None) == (self.match is None):
            raise ValueError("a process component needs exactly one of `pidfile` or `match`")
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(f"`match` is not a valid regular expression: {exc}") from None
        return self


class ContainerComponent(_ComponentBase):
    kind: Literal["container"]
    container: str = Field(min_length=1, description="container name (or id)")
    engine: Literal["docker"] = "docker"


class PodComponent(_ComponentBase):
    """Kubernetes pods; faults become Chaos Mesh objects."""

    kind: Literal["pod"]
    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    selector: dict[str, str] = Field(min_length=1, description="label selector, e.g. {app: checkout}")
    context: Optional[str] = Field(None, description="kubeconfig context (default: the current one)")
    mode: Literal["one", "all"] = Field("one", description="Chaos Mesh mode: one matching pod, or all")


class GpuHostComponent(_ComponentBase):
    """A machine whose GPU a `chaosctl gpu-hog` process exhausts."""

    kind: Literal["gpu-host"]
    device: int = Field(0, ge=0, description="CUDA device index")


class ReferenceComponent(_ComponentBase):
    """A component of chaosctl's reference stack, reached through its stack backend."""

    kind: Literal["reference"]
    component: Optional[str] = Field(None, description="the stack's component name (default: name)")

    @property
    def stack_name(self) -> str:
        return self.component or self.name

    @property
    def faults(self) -> tuple[str, ...]:
        return reference_faults(self.kind, self.stack_name)


class ReferenceModelServer(ReferenceComponent):
    """A reference model server: the stack backend for process faults, its admin API for GPU faults."""

    kind: Literal["reference-modelserver"]  # type: ignore[assignment]
    admin_url: Url
    admin_token_env: EnvName


Component = Annotated[
    Union[ProcessComponent, ContainerComponent, PodComponent, GpuHostComponent, ReferenceComponent, ReferenceModelServer],
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- links


class LinkSpec(Frozen):
    """`A->B` through Toxiproxy: one chaosctl starts (listen + upstream), or an existing one (toxiproxy + proxy)."""

    name: str = Field(pattern=LINK_PATTERN, description="FROM->TO; scenarios target it as link:FROM->TO")
    listen: Optional[HostPort] = Field(None, description="where FROM is configured to call TO")
    upstream: Optional[HostPort] = Field(None, description="TO's real address")
    toxiproxy: Optional[Url] = Field(None, description="an existing Toxiproxy's API URL")
    proxy: Optional[str] = Field(None, description="the proxy's name in that Toxiproxy")

    @model_validator(mode="after")
    def _one_form(self) -> "LinkSpec":
        if (self.toxiproxy is None) != (self.proxy is None):
            raise ValueError("an existing Toxiproxy link needs both `toxiproxy` (its URL) and `proxy` (the proxy name)")
        if self.toxiproxy is None and (self.listen is None or self.upstream is None):
            raise ValueError("a link needs `listen` and `upstream` (chaosctl runs the proxy), or `toxiproxy` and `proxy`")
        if (self.listen is None) != (self.upstream is None):
            raise ValueError("`listen` and `upstream` go together")
        return self

    @property
    def source(self) -> str:
        return self.name.split("->", 1)[0]

    @property
    def dest(self) -> str:
        return self.name.split("->", 1)[1]

    @property
    def target(self) -> str:
        return f"link:{self.name}"

    @property
    def managed(self) -> bool:
        """True when chaosctl starts the proxy itself."""
        return self.toxiproxy is None


# ---------------------------------------------------------------- load


class LoadAuth(Frozen):
    """The header every load request carries: its value from an env var, or a token chaosctl mints."""

    header: str = Field("Authorization", min_length=1)
    value_env: Optional[EnvName] = None
    prefix: str = Field("", description="put before the value, e.g. 'Bearer '")
    mint: Optional[Literal["chaosctl-token"]] = Field(
        None, description="chaosctl-token: a JWT signed with this install's JWT secret (reference gateway)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> "LoadAuth":
        if (self.value_env is None) == (self.mint is None):
            raise ValueError("auth needs exactly one of `value_env` (an environment variable name) or `mint`")
        return self


class RequestTemplate(Frozen):
    name: str = Field(pattern=NAME_PATTERN)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    body: Optional[Any] = Field(None, alias="json", description="JSON body")
    json_file: Optional[str] = Field(None, description="a file holding the JSON body (relative to the System file)")
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _one_body(self) -> "RequestTemplate":
        if self.body is not None and self.json_file is not None:
            raise ValueError("give the body as `json` or `json_file`, not both")
        return self


class SystemLoad(Frozen):
    base_url: Url
    auth: Optional[LoadAuth] = None
    requests: tuple[RequestTemplate, ...] = ()


# ---------------------------------------------------------------- the System


class System(Frozen):
    api_version: Literal["chaosctl/v1"] = Field(alias="apiVersion")
    kind: Literal["System"]
    metadata: SystemMetadata
    observability: Observability
    slis: Slis
    traces: TraceSources = TraceSources()
    components: tuple[Component, ...] = ()
    links: tuple[LinkSpec, ...] = ()
    load: Optional[SystemLoad] = None

    @property
    def name(self) -> str:
        return self.metadata.name

    def component(self, name: str) -> Any:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def link(self, name: str) -> LinkSpec:
        """A link by `A->B` or `link:A->B`."""
        for link in self.links:
            if name in (link.name, link.target):
                return link
        raise KeyError(name)

    @property
    def targets(self) -> tuple[str, ...]:
        return (*(c.name for c in self.components), *(link.target for link in self.links))

