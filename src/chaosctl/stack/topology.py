"""The reference stack's logical topology: component names, links and ports.

Scenarios name targets by these logical names (`registry-store[0]`, `gateway`,
`model-gpu-1`, `link:gateway->model-gpu-1`), never by pid or container, so one
scenario runs on every backend. Every port is derived from one base port.
"""

from __future__ import annotations

from dataclasses import dataclass

HOST = "127.0.0.1"
ETCD_MEMBERS = 3
# The gateway's prediction cache (a Redis server). It speaks RESP, not HTTP: Prometheus does not
# scrape it (the gateway exports its hit/miss/error counters and latency instead).
PREDICTION_CACHE = "prediction-cache"
# The pipelined model's stage services (services/pipeline): the gateway calls preprocess, the
# model servers, then postprocess, each through its own link. Ports base+90.. (90-95 reserved).
PIPELINE_STAGES: tuple[str, ...] = ("preprocess", "postprocess")
# The pipelined model as clients name it at the gateway, and the model its inference hop runs
# (the pipeline serves that model's versions).
PIPELINE_MODEL = "fraud-pipeline"
PIPELINE_INFERENCE_MODEL = "fraud-detector"
# The event path: a Kafka broker (KRaft, broker and controller in one JVM) and the batch analyser.
# The gateway publishes each scored transaction to the broker; the analyser consumes windows of
# them. Kafka clients reconnect to the broker's ADVERTISED address, so the broker has one listener
# per client path, advertised as that path's Toxiproxy port (a link fault then holds every byte).
# Ports base+34 (gateway's listener), 35 (analyser's), 36 (controller), 37 (internal), 38 analyser.
EVENTS = "events"
ANALYSER = "analyser"
EVENTS_TOPIC = "scored-transactions"
RESULTS_TOPIC = "transaction-analyses"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    capability: str


@dataclass(frozen=True)
class ModelServerSpec:
    name: str
    device: str  # "gpu" | "cpu"
    region: str
    models: tuple[ModelSpec, ...]
    p99_ms: int


FRAUD_STABLE = ModelSpec("fraud-detector", "2.3.1", "fraud-detection")
FRAUD_CANARY = ModelSpec("fraud-detector", "2.4.0", "fraud-detection")
IMAGE = ModelSpec("image-classifier", "1.2.0", "image-classification")

# Two regions. The gateway lives in region "a" (LOCAL_REGION) and routes there first; region "b"
# is where it fails over to. The gateway's links into region b carry a standing latency toxic
# (REGION_B_LATENCY_S, set by `up`): a cross-region call costs that much more, so a failover
# has a measurable latency cost.
LOCAL_REGION = "a"
REGIONS = ("a", "b")
REGION_B_LATENCY_S = 0.020
MODEL_SERVERS: tuple[ModelServerSpec, ...] = (
    ModelServerSpec("model-gpu-1", "gpu", "a", (FRAUD_STABLE, IMAGE), 50),
    ModelServerSpec("model-gpu-2", "gpu", "a", (FRAUD_STABLE, FRAUD_CANARY, IMAGE), 50),
    ModelServerSpec("model-cpu-1", "cpu", "a", (FRAUD_STABLE, IMAGE), 250),
    # Region b (ports base+43.., the model-server slots 43-47): the stable models, no canary.
    ModelServerSpec("model-gpu-b1", "gpu", "b", (FRAUD_STABLE, IMAGE), 50),
    ModelServerSpec("model-cpu-b1", "cpu", "b", (FRAUD_STABLE, IMAGE), 250),
)
# Region a's servers came first: their links keep the ports they always had (see Topology.links).
_FIRST_SERVERS = 3


