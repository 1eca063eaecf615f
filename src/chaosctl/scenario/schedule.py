"""Seeded fault schedules: `schedule: {seed, count, faults: [...], min_gap}` on a phase.

A schedule is expanded at load into ordinary timed faults of its phase (each
with `after` and `duration`), so the journal, revert, recover, reports and
`--dry-run` see plain faults. The draw is deterministic for a seed; the order
of draws is part of the format (docs/scenario-format.md) and must not change:

1. `rng = random.Random(seed)`.
2. For each of the `count` faults in turn: a template
   `rng.randrange(len(faults))`, then one of its targets
   `rng.randrange(len(targets))`.
3. The free time `slack = phase - sum(durations) - (count - 1) * min_gap` is
   cut at `count` points `rng.uniform(0, slack)`, sorted; fault i starts at
   point i + the durations of faults 0..i-1 + i * min_gap (rounded to the
   millisecond). Faults never overlap and are at least `min_gap` apart.

The fit is checked independently of the seed: `count` faults of the longest
template's duration with `min_gap` between them must fit in the phase.
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

import functools
import random
from typing import Annotated, Any, Optional

from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, WithJsonSchema, model_validator

from .faults import FaultSpec
from .types import Duration, Frozen
from .units import format_duration

_TEMPLATE_SCHEMA = {
    "type": "object",
    "required": ["type", "duration"],
    "anyOf": [{"required": ["targets"]}, {"required": ["target"]}],
    "properties": {
        "type": {"type": "string", "description": "a fault type, e.g. latency, process-kill"},
        "targets": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "candidate targets: one is drawn per fault"},
        "duration": {"description": "how long each drawn fault is held, e.g. 10s"},
    },
    "additionalProperties": True,
    "description": "a fault spec (its parameters) with `targets` instead of `target`, and a `duration`; no `after`",
}

@functools.cache
def _spec() -> TypeAdapter[FaultSpec]:
    """Built on first use: at import it would build every fault model's validator (deferred, types.Frozen)."""
    return TypeAdapter(FaultSpec)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"][1:])  # loc[0] is the union tag
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" if where and where != "target" else msg


class ScheduleTemplate(Frozen):
    """One fault template; `candidates` holds the validated spec for each target, in file order."""

    candidates: tuple[FaultSpec, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _expand_targets(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or "candidates" in data:
            return data
        raw = dict(data)
        if "after" in raw:
            raise ValueError("a scheduled fault has no `after`: the schedule draws its time")
        if raw.get("duration") is None:
            raise ValueError("a scheduled fault needs `duration` (how long each drawn fault is held), e.g. 10s")
        targets = raw.pop("targets", None)
        if "target" in raw:
            if targets is not None:
                raise ValueError("give `targets` (a list) or `target`, not both")
            targets = [raw.pop("target")]
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
            raise ValueError("`targets` is a non-empty list of target names, e.g. [link:gateway->model-gpu-1]")
        if len(set(targets)) != len(targets):
            raise ValueError("`targets` lists a target twice")
        candidates = []
        for target in targets:
            try:
                candidates.append(_spec().validate_python({**raw, "target": target}, context=info.context))
            except ValidationError as exc:
                raise ValueError(f"target {target!r}: {_first_error(exc)}") from None
        return {"candidates": candidates}

    @property
    def duration(self) -> float:
        return self.candidates[0].duration or 0.0


class Schedule(Frozen):
    seed: int = Field(ge=0, description="the random seed: the same seed draws the same schedule")
    count: int = Field(ge=1, le=1000, description="how many faults to draw")
    faults: tuple[Annotated[ScheduleTemplate, WithJsonSchema(_TEMPLATE_SCHEMA)], ...] = Field(
        min_length=1, description="fault templates, each with candidate `targets` and a `duration`"
    )
    min_gap: Duration = Field(0.0, description="least time between one drawn fault's end and the next one's start")

    def fit_problem(self, phase_duration: float) -> Optional[str]:
        """Why `count` faults may not fit in the phase (for any seed), or None."""
        longest = max(t.duration for t in self.faults)
        need = self.count * longest + (self.count - 1) * self.min_gap
        if need <= phase_duration + 1e-9:
            return None
        return (
            f"schedule: {self.count} faults of up to {format_duration(longest)} with min_gap "
            f"{format_duration(self.min_gap)} need {format_duration(need)}; the phase lasts {format_duration(phase_duration)}"
        )

    def draw(self, phase_duration: float) -> tuple[Any, ...]:
        """The drawn faults, in time order, as ordinary specs with `after` and `duration` set."""
        rng = random.Random(self.seed)
        picks = []
        for _ in range(self.count):
            template = self.faults[rng.randrange(len(self.faults))]
            picks.append(template.candidates[rng.randrange(len(template.candidates))])
        held = sum(p.duration or 0.0 for p in picks)
        slack = max(0.0, phase_duration - held - (self.count - 1) * self.min_gap)
        points = sorted(rng.uniform(0.0, slack) for _ in range(self.count))
        out, used = [], 0.0
        for i, (spec, point) in enumerate(zip(picks, points)):
            start = min(round(point + used + i * self.min_gap, 3), phase_duration - (spec.duration or 0.0))
            out.append(spec.model_copy(update={"after": max(0.0, start)}))
            used += spec.duration or 0.0
        return tuple(out)


def schedule_json(schedule: Schedule, drawn: tuple[Any, ...]) -> dict[str, Any]:
    """What report.json records so a failure can be replayed: the seed and the drawn faults."""
    return {
        "seed": schedule.seed,
        "count": schedule.count,
        "min_gap": schedule.min_gap,
        "drawn": [{"label": s.label, "description": s.describe(), "after": s.after, "duration": s.duration} for s in drawn],
    }


def schedules_of(scenario: Any) -> dict[str, dict[str, Any]]:
    """Every phase's drawn schedule by phase name (report.json `schedules`)."""
    return {p.name: schedule_json(p.schedule, p.scheduled_faults) for p in scenario.phases if p.scheduled_faults}
