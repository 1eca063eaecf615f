"""Generated configuration of the local stack: etcd flags, Jaeger v2 and Prometheus YAML,
Toxiproxy proxies, port layout and start stages."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from chaosctl.stack import components as comps
from chaosctl.stack import configs
from chaosctl.stack.topology import HOST, MODEL_SERVERS, PIPELINE_STAGES, Topology

TOPO = Topology(21500)


def _flags(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in args)


def test_etcd_member_flags_form_one_cluster_on_loopback():
    flags = [_flags(configs.etcd_args(TOPO, i, Path(f"/d/{i}"), existing=False)) for i in range(3)]
    assert {f["initial-cluster"] for f in flags} == {
        "registry-store-0=http://127.0.0.1:21510,registry-store-1=http://127.0.0.1:21511,"
        "registry-store-2=http://127.0.0.1:21512"
    }
    assert [f["listen-client-urls"] for f in flags] == [f"http://127.0.0.1:{21500 + i}" for i in range(3)]
    assert all(f["pre-vote"] == "true" and f["initial-cluster-state"] == "new" for f in flags)
    assert flags[1]["name"] == "registry-store-1" and flags[1]["data-dir"] == "/d/1"


def test_etcd_restart_rejoins_the_existing_cluster():
    flags = _flags(configs.etcd_args(TOPO, 0, Path("/d/0"), existing=True))
    assert flags["initial-cluster-state"] == "existing"


def _endpoints(node: object) -> list[str]:
    """Every `endpoint` / prometheus `host` value in a nested config."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("endpoint", "host") and isinstance(value, str):
                out.append(value)
            out += _endpoints(value)
    elif isinstance(node, list):
        for item in node:
            out += _endpoints(item)
    return out


def test_jaeger_config_uses_topology_ports_on_loopback_only():
    cfg = configs.jaeger_config(TOPO)
    text = configs.to_yaml(cfg)
    assert YAML(typ="safe").load(text) == cfg  # what we write is what Jaeger reads
    endpoints = _endpoints(cfg)
    assert endpoints and all(e.startswith(HOST) for e in endpoints)
    wanted = {TOPO.jaeger_otlp_grpc_port, TOPO.jaeger_otlp_http_port, TOPO.jaeger_query_port,
              TOPO.jaeger_health_port, TOPO.jaeger_query_grpc_port}
    assert {int(e.rsplit(":", 1)[1]) for e in endpoints if ":" in e} == wanted
    reader = cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader == {"host": HOST, "port": TOPO.jaeger_metrics_port}
    assert cfg["extensions"]["jaeger_storage"]["backends"]["memstore"] == {"memory": {"max_traces": 100000}}


def test_prometheus_scrapes_every_component_at_1s_with_job_equal_to_component():
    cfg = configs.prometheus_config(TOPO)
    assert cfg["global"]["scrape_interval"] == "1s"
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
    assert set(jobs) == {
        "registry-store-0", "registry-store-1", "registry-store-2", "toxiproxy", "jaeger", "registry",
        "gateway", "prometheus", "chaosctl-run", *(m.name for m in MODEL_SERVERS), *PIPELINE_STAGES, "autoscaler",
        "analyser",  # the Kafka broker (events) has no /metrics: the analyser and the gateway export what they see
    }
    assert jobs["registry-store-2"] == ["127.0.0.1:21502"]
    assert jobs["jaeger"] == [f"127.0.0.1:{TOPO.jaeger_metrics_port}"]
    assert jobs["model-gpu-1"] == [f"127.0.0.1:{TOPO.model_server_port('model-gpu-1')}"]
    assert jobs["chaosctl-run"] == [f"127.0.0.1:{TOPO.run_marker_port}"]


@pytest.mark.parametrize("make", [configs.jaeger_config, configs.prometheus_config])
def test_configs_are_written_byte_for_byte_as_the_pure_emitter_wrote_them(make):
    import io

    pytest.importorskip("_ruamel_yaml")  # ruamel.yaml.clib; without it to_yaml is the pure emitter itself
    for base in (20000, 21500, 31500):
        out, pure = io.StringIO(), YAML(typ="safe", pure=True)
        pure.default_flow_style = False
        pure.dump(make(Topology(base)), out)
        assert configs.to_yaml(make(Topology(base))) == out.getvalue()


