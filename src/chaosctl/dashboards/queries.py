"""The PromQL behind every panel, over the metric names of docs/contracts.md.

Kept apart from the layout so that each expression is written once and the
live test can see which metric each panel depends on. `$service`, `$upstream`,
`$server`, `$model` and `$scenario` are the dashboards' variables ("All" is `.*`).
"""

from __future__ import annotations

from chaosctl.dashboards.kit import RATE

# The shipped scenarios' default objectives: panels colour against these.
SLO_P99_SECONDS = 0.3
SLO_SUCCESS_RATIO = 0.995
# Multi-window burn-rate alerting (Google SRE workbook): 14.4x burns a 30-day
# budget in two days; 1x burns it exactly in 30 days.
FAST_BURN = 14.4

API = 'route=~"/v1/.*"'  # business routes only: health probes would dilute the SLIs
GW = f'service="gateway",{API}'
GW_ERR = f'{GW},code=~"5.."'
GW_OK = f'{GW},code!~"5.."'


def quantile(q: float, metric: str, selector: str, by: str = "") -> str:
    """`histogram_quantile` of a `_bucket` histogram, optionally per extra labels."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (rate({metric}_bucket{{{selector}}}[{RATE}])))"


def rate_sum(metric: str, selector: str = "", by: str = "", window: str = RATE) -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}[{window}]))"


def ratio(num: str, den: str) -> str:
    return f"{num} / {den}"


# Counters of rare events (5xx, retries, stale answers) have no series until the
# first event, so a healthy run would show "No data" instead of 0. Each such
# numerator falls back to `0 * denominator`: 0 wherever the denominator has data,
# still nothing when the denominator's own metric is missing. The numerators are
# collected in RARE_EVENTS so that the live test proves them on their own.
RARE_EVENTS: list[str] = []


def rare(num: str, den: str) -> str:
    RARE_EVENTS.append(num)
    return f"({num} or 0 * {den})"


def zero_filled_ratio(num: str, den: str) -> str:
    return f"{rare(num, den)} / {den}"


def mean_of_histogram(metric: str, selector: str, by: str) -> str:
    return ratio(rate_sum(f"{metric}_sum", selector, by), rate_sum(f"{metric}_count", selector, by))


# --- gateway RED and SLOs -------------------------------------------------------

GATEWAY_RPS = rate_sum("chaosctl_http_requests_total", GW)
GATEWAY_RPS_BY_CODE = rate_sum("chaosctl_http_requests_total", GW, "code")
GATEWAY_SUCCESS = ratio(rate_sum("chaosctl_http_requests_total", GW_OK), GATEWAY_RPS)
GATEWAY_ERROR_RATIO = zero_filled_ratio(rate_sum("chaosctl_http_requests_total", GW_ERR), GATEWAY_RPS)
GATEWAY_P50 = quantile(0.5, "chaosctl_http_request_duration_seconds", GW)
GATEWAY_P90 = quantile(0.9, "chaosctl_http_request_duration_seconds", GW)
GATEWAY_P99 = quantile(0.99, "chaosctl_http_request_duration_seconds", GW)


def burn_rate(window: str) -> str:
    """Error-budget burn rate over `window`: observed error ratio / allowed error ratio."""
    ok = rate_sum("chaosctl_http_requests_total", GW_OK, window=window)
    total = rate_sum("chaosctl_http_requests_total", GW, window=window)
    return f"(1 - {ok} / {total}) / {1 - SLO_SUCCESS_RATIO:.4g}"


# Share of gateway requests answered within the latency objective (`le` is a bucket bound).
GATEWAY_FAST_SHARE = ratio(
    rate_sum("chaosctl_http_request_duration_seconds_bucket", f'{GW},le="{SLO_P99_SECONDS}"'),
    rate_sum("chaosctl_http_request_duration_seconds_count", GW),
)
TARGETS_UP = "min by (job) (up)"
FALLBACKS = rate_sum("chaosctl_gateway_fallbacks_total")
RATE_LIMITED = rate_sum("chaosctl_gateway_rate_limited_total")
BREAKERS_OPEN = "sum(chaosctl_gateway_breaker_state == bool 2)"
UPSTREAM_FAILURE_RATIO = zero_filled_ratio(
    rate_sum("chaosctl_gateway_upstream_requests_total", 'outcome!="ok"'),
    rate_sum("chaosctl_gateway_upstream_requests_total"),
)

# --- per service / upstream -------------------------------------------------------

SVC = f'service=~"$service",{API}'
SERVICE_RPS = rate_sum("chaosctl_http_requests_total", SVC, "service, code")
SERVICE_P50 = quantile(0.5, "chaosctl_http_request_duration_seconds", SVC, "service")
SERVICE_P99 = quantile(0.99, "chaosctl_http_request_duration_seconds", SVC, "service")
SERVICE_ERROR_RATIO = zero_filled_ratio(
    rate_sum("chaosctl_http_requests_total", f'{SVC},code=~"5.."', "service"),
    rate_sum("chaosctl_http_requests_total", SVC, "service"),
)
UP = 'upstream=~"$upstream"'
UPSTREAM_RPS = rate_sum("chaosctl_gateway_upstream_requests_total", UP, "upstream, outcome")
UPSTREAM_P50 = quantile(0.5, "chaosctl_gateway_upstream_duration_seconds", UP, "upstream")
UPSTREAM_P99 = quantile(0.99, "chaosctl_gateway_upstream_duration_seconds", UP, "upstream")
RETRIES = rare(rate_sum("chaosctl_gateway_retries_total", UP, "upstream"),
              rate_sum("chaosctl_gateway_upstream_requests_total", UP, "upstream"))
BREAKER_STATE = f"max by (upstream) (chaosctl_gateway_breaker_state{{{UP}}})"
CACHE_BY_RESULT = rate_sum("chaosctl_gateway_registry_cache_total", "", "result")
# Regions: where the gateway's tries went (region a first, b on failover) and what each costs.
REGION_RPS = rate_sum("chaosctl_gateway_upstream_requests_total", "", "region, outcome")
REGION_P50 = quantile(0.5, "chaosctl_gateway_upstream_duration_seconds", "", "region")
REGION_P99 = quantile(0.99, "chaosctl_gateway_upstream_duration_seconds", "", "region")
REGION_FAILOVERS = rate_sum("chaosctl_gateway_region_failovers_total", 'job="gateway"', "region")
CACHE_HIT_RATIO = ratio(
    rate_sum("chaosctl_gateway_registry_cache_total", 'result="hit"'),
    rate_sum("chaosctl_gateway_registry_cache_total"),
)
CACHE_STALE = rare('sum(increase(chaosctl_gateway_registry_cache_total{result="stale"}[$__range]))',
                   "sum(increase(chaosctl_gateway_registry_cache_total[$__range]))")
PREDICTION_CACHE_BY_RESULT = rate_sum("chaosctl_gateway_prediction_cache_total", "", "result")
PREDICTION_CACHE_HIT_RATIO = ratio(
    rate_sum("chaosctl_gateway_prediction_cache_total", 'result="hit"'),
    rate_sum("chaosctl_gateway_prediction_cache_total"),
)
# The event path (Kafka): the gateway's publisher and the batch analyser.
EVENTS_PUBLISHED = rate_sum("chaosctl_gateway_events_total", "", "result")
EVENTS_DELIVERED = rate_sum("chaosctl_gateway_events_delivered_total", "", "result")
EVENTS_PUBLISH_P99 = quantile(0.99, "chaosctl_gateway_events_publish_seconds", "")
EVENT_AGE_P50 = quantile(0.5, "chaosctl_analyser_event_age_seconds", "")
EVENT_AGE_P99 = quantile(0.99, "chaosctl_analyser_event_age_seconds", "")
CONSUMER_LAG = "max(chaosctl_analyser_consumer_lag_messages)"
WINDOWS_ANALYSED = rate_sum("chaosctl_analyser_windows_total")
ETCD_LEADER = 'max by (job) (etcd_server_has_leader{job=~"registry-store.*"})'
# Progressive canary (gateway/rollout.py): exported from the gateway's start for its static
# canary rule (weight, state 0, counters at 0), so these have data at idle.
CANARY_WEIGHT = 'max by (model, version) (chaosctl_canary_weight{job="gateway"})'
CANARY_STATE = 'max by (model, version) (chaosctl_canary_state{job="gateway"})'
CANARY_STEPS = 'sum by (model, version) (increase(chaosctl_canary_steps_total{job="gateway"}[$__range]))'
CANARY_ROLLBACKS = 'sum by (reason) (increase(chaosctl_canary_rollbacks_total{job="gateway"}[$__range]))'

# --- model servers and devices ---------------------------------------------------------

SRV = 'job=~"$server"'
MODEL = f'{SRV},model=~"$model"'
INFERENCE_P50 = quantile(0.5, "chaosctl_model_inference_duration_seconds", MODEL, "model, version, device")
INFERENCE_P99 = quantile(0.99, "chaosctl_model_inference_duration_seconds", MODEL, "model, version, device")
INFERENCE_RPS = rate_sum("chaosctl_model_inference_duration_seconds_count", MODEL, "job, model, version")
BATCH_SIZE_MEAN = mean_of_histogram("chaosctl_model_batch_size", SRV, "job")
BATCH_SIZE_P90 = quantile(0.9, "chaosctl_model_batch_size", SRV, "job")
QUEUE_DEPTH = f"max by (job) (chaosctl_model_queue_depth{{{SRV}}})"
MEMORY_USED = f"max by (job) (chaosctl_gpu_memory_used_bytes{{{SRV}}})"
MEMORY_TOTAL = f"max by (job) (chaosctl_gpu_memory_total_bytes{{{SRV}}})"
MEMORY_USED_RATIO = ratio(MEMORY_USED, MEMORY_TOTAL)
UTILIZATION = f"max by (job) (chaosctl_gpu_utilization_ratio{{{SRV}}})"
CONFIDENCE_MEAN = mean_of_histogram("chaosctl_model_confidence", SRV, "job")
VERSIONS_SERVED = f"count by (model, version) (chaosctl_model_version_info{{{MODEL}}} == 1)"
WARMING = f"max by (job) (chaosctl_model_warming{{{SRV}}})"

# --- autoscaling (the autoscaler's own series: every pool's exists from its start, zeros at idle) ----
AUTOSCALER_DESIRED = "max by (pool) (chaosctl_autoscaler_desired_replicas)"
AUTOSCALER_READY = "max by (pool) (chaosctl_autoscaler_ready_replicas)"
AUTOSCALER_WARMING = "max by (pool) (chaosctl_autoscaler_warming_replicas)"
AUTOSCALER_EVENTS = rate_sum("chaosctl_autoscaler_scale_events_total", "", "pool, direction, cause")
AUTOSCALER_WARMUP_MEAN = (
    "sum by (pool) (chaosctl_autoscaler_warmup_seconds_sum)"
    " / clamp_min(sum by (pool) (chaosctl_autoscaler_warmup_seconds_count), 1)"
)

# --- the pipelined model (gateway -> preprocess -> model server -> postprocess) ----------------
PIPELINE_STAGE_P50 = quantile(0.5, "chaosctl_gateway_pipeline_stage_duration_seconds", "", "stage")
PIPELINE_STAGE_P99 = quantile(0.99, "chaosctl_gateway_pipeline_stage_duration_seconds", "", "stage")
PIPELINE_STAGE_CALLS = rate_sum("chaosctl_gateway_pipeline_stage_requests_total", "", "stage, outcome")
PIPELINE_DECISIONS = rate_sum("chaosctl_pipeline_decisions_total", "", "decision")

# --- chaos run ------------------------------------------------------------------

RUN = 'scenario=~"$scenario"'
PHASES = f"max by (phase) (chaosctl_run_phase{{{RUN}}})"
FAULTS = f"max by (fault, target) (chaosctl_run_fault_active{{{RUN}}})"
ACTIVE_FAULTS = f"sum(chaosctl_run_fault_active{{{RUN}}})"
CURRENT_PHASE = f"max by (phase) (chaosctl_run_phase{{{RUN}}} == 1)"
PHASE_MARKER_ANNOTATION = f"chaosctl_run_phase{{{RUN}}} == 1"
FAULT_MARKER_ANNOTATION = f"chaosctl_run_fault_active{{{RUN}}} == 1"


def per_phase(sli: str) -> str:
    """Label an SLI's series with the phase active at each instant (one phase at a time)."""
    return f"({sli}) * on() group_left(phase) topk(1, chaosctl_run_phase{{{RUN}}} == 1)"
