"""The docker backend's plan, as pure functions: topology -> container specs, fault -> action.

Layout. Each component is one container on a user-defined bridge network and
is reachable there by its hostname (`registry-store-0`, `gateway`, ...). Inside
the network every component keeps the ports of `Topology(INTERNAL_PORT_BASE)`;
only the host-published ports follow `settings.port_base`, so two stacks can
share an engine. The services keep the contract's "dial 127.0.0.1:PORT" rule:
each stack container runs `chaosctl.stack.relay` as PID 1, which forwards
127.0.0.1:PORT of every *other* component to `HOSTNAME:PORT`, and the
container's own network address to its 127.0.0.1 listeners. So a network
disconnect of one container is a real partition, and a kill of PID 1 is a
node loss. Prometheus, Jaeger, Grafana and Toxiproxy come from
docker-compose.observability.yml (same network, same hostnames).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaosctl.settings import SECRET_ENV
from chaosctl.stack import configs
from chaosctl.stack.components import etcd_index, file_name, kind, ports, stages
from chaosctl.stack.topology import ANALYSER, EVENTS, PREDICTION_CACHE, Topology

INTERNAL_PORT_BASE = 17000
INTERNAL = Topology(INTERNAL_PORT_BASE)
GRAFANA_OFFSET = 90  # the topology has no Grafana; the docker stack puts it at base + 90
STACK_IMAGE = "chaosctl-stack:0.1.0"
NETWORK = "chaosctl"
LABEL = "io.chaosctl.stack"
COMPOSED = ("toxiproxy", "jaeger", "prometheus")  # run by docker-compose.observability.yml
# The event path (a JVM broker and its analyser) runs on the local backend only so far: the stack
# image has no Java. Without a broker the gateway's publisher drops its events (counted), never blocks.
LOCAL_ONLY = (EVENTS, ANALYSER)
ETCD_DATA = Path("/var/lib/chaosctl/etcd")


@dataclass(frozen=True)
class ContainerSpec:
    """Everything `docker run` needs for one component (typed; `run_kwargs` for the SDK)."""

    component: str
    name: str
    hostname: str
    image: str
    command: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    published: tuple[tuple[int, int], ...]  # (container port, host port on 127.0.0.1)
    network: str
    labels: tuple[tuple[str, str], ...]

    def run_kwargs(self) -> dict[str, object]:
        """Keyword arguments of `docker.DockerClient.containers.run` (detached)."""
        return {
            "image": self.image,
            "command": list(self.command),
            "name": self.name,
            "hostname": self.hostname,
            "environment": dict(self.environment),
            "ports": {f"{inner}/tcp": ("127.0.0.1", outer) for inner, outer in self.published},
            "network": self.network,
            "labels": dict(self.labels),
            "detach": True,
            "init": False,  # the relay is PID 1 on purpose: SIGKILL to it is a node loss
        }


@dataclass(frozen=True)
class RelayPlan:
    """What the relay in one container forwards."""

    inbound: tuple[int, ...]  # own ports: container address -> 127.0.0.1
    outbound: tuple[tuple[int, str], ...]  # (port, hostname): 127.0.0.1:port -> hostname:port


@dataclass(frozen=True)
class DockerAction:
    """One fault or lifecycle operation on a container, as the SDK call to make."""

    container: str
    method: str  # a `Container` method: kill | pause | unpause | start; or network: disconnect | connect
    kwargs: tuple[tuple[str, str], ...] = ()


def hostname(component: str) -> str:
    return file_name(component)


def container_name(project: str, component: str) -> str:
    return f"{project}-{hostname(component)}"


def project_name(port_base: int) -> str:
    """One compose project (and container prefix) per port base, so stacks do not collide."""
    return f"chaosctl-{port_base}"


def host_port(port: int, port_base: int) -> int:
    return port - INTERNAL_PORT_BASE + port_base


def stack_components(topo: Topology = INTERNAL) -> tuple[str, ...]:
    """Components that run as stack containers (the rest come from compose), in start order."""
    return tuple(name for stage in stages(topo) for name in stage if name not in (*COMPOSED, *LOCAL_ONLY))


def all_ports() -> dict[str, tuple[int, ...]]:
    own = {name: ports(INTERNAL, name) for name in INTERNAL.components if name not in LOCAL_ONLY}
    own["toxiproxy"] = ports(INTERNAL, "toxiproxy")
    return own


def relay_plan(component: str) -> RelayPlan:
    owned = all_ports()
    outbound = sorted(
        (port, hostname(other)) for other, plist in owned.items() if other != component for port in plist
    )
    return RelayPlan(inbound=owned[component], outbound=tuple(outbound))


def _command(component: str) -> tuple[str, ...]:
    if kind(component) == "etcd":
        args = configs.etcd_args(INTERNAL, etcd_index(component), ETCD_DATA / hostname(component), False)
        return ("etcd", *args)
    if component == PREDICTION_CACHE:
        return redis_command()
    return ("python", "-m", "chaosctl.services", component, "--port-base", str(INTERNAL_PORT_BASE))


def redis_command() -> tuple[str, ...]:
    """redis-server with its password read from the container's environment into its stdin
    config (`-`): never on a command line, never in the image. Loopback only (the relay
    forwards the container's address to it), no persistence, LRU-bounded (configs.redis_config)."""
    script = (f'printf \'requirepass "%s"\\n\' "${SECRET_ENV["cache_password"]}" | exec redis-server - '
              f"--port {INTERNAL.prediction_cache_port} --bind 127.0.0.1 --protected-mode yes --save '' "
              f"--appendonly no --maxmemory {configs.REDIS_MAXMEMORY} --maxmemory-policy allkeys-lru")
    return ("sh", "-c", script)


def container_spec(component: str, port_base: int, secrets: tuple[tuple[str, str], ...],
                   image: str = STACK_IMAGE) -> ContainerSpec:
    """The container of one stack component; `secrets` = (env name, value) pairs."""
    project = project_name(port_base)
    relay = ("python", "-m", "chaosctl.stack.relay", "--component", component, "--")
    published = tuple((p, host_port(p, port_base)) for p in ports(INTERNAL, component))
    env = (*secrets, ("PYTHONUNBUFFERED", "1"))
    return ContainerSpec(
        component=component,
        name=container_name(project, component),
        hostname=hostname(component),
        image=image,
        command=(*relay, *_command(component)),
        environment=env,
        published=published,
        network=project,
        labels=((LABEL, project), (f"{LABEL}.component", component)),
    )


def container_specs(port_base: int, secrets: tuple[tuple[str, str], ...]) -> tuple[ContainerSpec, ...]:
    return tuple(container_spec(c, port_base, secrets) for c in stack_components())


def fault_action(operation: str, component: str, port_base: int) -> DockerAction:
    """Backend operation -> container operation. SIGKILL/SIGSTOP become kill/pause (cgroup freezer)."""
    name = container_name(project_name(port_base), component)
    table = {
        "kill": DockerAction(name, "kill", (("signal", "SIGKILL"),)),
        "pause": DockerAction(name, "pause"),
        "resume": DockerAction(name, "unpause"),
        "start": DockerAction(name, "start"),
        "disconnect": DockerAction(name, "disconnect", (("network", project_name(port_base)),)),
        "reconnect": DockerAction(name, "connect", (("network", project_name(port_base)),)),
    }
    if operation not in table:
        raise KeyError(operation)
    return table[operation]


# -- observability configs for the compose file (committed under deploy/) --------------


def prometheus_config() -> dict[str, object]:
    """The local backend's scrape config with every target on its container hostname.

    Jobs are named after the component's hostname already; the run's phase
    marker is served by chaosctl on the host, reached as `host.docker.internal`.
    """
    base = configs.prometheus_config(INTERNAL, tuple(c for c in INTERNAL.components if c not in LOCAL_ONLY))
    for job in base["scrape_configs"]:  # type: ignore[union-attr]
        host = "host.docker.internal" if job["job_name"] == configs.RUN_MARKER_JOB else job["job_name"]
        for static in job["static_configs"]:
            static["targets"] = [f"{host}:{t.rsplit(':', 1)[1]}" for t in static["targets"]]
    return base


def _listen_everywhere(node: object) -> object:
    if isinstance(node, dict):
        return {k: _listen_everywhere(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_listen_everywhere(v) for v in node]
    if isinstance(node, str) and node.startswith("127.0.0.1:"):
        return "0.0.0.0:" + node.split(":", 1)[1]
    return "0.0.0.0" if node == "127.0.0.1" else node


def jaeger_config() -> dict[str, object]:
    """The local Jaeger v2 config, listening on the container's network instead of loopback."""
    return _listen_everywhere(configs.jaeger_config(INTERNAL))  # type: ignore[return-value]


def toxiproxy_proxies() -> list[dict[str, object]]:
    """Toxiproxy's `/populate` body on the network: listen everywhere, dial the real hostnames."""
    out = []
    for link in INTERNAL.links:
        out.append({
            "name": link.proxy_name,
            "listen": f"0.0.0.0:{link.listen_port}",
            "upstream": f"{hostname(link.dest)}:{link.upstream_port}",
            "enabled": True,
        })
    return out


def grafana_port(port_base: int = INTERNAL_PORT_BASE) -> int:
    return port_base + GRAFANA_OFFSET


def grafana_datasources() -> dict[str, object]:
    prom = f"http://prometheus:{INTERNAL.prometheus_port}"
    jaeger = f"http://jaeger:{INTERNAL.jaeger_query_port}"
    return {
        "apiVersion": 1,
        "datasources": [
            {"name": "Prometheus", "uid": "prometheus", "type": "prometheus", "access": "proxy", "url": prom,
             "isDefault": True, "jsonData": {"timeInterval": "1s"}},
            {"name": "Jaeger", "uid": "jaeger", "type": "jaeger", "access": "proxy", "url": jaeger},
        ],
    }


def grafana_dashboard_provider() -> dict[str, object]:
    return {
        "apiVersion": 1,
        "providers": [
            {"name": "chaosctl", "folder": "chaosctl", "type": "file", "disableDeletion": False,
             "allowUiUpdates": False, "options": {"path": "/var/lib/grafana/dashboards", "foldersFromFilesStructure": False}},
        ],
    }


def deploy_files() -> dict[str, object]:
    """Path under the checkout -> YAML data of every generated observability config."""
    return {
        "deploy/prometheus/prometheus.yml": prometheus_config(),
        "deploy/jaeger/config.yaml": jaeger_config(),
        "deploy/grafana/provisioning/datasources/chaosctl.yml": grafana_datasources(),
        "deploy/grafana/provisioning/dashboards/chaosctl.yml": grafana_dashboard_provider(),
    }


def write_deploy_files(root: Path) -> list[Path]:
    written = []
    for rel, data in deploy_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Generated by chaosctl.stack.docker_specs.write_deploy_files; do not edit.\n"
                        + configs.to_yaml(data))
        written.append(path)
    return written

