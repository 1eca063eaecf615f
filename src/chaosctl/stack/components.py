"""What each component of the local stack is: its ports, its command line, its
readiness probe, and the stages in which `up` starts them.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from chaosctl.credentials import Secrets
from chaosctl.settings import SECRET_ENV, STATE_DIR_ENV, Settings
from chaosctl.stack import configs, health
from chaosctl.stack.tools import require_tool
from chaosctl.stack.topology import (ANALYSER, AUTOSCALER, EVENTS, HOST, MODEL_SERVERS, PIPELINE_STAGES, PREDICTION_CACHE,
                                     Topology)

# Seconds a component may take from spawn to ready. Model servers train and
# warm up their models at start-up, on a shared 2-core machine.
READY_TIMEOUT = {"etcd": 40.0, "toxiproxy": 20.0, "jaeger": 40.0, "service": 120.0, "prometheus": 40.0, "redis": 20.0,
                 "kafka": 120.0}  # a JVM: format + start take 5-8 s on an idle 2-core machine, over 60 s at load 20


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: dict[str, str] | None = None


def kind(name: str) -> str:
    if name.startswith("registry-store["):
        return "etcd"
    if name in ("toxiproxy", "jaeger", "prometheus"):
        return name
    if name == PREDICTION_CACHE:
        return "redis"
    if name == EVENTS:
        return "kafka"
    return "service"


# The external binary behind each kind of component (services run on sys.executable).
BINARY = {"etcd": "etcd", "toxiproxy": "toxiproxy-server", "jaeger": "jaeger", "prometheus": "prometheus",
          "redis": "redis-server", "kafka": "chaosctl-kafka"}


def missing_binaries(names: tuple[str, ...] | list[str], settings: Settings) -> list[str]:
    """Binaries that starting `names` needs and that cannot be found, with how to get them."""
    from chaosctl.stack.tools import HOW_TO_GET, find_tool

    needed = sorted({BINARY[kind(n)] for n in names if kind(n) in BINARY})
    return [f"{b} (get it with: {HOW_TO_GET[b]})" for b in needed if find_tool(b, settings) is None]


def etcd_index(name: str) -> int:
    return int(name[len("registry-store[") : -1])


def file_name(name: str) -> str:
    """`registry-store[0]` -> `registry-store-0` (logs, data dirs, Prometheus jobs)."""
    return name.replace("[", "-").replace("]", "")


def stages(topo: Topology) -> tuple[tuple[str, ...], ...]:
    """Start order: each stage is started together and must be ready before the next.

    Prometheus starts first: its target discovery takes ~5 s to hand targets to the
    scrapers, which then overlaps the services' start-up. Model servers keep retrying
    their registration, so they start with the registry (their warm-up dominates).
    """
    return (
        # The Kafka broker (a JVM, the slowest to start) goes first; only the analyser needs it.
        (EVENTS, *topo.etcd_members, "toxiproxy", "jaeger", "prometheus", PREDICTION_CACHE),
        ("registry", *(m.name for m in MODEL_SERVERS), *PIPELINE_STAGES),  # the stages are light: no stage of their own
        ("gateway", AUTOSCALER, ANALYSER),  # the autoscaler reads the model servers, so it comes after them
    )


def ports(topo: Topology, name: str) -> tuple[int, ...]:
    """Every port that component `name` listens on."""
    k = kind(name)
    if k == "etcd":
        i = etcd_index(name)
        return (topo.etcd_client_port(i), topo.etcd_peer_port(i))
    if k == "toxiproxy":
        return (topo.toxiproxy_port, *(link.listen_port for link in topo.links))
    if k == "kafka":
        return tuple(topo.events_port(listener) for listener in ("gateway", "analyser", "controller", "internal"))
    if k == "jaeger":
        return (topo.jaeger_otlp_grpc_port, topo.jaeger_otlp_http_port, topo.jaeger_query_port,
                topo.jaeger_health_port, topo.jaeger_metrics_port, topo.jaeger_query_grpc_port)
    return (int(topo.url(name).rsplit(":", 1)[1]),)


def all_ports(topo: Topology) -> tuple[int, ...]:
    return tuple(p for name in topo.components for p in ports(topo, name))


# -- command lines -------------------------------------------------------------


def etcd_data_dir(settings: Settings, name: str) -> Path:
    return settings.state_dir / "etcd" / file_name(name)


def config_dir(settings: Settings) -> Path:
    return settings.state_dir / "config"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def launch(name: str, settings: Settings, topo: Topology, components: tuple[str, ...]) -> Launch:
    """The command line (and environment) of `name`; writes its config file first."""
    k = kind(name)
    if k == "etcd":
        data = etcd_data_dir(settings, name)
        existing = (data / "member").is_dir()  # rejoin with the kept data instead of bootstrapping
        args = configs.etcd_args(topo, etcd_index(name), data, existing)
        return Launch((str(require_tool("etcd", settings)), *args))
    if k == "toxiproxy":
        exe = require_tool("toxiproxy-server", settings)
        return Launch((str(exe), "-host", HOST, "-port", str(topo.toxiproxy_port), "-proxy-metrics", "-runtime-metrics"))
    if k == "jaeger":
        cfg = _write(config_dir(settings) / "jaeger.yaml", configs.to_yaml(configs.jaeger_config(topo)))
        return Launch((str(require_tool("jaeger", settings)), "--config", str(cfg)))
    if k == "prometheus":
        return _prometheus(settings, topo, components)
    if k == "redis":
        return _redis(settings, topo)
    if k == "kafka":
        return _kafka(settings, topo)
    return _service(name, settings, topo)


def kafka_dir(settings: Settings) -> Path:
    return settings.state_dir / "kafka"


def kafka_template(settings: Settings) -> Path:
    """A formatted, never-started copy of the broker's storage, kept across `down` (beside the data
    `down` removes): a later `up` copies it instead of running the format JVM again."""
    return settings.state_dir / "kafka-formatted"


def _kafka(settings: Settings, topo: Topology) -> Launch:
    """The broker. New storage is copied from the formatted template; the first time, `sh` formats
    it (a second JVM run, in the same process slot), keeps a copy as the template and execs the
    broker, so the pid recorded is the broker's."""
    launcher = str(require_tool("chaosctl-kafka", settings))
    require_tool("java", settings)
    data, template = kafka_dir(settings) / "data", kafka_template(settings)
    cfg = config_dir(settings)
    log4j = _write(cfg / "events-log4j2.properties", configs.KAFKA_LOG4J)
    props = _write(cfg / "events.properties", configs.kafka_properties(topo, data))
    from chaosctl.setup.kafka import archive_opts  # the class-data archive setup recorded: half the start CPU

    jvm = (*configs.KAFKA_JVM_OPTS, *archive_opts(settings))
    broker = (*jvm, f"-Dlog4j2.configurationFile={log4j}", "kafka.Kafka", str(props))
    if not (data / "meta.properties").is_file() and (template / "meta.properties").is_file():
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(template, data)
    if (data / "meta.properties").is_file():  # a restart (kill fault, `start`) keeps its topics and offsets
        return Launch((launcher, *broker))
    script = ('"$0" kafka.tools.StorageTool format --ignore-formatted --cluster-id="$1" --config "$2" >/dev/null'
              ' && rm -rf "$4.tmp" && cp -R "$3" "$4.tmp" && rm -rf "$4" && mv "$4.tmp" "$4"'
              ' && shift 4 && exec "$0" "$@"')
    return Launch(("/bin/sh", "-c", script, launcher, configs.kafka_cluster_id(), str(props), str(data), str(template),
                   *broker))


