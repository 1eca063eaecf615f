"""Scenario models -> the run's plain inputs: the Locust load plan, abort conditions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaosctl.load.plan import LoadPlan, RequestMix, ShapeStage

from .abort import AbortCondition, sli_expr, sources_probe

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
        if a.when is not None:  # built-in SLIs read the gateway; an empty answer is no data
            expr, threshold = sli_expr(a.when.sli), a.when.threshold
            cond = AbortCondition(a.label, expr, threshold.op, threshold.value, a.for_, a.on_no_data, (SERVICE,))
        else:  # a raw query: the jobs it names and the jobs of its series (runner.abort)
            expr, threshold = a.promql or "", a.condition
            assert threshold is not None  # the model validator guarantees one form
            cond = AbortCondition(a.label, expr, threshold.op, threshold.value, a.for_, a.on_no_data, named_jobs(expr),
                                  empty_is_no_data=False, sources_probe=sources_probe(expr))
        out.append(cond)
    return tuple(out)
