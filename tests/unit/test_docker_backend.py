"""Docker backend without an engine: topology -> container specs, fault -> container action,
relays, generated observability configs. The SDK's own argument conversion checks the specs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from docker.models.containers import _create_container_args
from docker.types import HostConfig

from chaosctl.stack import configs
from chaosctl.stack import docker_specs as spec
from chaosctl.stack.factory import get_backend
from chaosctl.stack.relay import start_relays
from chaosctl.stack.topology import MODEL_SERVERS, PIPELINE_STAGES, Topology

ROOT = Path(__file__).resolve().parents[2]
SECRETS = (("CHAOSCTL_JWT_SECRET", "s3cret"), ("CHAOSCTL_ADMIN_TOKEN", "adm1n"))
API_VERSION = "1.47"


def test_every_stack_component_gets_one_container_in_start_order():
    specs = spec.container_specs(25000, SECRETS)
    names = [s.component for s in specs]
    assert names == [
        "registry-store[0]", "registry-store[1]", "registry-store[2]", "prediction-cache",
        "registry", *(m.name for m in MODEL_SERVERS), *PIPELINE_STAGES, "gateway", "autoscaler",
    ]  # fmt: skip
    assert {s.name for s in specs} == {f"chaosctl-25000-{spec.hostname(n)}" for n in names}
    assert all(s.network == "chaosctl-25000" and s.image == spec.STACK_IMAGE for s in specs)


def test_specs_are_valid_sdk_arguments():
    for s in spec.container_specs(25000, SECRETS):
        kwargs = dict(s.run_kwargs(), version=API_VERSION)
        kwargs.pop("detach")
        created = _create_container_args(kwargs)
        host = created["host_config"]
        assert isinstance(host, HostConfig)
        for inner, outer in s.published:
            assert host["PortBindings"][f"{inner}/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(outer)}]
        assert host["NetworkMode"] == "chaosctl-25000"
        assert created["labels"][spec.LABEL] == "chaosctl-25000"
        assert created["environment"]["CHAOSCTL_JWT_SECRET"] == "s3cret"


def test_host_ports_follow_the_port_base_inside_ports_do_not():
    gateway = spec.container_spec("gateway", 25000, SECRETS)
    assert gateway.published == ((17030, 25030),)
    assert gateway.command[-4:] == ("chaosctl.services", "gateway", "--port-base", "17000")
    assert gateway.command[:6] == ("python", "-m", "chaosctl.stack.relay", "--component", "gateway", "--")


def test_etcd_members_form_one_cluster_by_relay():
    member = spec.container_spec("registry-store[2]", 25000, SECRETS)
    args = member.command[member.command.index("etcd") + 1 :]
    assert "--name=registry-store-2" in args
    cluster = next(a for a in args if a.startswith("--initial-cluster="))
    assert cluster.split("=", 1)[1].split(",") == [
        f"registry-store-{i}=http://127.0.0.1:{17010 + i}" for i in range(3)
    ]
    assert member.published == ((17002, 25002), (17012, 25012))


def test_relay_plan_forwards_every_other_component():
    plan = spec.relay_plan("gateway")
    assert plan.inbound == (17030,)
    outbound = dict(plan.outbound)
    assert 17030 not in outbound
    assert outbound[17020] == "registry" and outbound[17061] == "jaeger"
    link = Topology(17000).link_to("gateway", "model-gpu-1")
    assert outbound[link.listen_port] == "toxiproxy"
    member = dict(spec.relay_plan("registry-store[0]").outbound)
    assert member[17011] == "registry-store-1" and 17010 not in member


@pytest.mark.parametrize(
    ("operation", "method", "kwargs"),
    [
        ("kill", "kill", (("signal", "SIGKILL"),)),
        ("pause", "pause", ()),
        ("resume", "unpause", ()),
        ("start", "start", ()),
        ("disconnect", "disconnect", (("network", "chaosctl-25000"),)),
        ("reconnect", "connect", (("network", "chaosctl-25000"),)),
    ],
)
def test_fault_operations_map_to_container_operations(operation, method, kwargs):
    action = spec.fault_action(operation, "registry-store[0]", 25000)
    assert action == spec.DockerAction("chaosctl-25000-registry-store-0", method, kwargs)


def test_unknown_operation_is_refused():
    with pytest.raises(KeyError):
        spec.fault_action("reboot", "gateway", 25000)


def test_compose_components_are_not_stack_containers():
    assert not set(spec.COMPOSED) & set(spec.stack_components())
    assert not set(spec.LOCAL_ONLY) & set(spec.stack_components())  # the event path: local backend only
    assert set(spec.COMPOSED) | set(spec.stack_components()) | set(spec.LOCAL_ONLY) == set(Topology(17000).components)


def test_prometheus_scrapes_every_component_by_hostname():
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in spec.prometheus_config()["scrape_configs"]}
    local = {j["job_name"] for j in configs.prometheus_config(Topology(17000))["scrape_configs"]}
    assert set(jobs) == local - set(spec.LOCAL_ONLY)
    assert jobs["gateway"] == ["gateway:17030"] and jobs["registry-store-1"] == ["registry-store-1:17001"]
    assert jobs["chaosctl-run"] == ["host.docker.internal:17080"]


def test_jaeger_and_toxiproxy_listen_on_the_network():
    text = configs.to_yaml(spec.jaeger_config())
    assert "127.0.0.1" not in text and "0.0.0.0:17061" in text
    proxies = {p["name"]: p for p in spec.toxiproxy_proxies()}
    link = Topology(17000).link_to("gateway", "model-gpu-1")
    assert proxies[link.proxy_name]["upstream"] == "model-gpu-1:17040"
    assert proxies[link.proxy_name]["listen"] == f"0.0.0.0:{link.listen_port}"


def test_committed_deploy_files_are_generated(tmp_path):
    for path in spec.write_deploy_files(tmp_path):
        rel = path.relative_to(tmp_path)
        assert (ROOT / rel).read_text() == path.read_text(), f"{rel} is stale: run write_deploy_files"


def test_grafana_provisions_both_datasources_and_the_dashboards():
    sources = {d["type"]: d for d in spec.grafana_datasources()["datasources"]}
    assert sources["prometheus"]["url"] == "http://prometheus:17050" and sources["prometheus"]["isDefault"]
    assert sources["jaeger"]["url"] == "http://jaeger:17062"
    provider = spec.grafana_dashboard_provider()["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_get_backend_returns_the_docker_backend_without_touching_the_engine():
    from chaosctl.settings import Settings

    backend = get_backend(Settings(backend="docker", port_base=25000))
    assert type(backend).__name__ == "DockerBackend" and backend.project == "chaosctl-25000"


def test_relay_forwards_bytes_both_ways(unused_tcp_ports):
    echo_port, relay_port = unused_tcp_ports

    async def scenario() -> bytes:
        async def echo(reader, writer):
            writer.write(await reader.read(100))
            await writer.drain()
            writer.close()

        echo_server = await asyncio.start_server(echo, "127.0.0.1", echo_port)
        relays = await start_relays([("127.0.0.1", relay_port, "127.0.0.1", echo_port)])
        reader, writer = await asyncio.open_connection("127.0.0.1", relay_port)
        writer.write(b"ping through the relay")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(100), 5)
        writer.close()
        for server in (echo_server, *relays):
            server.close()
            await server.wait_closed()
        return data

    assert asyncio.run(scenario()) == b"ping through the relay"


@pytest.fixture
def unused_tcp_ports() -> tuple[int, int]:
    import socket

    socks = [socket.socket() for _ in range(2)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = tuple(s.getsockname()[1] for s in socks)
    for s in socks:
        s.close()
    return ports  # type: ignore[return-value]


# -- the backend's glue, over a hand-written fake of the SDK's client ------------------------


class FakeContainer:
    def __init__(self, name: str) -> None:
        self.name, self.status, self.calls = name, "running", []
        self.attrs = {"State": {"Pid": 4242}}

    def kill(self, signal: str) -> None:
        self.calls.append(("kill", signal))
        self.status = "exited"

    def pause(self) -> None:
        self.calls.append(("pause",))
        self.status = "paused"

    def unpause(self) -> None:
        self.calls.append(("unpause",))
        self.status = "running"


class FakeNetwork:
    def __init__(self) -> None:
        self.calls = []

    def disconnect(self, container, force: bool) -> None:
        self.calls.append(("disconnect", container.name, force))

    def connect(self, container, aliases: list[str]) -> None:
        self.calls.append(("connect", container.name, tuple(aliases)))


class FakeClient:
    def __init__(self, names: list[str]) -> None:
        self.by_name = {n: FakeContainer(n) for n in names}
        self.network = FakeNetwork()
        self.containers = self
        self.networks = self

    def get(self, name: str):
        from docker.errors import NotFound

        if name.startswith("chaosctl-") and name in self.by_name:
            return self.by_name[name]
        if name == "chaosctl-25000":
            return self.network
        raise NotFound(name)


@pytest.fixture
def backend():
    from chaosctl.settings import Settings
    from chaosctl.stack.docker import DockerBackend

    b = DockerBackend(Settings(backend="docker", port_base=25000))
    b._client = FakeClient(["chaosctl-25000-registry-store-0", "chaosctl-25000-gateway"])
    return b


def test_kill_pause_resume_act_on_the_named_container(backend):
    member = backend._client.by_name["chaosctl-25000-registry-store-0"]
    backend.pause("registry-store[0]")
    assert backend.is_paused("registry-store[0]") and backend.is_running("registry-store[0]")
    backend.resume("registry-store[0]")
    backend.kill("registry-store[0]")
    assert member.calls == [("pause",), ("unpause",), ("kill", "SIGKILL")]
    assert not backend.is_running("registry-store[0]")
    assert backend.pid("gateway") == 4242 and backend.pid("registry") is None


def test_disconnect_is_a_network_partition_and_reconnect_restores_the_alias(backend):
    backend.disconnect("gateway")
    backend.reconnect("gateway")
    assert backend._client.network.calls == [
        ("disconnect", "chaosctl-25000-gateway", True),
        ("connect", "chaosctl-25000-gateway", ("gateway",)),
    ]


def test_missing_container_is_a_stack_error(backend):
    from chaosctl.errors import StackUnavailable

    with pytest.raises(StackUnavailable, match="registry-store\\[1\\]"):
        backend.kill("registry-store[1]")


def test_engine_status_names_the_engine_it_could_not_reach(monkeypatch, tmp_path):
    from chaosctl.stack.docker import docker_engine_status

    sock = tmp_path / "no-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    ok, why = docker_engine_status()
    assert not ok and str(sock) in why


def test_compose_env_publishes_on_the_port_base():
    from chaosctl.stack.docker import compose_env

    env = compose_env(25000)
    assert env["CHAOSCTL_PROJECT"] == "chaosctl-25000"
    assert env["CHAOSCTL_PROMETHEUS_PORT"] == "25050" and env["CHAOSCTL_GRAFANA_PORT"] == "25090"


def test_dockerfile_builds_the_stack_image_from_the_checkout():
    text = (ROOT / "Dockerfile").read_text()
    base = next(line.split()[1] for line in text.splitlines() if line.startswith("FROM "))
    assert base.startswith("python:3.11.") and base.count(".") >= 2, f"base image not pinned: {base}"
    assert "etcd-server" in text  # the etcd members run from the same image
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies a missing {source}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_up_without_an_engine_is_a_stack_error_naming_it(monkeypatch, tmp_path):
    from chaosctl.errors import StackUnavailable
    from chaosctl.settings import Settings
    from chaosctl.stack.docker import DockerBackend

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(StackUnavailable, match="no Docker engine answers"):
        DockerBackend(Settings(backend="docker", port_base=25000)).up()


def test_stack_containers_get_the_install_secrets_and_refuse_published_ones():
    from chaosctl.errors import UsageError
    from chaosctl.settings import SECRET_ENV, Settings
    from chaosctl.stack.docker import DockerBackend

    values = {"jwt_secret": "j" * 40, "admin_token": "a" * 40, "service_token": "s" * 40, "grafana_admin_password": "g" * 40,
              "cache_password": "c" * 40}
    env = dict(DockerBackend(Settings(backend="docker", port_base=25000, **values))._secrets())
    assert env == {SECRET_ENV[name]: value for name, value in values.items()}
    gateway = spec.container_spec("gateway", 25000, tuple(env.items()))
    assert dict(gateway.environment)["CHAOSCTL_SERVICE_TOKEN"] == "s" * 40
    assert not any("s" * 40 in part for part in gateway.command)
    published = {**values, "jwt_secret": "chaosctl-dev-secret-change-me-0123456789"}
    with pytest.raises(UsageError, match="constant published"):
        DockerBackend(Settings(backend="docker", port_base=25000, **published))._secrets()
    with pytest.raises(UsageError, match="jwt_secret is 0 characters"):
        DockerBackend(Settings(backend="docker", port_base=25000))._secrets()
