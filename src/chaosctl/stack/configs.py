"""Generated configuration of the external components (pure functions of the topology).

etcd gets command-line flags, Jaeger v2 and Prometheus get YAML files, Toxiproxy
gets its proxy list over its HTTP API (`/populate`).
"""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML

from chaosctl.stack.topology import EVENTS, HOST, PREDICTION_CACHE, Topology

# Raft timing: a bit slower than etcd's defaults (100 ms / 1 s) so that a busy
# 2-core machine does not trigger spurious elections, still fast enough that a
# lost leader is replaced within a few seconds.
ETCD_HEARTBEAT_MS = 200
ETCD_ELECTION_MS = 2000


def to_yaml(data: object) -> str:
    """libyaml's emitter (ruamel.yaml.clib) when installed, else the pure one: the same bytes
    (test_stack_configs), the pure one taking ~0.1 s of CPU cold for the Jaeger and Prometheus
    configs, written on `up`'s way to spawning Prometheus."""
    out = io.StringIO()
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()


def etcd_member_name(i: int) -> str:
    """etcd's own member name, also the Prometheus job (`registry-store-0`)."""
    return f"registry-store-{i}"


def etcd_args(topo: Topology, i: int, data_dir: Path, existing: bool) -> list[str]:
    """Flags of etcd member `i`; `existing` rejoins the cluster with the kept data dir."""
    peers = ",".join(
        f"{etcd_member_name(j)}=http://{HOST}:{topo.etcd_peer_port(j)}" for j in range(len(topo.etcd_members))
    )
    client = f"http://{HOST}:{topo.etcd_client_port(i)}"
    peer = f"http://{HOST}:{topo.etcd_peer_port(i)}"
    return [
        f"--name={etcd_member_name(i)}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={peers}",
        f"--initial-cluster-token=chaosctl-{topo.port_base}",
        f"--initial-cluster-state={'existing' if existing else 'new'}",
        "--pre-vote=true",
        # Heartbeats rewrite leased records all day; keep one hour of history, not all of it.
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        f"--heartbeat-interval={ETCD_HEARTBEAT_MS}",
        f"--election-timeout={ETCD_ELECTION_MS}",
        "--logger=zap",
        "--log-outputs=stderr",
    ]


def jaeger_config(topo: Topology) -> dict[str, object]:
    """Jaeger v2 all-in-one: OTLP in, memory storage, query API, health, own metrics."""
    return {
        "service": _jaeger_service(topo),
        "extensions": _jaeger_extensions(topo),
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": _addr(topo.jaeger_otlp_grpc_port)},
                    "http": {"endpoint": _addr(topo.jaeger_otlp_http_port)},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }


def _addr(port: int) -> str:
    return f"{HOST}:{port}"


def _jaeger_service(topo: Topology) -> dict[str, object]:
    """Which extensions run, the OTLP -> memstore pipeline, and Jaeger's own metrics endpoint."""
    return {
        "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
        "pipelines": {
            "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}
        },
        "telemetry": {
            "resource": {"service.name": "jaeger"},
            "metrics": {
                "level": "detailed",
                "readers": [{"pull": {"exporter": {"prometheus": {"host": HOST, "port": topo.jaeger_metrics_port}}}}],
            },
            "logs": {"level": "info"},
        },
    }


def _jaeger_extensions(topo: Topology) -> dict[str, object]:
    return {
        "jaeger_query": {
            "storage": {"traces": "memstore"},
            "enable_tracing": False,  # Jaeger must not trace itself into our data
            "http": {"endpoint": _addr(topo.jaeger_query_port)},
            "grpc": {"endpoint": _addr(topo.jaeger_query_grpc_port)},
        },
        "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 100000}}}},
        "healthcheckv2": {"use_v2": True, "http": {"endpoint": _addr(topo.jaeger_health_port)}},
    }


def scrape_target(topo: Topology, name: str) -> tuple[str, str]:
    """(Prometheus job, host:port) of component `name`; the job is the component name."""
    if name in topo.etcd_members:
        i = topo.etcd_members.index(name)
        return etcd_member_name(i), f"{HOST}:{topo.etcd_client_port(i)}"
    if name == "jaeger":
        return "jaeger", f"{HOST}:{topo.jaeger_metrics_port}"
    return name, topo.url(name).removeprefix("http://")