# The autoscaler's replica slots (services/autoscaler): real model servers it starts and stops
# itself, never by `up`. Ports base+300.. (GPU pool) and base+310.. (CPU pool); a replica
# registers only once warm (the autoscaler releases its registration), so the gateway finds it
# through the registry like any other server.
AUTOSCALER = "autoscaler"
REPLICA_SLOTS = 10  # per pool
REPLICA_PORT_OFFSET = {"gpu": 300, "cpu": 310}
REPLICAS: tuple[ModelServerSpec, ...] = tuple(
    ModelServerSpec(f"model-{pool}-scale-{i + 1}", pool, MODEL_SERVERS[0].region, (FRAUD_STABLE, IMAGE),
                    50 if pool == "gpu" else 250)
    for pool in ("gpu", "cpu") for i in range(REPLICA_SLOTS)
)


@dataclass(frozen=True)
class Link:
    """A perturbable TCP link FROM->TO, carried by one Toxiproxy proxy."""

    source: str
    dest: str
    listen_port: int  # the proxy's port: clients of `dest` dial this
    upstream_port: int  # the real port of `dest`

    @property
    def name(self) -> str:
        return f"link:{self.source}->{self.dest}"

    @property
    def proxy_name(self) -> str:
        """Toxiproxy proxy names allow no ':' or '>'; this is the name it knows."""
        return f"{self.source}__{self.dest}".replace("[", "_").replace("]", "")


