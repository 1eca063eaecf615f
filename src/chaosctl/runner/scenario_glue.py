"""Scenario models (+ the System they run on) -> the run's plain inputs: the Locust load
plan, abort conditions. Without a System: the reference stack's gateway, as before."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaosctl.load.plan import LoadPlan, PlannedRequest, ShapeStage, plan_from_system

from .abort import AbortRule, sli_expr, sources_probe

if TYPE_CHECKING:
    from chaosctl.scenario.model import Scenario
    from chaosctl.system.model import System

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


def load_plan(scenario: "Scenario", warmup: float, system: "System | None" = None,
              system_dir: Any = None) -> LoadPlan:
    """The scenario's users and shape; the request mix is the scenario's (reference models), or,
    when the System has request templates, those templates (a scenario entry's `model` names
    one and its `weight` overrides the template's)."""
    load = scenario.load
    requests = tuple(PlannedRequest(model=r.model, weight=r.weight, version=r.version, batch=r.batch,
                                distinct_inputs=r.distinct_inputs or 0) for r in load.requests)
    plan = LoadPlan(users=load.users, spawn_rate=load.spawn_rate, requests=requests, workers=load.workers,
                    stages=_stages(scenario, warmup))
    if system is None or system.load is None or (not system.load.requests and system.load.auth is None):
        return plan
    return plan_from_system(plan, system.load, {r.model: r.weight for r in load.requests}, system_dir)


def abort_conditions(scenario: "Scenario", system: "System | None" = None) -> tuple[AbortRule, ...]:
    from chaosctl.verdict.coverage import named_jobs
    from chaosctl.verdict.slo import SERVICE

    slis, jobs = None, (SERVICE,)
    if system is not None:  # the System's SLI queries and their scrape jobs
        from chaosctl.system.runtime import sli_jobs, slis_of

        slis, jobs = slis_of(system), sli_jobs(system)
    out = []
    for a in scenario.abort:
        if a.when is not None:  # built-in SLIs read the gateway (a System's SLI jobs); an empty answer is no data
            expr, threshold = sli_expr(a.when.sli, slis), a.when.threshold
            cond = AbortRule(a.label, expr, threshold.op, threshold.value, a.for_, a.on_no_data,
                                  jobs or named_jobs(expr))
        else:  # a raw query: the jobs it names and the jobs of its series (runner.abort)
            expr, threshold = a.promql or "", a.condition
            assert threshold is not None  # the model validator guarantees one form
            cond = AbortRule(a.label, expr, threshold.op, threshold.value, a.for_, a.on_no_data, named_jobs(expr),
                                  empty_is_no_data=False, sources_probe=sources_probe(expr))
        out.append(cond)
    return tuple(out)
