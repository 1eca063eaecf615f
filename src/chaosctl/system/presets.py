"""How a System's built-in SLIs are computed: presets for common metric conventions, overrides, PromQL.

A preset names a latency histogram, a request counter and what counts as an
error; a System may override any of them and add label matchers that narrow
both (`selector: job="checkout"`). `Slis.resolved()` gives concrete selectors
and `ResolvedSlis.expr()` the PromQL of each built-in SLI over a window, the
same shapes as `chaosctl.verdict.slo.build_expr` (equal for the reference preset,
which a unit test holds).
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from pydantic import Field, model_validator

from chaosctl.scenario.types import Frozen

PresetName = Literal["otel-http", "prometheus-client", "chaosctl-reference"]

_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_MATCHER = r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
MATCHERS_PATTERN = rf"^{_MATCHER}(,{_MATCHER})*,?\s*$"
SELECTOR_PATTERN = rf"^\s*{_METRIC}\s*(\{{({_MATCHER}(,{_MATCHER})*,?\s*)?\}})?\s*$"

Selector = Annotated[
    str, Field(pattern=SELECTOR_PATTERN, description='a metric and optional label matchers: name{label="v",other=~"re"}')
]
Matchers = Annotated[str, Field(pattern=MATCHERS_PATTERN, description='label matchers: code=~"5..",job="api"')]


@dataclass(frozen=True)
class Preset:
    histogram: str  # a histogram's base name (without _bucket)
    requests: str  # a counter of requests
    matchers: str  # narrows both
    errors: str  # matchers that make a request an error
    unit: str  # of the histogram: seconds | milliseconds
    about: str
    jobs: tuple[str, ...] = ()  # scrape jobs whose series these are, when the matchers do not say
    consumer_lag: str = ""  # the event path's SLIs (a gauge of messages behind, an age histogram); "" = none
    event_age: str = ""


# The reference stack's event path, measured by its analyser (services/analyser).
EVENT_LAG = "chaosctl_analyser_consumer_lag_messages"
EVENT_AGE = "chaosctl_analyser_event_age_seconds"
EVENT_SLIS = ("consumer_lag", "event_age_p99")

PRESETS: dict[str, Preset] = {
    # OpenTelemetry HTTP server semantic conventions (stable, seconds) as the Prometheus exporter names them.
    "otel-http": Preset(
        "http_server_request_duration_seconds", "http_server_request_duration_seconds_count", "",
        'http_response_status_code=~"5.."', "seconds", "OpenTelemetry HTTP server semantic conventions",
    ),
    # prometheus_client / prometheus-fastapi-instrumentator (Starlette): status may be grouped as "5xx".
    "prometheus-client": Preset(
        "http_request_duration_seconds", "http_requests_total", "", 'status=~"5.."', "seconds",
        "prometheus_client / Starlette instrumentator names",
    ),
    # The reference stack: what clients see at the gateway's predict route; 429 is a quota, not an error.
    "chaosctl-reference": Preset(
        "chaosctl_http_request_duration_seconds", "chaosctl_http_requests_total",
        'service="gateway",route=~"/v1/models/.*"', 'code=~"5.."', "seconds", "chaosctl's reference stack",
        ("gateway",), EVENT_LAG, EVENT_AGE,
    ),
}  # fmt: skip


def split_selector(selector: str) -> tuple[str, str]:
    """`name{a="b"}` -> ("name", 'a="b"')."""
    text = selector.strip()
    if "{" not in text:
        return text, ""
    name, rest = text.split("{", 1)
    return name.strip(), rest.rstrip().removesuffix("}").strip().rstrip(",").strip()


def _join(*parts: str) -> str:
    return ",".join(p.strip().rstrip(",") for p in parts if p and p.strip())


def _vector(metric: str, matchers: str) -> str:
    return f"{metric}{{{matchers}}}" if matchers else metric


class Slis(Frozen):
    """A preset plus overrides; without a preset, latency_histogram, requests and errors are all needed."""

    preset: Optional[PresetName] = None
    latency_histogram: Optional[Selector] = Field(None, description="the latency histogram (base name or _bucket) and matchers")
    requests: Optional[Selector] = Field(None, description="the request counter and matchers")
    errors: Optional[Matchers] = Field(None, description='matchers that make a request an error, e.g. code=~"5.."')
    selector: Optional[Matchers] = Field(None, description='matchers added to both, e.g. job="checkout"')
    latency_unit: Optional[Literal["seconds", "milliseconds"]] = None
    consumer_lag: Optional[Selector] = Field(None, description="the event path's consumer lag gauge (messages behind)")
    event_age_histogram: Optional[Selector] = Field(
        None, description="the event path's end-to-end event age histogram in seconds (base name or _bucket)")

    @model_validator(mode="after")
    def _complete(self) -> "Slis":
        if self.preset is None:
            missing = [k for k in ("latency_histogram", "requests", "errors") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"without a preset, slis needs {', '.join(missing)} (or preset: {' | '.join(PRESETS)})")
        return self

    def resolved(self) -> "ResolvedSlis":
        base = PRESETS[self.preset] if self.preset else None
        if self.latency_histogram is not None:
            hist, hist_m = split_selector(self.latency_histogram)
            hist = hist.removesuffix("_bucket")
        else:
            hist, hist_m = base.histogram, base.matchers  # type: ignore[union-attr]
        if self.requests is not None:
            req, req_m = split_selector(self.requests)
        else:
            req, req_m = base.requests, base.matchers  # type: ignore[union-attr]
        errors = self.errors if self.errors is not None else base.errors  # type: ignore[union-attr]
        unit = self.latency_unit or (base.unit if base else "seconds")
        extra = self.selector or ""
        lag = self.consumer_lag or (base.consumer_lag if base else "")
        age = (self.event_age_histogram or "").replace("_bucket{", "{").removesuffix("_bucket") or (base.event_age if base else "")
        return ResolvedSlis(
            histogram=hist, histogram_matchers=_join(hist_m, extra), requests=req,
            requests_matchers=_join(req_m, extra), errors=_join(errors), unit=unit, consumer_lag=lag, event_age=age,
        )  # fmt: skip


LATENCY_QUANTILES = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99}


@dataclass(frozen=True)
class ResolvedSlis:
    """Concrete selectors of one System's SLIs."""

    histogram: str
    histogram_matchers: str
    requests: str
    requests_matchers: str
    errors: str
    unit: str = "seconds"
    consumer_lag: str = ""  # a selector; "" = this System has no event path SLIs
    event_age: str = ""

    @property
    def bucket_selector(self) -> str:
        return _vector(f"{self.histogram}_bucket", self.histogram_matchers)

    @property
    def requests_selector(self) -> str:
        return _vector(self.requests, self.requests_matchers)

    @property
    def errors_selector(self) -> str:
        return _vector(self.requests, _join(self.requests_matchers, self.errors))

    def expr(self, sli: str, window: str, target: float | None = None) -> str:
        """PromQL of a built-in SLI over `window` (a PromQL duration such as `30000ms`); latency in seconds."""
        total = f"sum(rate({self.requests_selector}[{window}]))"
        errors = f"(sum(rate({self.errors_selector}[{window}])) or vector(0))"
        if sli in LATENCY_QUANTILES:
            q = f"histogram_quantile({LATENCY_QUANTILES[sli]}, sum by (le) (rate({self.bucket_selector}[{window}])))"
            return q if self.unit == "seconds" else f"({q}) / 1000"
        if sli in EVENT_SLIS:
            return event_expr(sli, window, self.consumer_lag, self.event_age)
        if sli == "success_ratio":
            return f"1 - {errors} / {total}"
        if sli == "error_ratio":
            return f"{errors} / {total}"
        if sli == "throughput":
            return total
        if sli == "burn_rate":
            if target is None or not 0 < target < 1:
                raise ValueError("burn_rate needs a target between 0 and 1 (e.g. 99.9%)")
            return f"({errors} / {total}) / {1 - target:.10g}"
        known = [*LATENCY_QUANTILES, "success_ratio", "error_ratio", "throughput", "burn_rate", *EVENT_SLIS]
        raise ValueError(f"unknown SLI {sli!r}; known: {', '.join(known)}")



def event_expr(sli: str, window: str, lag: str, age: str) -> str:
    """The event path's SLIs: the worst consumer lag over the window; the p99 of event age
    (publish -> analysed). ValueError when the System names no such series."""
    if sli == "consumer_lag":
        if not lag:
            raise ValueError("consumer_lag: this System's slis name no consumer lag gauge (slis.consumer_lag)")
        return f"max(max_over_time({lag}[{window}]))"
    if not age:
        raise ValueError("event_age_p99: this System's slis name no event age histogram (slis.event_age_histogram)")
    name, matchers = split_selector(age)
    return f"histogram_quantile(0.99, sum by (le) (rate({_vector(name + '_bucket', matchers)}[{window}])))"