@dataclass(frozen=True)
class Topology:
    """Ports of every component, derived from `port_base`.

    Layout (offsets from the base): etcd client 0-2, etcd peer 10-12,
    registry 20, gateway 30, prediction cache (Redis) 33, model servers 40+, prometheus 50,
    pipeline stages 90-91,
    jaeger OTLP gRPC 60 / OTLP HTTP 61 / query 62 / health 63 / metrics 64 /
    query gRPC 65,
    toxiproxy API 70, run phase-marker exporter 80, proxies 100+.
    """

    port_base: int = 17000

    def etcd_client_port(self, i: int) -> int:
        return self.port_base + i

    def etcd_peer_port(self, i: int) -> int:
        return self.port_base + 10 + i

    @property
    def registry_port(self) -> int:
        return self.port_base + 20

    @property
    def gateway_port(self) -> int:
        return self.port_base + 30

    @property
    def prediction_cache_port(self) -> int:
        return self.port_base + 33

    def model_server_port(self, name: str) -> int:
        replica = next((r for r in REPLICAS if r.name == name), None)
        if replica is not None:
            slot = int(name.rsplit("-", 1)[1]) - 1
            return self.port_base + REPLICA_PORT_OFFSET[replica.device] + slot
        names = [m.name for m in MODEL_SERVERS]
        return self.port_base + 40 + names.index(name)

    def events_port(self, listener: str) -> int:
        """The broker's listener ports: `gateway` / `analyser` (each behind its link), `controller`, `internal`."""
        return self.port_base + 34 + ("gateway", "analyser", "controller", "internal").index(listener)

    @property
    def analyser_port(self) -> int:
        return self.port_base + 38

    @property
    def autoscaler_port(self) -> int:
        return self.port_base + 85

    def pipeline_port(self, stage: str) -> int:
        return self.port_base + 90 + PIPELINE_STAGES.index(stage)

    @property
    def prometheus_port(self) -> int:
        return self.port_base + 50

    @property
    def jaeger_otlp_grpc_port(self) -> int:
        return self.port_base + 60

    @property
    def jaeger_otlp_http_port(self) -> int:
        return self.port_base + 61

    @property
    def jaeger_query_port(self) -> int:
        return self.port_base + 62

    @property
    def jaeger_health_port(self) -> int:
        return self.port_base + 63

    @property
    def jaeger_metrics_port(self) -> int:
        return self.port_base + 64

    @property
    def jaeger_query_grpc_port(self) -> int:
        # Jaeger's query extension always opens a gRPC API too; pin it so it never
        # lands on its default 16685 (shared by every stack on the machine).
        return self.port_base + 65

    @property
    def toxiproxy_port(self) -> int:
        return self.port_base + 70

    @property
    def run_marker_port(self) -> int:
        return self.port_base + 80

    # -- names -------------------------------------------------------------

    @property
    def etcd_members(self) -> tuple[str, ...]:
        return tuple(f"registry-store[{i}]" for i in range(ETCD_MEMBERS))

    @property
    def services(self) -> tuple[str, ...]:
        return ("registry", "gateway", *(m.name for m in MODEL_SERVERS), *PIPELINE_STAGES, ANALYSER)

    @property
    def components(self) -> tuple[str, ...]:
        """Every process-level component, in start order."""
        return (
            *self.etcd_members,
            "toxiproxy",
            "jaeger",
            PREDICTION_CACHE,
            EVENTS,
            "registry",
            *(m.name for m in MODEL_SERVERS),
            *PIPELINE_STAGES,
            "gateway",
            ANALYSER,
            AUTOSCALER,
            "prometheus",
        )

    @property
    def links(self) -> tuple[Link, ...]:
        out: list[Link] = []
        port = self.port_base + 100
        for i, member in enumerate(self.etcd_members):
            out.append(Link("registry", member, port, self.etcd_client_port(i)))
            port += 1
        out.append(Link("gateway", "registry", port, self.registry_port))
        port += 1
        for m in MODEL_SERVERS[:_FIRST_SERVERS]:
            out.append(Link("gateway", m.name, port, self.model_server_port(m.name)))
            port += 1
        # Last, so that the links above keep the ports they always had.
        out.append(Link("gateway", PREDICTION_CACHE, port, self.prediction_cache_port))
        port += 1
        for m in MODEL_SERVERS[_FIRST_SERVERS:]:  # region b, appended after the cache's link
            out.append(Link("gateway", m.name, port, self.model_server_port(m.name)))
            port += 1
        port = self.port_base + 100 + len(out)  # appended last: every link above keeps its port
        for stage in PIPELINE_STAGES:
            out.append(Link("gateway", stage, port, self.pipeline_port(stage)))
            port += 1
        for client in ("gateway", ANALYSER):  # the event path's two Kafka clients, appended last
            out.append(Link(client, EVENTS, port, self.events_port(client)))
            port += 1
        return tuple(out)

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def link_to(self, source: str, dest: str) -> Link:
        return self.link(f"link:{source}->{dest}")

    @property
    def targets(self) -> tuple[str, ...]:
        """Every logical name that a scenario may target."""
        return (*self.components, *(link.name for link in self.links))

    def url(self, component: str) -> str:
        ports = {
            "registry": self.registry_port,
            "gateway": self.gateway_port,
            "prometheus": self.prometheus_port,
            "jaeger": self.jaeger_query_port,
            "toxiproxy": self.toxiproxy_port,
            AUTOSCALER: self.autoscaler_port,
            ANALYSER: self.analyser_port,
        }
        if component in ports:
            return f"http://{HOST}:{ports[component]}"
        if component in PIPELINE_STAGES:
            return f"http://{HOST}:{self.pipeline_port(component)}"
        if component == PREDICTION_CACHE:
            return f"redis://{HOST}:{self.prediction_cache_port}"
        if component == EVENTS:  # its internal listener (no link): probes and tests
            return f"kafka://{HOST}:{self.events_port('internal')}"
        if component in {m.name for m in (*MODEL_SERVERS, *REPLICAS)}:
            return f"http://{HOST}:{self.model_server_port(component)}"
        if component in self.etcd_members:
            return f"http://{HOST}:{self.etcd_client_port(self.etcd_members.index(component))}"
        raise KeyError(component)

    def via_proxy(self, source: str, dest: str) -> str:
        """The URL that `source` uses to reach `dest`: through its Toxiproxy link."""
        scheme = {PREDICTION_CACHE: "redis", EVENTS: "kafka"}.get(dest, "http")
        return f"{scheme}://{HOST}:{self.link_to(source, dest).listen_port}"


def region_of(name: str) -> str | None:
    """The region of model server `name` (None: not a model server of the stack)."""
    return next((m.region for m in MODEL_SERVERS if m.name == name), None)


def model_server(name: str) -> ModelServerSpec:
    for m in (*MODEL_SERVERS, *REPLICAS):
        if m.name == name:
            return m
    raise KeyError(name)