def _redis(settings: Settings, topo: Topology) -> Launch:
    from chaosctl.credentials import check_value

    password = check_value("cache_password", settings.cache_password, "settings")
    text = configs.redis_config(topo.prediction_cache_port, password)
    path = config_dir(settings) / "prediction-cache.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # created 0600 below, never readable by others even for a moment
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Launch((str(require_tool("redis-server", settings)), str(path)))


def _prometheus(settings: Settings, topo: Topology, components: tuple[str, ...]) -> Launch:
    text = configs.to_yaml(configs.prometheus_config(topo, components))
    cfg = _write(config_dir(settings) / "prometheus.yml", text)
    return Launch((
        str(require_tool("prometheus", settings)),
        f"--config.file={cfg}",
        f"--web.listen-address={HOST}:{topo.prometheus_port}",
        f"--storage.tsdb.path={settings.state_dir / 'prometheus'}",
        "--storage.tsdb.retention.time=1d",
        # No --web.enable-lifecycle / --web.enable-admin-api: anyone on the host could
        # otherwise stop Prometheus (/-/quit) or delete its series mid-run.
    ))


def _service(name: str, settings: Settings, topo: Topology) -> Launch:
    env = dict(os.environ)
    env.update(secret_env(settings), PYTHONUNBUFFERED="1")
    if name == AUTOSCALER:  # its replicas' pid file and logs live in the stack's state dir
        env[STATE_DIR_ENV] = str(settings.state_dir)
    argv = (sys.executable, "-m", "chaosctl.services", name, "--port-base", str(topo.port_base))
    return Launch(argv, env)


def secret_env(settings: Settings) -> dict[str, str]:
    """The install's secrets as the services' environment (secrets travel by environment,
    never on a command line, where `ps` would show them). Every one is given, so a service never reads a secrets file."""
    from chaosctl.credentials import check_distinct, check_value

    values = {name: check_value(name, getattr(settings, name), "settings") for name in SECRET_ENV}
    check_distinct(Secrets(**values), "settings")
    return {SECRET_ENV[name]: value for name, value in values.items()}


# -- readiness -----------------------------------------------------------------


def probe(name: str, client: httpx.Client, topo: Topology) -> health.Probe:
    """Is component `name` ready (its own health only, not the whole stack's)?"""
    k = kind(name)
    if k == "etcd":
        return health.etcd_member(client, topo.url(name))
    if k == "toxiproxy":
        return health.http_ok(client, f"{topo.url(name)}/version")
    if k == "jaeger":
        return health.jaeger(client, topo)
    if k == "prometheus":
        return health.http_ok(client, f"{topo.url(name)}/-/ready")
    if k == "redis":
        return health.redis_ping(HOST, topo.prediction_cache_port)
    if k == "kafka":
        return health.kafka_broker(HOST, topo.events_port("internal"))
    return health.service(client, f"{topo.url(name)}/healthz")
