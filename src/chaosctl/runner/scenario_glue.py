"""Scenario models -> the run's plain inputs: the Locust load plan, abort conditions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaosctl.load.plan import LoadPlan, RequestMix, ShapeStage

from .abort import AbortCondition, sli_expr

if TYPE_CHECKING:
    from chaosctl.scenario.model import Scenario

FOREVER_S = 10 * 24 * 3600.0
MAX_WARMUP_S = 10.0


def warmup_seconds(scenario: "Scenario") -> float:
    """Time for Locust to spawn its users before the first phase starts (+1 s for
    the first scrape to see traffic), so the baseline is not a ramp."""
    load = scenario.load
    return min(MAX_WARMUP_S, load.users / load.spawn_rate) + 1.0


def _stages(scenario: "Scenario", warmup: float) -> tuple[ShapeStage, ...]:
    load, shape = scenario.load, scenario.load.shape
    if shape is None:
        return ()
    if shape.type == "steps":
        out, end = [], warmup
        for step in shape.steps:
            end += step.duration
            out.append(ShapeStage(end, step.users, step.spawn_rate or load.spawn_rate))
        last = out[-1]
        return (*out[:-1], ShapeStage(FOREVER_S, last.users, last.spawn_rate))
    rate = shape.spawn_rate or load.spawn_rate
    return (
        ShapeStage(warmup + shape.at, load.users, load.spawn_rate),
        ShapeStage(warmup + shape.at + shape.duration, shape.users, rate),
        ShapeStage(FOREVER_S, load.users, rate),
    )


def load_plan(scenario: "Scenario", warmup: float) -> LoadPlan:
    load = scenario.load
    requests = tuple(RequestMix(model=r.model, weight=r.weight, version=r.version, batch=r.batch) for r in load.requests)
    return LoadPlan(users=load.users, spawn_rate=load.spawn_rate, requests=requests, workers=load.workers,
                    stages=_stages(scenario, warmup))


def abort_conditions(scenario: "Scenario") -> tuple[AbortCondition, ...]:
    from chaosctl.verdict.coverage import named_jobs
    from chaosctl.verdict.slo import SERVICE

    out = []
    for a in scenario.abort:
        if a.when is not None:  # built-in SLIs read the gateway; a raw query, the jobs it names
            expr, threshold, jobs = sli_expr(a.when.sli), a.when.threshold, (SERVICE,)
        else:
            expr, threshold, jobs = a.promql or "", a.condition, named_jobs(a.promql or "")
        assert threshold is not None  # the model validator guarantees one form
        out.append(AbortCondition(a.label, expr, threshold.op, threshold.value, a.for_, a.on_no_data, jobs))
    return tuple(out)
