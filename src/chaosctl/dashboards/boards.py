"""The four chaosctl dashboards: Overview, Services, AI & GPU, Chaos run."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from chaosctl.dashboards import queries as q
from chaosctl.dashboards.kit import (
    Query,
    datasource_variable,
    grafana_annotations,
    graph,
    grid,
    label_variable,
    lower_bound,
    prometheus_annotation,
    single,
    states,
    upper_bound,
)

TAG = "chaosctl"
BREAKER = {0: ("closed", "green"), 1: ("half-open", "yellow"), 2: ("open", "red")}
UP_DOWN = {0: ("down", "red"), 1: ("up", "green")}
WARM = {0: ("ready", "green"), 1: ("warming", "orange")}
ACTIVE = {0: ("", "transparent"), 1: ("active", "blue")}
FAULT = {0: ("", "transparent"), 1: ("injected", "red")}
CANARY = {0: ("static", "transparent"), 1: ("progressing", "blue"), 2: ("promoted", "green"), 3: ("rolled back", "red")}
P99 = upper_bound(q.SLO_P99_SECONDS)
SUCCESS = lower_bound(q.SLO_SUCCESS_RATIO)


def _base(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .editable()
        .refresh("5s")
        .time("now-15m", "now")
        .timezone("browser")
        .with_variable(datasource_variable())
        .annotation(grafana_annotations(TAG))
    )


def overview() -> dash.Dashboard:
    d = _base("chaosctl-overview", "chaosctl / Overview", "Gateway RED, SLO burn and the SLIs that verdicts use.")
    d = d.with_row(dash.Row("Gateway RED"))
    d = d.with_panel(single("Requests/s", "Gateway business requests per second.", Query(q.GATEWAY_RPS), unit="reqps"))
    d = d.with_panel(single("Success ratio", f"Non-5xx share; objective {q.SLO_SUCCESS_RATIO:.1%}.",
                            Query(q.GATEWAY_SUCCESS), unit="percentunit", limits=SUCCESS))
    d = d.with_panel(single("p99 latency", f"Gateway p99; objective {q.SLO_P99_SECONDS * 1000:.0f} ms.",
                            Query(q.GATEWAY_P99), unit="s", limits=P99))
    d = d.with_panel(single("Breakers open", "Gateway circuit breakers in the open state.",
                            Query(q.BREAKERS_OPEN), limits=upper_bound(1)))
    d = d.with_panel(graph("Requests by status", "Gateway requests per second by HTTP status.",
                           Query(q.GATEWAY_RPS_BY_CODE, "{{code}}"), unit="reqps"))
    d = d.with_panel(graph("Latency", "Gateway latency quantiles against the p99 objective.",
                           Query(q.GATEWAY_P50, "p50"), Query(q.GATEWAY_P90, "p90"), Query(q.GATEWAY_P99, "p99"),
                           unit="s", limits=P99))
    d = d.with_row(dash.Row("SLO burn"))
    d = d.with_panel(graph("Error-budget burn rate", f"1 = budget spent exactly on time; {q.FAST_BURN} = fast burn.",
                           Query(q.burn_rate("5m"), "5m window"), Query(q.burn_rate("1h"), "1h window"),
                           limits=upper_bound(q.FAST_BURN)))
    d = d.with_panel(graph("Requests within latency objective",
                           f"Share of gateway requests faster than {q.SLO_P99_SECONDS * 1000:.0f} ms.",
                           Query(q.GATEWAY_FAST_SHARE, "within objective"), unit="percentunit",
                           limits=lower_bound(0.99)))
    d = d.with_row(dash.Row("Verdict SLIs"))
    d = d.with_panel(graph("Success ratio", "The `success_ratio` SLI.", Query(q.GATEWAY_SUCCESS, "success"),
                           unit="percentunit", span=8, limits=SUCCESS))
    d = d.with_panel(graph("Error ratio", "The `error_ratio` SLI (abort conditions use it).",
                           Query(q.GATEWAY_ERROR_RATIO, "errors"), unit="percentunit", span=8, limits=upper_bound(0.5)))
    d = d.with_panel(graph("Upstream failure ratio", "Gateway calls to model servers that did not succeed.",
                           Query(q.UPSTREAM_FAILURE_RATIO, "failures"), unit="percentunit", span=8))
    d = d.with_panel(graph("Fallbacks and rate limiting", "CPU-pool fallbacks and 429s per second.",
                           Query(q.FALLBACKS, "fallbacks"), Query(q.RATE_LIMITED, "rate limited"), unit="ops"))
    d = d.with_panel(states("Targets up", "Prometheus scrape health of every component.",
                            Query(q.TARGETS_UP, "{{job}}"), mapping=UP_DOWN, span=12, height=8))
    return d


def services() -> dash.Dashboard:
    d = _base("chaosctl-services", "chaosctl / Services", "Per service and per gateway upstream.")
    d = d.with_variable(label_variable("service", "service", "chaosctl_http_requests_total", "Service"))
    d = d.with_variable(label_variable("upstream", "upstream", "chaosctl_gateway_upstream_requests_total", "Upstream"))
    d = d.with_row(dash.Row("Services"))
    d = d.with_panel(graph("Requests by service and status", "Business routes only.",
                           Query(q.SERVICE_RPS, "{{service}} {{code}}"), unit="reqps", span=8))
    d = d.with_panel(graph("Latency by service", "p50 and p99 per service.",
                           Query(q.SERVICE_P50, "{{service}} p50"), Query(q.SERVICE_P99, "{{service}} p99"),
                           unit="s", span=8, limits=P99))
    d = d.with_panel(graph("Error ratio by service", "5xx share per service.",
                           Query(q.SERVICE_ERROR_RATIO, "{{service}}"), unit="percentunit", span=8))
    d = _gateway_upstreams(d)
    d = _event_path(d)
    d = _pipeline(d)
    d = _canary(d)
    d = _regions(d)
    return _registry(d)


def _gateway_upstreams(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Gateway upstreams"))
    d = d.with_panel(graph("Upstream calls by outcome", "Gateway -> model server attempts.",
                           Query(q.UPSTREAM_RPS, "{{upstream}} {{outcome}}"), unit="reqps", span=8))
    d = d.with_panel(graph("Upstream latency", "Per-attempt latency through each Toxiproxy link.",
                           Query(q.UPSTREAM_P50, "{{upstream}} p50"), Query(q.UPSTREAM_P99, "{{upstream}} p99"),
                           unit="s", span=8, limits=P99))
    d = d.with_panel(graph("Retries", "Retries per second by upstream.", Query(q.RETRIES, "{{upstream}}"),
                           unit="ops", span=8))
    d = d.with_panel(states("Circuit breakers", "0 closed, 1 half-open, 2 open.",
                            Query(q.BREAKER_STATE, "{{upstream}}"), mapping=BREAKER))
    return _prediction_cache(d)


def _prediction_cache(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Prediction cache"))
    d = d.with_panel(graph("Prediction cache lookups", "Gateway lookups in Redis by result (error, timeout, "
                           "bypass: answered without the cache).",
                           Query(q.PREDICTION_CACHE_BY_RESULT, "{{result}}"), unit="ops", span=8))
    d = d.with_panel(single("Prediction cache hit ratio", "Answers served from Redis over all lookups.",
                            Query(q.PREDICTION_CACHE_HIT_RATIO), unit="percentunit", span=4))
    return d


def _registry(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Registry"))
    d = d.with_panel(graph("Registry cache", "Gateway lookups answered from its registry cache.",
                           Query(q.CACHE_BY_RESULT, "{{result}}"), unit="ops", span=8))
    d = d.with_panel(single("Cache hit ratio", "Hits over all lookups.", Query(q.CACHE_HIT_RATIO),
                            unit="percentunit", span=4))
    d = d.with_panel(single("Stale answers", "Lookups answered from an expired entry (registry unreachable).",
                            Query(q.CACHE_STALE), span=4, limits=upper_bound(1)))
    d = d.with_panel(states("etcd members with a leader", "Raft: 1 while the member sees a leader.",
                            Query(q.ETCD_LEADER, "{{job}}"), mapping=UP_DOWN, span=8, height=5))
    return d


def _regions(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Regions"))
    d = d.with_panel(graph("Upstream calls by region", "Gateway tries per region and outcome: region a (the "
                           "gateway's) first, region b on failover.", Query(q.REGION_RPS, "{{region}} {{outcome}}"),
                           unit="reqps", span=8))
    d = d.with_panel(graph("Upstream latency by region", "Per-try p50/p99; region b's links carry a standing "
                           "20 ms (the cost of a cross-region call).", Query(q.REGION_P50, "{{region}} p50"),
                           Query(q.REGION_P99, "{{region}} p99"), unit="s", span=8, limits=P99))
    d = d.with_panel(graph("Region failovers", "Requests sent out of the gateway's region per second, by the "
                           "region they went to.", Query(q.REGION_FAILOVERS, "to {{region}}"), unit="ops", span=8))
    return d


def _event_path(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Event path (Kafka)"))
    d = d.with_panel(graph("Events published", "Scored transactions the gateway handed to Kafka (queued, or dropped "
                           "when its bounded buffer was full) and the broker's delivery reports.",
                           Query(q.EVENTS_PUBLISHED, "{{result}}"), Query(q.EVENTS_DELIVERED, "delivered {{result}}"),
                           unit="ops", span=8))
    d = d.with_panel(graph("Publish time in the request path", "p99 of the time a request spent publishing its event "
                           "(the design never waits for the broker).", Query(q.EVENTS_PUBLISH_P99, "p99"),
                           unit="s", span=4))
    d = d.with_panel(graph("Event age", "Gateway publish -> window analysed, p50 and p99.",
                           Query(q.EVENT_AGE_P50, "p50"), Query(q.EVENT_AGE_P99, "p99"), unit="s", span=8))
    d = d.with_panel(graph("Consumer lag", "Messages in the topic the analyser has not consumed yet.",
                           Query(q.CONSUMER_LAG, "lag"), span=4))
    d = d.with_panel(single("Windows analysed", "Windows the analyser scored per second.",
                            Query(q.WINDOWS_ANALYSED), unit="ops", span=4))
    return d


def _canary(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Canary rollout"))
    d = d.with_panel(graph("Canary weight", "Share of unpinned requests routed to the canary version (steps; 0 after a "
                           "rollback).", Query(q.CANARY_WEIGHT, "{{model}} {{version}}"), unit="percentunit", span=8))
    d = d.with_panel(states("Canary state", "0 static rule, 1 progressing, 2 promoted, 3 rolled back.",
                            Query(q.CANARY_STATE, "{{model}} {{version}}"), mapping=CANARY, span=8))
    d = d.with_panel(graph("Canary steps and rollbacks", "Weight steps taken and automatic rollbacks (by the bound "
                           "broken) over the range.", Query(q.CANARY_STEPS, "steps {{model}} {{version}}"),
                           Query(q.CANARY_ROLLBACKS, "rollbacks: {{reason}}"), span=8))
    return d


def _pipeline(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Pipeline (fraud-pipeline)"))
    d = d.with_panel(graph("Pipeline stage latency", "Gateway -> preprocess / postprocess calls, p50 and p99 per stage.",
                           Query(q.PIPELINE_STAGE_P50, "{{stage}} p50"), Query(q.PIPELINE_STAGE_P99, "{{stage}} p99"),
                           unit="s", span=8, limits=P99))
    d = d.with_panel(graph("Pipeline stage calls", "Stage calls per second by outcome (timeout: past the stage deadline).",
                           Query(q.PIPELINE_STAGE_CALLS, "{{stage}} {{outcome}}"), unit="reqps", span=8))
    d = d.with_panel(graph("Pipeline decisions", "Postprocess decisions per second: allow, review, block.",
                           Query(q.PIPELINE_DECISIONS, "{{decision}}"), unit="ops", span=8))
    return d


def ai_gpu() -> dash.Dashboard:
    d = _base("chaosctl-ai-gpu", "chaosctl / AI & GPU", "Inference, batching and device memory per model server.")
    d = d.with_variable(label_variable("server", "job", "chaosctl_model_queue_depth", "Model server"))
    d = d.with_variable(label_variable("model", "model", "chaosctl_model_inference_duration_seconds_count", "Model"))
    d = d.with_row(dash.Row("Inference"))
    d = d.with_panel(graph("Inference latency", "p50 and p99 by model, version and device.",
                           Query(q.INFERENCE_P50, "{{model}} {{version}} {{device}} p50"),
                           Query(q.INFERENCE_P99, "{{model}} {{version}} {{device}} p99"), unit="s", limits=P99))
    d = d.with_panel(graph("Inferences/s", "By server, model and version.",
                           Query(q.INFERENCE_RPS, "{{job}} {{model}} {{version}}"), unit="ops"))
    d = d.with_panel(graph("Batch size", "Dynamic batching: mean and p90 batch size.",
                           Query(q.BATCH_SIZE_MEAN, "{{job}} mean"), Query(q.BATCH_SIZE_P90, "{{job}} p90"), span=8))
    d = d.with_panel(graph("Queue depth", "Requests waiting for a batch slot.", Query(q.QUEUE_DEPTH, "{{job}}"),
                           span=8, limits=upper_bound(50)))
    d = d.with_panel(graph("Prediction confidence", "Mean confidence of the served predictions.",
                           Query(q.CONFIDENCE_MEAN, "{{job}}"), unit="percentunit", span=8))
    d = d.with_row(dash.Row("Devices"))
    d = d.with_panel(graph("Device memory", "Used and total bytes of each (real or simulated) device.",
                           Query(q.MEMORY_USED, "{{job}} used"), Query(q.MEMORY_TOTAL, "{{job}} total"), unit="bytes"))
    d = d.with_panel(graph("Device memory used", "Used over total; the gateway skips saturated servers.",
                           Query(q.MEMORY_USED_RATIO, "{{job}}"), unit="percentunit", span=6, limits=upper_bound(0.9)))
    d = d.with_panel(graph("Compute utilization", "Busy share of the device.", Query(q.UTILIZATION, "{{job}}"),
                           unit="percentunit", span=6))
    d = d.with_panel(grid("Model versions served", "One row per (model, version) loaded on some server.",
                          Query(q.VERSIONS_SERVED, "{{model}} {{version}}")))
    d = d.with_panel(states("Warm-up", "Servers loading a model are skipped by the gateway.",
                            Query(q.WARMING, "{{job}}"), mapping=WARM, span=12))
    return _autoscaling(d)


def _autoscaling(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Autoscaling"))
    d = d.with_panel(graph("Replicas per pool", "Desired, ready (registered, taking traffic) and warming replicas.",
                           Query(q.AUTOSCALER_DESIRED, "{{pool}} desired"), Query(q.AUTOSCALER_READY, "{{pool}} ready"),
                           Query(q.AUTOSCALER_WARMING, "{{pool}} warming"), span=8))
    d = d.with_panel(graph("Scale events", "Scale-ups and scale-downs per second, by cause.",
                           Query(q.AUTOSCALER_EVENTS, "{{pool}} {{direction}} {{cause}}"), unit="ops", span=8))
    d = d.with_panel(graph("Replica warm-up", "Mean start-to-registered time (process start, model load, warm-up).",
                           Query(q.AUTOSCALER_WARMUP_MEAN, "{{pool}}"), unit="s", span=8))
    return d


def chaos_run() -> dash.Dashboard:
    d = _base("chaosctl-chaos-run", "chaosctl / Chaos run", "Phases, faults and the SLIs of each phase of a run.")
    d = d.with_variable(label_variable("scenario", "scenario", "chaosctl_run_phase", "Scenario"))
    d = d.annotation(prometheus_annotation("phases", q.PHASE_MARKER_ANNOTATION, "blue"))
    d = d.annotation(prometheus_annotation("faults", q.FAULT_MARKER_ANNOTATION, "red"))
    d = d.with_row(dash.Row("Timeline"))
    d = d.with_panel(single("Current phase", "The phase marker of the run.", Query(q.CURRENT_PHASE, "{{phase}}"),
                            span=12, by_name=True))
    d = d.with_panel(single("Faults in place", "Faults injected and not yet reverted.", Query(q.ACTIVE_FAULTS),
                            span=12, limits=upper_bound(1)))
    d = d.with_panel(states("Phases", "When each phase was active.", Query(q.PHASES, "{{phase}}"), mapping=ACTIVE))
    d = d.with_panel(states("Faults", "When each fault was in place.", Query(q.FAULTS, "{{fault}} {{target}}"),
                            mapping=FAULT))
    d = d.with_row(dash.Row("SLIs per phase"))
    d = d.with_panel(graph("p99 latency per phase", "Gateway p99, one series per phase.",
                           Query(q.per_phase(q.GATEWAY_P99), "{{phase}}"), unit="s", limits=P99))
    d = d.with_panel(graph("Success ratio per phase", "Gateway success ratio, one series per phase.",
                           Query(q.per_phase(q.GATEWAY_SUCCESS), "{{phase}}"), unit="percentunit", limits=SUCCESS))
    d = d.with_panel(graph("Requests/s per phase", "Offered load that reached the gateway.",
                           Query(q.per_phase(q.GATEWAY_RPS), "{{phase}}"), unit="reqps"))
    d = d.with_panel(graph("Upstream failures per phase", "Gateway -> model server failure ratio.",
                           Query(q.per_phase(q.UPSTREAM_FAILURE_RATIO), "{{phase}}"), unit="percentunit"))
    return d


# Prometheus annotation fields that the SDK's typed AnnotationQuery does not carry;
# `build_all` adds them to the annotation of that name (title of each region, 1 s steps).
ANNOTATION_EXTRAS = {
    "phases": {"titleFormat": "phase {{phase}}", "tagKeys": "scenario,phase", "step": "1s"},
    "faults": {"titleFormat": "{{fault}} {{target}}", "tagKeys": "scenario,fault,target", "step": "1s"},
}

# File name (in dashboards/) -> builder; the order is the order of generation.
DASHBOARDS = {
    "overview.json": overview,
    "services.json": services,
    "ai-gpu.json": ai_gpu,
    "chaos-run.json": chaos_run,
}
