"""Checks that need the whole scenario: names that refer to phases, units that
must fit the SLI, objectives the latency histogram can resolve, fault timing,
models and versions that the stack serves.

Each check yields `(path, message)`; load.py turns paths into file positions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from chaosctl.services.buckets import HTTP_BUCKETS
from chaosctl.stack.topology import MODEL_SERVERS, PIPELINE_INFERENCE_MODEL, PIPELINE_MODEL, Topology

from .model import LATENCY_QUANTILES, SLO, AbsoluteObjective, RelativeObjective, Scenario, parse_objective
from .objective import LastPassObjective
from .types import closest
from .units import format_duration

# The buckets of chaosctl_http_request_duration_seconds (contracts.md): one definition, which the
# services' telemetry emits with (services/buckets.py, a module without imports).
LATENCY_BUCKETS: tuple[float, ...] = HTTP_BUCKETS

Problem = tuple[tuple[Any, ...], str]


def _unknown(kind: str, word: str, choices: list[str]) -> str:
    guess = closest(word, choices)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return f"unknown {kind} {word!r}{hint}; {kind}s: {', '.join(choices)}"


def bucket_problem(threshold: float, buckets: tuple[float, ...] = HTTP_BUCKETS) -> str | None:
    """Why a latency threshold cannot be judged from the histogram, or None.

    histogram_quantile interpolates linearly inside a bucket, so a threshold
    between two boundaries compares against an invented number; above the
    largest boundary the quantile lands in +Inf and is unknown.
    """
    if any(math.isclose(threshold, b, rel_tol=1e-9, abs_tol=1e-12) for b in buckets):
        return None
    shown = ", ".join(format_duration(b) for b in buckets)
    if threshold > buckets[-1]:
        return f"{format_duration(threshold)} is above the largest latency bucket ({format_duration(buckets[-1])}): the histogram cannot resolve it"
    lower = max((b for b in buckets if b < threshold), default=0.0)
    upper = min(b for b in buckets if b > threshold)
    return (
        f"the latency histogram cannot resolve {format_duration(threshold)} (it falls between the buckets "
        f"{format_duration(lower)} and {format_duration(upper)}); use a bucket boundary: {shown}"
    )


def _promql_buckets(expr: str) -> tuple[float, ...] | None:
    """The buckets behind `histogram_quantile(q, ... <metric>_bucket ...)` when it is one of ours."""
    if "histogram_quantile" not in expr:
        return None
    from chaosctl.services.gateway.metrics import UPSTREAM_BUCKETS  # plain constants, no heavy imports

    known = {"chaosctl_http_request_duration_seconds": HTTP_BUCKETS, "chaosctl_gateway_upstream_duration_seconds": UPSTREAM_BUCKETS}
    found = {known[m] for m in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\b", expr) if m in known}
    return found.pop() if len(found) == 1 else None


def _objective_units(slo: SLO) -> str | None:
    """A unit that does not fit the SLI, e.g. `p99 < 300` without ms."""
    obj, sli = slo.objective, slo.sli
    if sli is None or sli == "burn_rate":
        return None
    if isinstance(obj, AbsoluteObjective):
        unit, value = obj.unit, obj.value
    elif isinstance(obj, (RelativeObjective, LastPassObjective)) and obj.offset:
        unit, value = obj.unit, obj.offset
    else:
        return None
    if sli in LATENCY_QUANTILES and unit != "seconds":
        return f"{sli} is a latency: give the objective a time unit, e.g. '< 300ms' (got {obj.describe()!r})"
    if sli in ("success_ratio", "error_ratio") and (unit == "seconds" or abs(value) > 1):
        return f"{sli} is a ratio: use a percentage such as '>= 99.5%' or a fraction <= 1 (got {obj.describe()!r})"
    if sli == "throughput" and unit != "number":
        return f"throughput is in requests per second: use a number, e.g. '> 20' (got {obj.describe()!r})"
    return None


def _slo_problems(scenario: Scenario, phases: list[str]) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, slo in enumerate(scenario.slos):
        if slo.name in seen:
            yield ("slos", i, "name"), f"duplicate SLO name {slo.name!r}"
        seen.add(slo.name)
        obj = slo.objective
        if slo.ttr is not None and phases and slo.phase == phases[0]:
            yield ("slos", i, "phase"), (f"ttr({slo.ttr}) is measured after a revert against the first phase "
                                         f"({phases[0]!r}, its baseline): name a later phase, e.g. the recovery")
        if problem := _objective_units(slo):
            yield ("slos", i, "objective"), problem
        elif slo.sli in LATENCY_QUANTILES and isinstance(obj, AbsoluteObjective) and (why := bucket_problem(obj.value)):
            yield ("slos", i, "objective"), why
        elif slo.promql and isinstance(obj, AbsoluteObjective) and (buckets := _promql_buckets(slo.promql)):
            if why := bucket_problem(obj.value, buckets):
                yield ("slos", i, "objective"), why


def _trace_problems(scenario: Scenario, phases: list[str], topology: Topology) -> Iterator[Problem]:
    services = list(topology.services)
    for i, exp in enumerate(scenario.traces):
        for key in ("expect_bottleneck", "max_critical_path_share", "must_appear", "must_not_appear"):
            ref = getattr(exp, key)
            if ref is not None and ref.service not in services:
                yield ("traces", i, key, "service"), _unknown("service", ref.service, services)


def _phase_problems(scenario: Scenario) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, phase in enumerate(scenario.phases):
        if phase.name in seen:
            yield ("phases", i, "name"), f"duplicate phase name {phase.name!r}"
        seen.add(phase.name)
        for j, fault in enumerate(phase.faults):
            where = ("phases", i, "faults", j)
            if fault.after >= phase.duration:
                yield (*where, "after"), (
                    f"fault starts at {format_duration(fault.after)}, not before the end of its "
                    f"{format_duration(phase.duration)} phase {phase.name!r}"
                )
            elif fault.duration is not None and fault.after + fault.duration > phase.duration + 1e-9:
                yield (*where, "duration"), (
                    f"fault lasts past the end of phase {phase.name!r} ({format_duration(fault.after)} + "
                    f"{format_duration(fault.duration)} > {format_duration(phase.duration)})"
                )


# An X-range of plain numbers (`2`, `2.x`, `2.3`, `2.3.*`) against plain versions (`2.3.1`): the
# common case, decided here because importing nodesemver (~40 regexes compiled at import) costs
# about a tenth of `chaosctl validate`. Whatever else (a `~`/`^`/comparator range, a prerelease, a
# build tag, leading zeros, `,`) goes to nodesemver; test_version_ranges checks both agree.
_X = "[xX*]"
_NUM = "0|[1-9][0-9]{0,14}"
_PLAIN_X_RANGE = re.compile(rf"({_NUM})(?:\.(?:{_X}(?:\.{_X})?|({_NUM})(?:\.{_X})?))?")
_PLAIN_VERSION = re.compile(rf"({_NUM})\.({_NUM})\.(?:{_NUM})")


def plain_x_range_matches(spec: str, served: list[str]) -> bool | None:
    """Whether `spec`, a plain X-range, matches one of the plain `served` versions (node-semver's
    answer: same major, and same minor when the range gives one); None: not that simple case."""
    rng = _PLAIN_X_RANGE.fullmatch(spec)
    versions = [_PLAIN_VERSION.fullmatch(v) for v in served]
    if rng is None or not all(versions):
        return None
    major, minor = rng.group(1), rng.group(2)
    return any(v.group(1) == major and minor in (None, v.group(2)) for v in versions)  # type: ignore[union-attr]


def _version_matches(version: str, served: list[str]) -> bool:
    """The gateway's rule (services/gateway/routing.py): node-semver, loose, ',' as AND."""
    if version in served:
        return True
    spec = " ".join(part.strip() for part in version.split(",") if part.strip())
    plain = plain_x_range_matches(spec, served)
    if plain is not None:
        return plain
    import nodesemver  # only for other ranges; kept out of the import of chaosctl.scenario

    for candidate in served:
        try:
            if nodesemver.satisfies(candidate, spec, loose=True):
                return True
        except Exception:  # noqa: BLE001 - a malformed range matches nothing, as in the gateway
            return False
    return False