def scrape_targets(topo: Topology, components: tuple[str, ...] | None = None) -> dict[str, str]:
    """Prometheus job name -> host:port of every (or each given) stack component."""
    names = topo.components if components is None else components
    # Redis and Kafka have no /metrics (the gateway and the analyser export what they see of them).
    return dict(scrape_target(topo, name) for name in names if name not in (PREDICTION_CACHE, EVENTS))


RUN_MARKER_JOB = "chaosctl-run"
# The prediction cache's memory bound; past it Redis evicts the least recently used keys
# (a cache, so never an error to the gateway).
REDIS_MAXMEMORY = "64mb"


def redis_config(port: int, password: str, bind: str = HOST) -> str:
    """redis.conf of the prediction cache: loopback only, a password, no persistence, LRU-bounded.

    The password goes in this file (0600 in the private state dir), never on a command line."""
    if not password or any(c.isspace() or c == '"' for c in password):
        raise ValueError("the prediction cache password must be non-empty, without spaces or quotes")
    return "\n".join((
        f"bind {bind}",
        "protected-mode yes",
        f"port {port}",
        f'requirepass "{password}"',
        'save ""',  # no RDB snapshots: a killed cache comes back empty, as a real cold cache
        "appendonly no",
        f"maxmemory {REDIS_MAXMEMORY}",
        "maxmemory-policy allkeys-lru",
        "daemonize no",
        'logfile ""',
        "",
    ))


# The broker's JVM: a small heap (one partition per topic, a few MB of traffic), the serial GC and
# C1 only (less CPU at start and idle on a shared 2-core machine).
KAFKA_JVM_OPTS: tuple[str, ...] = ("-Xmx256m", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                   "-Djava.awt.headless=true")
# WARN and up, plus the one line that says the broker started (state_dir/logs/events.log).
KAFKA_LOG4J = "\n".join((
    "rootLogger.level = WARN",
    "rootLogger.appenderRef.stdout.ref = STDOUT",
    "appender.stdout.type = Console",
    "appender.stdout.name = STDOUT",
    "appender.stdout.layout.type = PatternLayout",
    "appender.stdout.layout.pattern = [%d] %p %m (%c)%n",
    "logger.started.name = kafka.server.KafkaRaftServer",
    "logger.started.level = INFO",
    "",
))


def kafka_cluster_id() -> str:
    """A new KRaft cluster id (a UUID, URL-safe base64 without padding, as kafka-storage random-uuid).

    Like Kafka's own Uuid.randomUuid, never one that starts with '-': a command line takes it for
    an option (kafka-storage: "argument --cluster-id: expected one argument", 1 id in 64)."""
    import base64
    import uuid

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def kafka_properties(topo: Topology, data_dir: Path) -> str:
    """server.properties of the single-node KRaft broker (broker and controller in one process).

    One listener per client path, advertised as that path's Toxiproxy port: a Kafka client
    reconnects to what the broker advertises, so only then does all its traffic take the link.
    The broker's own traffic and the probes use INTERNAL, the controller CONTROLLER (no links)."""
    port = topo.events_port
    gw, an = topo.link_to("gateway", EVENTS).listen_port, topo.link_to("analyser", EVENTS).listen_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{port('controller')}",
        "listeners": f"GW://{HOST}:{port('gateway')},AN://{HOST}:{port('analyser')},"
                     f"CONTROLLER://{HOST}:{port('controller')},INTERNAL://{HOST}:{port('internal')}",
        "advertised.listeners": f"GW://{HOST}:{gw},AN://{HOST}:{an},INTERNAL://{HOST}:{port('internal')}",
        "listener.security.protocol.map": "GW:PLAINTEXT,AN:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.ms": "3600000",  # an hour of events is plenty for a run
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def prometheus_config(topo: Topology, components: tuple[str, ...] | None = None) -> dict[str, object]:
    """Scrape every component at 1 s, plus the run's phase marker (down between runs)."""
    jobs = scrape_targets(topo, components)
    jobs[RUN_MARKER_JOB] = f"{HOST}:{topo.run_marker_port}"
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in jobs.items()
        ],
    }


def toxiproxy_proxies(topo: Topology) -> list[dict[str, object]]:
    """The body of Toxiproxy's `POST /populate`: one proxy per perturbable link."""
    return [
        {
            "name": link.proxy_name,
            "listen": f"{HOST}:{link.listen_port}",
            "upstream": f"{HOST}:{link.upstream_port}",
            "enabled": True,
        }
        for link in topo.links
    ]
