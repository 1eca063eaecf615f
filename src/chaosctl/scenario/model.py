"""The scenario format (docs/scenario-format.md) as frozen pydantic models.

Units are normalised at load: durations are float seconds, percentages are
fractions, sizes are int bytes. Objectives and conditions are typed
(`objective.py`). Fault specs live in `faults.py` and are re-exported here.
Checks that need the whole scenario (phase names, buckets) run in `checks.py`.
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

import re
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, ValidationInfo, WithJsonSchema, field_validator, model_validator

from .fault_types import FAULT_TYPES  # noqa: F401  (re-exported)
from .faults import (  # noqa: F401  (re-exported: the run engine imports them from here)
    Bandwidth,
    FaultSpec,
    GpuExhaustion,
    Jitter,
    Latency,
    LimitData,
    ProcessKill,
    ProcessPause,
    ProcessRestart,
    ResetPeer,
    SlowClose,
    Timeout,
)
from .objective import (  # noqa: F401
    AbsoluteObjective,
    BurnRateObjective,
    Objective,
    RelativeObjective,
    SliCondition,
    parse_objective,
    parse_sli_condition,
    parse_threshold,
)
from .types import Duration, Fraction, Frozen, topology_of, unknown_name
from .schedule import Schedule

__all__ = [
    "API_VERSION", "KIND", "SLIS", "LATENCY_QUANTILES", "FAULT_TYPES",
    "Scenario", "Metadata", "Load", "RequestMix", "Step", "StepsShape", "SpikeShape", "Phase",
    "FaultSpec", "ProcessKill", "ProcessPause", "ProcessRestart", "Latency", "Jitter", "Bandwidth", "Timeout",
    "ResetPeer", "SlowClose", "LimitData", "GpuExhaustion",
    "HttpProbe", "PromqlProbe", "AbortCondition", "SLO", "SpanRef", "ShareLimit", "TraceExpectation",
    "Objective", "AbsoluteObjective", "RelativeObjective", "BurnRateObjective", "SliCondition",
    "parse_objective", "parse_sli_condition", "parse_threshold",
]  # fmt: skip

API_VERSION = "chaosctl/v1"
KIND = "Scenario"
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"

SliName = Literal[
    "latency_p50", "latency_p90", "latency_p95", "latency_p99",
    "success_ratio", "error_ratio", "throughput", "burn_rate",
    "consumer_lag", "event_age_p99",  # the event path: messages behind (worst in the phase), publish -> analysed age
]  # fmt: skip
SLIS: tuple[str, ...] = SliName.__args__  # type: ignore[attr-defined]
LATENCY_QUANTILES = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99}

_OBJECTIVE_SCHEMA = {
    "type": "string",
    "description": "'< 300ms', '>= 99.5%', '< 50', '<= 2x baseline', '<= baseline + 50ms', 'burn_rate < 14.4'",
    "pattern": r"^\s*(burn_rate\s*|ttr\(\s*[a-z_0-9]+\s*\)\s*)?(<=|>=|<|>)\s*\S.*$",
}
_WHEN_SCHEMA = {
    "type": "string",
    "pattern": r"^\s*(latency_p50|latency_p90|latency_p95|latency_p99|success_ratio|error_ratio|throughput|burn_rate)\s*(<=|>=|<|>)\s*\S+\s*$",
    "description": "a built-in SLI, an operator and a value, e.g. 'error_ratio > 0.5'",
}
_TTR = re.compile(r"ttr\(\s*(?P<sli>[a-z_0-9]+)\s*\)\s*(?P<rest>(?:<=|>=|<|>).*)")
_CONDITION_SCHEMA = {"type": "string", "pattern": r"^\s*(<=|>=|<|>)\s*\S+\s*$", "description": "e.g. '> 0', '< 300ms'"}


class Metadata(Frozen):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class RequestMix(Frozen):
    """One entry of the request mix, picked with probability weight / sum(weights)."""

    model: str
    version: Optional[str] = Field(None, description="exact (2.3.1) or range (2.x, ~2.3): sent as X-Model-Version")
    weight: float = Field(1.0, gt=0)
    batch: int = Field(1, ge=1, le=4096, description="payload size: input rows per request")
    distinct_inputs: Optional[int] = Field(
        None, ge=1, le=1_000_000,
        description="inputs drawn from a fixed pool of this many (repeats can be served by the gateway's "
                    "prediction cache); unset: every request's inputs are new",
    )  # fmt: skip


class Step(Frozen):
    users: int = Field(ge=0, le=10_000)  # the same cap as load.users: 10**50 users reached Locust
    duration: Duration
    spawn_rate: Optional[float] = Field(None, gt=0)


class StepsShape(Frozen):
    """Users follow the steps in order; the last step holds until the end."""

    type: Literal["steps"]
    steps: tuple[Step, ...] = Field(min_length=1)


class SpikeShape(Frozen):
    """`users` (the peak) from offset `at` for `duration`, the base load otherwise."""

    type: Literal["spike"]
    users: int = Field(ge=1, le=10_000)
    at: Duration
    duration: Duration
    spawn_rate: Optional[float] = Field(None, gt=0)


LoadShape = Annotated[Union[StepsShape, SpikeShape], Field(discriminator="type")]


class Load(Frozen):
    users: int = Field(ge=1, le=10_000)
    spawn_rate: float = Field(gt=0)
    requests: tuple[RequestMix, ...] = Field(min_length=1)
    shape: Optional[LoadShape] = None
    workers: int = Field(1, ge=1, le=64, description="Locust workers (distributed mode when > 1)")


class Phase(Frozen):
    name: str = Field(pattern=NAME_PATTERN)
    duration: Duration
    faults: tuple[FaultSpec, ...] = ()
    schedule: Optional[Schedule] = Field(
        None, description="faults drawn from a seed (schedule.py): expanded at load into timed faults of this phase"
    )

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("a phase needs a positive duration, e.g. 30s")
        return value

    @model_validator(mode="after")
    def _expand_schedule(self) -> "Phase":
        """Drawn faults join `faults` (after the declared ones) so the engine, journal and
        recover see ordinary timed faults; `scheduled_faults` names them."""
        if self.schedule is None:
            return self
        problem = self.schedule.fit_problem(self.duration)
        if problem:
            raise ValueError(problem)
        object.__setattr__(self, "faults", self.faults + self.schedule.draw(self.duration))  # frozen: set once, at load
        return self

    @property
    def scheduled_faults(self) -> tuple[FaultSpec, ...]:
        if self.schedule is None or len(self.faults) < self.schedule.count:
            return ()  # a copy without its faults (run --rehearse) has none drawn either
        return self.faults[len(self.faults) - self.schedule.count :]


class HttpProbe(Frozen):
    name: str
    probe: Literal["http"]
    target: str
    path: str = Field("/healthz", pattern=r"^/")
    expect_status: int = Field(200, ge=100, le=599)
    timeout: Duration = 2.0

    @field_validator("target")
    @classmethod
    def _known_component(cls, value: str, info: ValidationInfo) -> str:
        components = topology_of(info).components
        if value not in components:
            raise ValueError(unknown_name("target", value, components))
        return value


class PromqlProbe(Frozen):
    name: str
    probe: Literal["promql"]
    query: str = Field(min_length=1)
    condition: Annotated[AbsoluteObjective, WithJsonSchema(_CONDITION_SCHEMA)]

    @field_validator("condition", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return parse_threshold(value)


Probe = Annotated[Union[HttpProbe, PromqlProbe], Field(discriminator="probe")]


class AbortCondition(Frozen):
    """`{when: error_ratio > 0.5, for: 5s}` or `{promql: EXPR, condition: '> 5', for: 5s}`."""

    name: Optional[str] = None
    when: Optional[Annotated[SliCondition, WithJsonSchema(_WHEN_SCHEMA)]] = None
    promql: Optional[str] = None
    condition: Optional[Annotated[AbsoluteObjective, WithJsonSchema(_CONDITION_SCHEMA)]] = None
    for_: Duration = Field(0.0, alias="for", description="how long the condition must hold before the run aborts")
    on_no_data: Literal["trip", "ignore"] = Field(
        "trip", description="while a fault is in place, no data for `for` (at least 2s) trips the abort; `ignore` opts out"
    )

    @field_validator("when", mode="before")
    @classmethod
    def _parse_when(cls, value: object) -> object:
        return None if value is None else parse_sli_condition(value, SLIS)

    @field_validator("condition", mode="before")
    @classmethod
    def _parse_condition(cls, value: object) -> object:
        return None if value is None else parse_threshold(value)

    @model_validator(mode="after")
    def _one_form(self) -> "AbortCondition":
        if (self.when is None) == (self.promql is None):
            raise ValueError("an abort condition needs either `when` (e.g. 'error_ratio > 0.5') or `promql` + `condition`")
        if self.promql is not None and self.condition is None:
            raise ValueError("a promql abort condition needs `condition`, e.g. '> 0.5'")
        if self.when is not None and self.condition is not None:
            raise ValueError("`condition` goes with `promql`; with `when` the threshold is part of it")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        text = self.when.describe() if self.when else f"{self.promql} {self.condition.describe()}"  # type: ignore[union-attr]
        return f"{text} for {self.for_:g}s"


class SLO(Frozen):
    name: str = Field(min_length=1)
    sli: Optional[SliName] = None
    promql: Optional[str] = Field(None, description="raw PromQL; $window is replaced by the phase window, e.g. [37s]")
    phase: str = Field("*", description="a phase name, or * for every phase")
    target: Optional[Fraction] = Field(None, description="burn_rate only: the SLO target whose error budget burns")
    min_coverage: Optional[Fraction] = Field(
        None, description="least share of the phase the SLI's scrape jobs must be up for (default 90%, CHAOSCTL_COVERAGE_THRESHOLD)"
    )
    ttr: Optional[SliName] = Field(
        None, description="time to recovery of this SLI (seconds from the last revert until it is back in its "
        "baseline band for `hold`); also written as the objective 'ttr(latency_p99) < 10s'"
    )
    tolerance: Optional[Fraction] = Field(None, description="ttr only: the band is baseline x (1 + tolerance) (default 50%)")
    hold: Optional[Duration] = Field(None, description="ttr only: how long the SLI must stay in the band (default 3s)")
    objective: Annotated[Objective, WithJsonSchema(_OBJECTIVE_SCHEMA)]

    @model_validator(mode="before")
    @classmethod
    def _ttr_objective(cls, data: object) -> object:
        """`objective: ttr(latency_p99) < 10s` -> ttr: latency_p99, objective: '< 10s'."""
        obj = data.get("objective") if isinstance(data, dict) else None
        match = _TTR.fullmatch(obj.strip()) if isinstance(obj, str) else None
        if match is None:
            return data
        return {**data, "ttr": match["sli"], "objective": match["rest"]}  # type: ignore[dict-item]

    @field_validator("objective", mode="before")
    @classmethod
    def _parse(cls, value: object, info: ValidationInfo) -> object:
        return parse_objective(value, burn_rate=info.data.get("sli") == "burn_rate")

    @model_validator(mode="after")
    def _consistent(self) -> "SLO":
        if self.ttr is not None:
            return self._ttr_consistent()
        if self.tolerance is not None or self.hold is not None:
            raise ValueError("`tolerance` and `hold` go with a ttr objective, e.g. 'ttr(latency_p99) < 10s'")
        if (self.sli is None) == (self.promql is None):
            raise ValueError("an SLO needs exactly one of `sli` (built-in) or `promql`")
        if self.sli == "burn_rate" and self.target is None:
            raise ValueError("a burn_rate SLO needs `target`, e.g. 99.9%")
        if self.sli != "burn_rate" and isinstance(self.objective, BurnRateObjective):
            raise ValueError("a burn_rate objective needs `sli: burn_rate` and a `target`")
        return self

    def _ttr_consistent(self) -> "SLO":
        if self.sli is not None or self.promql is not None:
            raise ValueError("a ttr objective names its SLI inside ttr(...): drop `sli`/`promql`")
        if self.ttr == "burn_rate":
            raise ValueError("ttr(burn_rate) is not measurable: use a latency, ratio or throughput SLI")
        obj = self.objective
        if not isinstance(obj, AbsoluteObjective) or obj.unit != "seconds":
            raise ValueError(f"a ttr objective is a time, e.g. 'ttr({self.ttr}) < 10s' (got {obj.describe()!r})")
        if self.phase == "*":
            raise ValueError("a ttr objective names the phase its recovery is measured in, e.g. phase: recovery")
        return self


class SpanRef(Frozen):
    service: str
    operation: Optional[str] = None

    def describe(self) -> str:
        return f"{self.service}: {self.operation}" if self.operation else self.service


class ShareLimit(Frozen):
    service: str
    operation: Optional[str] = None
    share: Fraction


class TraceExpectation(Frozen):
    """Exactly one of expect_bottleneck, max_critical_path_share, must_appear, must_not_appear."""

    name: Optional[str] = None
    phase: str
    min_traces: int = Field(100, ge=1, le=10_000_000, description="fewer traces than this in the phase is a FAIL")
    expect_bottleneck: Optional[SpanRef] = None
    max_critical_path_share: Optional[ShareLimit] = None
    must_appear: Optional[SpanRef] = None
    must_not_appear: Optional[SpanRef] = None

    @model_validator(mode="after")
    def _one_expectation(self) -> "TraceExpectation":
        given = [k for k in ("expect_bottleneck", "max_critical_path_share", "must_appear", "must_not_appear") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "a trace expectation needs exactly one of expect_bottleneck, max_critical_path_share, "
                f"must_appear, must_not_appear (got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.expect_bottleneck:
            return f"bottleneck is {self.expect_bottleneck.describe()}"
        if self.max_critical_path_share:
            limit = self.max_critical_path_share
            return f"{SpanRef(service=limit.service, operation=limit.operation).describe()} share <= {limit.share:.0%}"
        if self.must_appear:
            return f"span {self.must_appear.describe()} appears"
        return f"span {self.must_not_appear.describe()} does not appear"  # type: ignore[union-attr]


class Scenario(Frozen):
    api_version: Literal["chaosctl/v1"] = Field(alias="apiVersion")
    kind: Literal["Scenario"]
    metadata: Metadata
    system: Optional[str] = Field(
        None, min_length=1, description="the System file this runs against, relative to this file (default: the reference stack)"
    )
    load: Load
    phases: tuple[Phase, ...] = Field(min_length=1)
    steady_state: tuple[Probe, ...] = ()
    abort: tuple[AbortCondition, ...] = ()
    slos: tuple[SLO, ...] = ()
    traces: tuple[TraceExpectation, ...] = ()

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def total_seconds(self) -> float:
        return sum(p.duration for p in self.phases)

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)