def _load_problems(scenario: Scenario, topology: Topology) -> Iterator[Problem]:
    served: dict[str, list[str]] = {}
    for server in MODEL_SERVERS:
        for m in server.models:
            served.setdefault(m.name, []).append(m.version)
    served[PIPELINE_MODEL] = list(served.get(PIPELINE_INFERENCE_MODEL, ()))  # the gateway's pipelined model
    templates = getattr(topology, "request_templates", ())  # a System's load templates: `model` names one
    if templates:
        served = {name: [] for name in templates}
    models = sorted(served)
    for i, req in enumerate(scenario.load.requests):
        where = ("load", "requests", i)
        if req.model not in served:
            yield (*where, "model"), _unknown("model", req.model, models)
        elif req.version is not None and not _version_matches(req.version, sorted(set(served[req.model]))):
            versions = ", ".join(sorted(set(served[req.model])))
            yield (*where, "version"), f"no version of {req.model} matches {req.version!r}; served: {versions}"
    shape = scenario.load.shape
    if shape is not None and shape.type == "spike" and shape.at + shape.duration > scenario.total_seconds:
        yield ("load", "shape", "at"), f"the spike ends after the scenario ({format_duration(scenario.total_seconds)})"


def _abort_problems(scenario: Scenario) -> Iterator[Problem]:
    for i, cond in enumerate(scenario.abort):
        if cond.when is None or cond.when.sli not in LATENCY_QUANTILES:
            continue
        if cond.when.threshold.unit != "seconds":
            yield ("abort", i, "when"), f"{cond.when.sli} is a latency: give the threshold a time unit, e.g. '> 2s'"
        elif why := bucket_problem(cond.when.threshold.value):
            yield ("abort", i, "when"), why