def test_prometheus_config_of_a_partial_stack_scrapes_only_its_components():
    cfg = configs.prometheus_config(TOPO, ("registry-store[0]", "prometheus"))
    assert [j["job_name"] for j in cfg["scrape_configs"]] == ["registry-store-0", "prometheus", "chaosctl-run"]


def test_one_toxiproxy_proxy_per_link_with_a_name_toxiproxy_accepts():
    proxies = configs.toxiproxy_proxies(TOPO)
    assert len(proxies) == len(TOPO.links)
    by_name = {p["name"]: p for p in proxies}
    link = TOPO.link_to("gateway", "model-gpu-1")
    assert by_name[link.proxy_name]["listen"] == f"127.0.0.1:{link.listen_port}"
    assert by_name[link.proxy_name]["upstream"] == f"127.0.0.1:{TOPO.model_server_port('model-gpu-1')}"
    assert not any(c in name for name in by_name for c in ":>[]")


def test_ports_of_all_components_are_distinct():
    ports = comps.all_ports(TOPO)
    assert len(ports) == len(set(ports))
    assert TOPO.run_marker_port not in ports  # served by a run, not by the stack


def test_stages_start_every_component_exactly_once_in_dependency_order():
    flat = [n for stage in comps.stages(TOPO) for n in stage]
    assert sorted(flat) == sorted(TOPO.components)
    first, *_, last = comps.stages(TOPO)
    assert {"toxiproxy", "prometheus", *TOPO.etcd_members} <= set(first)
    assert flat.index("toxiproxy") < flat.index("registry") < flat.index("gateway")
    assert last[:2] == ("gateway", "autoscaler")  # the autoscaler reads the model servers: after them


@pytest.mark.parametrize(("name", "kind"), [
    ("registry-store[2]", "etcd"), ("toxiproxy", "toxiproxy"), ("jaeger", "jaeger"),
    ("prometheus", "prometheus"), ("gateway", "service"), ("model-cpu-1", "service"),
])
def test_component_kind(name, kind):
    assert comps.kind(name) == kind


def test_service_launch_passes_secrets_and_port_base(tmp_path):
    from chaosctl.settings import Settings

    settings = Settings(state_dir=tmp_path, port_base=21500, **SECRETS)
    launch = comps.launch("model-gpu-2", settings, TOPO, TOPO.components)
    assert launch.argv[1:] == ("-m", "chaosctl.services", "model-gpu-2", "--port-base", "21500")
    assert launch.env is not None
    assert launch.env["CHAOSCTL_JWT_SECRET"] == "j" * 32 and launch.env["CHAOSCTL_ADMIN_TOKEN"] == "a" * 32
    assert launch.env["CHAOSCTL_SERVICE_TOKEN"] == "s" * 32 and launch.env["CHAOSCTL_GRAFANA_ADMIN_PASSWORD"] == "g" * 32
    assert not any(v in arg for v in SECRETS.values() for arg in launch.argv)  # never on a command line (ps)


SECRETS = {"jwt_secret": "j" * 32, "admin_token": "a" * 32, "service_token": "s" * 32, "grafana_admin_password": "g" * 32,
           "cache_password": "c" * 32}


@pytest.mark.parametrize("bad", [
    {"jwt_secret": ""}, {"admin_token": "chaosctl-admin-dev-token"},
    {"jwt_secret": "chaosctl-dev-secret-change-me-0123456789"}, {"service_token": "a" * 32},
])  # fmt: skip
def test_service_launch_refuses_missing_published_or_shared_secrets(tmp_path, bad):
    from chaosctl.errors import UsageError
    from chaosctl.settings import Settings

    settings = Settings(state_dir=tmp_path, port_base=21500, **{**SECRETS, **bad})
    with pytest.raises(UsageError, match="settings: "):
        comps.launch("gateway", settings, TOPO, TOPO.components)


def test_prometheus_runs_without_lifecycle_or_admin_api(tmp_path):
    from chaosctl.settings import Settings

    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "prometheus").write_text("#!/bin/sh\n")
    (tools / "prometheus").chmod(0o755)
    settings = Settings(state_dir=tmp_path / "state", port_base=21500, tool_dirs=(tools,))
    launch = comps.launch("prometheus", settings, TOPO, TOPO.components)
    assert launch.argv[0] == str(tools / "prometheus") and any(a.startswith("--config.file=") for a in launch.argv)
    assert not [a for a in launch.argv if "lifecycle" in a or "admin-api" in a]