def problems(scenario: Scenario, topology: Topology) -> list[Problem]:
    """Every cross-field problem of a scenario that passed field validation
    (phase references are checked on the raw data: `reference_problems`)."""
    phases = [p.name for p in scenario.phases]
    return [
        *_phase_problems(scenario),
        *_load_problems(scenario, topology),
        *_slo_problems(scenario, phases),
        *_trace_problems(scenario, phases, topology),
        *_abort_problems(scenario),
    ]


def _items(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    return [(i, x) for i, x in enumerate(value) if isinstance(x, dict)] if isinstance(value, list) else []


def reference_problems(data: dict[str, Any]) -> list[Problem]:
    """Phases named by SLOs, relative objectives and trace expectations that do not exist.

    Works on the raw data, so these are reported together with field errors
    elsewhere in the file (one `validate` shows every problem).
    """
    phases = [str(p["name"]) for _, p in _items(data, "phases") if isinstance(p.get("name"), str)]
    out: list[Problem] = []
    for key in ("slos", "traces"):
        for i, item in _items(data, key):
            phase = item.get("phase")
            if isinstance(phase, str) and phase != "*" and phase not in phases:
                out.append(((key, i, "phase"), _unknown("phase", phase, phases + ["*"])))
    for i, slo in _items(data, "slos"):
        try:
            obj = parse_objective(slo.get("objective"))
        except ValueError:
            continue  # reported by field validation
        if isinstance(obj, RelativeObjective) and obj.phase not in phases:
            guess = closest(obj.phase, phases)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            message = f"relative objective names phase {obj.phase!r}, which does not exist{hint}; phases: {', '.join(phases)}"
            out.append((("slos", i, "objective"), message))
    return out
